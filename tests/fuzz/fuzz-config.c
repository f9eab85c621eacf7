/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: the configuration and CIDR parsers.
 *
 * Each input is read twice: as one CIDR prefix (ts_cidr_parse straight on the bytes)
 * and as the text inside <Plugin tcpsubnet> (tests/cfgtext.c builds the config tree
 * that collectd would hand the plugin, then ts_config_parse). Besides the sanitizers'
 * findings (crash, leak, undefined behaviour), it aborts when an invariant breaks:
 *   - every error is one non-empty line (but see F1 below), and the returned count is
 *     the number reported;
 *   - an accepted prefix is canonical: formatting it and parsing the text back gives
 *     the same prefix, and its LPM key is its length then its 16 address bytes;
 *   - an accepted configuration has subnets with usable names (ts_name_check passes,
 *     or the one-line form's name is its own prefix), every prefix points at an
 *     existing subnet, no prefix appears twice, MaxPrefixes and MaxValues hold, and
 *     the reference longest-prefix match sends each prefix's own address to a subnet
 *     with a prefix at least as long that covers it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtext.h"
#include "tsconf.h"

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one_line(void *ctx, const char *line)
{
	int *n = ctx;

	require(line_ok(line));
	(*n)++;
}

static int covers(const struct ts_prefix *p, const uint8_t addr[16])
{
	unsigned full = p->len / 8, rest = p->len % 8;

	if (memcmp(p->addr, addr, full) != 0)
		return 0;
	return rest == 0 || ((p->addr[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static void check_prefix(const struct ts_prefix *p)
{
	struct ts_prefix q;
	uint8_t key[20];
	uint32_t klen;
	char text[64], why[256];

	require(p->len <= 128);
	ts_cidr_format(p, text, sizeof(text));
	require(strlen(text) < sizeof(text) - 1);
	require(ts_cidr_parse(text, &q, why, sizeof(why)) == 0);
	require(q.len == p->len && memcmp(q.addr, p->addr, 16) == 0);
	ts_lpm_key_build(p, key);
	memcpy(&klen, key, sizeof(klen));
	require(klen == p->len && memcmp(key + 4, p->addr, 16) == 0);
}

static void check_cidr(const char *text)
{
	struct ts_prefix p;
	char why[256];

	why[0] = '\0';
	if (ts_cidr_parse(text, &p, why, sizeof(why)) != 0) {
		require(line_ok(why));
		return;
	}
	check_prefix(&p);
}

static void check_config(const struct ts_config *c)
{
	char why[256];

	require(c->n_subnets > 0); /* none configured: the built-in set */
	require(c->builtin_defaults || c->n_prefixes <= c->max_prefixes);
	require(c->max_prefixes >= 1 && c->max_prefixes <= TS_LIMIT_MAX_PREFIXES);
	require(ts_config_values_per_cycle(c) <= c->max_values);
	require(c->rtt_bucket_width >= 1 && c->rtt_bucket_width <= 27);
	require(strcmp(ts_config_instance(c, 0), TS_UNMATCHED_NAME) == 0);
	require(strcmp(ts_config_instance(c, (uint32_t)c->n_subnets + 1), TS_UNMATCHED_NAME) == 0);
	for (uint32_t id = 1; id <= c->n_subnets; id++) {
		const char *name = ts_config_instance(c, id);
		struct ts_prefix p;

		require(strlen(name) <= TS_NAME_MAX);
		require(ts_name_check(name, why, sizeof(why)) == 0 ||
			ts_cidr_parse(name, &p, why, sizeof(why)) == 0);
	}
	for (size_t i = 0; i < c->n_prefixes; i++) {
		const struct ts_prefix *p = &c->prefixes[i];
		uint32_t id;
		int found = 0;

		require(p->subnet_id >= 1 && p->subnet_id <= c->n_subnets);
		check_prefix(p);
		for (size_t j = i + 1; j < c->n_prefixes; j++)
			require(c->prefixes[j].len != p->len ||
				memcmp(c->prefixes[j].addr, p->addr, 16) != 0);
		id = ts_config_classify(c, p->addr);
		for (size_t j = 0; j < c->n_prefixes; j++)
			if (c->prefixes[j].subnet_id == id && c->prefixes[j].len >= p->len &&
			    covers(&c->prefixes[j], p->addr))
				found = 1;
		require(found);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), err[256];
	struct ts_citem *root;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	check_cidr(text);
	root = cfgtext_parse(text, err, sizeof(err));
	if (root != NULL) {
		struct ts_config c;
		int reported = 0, n;

		ts_config_init(&c);
		n = ts_config_parse(&c, root, one_line, &reported);
		require(n == reported);
		if (n == 0)
			check_config(&c);
		ts_config_free(&c);
		cfgtext_free(root);
	}
	free(text);
	return 0;
}
