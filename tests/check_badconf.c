/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The bad-configuration table (tests/bad-configs.txt) through the plugin's own parser,
 * without collectd: every "config" case must give exactly the table's error lines, in
 * order, and every "init" case must parse without error (its failure is the kernel
 * side's). tests/rel-badconf.sh checks the same lines in a real collectd; this test is
 * the cheap one that also runs under the sanitizers and valgrind.
 *
 * The configuration text is read by tests/cfgtext.c, a small stand-in for collectd's
 * config reader; cases where the two read text differently say "pure: no" in the table.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtext.h"
#include "tsconf.h"

#define PREFIX "tcpsubnet plugin: "
#define MAX_CASES 512
#define MAX_EXPECT 16

struct tcase_data {
	char *name;
	char *class;
	char *where;
	int pure;
	char *expect[MAX_EXPECT];
	int n_expect;
	char *conf;
};

static struct tcase_data cases[MAX_CASES];
static int n_cases;
/* Indexes of the cases the pure parser checks. */
static int pure_idx[MAX_CASES];
static int n_pure;

/* The table is read in main(), outside any test: failures there end the program. */
#define need(cond, ...)                                                                  \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "check_badconf: " __VA_ARGS__);                  \
			fputc('\n', stderr);                                             \
			exit(EXIT_FAILURE);                                              \
		}                                                                        \
	} while (0)

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long len;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		free(buf);
		fclose(f);
		return NULL;
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static char *dup_range(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	need(d != NULL, "out of memory");
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

/* Splits the table into cases (same rules as the awk in tests/rel-badconf.sh). */
static void load_table(void)
{
	const char *dir = getenv("top_srcdir");
	char path[4096];
	char *text, *line, *next;
	struct tcase_data *c = NULL;
	int in_conf = 0;
	size_t conf_len = 0;

	snprintf(path, sizeof(path), "%s/tests/bad-configs.txt", dir ? dir : ".");
	text = slurp(path);
	need(text != NULL, "cannot read %s (set top_srcdir)", path);
	for (line = text; *line; line = next) {
		size_t len = strcspn(line, "\n");

		next = line + len + (line[len] == '\n');
		if (strncmp(line, "=== ", 4) == 0) {
			need(n_cases < MAX_CASES, "more than %d cases", MAX_CASES);
			c = &cases[n_cases++];
			memset(c, 0, sizeof(*c));
			c->name = dup_range(line + 4, len - 4);
			c->pure = 1;
			c->conf = calloc(1, 1);
			conf_len = 0;
			in_conf = 0;
			continue;
		}
		if (c == NULL)
			continue;
		if (!in_conf) {
			if (len == 3 && strncmp(line, "---", 3) == 0)
				in_conf = 1;
			else if (strncmp(line, "class: ", 7) == 0)
				c->class = dup_range(line + 7, len - 7);
			else if (strncmp(line, "where: ", 7) == 0)
				c->where = dup_range(line + 7, len - 7);
			else if (strncmp(line, "pure: no", 8) == 0)
				c->pure = 0;
			else if (strncmp(line, "expect: ", 8) == 0) {
				need(c->n_expect < MAX_EXPECT, "case \"%s\": too many expect lines", c->name);
				c->expect[c->n_expect++] = dup_range(line + 8, len - 8);
			}
			continue;
		}
		c->conf = realloc(c->conf, conf_len + len + 2);
		need(c->conf != NULL, "out of memory");
		memcpy(c->conf + conf_len, line, len);
		conf_len += len;
		c->conf[conf_len++] = '\n';
		c->conf[conf_len] = '\0';
	}
	free(text);
	for (int i = 0; i < n_cases; i++) {
		c = &cases[i];
		need(c->class != NULL, "case \"%s\" has no class", c->name);
		/* Lines after </Plugin> are collectd's business, not the plugin parser's. */
		if (c->where != NULL && strcmp(c->where, "top") == 0)
			c->pure = 0;
		if (c->pure && (strcmp(c->class, "config") == 0 || strcmp(c->class, "init") == 0))
			pure_idx[n_pure++] = i;
	}
}

static void free_table(void)
{
	for (int i = 0; i < n_cases; i++) {
		free(cases[i].name);
		free(cases[i].class);
		free(cases[i].where);
		free(cases[i].conf);
		for (int j = 0; j < cases[i].n_expect; j++)
			free(cases[i].expect[j]);
	}
	n_cases = n_pure = 0;
}

struct got {
	int n;
	char *line[MAX_EXPECT + 8];
};

static void collect(void *ctx, const char *line)
{
	struct got *g = ctx;

	ck_assert_msg(strchr(line, '\n') == NULL, "error is not one line: %s", line);
	if (g->n < (int)(sizeof(g->line) / sizeof(g->line[0])))
		g->line[g->n] = strdup(line);
	g->n++;
}

START_TEST(table_has_at_least_30_cases_with_exact_lines)
{
	int with_lines = 0;

	for (int i = 0; i < n_cases; i++)
		if (cases[i].n_expect > 0)
			with_lines++;
	ck_assert_int_ge(with_lines, 30);
	ck_assert_int_eq(with_lines, n_cases);
	/* The pure parser must check most of them, not quietly none. */
	ck_assert_int_ge(n_pure, 30);
}
END_TEST

START_TEST(case_gives_exact_lines)
{
	const struct tcase_data *c = &cases[pure_idx[_i]];
	int is_init = strcmp(c->class, "init") == 0;
	struct ts_config conf;
	struct ts_citem *root;
	struct got g = { 0 };
	char err[256];
	int n;

	root = cfgtext_parse(c->conf, err, sizeof(err));
	ck_assert_msg(root != NULL, "case \"%s\": the test reader refuses it (%s)", c->name, err);
	ts_config_init(&conf);
	n = ts_config_parse(&conf, root, collect, &g);
	cfgtext_free(root);
	ts_config_free(&conf);
	ck_assert_int_eq(n, g.n);
	if (is_init) {
		ck_assert_msg(n == 0, "case \"%s\" (init) must parse cleanly, got %d errors: %s",
			      c->name, n, n ? g.line[0] : "");
	} else {
		ck_assert_msg(n == c->n_expect, "case \"%s\": want %d error lines, got %d (first: %s)",
			      c->name, c->n_expect, n, n ? g.line[0] : "none");
		for (int j = 0; j < n; j++) {
			ck_assert_msg(strncmp(c->expect[j], PREFIX, strlen(PREFIX)) == 0,
				      "case \"%s\": expect line without \"" PREFIX "\"", c->name);
			ck_assert_msg(strcmp(c->expect[j] + strlen(PREFIX), g.line[j]) == 0,
				      "case \"%s\", line %d:\nwant: %s\ngot:  %s", c->name, j + 1,
				      c->expect[j] + strlen(PREFIX), g.line[j]);
		}
	}
	for (int j = 0; j < g.n && j < (int)(sizeof(g.line) / sizeof(g.line[0])); j++)
		free(g.line[j]);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bad-configs");
	TCase *tc = tcase_create("table");
	SRunner *sr;
	int failed;

	load_table();
	tcase_add_test(tc, table_has_at_least_30_cases_with_exact_lines);
	tcase_add_loop_test(tc, case_gives_exact_lines, 0, n_pure);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	printf("bad-configs.txt: %d cases, %d checked by the plugin's parser without collectd\n",
	       n_cases, n_pure);
	free_table();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
