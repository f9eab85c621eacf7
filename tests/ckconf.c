/* SPDX-License-Identifier: GPL-2.0-only */
#include "ckconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cfgtext.h"

void collect(void *ctx, const char *line)
{
	struct errs *e = ctx;
	size_t len = strlen(e->text);

	ck_assert_msg(strchr(line, '\n') == NULL, "error is not one line: %s", line);
	snprintf(e->text + len, sizeof(e->text) - len, "%s\n", line);
	e->n++;
}

int parse(const char *text, struct ts_config *c, struct errs *e)
{
	char err[256];
	struct ts_citem *root = cfgtext_parse(text, err, sizeof(err));
	int n;

	ck_assert_msg(root != NULL, "test config does not parse: %s", err);
	memset(e, 0, sizeof(*e));
	ts_config_init(c);
	n = ts_config_parse(c, root, collect, e);
	cfgtext_free(root);
	ck_assert_int_eq(n, e->n);
	return n;
}

void expect_error(const char *text, const char *frag1, const char *frag2)
{
	struct ts_config c;
	struct errs e;
	int n = parse(text, &c, &e);

	ck_assert_msg(n == 1, "want 1 error, got %d for config:\n%s\nerrors:\n%s", n, text,
		      e.text);
	ck_assert_msg(strstr(e.text, frag1) != NULL, "'%s' not in: %s", frag1, e.text);
	if (frag2)
		ck_assert_msg(strstr(e.text, frag2) != NULL, "'%s' not in: %s", frag2, e.text);
	ts_config_free(&c);
}
