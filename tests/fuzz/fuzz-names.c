/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libFuzzer target: the naming code, i.e. what ends up in collectd identifiers.
 *
 * The first input byte picks a part, the rest is that part's data. Parts:
 *   0  subnet names: ts_name_check accepts exactly the names that are 1..63 bytes of
 *      ASCII letters, digits, '.', '_', '-' and not "other"; a refusal is one line; a
 *      <Subnet NAME> block is accepted by ts_config_parse exactly when the name is,
 *      and its plugin_instance is the name, byte for byte;
 *   1  prefix text: any 16 address bytes and length, made canonical, format to text
 *      that parses back to the same prefix (IPv4-mapped prefixes of /96 and longer as
 *      a.b.c.d/n), short enough for collectd's plugin_instance (128 bytes);
 *   2  instances: a configuration of several subnets named by the input; every id
 *      maps to its name, 0 and every id past the last to "other";
 *   3  attach modes: a parsed mode's name is the input, case aside;
 *   4  RTT histograms (plugin/tshist.c): every sample lands in a slot whose bounds hold
 *      it; the delta of two cumulative histograms is their slot-wise difference (or the
 *      newer one after a reset) and counts what it holds; a percentile of a non-empty
 *      histogram lies inside its non-empty slots and never decreases as pct grows,
 *      and is NAN for an empty one;
 *   5  value names: bucket names of all slots are distinct, short and Graphite-safe;
 *      the percentiles of an accepted RTTPercentile line have distinct names (F7).
 */
#include <arpa/inet.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tsconf.h"
#include "tshist.h"

#include "fuzz-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* collectd's DATA_MAX_NAME_LEN: the longest plugin_instance, NUL included. */
#define COLLECTD_NAME_MAX 128

static char *cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

