/* SPDX-License-Identifier: GPL-2.0-only */
#include "cfgtext.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
	const char *p;
	int line;
	char *err;
	size_t err_len;
};

static void item_free(struct ts_citem *it)
{
	for (int i = 0; i < it->values_num; i++)
		free((char *)it->values[i].string);
	free((void *)it->values);
	for (int i = 0; i < it->children_num; i++)
		item_free((struct ts_citem *)&it->children[i]);
	free((void *)it->children);
	free((char *)it->key);
}

void cfgtext_free(struct ts_citem *root)
{
	if (root == NULL)
		return;
	item_free(root);
	free(root);
}

static void skip_blank(struct reader *r)
{
	/* Every blank but the newline, or an unquoted value could be empty forever. */
	while (*r->p != '\n' && isspace((unsigned char)*r->p))
		r->p++;
	if (*r->p == '#')
		while (*r->p && *r->p != '\n')
			r->p++;
}

/* Reads one argument; returns 0, 1 at end of line, -1 on error. */
static int read_value(struct reader *r, struct ts_cval *v)
{
	char buf[4096];
	size_t n = 0;

	skip_blank(r);
	if (*r->p == '\0' || *r->p == '\n' || *r->p == '>')
		return 1;
	memset(v, 0, sizeof(*v));
	if (*r->p == '"') {
		r->p++;
		while (*r->p && *r->p != '"' && *r->p != '\n' && n < sizeof(buf) - 1) {
			if (*r->p == '\\' && r->p[1])
				r->p++;
			buf[n++] = *r->p++;
		}
		if (*r->p != '"') {
			snprintf(r->err, r->err_len, "line %d: unterminated string", r->line);
			return -1;
		}
		r->p++;
		buf[n] = '\0';
		v->type = TS_CV_STRING;
		v->string = strdup(buf);
		return 0;
	}
	while (*r->p && !isspace((unsigned char)*r->p) && *r->p != '>' && n < sizeof(buf) - 1)
		buf[n++] = *r->p++;
	buf[n] = '\0';
	if (strcmp(buf, "true") == 0 || strcmp(buf, "false") == 0) {
		v->type = TS_CV_BOOLEAN;
		v->boolean = buf[0] == 't';
	} else {
		char *end;
		double d = strtod(buf, &end);

		if (*end == '\0' && end != buf) {
			v->type = TS_CV_NUMBER;
			v->number = d;
		} else {
			v->type = TS_CV_STRING;
			v->string = strdup(buf);
		}
	}
	return 0;
}

static int push(struct ts_citem *parent, const struct ts_citem *child)
{
	int n = parent->children_num;
	struct ts_citem *c = (struct ts_citem *)parent->children;

	/* Capacity 16, then doubling at every power of two: no realloc per child. */
	if (n == 0 || (n >= 16 && (n & (n - 1)) == 0)) {
		c = realloc(c, (size_t)(n ? 2 * n : 16) * sizeof(*c));
		if (c == NULL)
			return -1;
	}
	c[parent->children_num++] = *child;
	parent->children = c;
	return 0;
}

static int read_block(struct reader *r, struct ts_citem *parent, const char *closing)
{
	for (;;) {
		struct ts_citem it = { 0 };
		struct ts_cval *vals = NULL;
		char key[256];
		size_t n = 0;
		int block = 0, rc;

		while (isspace((unsigned char)*r->p) || *r->p == '#') {
			if (*r->p == '#')
				skip_blank(r);
			else if (*r->p++ == '\n')
				r->line++;
		}
		if (*r->p == '\0') {
			if (closing == NULL)
				return 0;
			snprintf(r->err, r->err_len, "missing </%s>", closing);
			return -1;
		}
		if (r->p[0] == '<' && r->p[1] == '/') {
			r->p += 2;
			while (*r->p && *r->p != '>' && n < sizeof(key) - 1)
				key[n++] = *r->p++;
			key[n] = '\0';
			if (*r->p == '>')
				r->p++;
			if (closing == NULL || strcasecmp(key, closing) != 0) {
				snprintf(r->err, r->err_len, "line %d: unexpected </%s>", r->line, key);
				return -1;
			}
			return 0;
		}
		if (*r->p == '<') {
			block = 1;
			r->p++;
		}
		while (*r->p && (isalnum((unsigned char)*r->p) || *r->p == '_') &&
		       n < sizeof(key) - 1)
			key[n++] = *r->p++;
		key[n] = '\0';
		if (n == 0) {
			snprintf(r->err, r->err_len, "line %d: expected an option name", r->line);
			return -1;
		}
		it.key = strdup(key);
		for (;;) {
			struct ts_cval v;

			rc = read_value(r, &v);
			if (rc < 0)
				goto fail;
			if (rc > 0)
				break;
			vals = realloc(vals, (size_t)(it.values_num + 1) * sizeof(*vals));
			vals[it.values_num++] = v;
			it.values = vals;
		}
		if (block) {
			if (*r->p != '>') {
				snprintf(r->err, r->err_len, "line %d: expected '>'", r->line);
				goto fail;
			}
			r->p++;
			if (read_block(r, &it, key) != 0)
				goto fail;
		}
		if (push(parent, &it) != 0)
			goto fail;
		continue;
fail:
		item_free(&it);
		return -1;
	}
}

struct ts_citem *cfgtext_parse(const char *text, char *err, size_t err_len)
{
	struct reader r = { .p = text, .line = 1, .err = err, .err_len = err_len };
	struct ts_citem *root = calloc(1, sizeof(*root));

	if (root == NULL)
		return NULL;
	root->key = strdup("Plugin");
	if (read_block(&r, root, NULL) != 0) {
		cfgtext_free(root);
		return NULL;
	}
	return root;
}

char *cfgtext_read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	int err = 0;

	if (f == NULL)
		return NULL;
	do {
		if (cap - len < 4096) {
			char *grown = realloc(buf, (cap ? 2 * cap : 65536) + 1);

			if (grown == NULL) {
				err = ENOMEM;
				break;
			}
			buf = grown;
			cap = cap ? 2 * cap : 65536;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (!err && ferror(f))
		err = EIO;
	fclose(f);
	if (err) {
		free(buf);
		errno = err;
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}