static int name_allowed(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TS_NAME_MAX || strcmp(s, TS_UNMATCHED_NAME) == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

static void count_line(void *ctx, const char *line)
{
	int *n = ctx;

	require(line_ok(line));
	(*n)++;
}

/* Parses <Subnet NAME> blocks (one Prefix each, 198.19.128.0/24 + i) of the names. */
static int parse_subnets(struct ts_config *c, char **names, int n, int *reported)
{
	struct ts_cval *vals = calloc((size_t)n * 2 + 1, sizeof(*vals));
	struct ts_citem *subnets = calloc((size_t)n + 1, sizeof(*subnets));
	struct ts_citem *prefixes = calloc((size_t)n + 1, sizeof(*prefixes));
	char (*text)[32] = calloc((size_t)n + 1, sizeof(*text));
	struct ts_citem root = { .key = "Plugin" };
	int rc = -1;

	if (vals == NULL || subnets == NULL || prefixes == NULL || text == NULL)
		goto out;
	for (int i = 0; i < n; i++) {
		/* Distinct prefixes inside 198.19.128.0/17: 128 blocks of /24. */
		snprintf(text[i], sizeof(text[i]), "198.19.%d.0/24", 128 + i % 128);
		vals[2 * i] = (struct ts_cval){ .type = TS_CV_STRING, .string = names[i] };
		vals[2 * i + 1] = (struct ts_cval){ .type = TS_CV_STRING, .string = text[i] };
		prefixes[i] = (struct ts_citem){ .key = "Prefix", .values = &vals[2 * i + 1],
						 .values_num = 1 };
		subnets[i] = (struct ts_citem){ .key = "Subnet", .values = &vals[2 * i],
						.values_num = 1, .children = &prefixes[i],
						.children_num = 1 };
	}
	root.children = subnets;
	root.children_num = n;
	ts_config_init(c);
	rc = ts_config_parse(c, &root, count_line, reported);
out:
	free(vals);
	free(subnets);
	free(prefixes);
	free(text);
	return rc;
}

static void part_names(const uint8_t *data, size_t size)
{
	char *name = cstring(data, size), why[256];
	struct ts_config c;
	int ok, reported = 0, n;

	if (name == NULL)
		return;
	why[0] = '\0';
	ok = ts_name_check(name, why, sizeof(why)) == 0;
	require(ok == name_allowed(name));
	if (!ok)
		require(why[0] != '\0' && strchr(why, '\n') == NULL);
	n = parse_subnets(&c, &name, 1, &reported);
	require(n >= 0 && n == reported);
	require((n == 0) == ok);
	if (ok) {
		require(c.n_subnets == 1);
		require(strcmp(ts_config_instance(&c, 1), name) == 0);
		require(strlen(ts_config_instance(&c, 1)) < COLLECTD_NAME_MAX);
	}
	ts_config_free(&c);
	free(name);
}

static void part_prefix_text(const uint8_t *data, size_t size)
{
	struct ts_prefix p, q;
	char text[64], why[256];

	if (size < 17)
		return;
	memset(&p, 0, sizeof(p));
	memcpy(p.addr, data, 16);
	p.len = data[16] % 129;
	/* Canonical: clear the host bits. */
	for (unsigned bit = p.len; bit < 128; bit++)
		p.addr[bit / 8] &= (uint8_t)~(0x80 >> (bit % 8));
	ts_cidr_format(&p, text, sizeof(text));
	require(strlen(text) < sizeof(text) - 1 && strlen(text) < COLLECTD_NAME_MAX);
	require(ts_cidr_parse(text, &q, why, sizeof(why)) == 0);
	require(q.len == p.len && memcmp(q.addr, p.addr, 16) == 0);
	if (p.len >= 96 && memcmp(p.addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
		require(strchr(text, ':') == NULL);
	else
		require(strchr(text, ':') != NULL);
}

static void part_instances(const uint8_t *data, size_t size)
{
	char *all = cstring(data, size), *names[64], *save = NULL, *tok;
	struct ts_config c;
	int n = 0, reported = 0, rc;

	if (all == NULL)
		return;
	for (tok = strtok_r(all, "\n", &save); tok && n < 64; tok = strtok_r(NULL, "\n", &save))
		names[n++] = tok;
	if (n == 0) {
		free(all);
		return;
	}
	rc = parse_subnets(&c, names, n, &reported);
	require(rc >= 0 && rc == reported);
	if (rc == 0) {
		require(c.n_subnets == (size_t)n);
		for (int i = 0; i < n; i++)
			require(strcmp(ts_config_instance(&c, (uint32_t)i + 1), names[i]) == 0);
		require(strcmp(ts_config_instance(&c, 0), TS_UNMATCHED_NAME) == 0);
		require(strcmp(ts_config_instance(&c, (uint32_t)n + 1), TS_UNMATCHED_NAME) == 0);
		require(strcmp(ts_config_instance(&c, UINT32_MAX), TS_UNMATCHED_NAME) == 0);
	}
	ts_config_free(&c);
	free(all);
}

static void part_attach_modes(const uint8_t *data, size_t size)
{
	char *s = cstring(data, size);
	enum ts_attach_mode m;

	if (s == NULL)
		return;
	if (ts_attach_mode_parse(s, &m) == 0)
		require(strcasecmp(ts_attach_mode_name(m), s) == 0);
	free(s);
}


/* Reads n bytes of data as a little-endian number (what is left, when short). */
static uint64_t take(const uint8_t **data, size_t *size, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && *size > 0; i++, (*data)++, (*size)--)
		v |= (uint64_t)**data << (8 * i);
	return v;
}

static void part_histograms(const uint8_t *data, size_t size)
{
	struct ts_hist prev, now, d;
	uint64_t n, want = 0, us, slots = 0;
	int reset = 0;
	double last = 0, pct;
	unsigned slot, bucket, first = TS_HIST_BUCKETS, top = 0;

	/* A sample: its slot's bounds hold it (seconds; slot 0 is 0..2 us), and its bucket's. */
	us = take(&data, &size, 8);
	slot = ts_hist_slot_of(us);
	require(slot < TS_HIST_SLOTS);
	require(ts_hist_slot_lo(slot) <= (double)us * 1e-6 || slot == 0);
	require((double)us * 1e-6 < ts_hist_slot_hi(slot) || slot == TS_HIST_SLOTS - 1);
	require(slot == 0 || ts_hist_slot_of(us - 1) <= slot);
	bucket = ts_hist_bucket_of(us);
	require(bucket < TS_HIST_BUCKETS);
	require(ts_hist_bucket_lo_us(bucket) <= us);
	require(bucket == TS_HIST_BUCKETS - 1 ||
		us < ts_hist_bucket_lo_us(bucket) + ts_hist_bucket_width_us(bucket));

	/* prev, then now = prev + small increments (or, if a flag byte says so, less). */
	memset(&prev, 0, sizeof(prev));
	memset(&now, 0, sizeof(now));
	for (unsigned i = 0; i < TS_HIST_BUCKETS; i++) {
		prev.bucket[i] = take(&data, &size, 1);
		now.bucket[i] = prev.bucket[i] + take(&data, &size, 1);
	}
	prev.sum_us = take(&data, &size, 3);
	now.sum_us = prev.sum_us + take(&data, &size, 2);
	if (take(&data, &size, 1) == 0xff && now.bucket[30] > 0) {
		now.bucket[30] = prev.bucket[30] - 1 < prev.bucket[30] ? prev.bucket[30] - 1 : 0;
		reset = now.bucket[30] < prev.bucket[30];
	}
	n = ts_hist_delta(&now, &prev, &d);
	for (unsigned i = 0; i < TS_HIST_BUCKETS; i++) {
		require(d.bucket[i] == (reset ? now.bucket[i] : now.bucket[i] - prev.bucket[i]));
		want += d.bucket[i];
		if (now.bucket[i]) {
			if (first == TS_HIST_BUCKETS)
				first = i;
			top = i;
		}
	}
	require(n == want && n == ts_hist_count(&d));
	/* The dispatched log2 slots partition the buckets. */
	for (unsigned i = 0; i < TS_HIST_SLOTS; i++)
		slots += ts_hist_slot_count(&d, i);
	require(slots == n);

	/* Percentiles of now: inside its non-empty buckets, non-decreasing in pct. */
	pct = (double)(take(&data, &size, 2) % 1000 + 1) / 10.0; /* 0.1 .. 100 */
	if (ts_hist_count(&now) == 0) {
		require(isnan(ts_hist_percentile(&now, pct)));
		require(isnan(ts_hist_average(&now)));
		return;
	}
	for (double p = 0.1; p <= 100.0; p += 9.9) {
		double v = ts_hist_percentile(&now, p);

		require(!isnan(v));
		require(v >= (double)ts_hist_bucket_lo_us(first) * 1e-6);
		require(v <= (double)(ts_hist_bucket_lo_us(top) + ts_hist_bucket_width_us(top)) *
				     1e-6);
		require(v >= last);
		last = v;
	}
	require(!isnan(ts_hist_percentile(&now, pct)));
}

static int graphite_safe(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-' ||
		      *s == '+'))
			return 0;
	return 1;
}

static void part_value_names(const uint8_t *data, size_t size)
{
	struct ts_cval vals[TS_MAX_PERCENTILES + 1];
	struct ts_citem item = { .key = "RTTPercentile", .values = vals };
	struct ts_citem root = { .key = "Plugin", .children = &item, .children_num = 1 };
	char names[TS_MAX_PERCENTILES][COLLECTD_NAME_MAX], a[COLLECTD_NAME_MAX], b[COLLECTD_NAME_MAX];
	struct ts_config c;
	int reported = 0;

	for (unsigned i = 0; i < TS_HIST_SLOTS; i++) {
		ts_hist_bucket_name(i, a, sizeof(a));
		require(strlen(a) < 64 && graphite_safe(a));
		for (unsigned j = 0; j < i; j++) {
			ts_hist_bucket_name(j, b, sizeof(b));
			require(strcmp(a, b) != 0);
		}
	}
	/* RTTPercentile with 1..17 numbers taken from the input as doubles. */
	item.values_num = (int)(take(&data, &size, 1) % (TS_MAX_PERCENTILES + 1)) + 1;
	for (int i = 0; i < item.values_num; i++) {
		uint64_t bits = take(&data, &size, 8);

		vals[i] = (struct ts_cval){ .type = TS_CV_NUMBER };
		memcpy(&vals[i].number, &bits, sizeof(bits));
	}
	ts_config_init(&c);
	if (ts_config_parse(&c, &root, count_line, &reported) == 0) {
		require(c.n_percentiles == (size_t)item.values_num);
		for (size_t i = 0; i < c.n_percentiles; i++) {
			ts_hist_percentile_name(c.percentiles[i], names[i], sizeof(names[i]));
			require(strlen(names[i]) < 64 && graphite_safe(names[i]));
			/* F7 (docs/RELIABILITY.md): 99.95 and 99.950001 would share one name. */
			for (size_t j = 0; j < i; j++)
				require(strcmp(names[i], names[j]) != 0);
		}
	}
	ts_config_free(&c);
}

static void (*const parts[])(const uint8_t *, size_t) = {
	part_names,
	part_prefix_text,
	part_instances,
	part_attach_modes,
	part_histograms,
	part_value_names,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	parts[data[0] % (sizeof(parts) / sizeof(parts[0]))](data + 1, size - 1);
	return 0;
}
