/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of plugin/tshist.c (log-linear RTT histograms, log2 slots, percentiles,
 * names) and plugin/tsvalues.c (what a read cycle dispatches).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "../bpf/tcpsubnet.h"
#include "cfgtext.h"
#include "tshist.h"
#include "tsvalues.h"

static void put(struct ts_hist *h, uint64_t us, uint64_t n)
{
	h->bucket[ts_hist_bucket_of(us)] += n;
	h->sum_us += us * n;
}

/* ---- log2 slots (dispatched) ---- */

START_TEST(slot_of_is_floor_log2_with_open_top)
{
	ck_assert_uint_eq(ts_hist_slot_of(0), 0);
	ck_assert_uint_eq(ts_hist_slot_of(1), 0);
	ck_assert_uint_eq(ts_hist_slot_of(2), 1);
	ck_assert_uint_eq(ts_hist_slot_of(3), 1);
	ck_assert_uint_eq(ts_hist_slot_of(4), 2);
	ck_assert_uint_eq(ts_hist_slot_of(1023), 9);
	ck_assert_uint_eq(ts_hist_slot_of(1024), 10);
	ck_assert_uint_eq(ts_hist_slot_of((1u << 26) - 1), 25);
	ck_assert_uint_eq(ts_hist_slot_of(1u << 26), 26);
	ck_assert_uint_eq(ts_hist_slot_of(UINT32_MAX), 26);
	ck_assert_uint_eq(ts_hist_slot_of(1ULL << 40), 26);
}
END_TEST

START_TEST(every_value_lies_inside_its_slot_bounds)
{
	for (uint64_t v = 0; v < (1u << 27); v = v * 3 / 2 + 1) {
		unsigned s = ts_hist_slot_of(v);
		double sec = (double)v * 1e-6;

		ck_assert_msg(ts_hist_slot_lo(s) <= sec && sec < ts_hist_slot_hi(s),
			      "%llu us in slot %u [%g, %g)", (unsigned long long)v, s,
			      ts_hist_slot_lo(s), ts_hist_slot_hi(s));
	}
}
END_TEST

START_TEST(slot_bounds_in_seconds)
{
	ck_assert_double_eq(ts_hist_slot_lo(0), 0);
	ck_assert_double_eq_tol(ts_hist_slot_hi(0), 2e-6, 1e-15);
	ck_assert_double_eq_tol(ts_hist_slot_lo(10), 1.024e-3, 1e-15);
	ck_assert_double_eq_tol(ts_hist_slot_hi(10), 2.048e-3, 1e-15);
	ck_assert_double_eq_tol(ts_hist_slot_lo(26), 67.108864, 1e-9);
	ck_assert(isinf(ts_hist_slot_hi(26)));
}
END_TEST

/* ---- log-linear buckets (kernel) ---- */

START_TEST(small_values_have_a_bucket_each_then_eight_per_power_of_two)
{
	for (unsigned v = 0; v < 16; v++) {
		ck_assert_uint_eq(ts_hist_bucket_of(v), v);
		ck_assert_uint_eq(ts_hist_bucket_lo_us(v), v);
		ck_assert_uint_eq(ts_hist_bucket_width_us(v), 1);
	}
	ck_assert_uint_eq(ts_hist_bucket_of(16), 16);
	ck_assert_uint_eq(ts_hist_bucket_of(17), 16);
	ck_assert_uint_eq(ts_hist_bucket_of(18), 17);
	ck_assert_uint_eq(ts_hist_bucket_of(31), 23);
	ck_assert_uint_eq(ts_hist_bucket_of(32), 24);
	ck_assert_uint_eq(ts_hist_bucket_of(1500), 67); /* [1408, 1536) */
	ck_assert_uint_eq(ts_hist_bucket_lo_us(67), 1408);
	ck_assert_uint_eq(ts_hist_bucket_width_us(67), 128);
	ck_assert_uint_eq(ts_hist_bucket_of((1u << 26) - 1), TS_HIST_BUCKETS - 2);
	ck_assert_uint_eq(ts_hist_bucket_of(1u << 26), TS_HIST_BUCKETS - 1);
	ck_assert_uint_eq(ts_hist_bucket_of(UINT32_MAX), TS_HIST_BUCKETS - 1);
	ck_assert_uint_eq(ts_hist_bucket_of(1ULL << 40), TS_HIST_BUCKETS - 1);
	ck_assert_uint_eq(ts_hist_bucket_lo_us(TS_HIST_BUCKETS - 1), 1u << 26);
	ck_assert_uint_eq(ts_hist_bucket_width_us(TS_HIST_BUCKETS - 1), 0);
}
END_TEST

/*
 * Every value up to 2^20 us and a sweep above: inside its bucket, the buckets contiguous
 * and at most 1/8 of their lower bound wide, and in the log2 slot the bucket is summed into.
 */
START_TEST(buckets_tile_the_range_and_sum_into_their_log2_slot)
{
	for (unsigned b = 1; b < TS_HIST_BUCKETS; b++) {
		ck_assert_uint_eq(ts_hist_bucket_lo_us(b),
				  ts_hist_bucket_lo_us(b - 1) + ts_hist_bucket_width_us(b - 1));
		ck_assert_uint_le(ts_hist_bucket_width_us(b) * 8, ts_hist_bucket_lo_us(b) + 8);
	}
	for (uint64_t v = 0; v < (1ULL << 33); v = v < (1u << 20) ? v + 1 : v * 17 / 16 + 1) {
		static struct ts_hist h;
		unsigned b = ts_hist_bucket_of(v);

		if (ts_hist_bucket_lo_us(b) > v ||
		    (b < TS_HIST_BUCKETS - 1 &&
		     v >= ts_hist_bucket_lo_us(b) + ts_hist_bucket_width_us(b)))
			ck_abort_msg("%llu us in bucket %u", (unsigned long long)v, b);
		h.bucket[b] = 1;
		if (ts_hist_slot_count(&h, ts_hist_slot_of(v)) != 1)
			ck_abort_msg("%llu us (bucket %u) not in log2 slot %u",
				     (unsigned long long)v, b, ts_hist_slot_of(v));
		h.bucket[b] = 0;
	}
}
END_TEST

/* ---- percentiles ---- */

START_TEST(empty_histogram_has_no_percentile_or_average)
{
	struct ts_hist h = { { 0 }, 0 };

	ck_assert(isnan(ts_hist_percentile(&h, 50)));
	ck_assert(isnan(ts_hist_average(&h)));
}
END_TEST

START_TEST(single_sample_reports_its_bucket_middle)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 1500, 1); /* bucket [1408, 1536) us */
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 1471.5e-6, 1e-12);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 100), 1471.5e-6, 1e-12);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 1), 1471.5e-6, 1e-12);
	ck_assert_double_eq_tol(ts_hist_average(&h), 1.5e-3, 1e-12);
}
END_TEST

START_TEST(values_below_sixteen_microseconds_are_exact)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 3, 50);
	put(&h, 15, 50);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 3e-6, 1e-15);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 51), 15e-6, 1e-15);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 100), 15e-6, 1e-15);
}
END_TEST

START_TEST(open_top_bucket_reports_its_lower_bound)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 100000000, 3); /* 100 s */
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 67.108864, 1e-9);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 100), 67.108864, 1e-9);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t rnd64(uint64_t *state)
{
	/* xorshift64*: deterministic, so a failure can be replayed. */
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 2685821657736338717ULL;
}

/* Percentiles in tenths of a percent, exact ones computed from the sorted samples. */
static const unsigned pct10[] = { 1, 10, 70, 100, 250, 333, 500, 750, 900, 950, 990, 999, 1000 };

/*
 * The bound: every percentile within 10 % of the exact (nearest-rank) percentile
 * of the samples; the documented bound is tighter, half a bucket: 1/16.
 */
static void assert_percentiles_close(uint64_t *v, size_t n, const char *what)
{
	struct ts_hist h = { { 0 }, 0 };

	for (size_t i = 0; i < n; i++)
		put(&h, v[i], 1);
	qsort(v, n, sizeof(v[0]), cmp_u64);
	for (size_t k = 0; k < sizeof(pct10) / sizeof(pct10[0]); k++) {
		size_t rank = (pct10[k] * n + 999) / 1000;
		double truth = (double)v[rank ? rank - 1 : 0] * 1e-6;
		double got = ts_hist_percentile(&h, pct10[k] / 10.0);
		double err = fabs(got - truth) / truth;

		ck_assert_msg(err <= 0.10, "%s: p%g = %g s, exact %g s (%.1f %% off)", what,
			      pct10[k] / 10.0, got, truth, err * 100);
		ck_assert_msg(err <= 1.0 / 16 + 1e-12, "%s: p%g = %g s, exact %g s: over 1/16",
			      what, pct10[k] / 10.0, got, truth);
	}
}

START_TEST(percentiles_of_random_distributions_within_ten_percent)
{
	enum { N = 20000 };
	static uint64_t v[N];
	uint64_t st = 0x9e3779b97f4a7c15ULL;
	char what[64];

	for (int round = 0; round < 40; round++) {
		size_t n = round % 4 == 0 ? 1 + rnd64(&st) % 50 : N; /* small and large sets */

		for (size_t i = 0; i < n; i++) {
			uint64_t r = rnd64(&st);

			switch (round % 5) {
			case 0: /* log-uniform, 1 us .. 60 s */
				v[i] = (uint64_t)exp((double)(r % 1000000) / 1e6 * log(6e7));
				break;
			case 1: /* uniform inside one power of two */
				v[i] = (1ULL << (round % 24 + 4)) + r % (1ULL << (round % 24 + 4));
				break;
			case 2: /* around 2.22 ms, +-10 % (a steady flow) */
				v[i] = 2220 + (r % 445) - 222;
				break;
			case 3: /* two modes: LAN and WAN */
				v[i] = r & 1 ? 300 + r % 100 : 80000 + r % 40000;
				break;
			default: /* heavy tail: 1 ms / uniform(0, 1] */
				v[i] = (uint64_t)(1000.0 / ((double)(r % 1000000 + 1) / 1e6));
				break;
			}
			if (v[i] == 0)
				v[i] = 1;
			if (v[i] >= (1ULL << 26))
				v[i] = (1ULL << 26) - 1; /* the open top bucket is the exception */
		}
		snprintf(what, sizeof(what), "random round %d (n %zu)", round, n);
		assert_percentiles_close(v, n, what);
	}
}
END_TEST

/* Samples where a bucket's middle is furthest from them: its edges, and ranks on edges. */
START_TEST(percentiles_of_adversarial_distributions_within_ten_percent)
{
	enum { N = 4000 };
	static uint64_t v[N];
	char what[64];

	for (unsigned b = 0; b < TS_HIST_BUCKETS - 1; b++) {
		uint64_t lo = ts_hist_bucket_lo_us(b), w = ts_hist_bucket_width_us(b);

		if (lo == 0)
			continue;
		for (size_t i = 0; i < N; i++)
			v[i] = lo; /* all on a lower edge */
		snprintf(what, sizeof(what), "lower edge of bucket %u", b);
		assert_percentiles_close(v, N, what);
		for (size_t i = 0; i < N; i++)
			v[i] = lo + w - 1; /* all on an upper edge */
		snprintf(what, sizeof(what), "upper edge of bucket %u", b);
		assert_percentiles_close(v, N, what);
		for (size_t i = 0; i < N; i++)
			v[i] = i % 2 ? lo + w - 1 : lo + w; /* straddling two buckets */
		snprintf(what, sizeof(what), "straddling bucket %u", b);
		assert_percentiles_close(v, N, what);
	}
	/* Powers of two and one below, the worst place of the old log2 slots. */
	for (unsigned k = 1; k < 26; k++) {
		for (size_t i = 0; i < N; i++)
			v[i] = (1ULL << k) - (i % 3 == 0);
		snprintf(what, sizeof(what), "around 2^%u", k);
		assert_percentiles_close(v, N, what);
	}
	/* A rank exactly on a bucket boundary: 999 fast samples, one outlier. */
	for (size_t i = 0; i < 1000; i++)
		v[i] = i == 999 ? 5000000 : 1000;
	assert_percentiles_close(v, 1000, "one outlier in 1000");
}
END_TEST

/* The old log2 interpolation read 3.07 ms for a flow of tcpi_rtt 2.22 ms (+38 %). */
START_TEST(steady_flow_reads_its_rtt)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 2200, 400);
	put(&h, 2220, 400);
	put(&h, 2240, 200);
	ck_assert_double_le(fabs(ts_hist_percentile(&h, 50) - 2.22e-3) / 2.22e-3, 1.0 / 16);
}
END_TEST

/* The read cycle's one scan for all percentiles, in the configured (any) order. */
START_TEST(percentiles_in_one_scan_match_one_by_one)
{
	static const double pct[] = { 99, 50, 0, 99.9, 90, 50, 1, 100 };
	double out[sizeof(pct) / sizeof(pct[0])];
	struct ts_hist h = { { 0 }, 0 };
	uint64_t st = 42;

	for (int i = 0; i < 5000; i++)
		put(&h, 1 + rnd64(&st) % 200000, 1);
	ts_hist_percentiles(&h, pct, sizeof(pct) / sizeof(pct[0]), out);
	for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
		if (pct[i] == 0)
			ck_assert(isnan(out[i]));
		else
			ck_assert_double_eq(out[i], ts_hist_percentile(&h, pct[i]));
	}
	ck_assert_double_le(out[6], out[1]);
	ck_assert_double_le(out[1], out[4]);
	ck_assert_double_le(out[4], out[0]);
}
END_TEST

START_TEST(delta_of_cumulative_histograms)
{
	struct ts_hist prev = { { 0 }, 0 }, now, d;

	put(&prev, 100, 5);
	now = prev;
	put(&now, 100, 2);
	put(&now, 5000, 1);
	ck_assert_uint_eq(ts_hist_delta(&now, &prev, &d), 3);
	ck_assert_uint_eq(d.bucket[ts_hist_bucket_of(100)], 2);
	ck_assert_uint_eq(d.sum_us, 5200);
	/* Counters recreated (went backwards): the new counts are the interval's. */
	ck_assert_uint_eq(ts_hist_delta(&prev, &now, &d), 5);
}
END_TEST

/* The read cycle's one pass gives what ts_hist_delta and the counts give, resets too. */
START_TEST(one_step_is_delta_counts_and_slots)
{
	static const double pct[] = { 50, 90, 99, 99.9, 100, 0.1, 1 };
	double a[sizeof(pct) / sizeof(pct[0])], b[sizeof(pct) / sizeof(pct[0])];
	uint64_t st = 7;

	for (int trial = 0; trial < 200; trial++) {
		struct ts_hist prev = { { 0 }, 0 }, now, p2, p3, d;
		struct ts_hist_interval iv;
		unsigned spread = 1 + (unsigned)(rnd64(&st) % 26);

		for (int i = 0; i < 300; i++)
			put(&prev, rnd64(&st) % (1ULL << spread), 1 + rnd64(&st) % 3);
		now = prev;
		for (int i = 0, k = (int)(rnd64(&st) % 400); i < k; i++)
			put(&now, rnd64(&st) % (1ULL << (1 + rnd64(&st) % 27)), 1);
		/* Every 10th trial the counters went backwards: the interval is now itself. */
		p2 = prev;
		if (trial % 10 == 9)
			put(&p2, 1, 1000);
		p3 = p2;
		ts_hist_step(&now, &p2, &iv);
		ck_assert_uint_eq(iv.samples, ts_hist_delta(&now, &p3, &d));
		ck_assert_mem_eq(&iv.d, &d, sizeof(d));
		ck_assert_uint_eq(iv.total, ts_hist_count(&now));
		for (unsigned sl = 0; sl < TS_HIST_SLOTS; sl++)
			ck_assert_uint_eq(iv.slot[sl], ts_hist_slot_count(&d, sl));
		ck_assert_mem_eq(&p2, &now, sizeof(now));
		ts_hist_percentiles(&d, pct, sizeof(pct) / sizeof(pct[0]), a);
		ts_hist_interval_percentiles(&iv, pct, sizeof(pct) / sizeof(pct[0]), b);
		for (size_t i = 0; i < sizeof(pct) / sizeof(pct[0]); i++) {
			if (isnan(a[i]))
				ck_assert(isnan(b[i]));
			else
				ck_assert_double_eq(a[i], b[i]);
		}
	}
}
END_TEST

/* 32-bit kernel counts that wrapped between two reads still add what they gained. */
START_TEST(wrapped_kernel_counts_add_their_gain)
{
	struct ts_hist cum = { { 0 }, 0 };
	uint32_t last[TS_HIST_BUCKETS] = { 0 }, now[TS_HIST_BUCKETS] = { 0 };

	now[3] = 4000000000U;
	now[100] = 7;
	ts_hist_add_wrapped(&cum, last, now);
	ck_assert_uint_eq(cum.bucket[3], 4000000000U);
	ck_assert_uint_eq(cum.bucket[100], 7);
	/* 4e9 + 500e6 wraps to 205032704 (mod 2^32) */
	now[3] = (uint32_t)(4000000000ULL + 500000000ULL);
	ts_hist_add_wrapped(&cum, last, now);
	ck_assert_uint_eq(cum.bucket[3], 4500000000ULL);
	ck_assert_uint_eq(cum.bucket[100], 7);
	ck_assert_uint_eq(last[3], now[3]);
	ts_hist_add_wrapped(&cum, last, now);
	ck_assert_uint_eq(cum.bucket[3], 4500000000ULL);
}
END_TEST

/* What add_rtt() in bpf/tcpsubnet.bpf.c does to one CPU's histogram of a slot. */
static void kernel_add(struct ts_rtt *h, uint32_t us)
{
	unsigned b = ts_hist_bucket_of(us);
	struct ts_rtt_line *l = &h->line[b / TS_RTT_LINE_BUCKETS];

	l->bucket[b % TS_RTT_LINE_BUCKETS] += 1;
	l->sum_us += us;
}

START_TEST(cpu_histograms_sum_per_slot_line_by_line)
{
	enum { NCPU = 3, SLOTS = 5 };
	static struct ts_rtt map[NCPU * SLOTS];
	static struct ts_hist want[SLOTS], cum;
	uint32_t now[TS_HIST_BUCKETS], last[TS_HIST_BUCKETS];
	unsigned unused = TS_RTT_BUCKETS % TS_RTT_LINE_BUCKETS;

	srand(14);
	for (int i = 0; i < 50000; i++) {
		unsigned cpu = (unsigned)rand() % NCPU, slot = (unsigned)rand() % SLOTS;
		/* every bucket: log-uniform over 0 .. 2^28 us, past the open top */
		uint32_t us = (uint32_t)(((uint64_t)rand() << 31 | (uint64_t)rand()) >>
					 (34 + rand() % 28));

		kernel_add(&map[cpu * SLOTS + slot], us);
		put(&want[slot], us, 1);
	}
	/* The last line's places past the top bucket hold nothing the reader may add. */
	for (unsigned k = unused ? unused : TS_RTT_LINE_BUCKETS; k < TS_RTT_LINE_BUCKETS; k++)
		map[SLOTS + 2].line[TS_RTT_LINES - 1].bucket[k] = 12345;
	for (unsigned slot = 0; slot < SLOTS; slot++) {
		uint64_t n = 0;

		memset(&cum, 0, sizeof(cum));
		memset(last, 0, sizeof(last));
		cum.sum_us = ts_hist_sum_cpus(&map[slot], SLOTS, NCPU, now);
		ts_hist_add_wrapped(&cum, last, now);
		for (unsigned b = 0; b < TS_HIST_BUCKETS; b++) {
			ck_assert_uint_eq(cum.bucket[b], want[slot].bucket[b]);
			n += cum.bucket[b];
		}
		ck_assert_uint_eq(cum.sum_us, want[slot].sum_us);
		ck_assert_uint_gt(n, 9000);
	}
	ck_assert_uint_gt(want[0].bucket[TS_HIST_BUCKETS - 1], 0);
	ck_assert_uint_gt(want[0].bucket[3], 0);

	/* 32-bit counts of two CPUs past 2^32 together: summed modulo 2^32, gain exact */
	memset(map, 0, sizeof(map));
	memset(&cum, 0, sizeof(cum));
	map[0 * SLOTS + 1].line[7].bucket[3] = UINT32_MAX - 1;
	map[2 * SLOTS + 1].line[7].bucket[3] = UINT32_MAX - 2;
	ts_hist_sum_cpus(&map[1], SLOTS, NCPU, now);
	memcpy(last, now, sizeof(last));
	for (int i = 0; i < 5; i++) {
		kernel_add(&map[0 * SLOTS + 1], 26624);
		kernel_add(&map[2 * SLOTS + 1], 26624);
	}
	cum.sum_us = ts_hist_sum_cpus(&map[1], SLOTS, NCPU, now);
	ts_hist_add_wrapped(&cum, last, now);
	ck_assert_uint_eq(ts_hist_bucket_of(26624), 7 * TS_RTT_LINE_BUCKETS + 3);
	ck_assert_uint_eq(cum.bucket[7 * TS_RTT_LINE_BUCKETS + 3], 10);
	ck_assert_uint_eq(cum.sum_us, 10 * 26624);
}
END_TEST

START_TEST(names_follow_collectd_tail_style)
{
	char buf[64];

	ts_hist_bucket_name(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-0_2e-06");
	ts_hist_bucket_name(10, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-0.001024_0.002048");
	ts_hist_bucket_name(26, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-67.1089_inf");
	ts_hist_percentile_name(50, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-percentile-50");
	ts_hist_percentile_name(99.9, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-percentile-99.9");
}
END_TEST

/* ---- values of a read cycle ---- */

struct seen {
	int n;
	char line[1024][96];
};

static void record(void *ctx, const struct ts_value *v)
{
	struct seen *s = ctx;

	ck_assert_int_lt(s->n, 1024);
	if (v->derive && v->n == 2)
		snprintf(s->line[s->n++], 96, "%s %s %llu %llu", v->plugin_instance, v->type,
			 (unsigned long long)v->d[0], (unsigned long long)v->d[1]);
	else if (v->derive)
		snprintf(s->line[s->n++], 96, "%s %s-%s %llu", v->plugin_instance, v->type,
			 v->type_instance, (unsigned long long)v->d[0]);
	else
		snprintf(s->line[s->n++], 96, "%s %s-%s %g", v->plugin_instance, v->type,
			 v->type_instance, v->g);
}

static bool has(const struct seen *s, const char *line)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->line[i], line) == 0)
			return true;
	return false;
}

static bool has_prefix(const struct seen *s, const char *prefix)
{
	for (int i = 0; i < s->n; i++)
		if (strncmp(s->line[i], prefix, strlen(prefix)) == 0)
			return true;
	return false;
}

static void config(struct ts_config *c, const char *text)
{
	char err[256];
	struct ts_citem *root = cfgtext_parse(text, err, sizeof(err));

	ck_assert_ptr_nonnull(root);
	ts_config_init(c);
	ck_assert_int_eq(ts_config_parse(c, root, NULL, NULL), 0);
	cfgtext_free(root);
}

START_TEST(read_cycle_dispatches_every_family)
{
	struct ts_config c;
	struct ts_counters t[2] = { { 0 }, { 1, 2, 3, 4, 5, 6 } };
	struct ts_hist now[2] = { { { 0 }, 0 } }, prev[2] = { { { 0 }, 0 } };
	static struct seen s;

	config(&c, "Subnet \"10.0.0.0/8\"\n");
	put(&now[1], 1500, 10);
	memset(&s, 0, sizeof(s));
	ts_values_emit(&c, t, now, prev, 2.0, record, &s);
	ck_assert(has(&s, "10.0.0.0/8 if_octets 1 2"));
	ck_assert(has(&s, "10.0.0.0/8 connections-opened-active 3"));
	ck_assert(has(&s, "10.0.0.0/8 connections-opened-passive 4"));
	ck_assert(has(&s, "10.0.0.0/8 connections-closed 5"));
	ck_assert(has(&s, "10.0.0.0/8 derive-retransmit-segments 6"));
	ck_assert(has(&s, "10.0.0.0/8 derive-rtt-samples 10"));
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-0.001024_0.002048 5"));
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-0.000512_0.001024 0"));
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-average 0.0015"));
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-percentile-50 0.0014715"));
	ck_assert(has_prefix(&s, "10.0.0.0/8 latency-rtt-percentile-90 "));
	ck_assert(has_prefix(&s, "10.0.0.0/8 latency-rtt-percentile-99 "));
	ck_assert(has(&s, "other if_octets 0 0"));
	/* 2 instances x (1 + 3 + 1 + 1 + 27) values, plus 4 RTT figures of one. */
	ck_assert_int_eq(s.n, 2 * 33 + 4);
	/* prev now holds this cycle's counts: the next interval starts there. */
	ck_assert_uint_eq(prev[1].bucket[ts_hist_bucket_of(1500)], 10);
	ts_config_free(&c);
}
END_TEST

START_TEST(interval_without_samples_has_no_percentiles)
{
	struct ts_config c;
	struct ts_counters t[2] = { { 0 } };
	struct ts_hist now[2] = { { { 0 }, 0 } }, prev[2];
	static struct seen s;

	config(&c, "Subnet \"10.0.0.0/8\"\n");
	put(&now[1], 1500, 10);
	memcpy(prev, now, sizeof(prev));
	memset(&s, 0, sizeof(s));
	ts_values_emit(&c, t, now, prev, 1.0, record, &s);
	ck_assert(!has_prefix(&s, "10.0.0.0/8 latency-"));
	ck_assert(has(&s, "10.0.0.0/8 derive-rtt-samples 10"));
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-0.001024_0.002048 0"));
	ts_config_free(&c);
}
END_TEST

START_TEST(disabled_families_and_unmatched_are_not_dispatched)
{
	struct ts_config c;
	struct ts_counters t[2] = { { 7, 8, 1, 1, 1, 1 }, { 1, 2, 3, 4, 5, 6 } };
	static struct seen s;

	config(&c, "Subnet \"10.0.0.0/8\"\nRTT false\nConnections false\n"
		   "Retransmits false\nReportUnmatched false\n");
	memset(&s, 0, sizeof(s));
	ts_values_emit(&c, t, NULL, NULL, 1.0, record, &s);
	ck_assert_int_eq(s.n, 1);
	ck_assert(has(&s, "10.0.0.0/8 if_octets 1 2"));
	ts_config_free(&c);
}
END_TEST

START_TEST(pairs_are_named_local_to_remote)
{
	struct ts_config c;
	struct ts_counters t[9] = { { 0 } };
	static struct seen s;

	config(&c, "<LocalSubnet \"la\">\nPrefix \"10.1.0.0/16\"\n</LocalSubnet>\n"
		   "LocalSubnet \"10.2.0.0/16\"\n"
		   "<Subnet \"ra\">\nPrefix \"10.1.0.0/16\"\n</Subnet>\n"
		   "<Subnet \"rb\">\nPrefix \"10.2.0.0/16\"\n</Subnet>\n"
		   "RTT false\nConnections false\nRetransmits false\n");
	ck_assert_uint_eq(ts_config_index_count(&c), 9);
	t[1 * 3 + 2].rx_bytes = 11; /* local la (1), remote rb (2) */
	t[2 * 3 + 0].tx_bytes = 12; /* local 10.2.0.0/16 (2), remote other */
	memset(&s, 0, sizeof(s));
	ts_values_emit(&c, t, NULL, NULL, 1.0, record, &s);
	ck_assert_int_eq(s.n, 9);
	ck_assert(has(&s, "la-to-rb if_octets 11 0"));
	ck_assert(has(&s, "10.2.0.0/16-to-other if_octets 0 12"));
	ck_assert(has(&s, "other-to-ra if_octets 0 0"));
	ck_assert(has(&s, "other-to-other if_octets 0 0"));
	ts_config_free(&c);
}
END_TEST

/* ---- coarser buckets (RTTBucketWidth) ---- */

START_TEST(merged_buckets_cover_every_slot_once)
{
	for (unsigned w = 1; w <= TS_HIST_SLOTS; w++) {
		unsigned n = ts_hist_bucket_count(w), next = 0;

		ck_assert_uint_eq(n, (TS_HIST_SLOTS + w - 1) / w);
		for (unsigned b = 0; b < n; b++) {
			ck_assert_uint_eq(ts_hist_bucket_first(w, b), next);
			ck_assert_uint_gt(ts_hist_bucket_end(w, b), next);
			ck_assert_uint_le(ts_hist_bucket_end(w, b) - next, w);
			/* Every bucket but the last spans exactly w slots: a factor of 2^w. */
			if (b + 1 < n)
				ck_assert_uint_eq(ts_hist_bucket_end(w, b) - next, w);
			next = ts_hist_bucket_end(w, b);
		}
		ck_assert_uint_eq(next, TS_HIST_SLOTS);
	}
}
END_TEST

START_TEST(merged_bucket_names_keep_the_lo_hi_convention)
{
	char buf[64], fine[64];

	for (unsigned i = 0; i < TS_HIST_SLOTS; i++) {
		ts_hist_merged_bucket_name(1, i, buf, sizeof(buf));
		ts_hist_bucket_name(i, fine, sizeof(fine));
		ck_assert_str_eq(buf, fine);
	}
	ts_hist_merged_bucket_name(3, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-0_8e-06");
	ts_hist_merged_bucket_name(3, 3, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-0.000512_0.004096");
	ts_hist_merged_bucket_name(3, 8, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-16.7772_inf");
	ts_hist_merged_bucket_name(2, 12, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-16.7772_67.1089");
	ts_hist_merged_bucket_name(2, 13, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-67.1089_inf");
	ts_hist_merged_bucket_name(27, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "rtt-0_inf");
}
END_TEST

START_TEST(coarse_buckets_sum_their_slots_and_keep_fine_percentiles)
{
	struct ts_config c;
	struct ts_counters t[2] = { { 0 } };
	struct ts_hist now[2] = { { { 0 }, 0 } }, prev[2] = { { { 0 }, 0 } };
	static struct seen s;

	config(&c, "Subnet \"10.0.0.0/8\"\nRTTBucketWidth 3\n");
	put(&now[1], 600, 4);  /* slot 9 */
	put(&now[1], 1500, 10); /* slot 10 */
	put(&now[1], 3000, 6); /* slot 11 */
	put(&now[1], 5000, 2); /* slot 12: the next bucket */
	memset(&s, 0, sizeof(s));
	ts_values_emit(&c, t, now, prev, 2.0, record, &s);
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-0.000512_0.004096 10"));
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-0.004096_0.032768 1"));
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-0_8e-06 0"));
	ck_assert(has(&s, "10.0.0.0/8 bucket-rtt-16.7772_inf 0"));
	ck_assert(!has_prefix(&s, "10.0.0.0/8 bucket-rtt-0.001024_"));
	/* Rank 11 of 22 is a 1500 us sample: the middle of its kernel bucket [1408, 1536)
	 * us, from the fine buckets (the coarse bucket spans 0.512 .. 4.096 ms). */
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-percentile-50 0.0014715"));
	ck_assert(has(&s, "10.0.0.0/8 derive-rtt-samples 22"));
	ck_assert_int_eq(s.n, 2 * (6 + 9) + 4);
	ts_config_free(&c);
}
END_TEST

START_TEST(buckets_off_keeps_percentiles_and_averages)
{
	struct ts_config c;
	struct ts_counters t[2] = { { 0 } };
	struct ts_hist now[2] = { { { 0 }, 0 } }, prev[2] = { { { 0 }, 0 } };
	static struct seen s;

	config(&c, "Subnet \"10.0.0.0/8\"\nRTTBuckets false\n");
	put(&now[1], 1500, 10);
	memset(&s, 0, sizeof(s));
	ts_values_emit(&c, t, now, prev, 2.0, record, &s);
	for (int i = 0; i < s.n; i++)
		ck_assert_msg(strstr(s.line[i], " bucket-") == NULL, "%s", s.line[i]);
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-average 0.0015"));
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-percentile-50 0.0014715"));
	ck_assert(has(&s, "10.0.0.0/8 derive-rtt-samples 10"));
	ck_assert_int_eq(s.n, 2 * 6 + 4);
	ts_config_free(&c);
}
END_TEST

/* What MaxValues bounds is what a cycle with samples in every slot dispatches. */
START_TEST(values_per_cycle_is_what_a_full_cycle_dispatches)
{
	static const char *const confs[] = {
		"Subnet \"10.0.0.0/8\"\n",
		"Subnet \"10.0.0.0/8\"\nRTTBucketWidth 3\nRTTPercentile 50 99.9\n",
		"Subnet \"10.0.0.0/8\"\nRTTBucketWidth 27\n",
		"Subnet \"10.0.0.0/8\"\nRTTBuckets false\n",
		"Subnet \"10.0.0.0/8\"\nRTT false\n",
		"Subnet \"10.0.0.0/8\"\nConnections false\nReportUnmatched false\n",
		("LocalSubnet \"10.1.0.0/16\"\nSubnet \"10.2.0.0/16\"\nSubnet \"10.3.0.0/16\"\n"
		 "RTTBucketWidth 2\n"),
		"LocalSubnet \"10.1.0.0/16\"\nSubnet \"10.2.0.0/16\"\nReportUnmatched false\n",
		"",
	};
	static struct seen s;

	for (size_t k = 0; k < sizeof(confs) / sizeof(confs[0]); k++) {
		struct ts_config c;
		struct ts_counters t[9] = { { 0 } };
		struct ts_hist now[9], prev[9];
		struct ts_health health = { 1, 2, 3, 4, 0, "" };

		config(&c, confs[k]);
		ck_assert_uint_le(ts_config_index_count(&c), 9);
		memset(now, 0, sizeof(now));
		memset(prev, 0, sizeof(prev));
		for (size_t i = 0; i < ts_config_index_count(&c); i++)
			for (unsigned j = 0; j < TS_HIST_BUCKETS; j++)
				now[i].bucket[j] = 1;
		memset(&s, 0, sizeof(s));
		ts_values_emit(&c, t, now, prev, 1.0, record, &s);
		ts_values_emit_health(&health, record, &s);
		ck_assert_msg((size_t)s.n == ts_config_values_per_cycle(&c),
			      "%s: %d values dispatched, counted %zu", confs[k], s.n,
			      ts_config_values_per_cycle(&c));
		ts_config_free(&c);
	}
}
END_TEST

START_TEST(health_warning_once_when_events_were_lost_or_not_measured)
{
	struct ts_health quiet = { 0, 5, 0, 2, 0, "" }, lost = { 3, 0, 0, 0, 0, "" },
			  full = { 0, 0, 4, 0, 0, "" };
	char line[400];
	int warned = 0;

	/* Stale entries and storage failures alone cost no figure: no warning. */
	ck_assert_int_eq(ts_values_health_warning(&quiet, "kprobe", &warned, line, sizeof(line)), 0);
	ck_assert_int_eq(warned, 0);
	ck_assert_int_eq(ts_values_health_warning(&full, "kprobe (configured)", &warned, line,
						  sizeof(line)), 1);
	ck_assert_msg(strstr(line, "0 runs") && strstr(line, "4 calls were not measured") &&
		      strstr(line, "attach mode kprobe (configured)"), "%s", line);
	ck_assert_int_ne(warned, 0);
	/* Once per load, however the figures grow later. */
	ck_assert_int_eq(ts_values_health_warning(&lost, "kprobe", &warned, line, sizeof(line)), 0);
	warned = 0;
	ck_assert_int_eq(ts_values_health_warning(&lost, "fentry", &warned, line, sizeof(line)), 1);
	ck_assert_msg(strstr(line, "skipped 3 runs") && strstr(line, "(lost-events)"), "%s", line);
	/* Which programs missed them, where user space knows. */
	lost.lost_events = 0;
	ts_health_add_rtt_lost(&lost, "tp_rtt", 2);
	ts_health_add_lost(&lost, "tp_send", 0);
	ts_health_add_lost(&lost, "kprobes", 1);
	ck_assert_uint_eq(lost.lost_events, 3);
	ck_assert_uint_eq(lost.rtt_lost, 2);
	warned = 0;
	ck_assert_int_eq(ts_values_health_warning(&lost, "tracepoint", &warned, line, sizeof(line)), 1);
	ck_assert_msg(strstr(line, "the figures are incomplete: the kernel skipped 3 runs of the "
			      "plugin's programs (lost-events: tp_rtt 2, kprobes 1 so far)"), "%s", line);
}
END_TEST

START_TEST(health_warning_rtt_samples_only_then_the_figures)
{
	struct ts_health h;
	char line[400];
	int warned = 0;

	memset(&h, 0, sizeof(h));
	ts_health_add_rtt_lost(&h, "tp_rtt", 2);
	ck_assert_uint_eq(h.lost_events, 2);
	ck_assert_int_eq(ts_values_health_warning(&h, "tracepoint", &warned, line, sizeof(line)), 1);
	ck_assert_msg(strstr(line, "RTT samples are incomplete: the kernel skipped 2 runs of the RTT "
			      "program (lost-events: tp_rtt 2 so far)") &&
		      strstr(line, "bytes and connections are complete") &&
		      !strstr(line, "figures are incomplete"), "%s", line);
	/* More RTT misses: no second line. */
	ts_health_add_rtt_lost(&h, "raw_rtt", 5);
	ck_assert_int_eq(ts_values_health_warning(&h, "tracepoint", &warned, line, sizeof(line)), 0);
	/* A miss that costs bytes or connections still gets its own line, once. */
	ts_health_add_lost(&h, "tp_state", 1);
	ck_assert_int_eq(ts_values_health_warning(&h, "tracepoint", &warned, line, sizeof(line)), 1);
	ck_assert_msg(strstr(line, "the figures are incomplete: the kernel skipped 8 runs"), "%s", line);
	ck_assert_int_eq(ts_values_health_warning(&h, "tracepoint", &warned, line, sizeof(line)), 0);
	/* A full stash alone is not about RTT. */
	memset(&h, 0, sizeof(h));
	warned = 0;
	h.stash_full = 1;
	ck_assert_int_eq(ts_values_health_warning(&h, "kprobe", &warned, line, sizeof(line)), 1);
	ck_assert_msg(strstr(line, "the figures are incomplete"), "%s", line);
	ts_health_add_rtt_lost(&h, "raw_rtt", 1);
	ck_assert_int_eq(ts_values_health_warning(&h, "kprobe", &warned, line, sizeof(line)), 0);
	/* One run: singular. */
	memset(&h, 0, sizeof(h));
	warned = 0;
	ts_health_add_rtt_lost(&h, "tp_rtt", 1);
	ck_assert_int_eq(ts_values_health_warning(&h, "tracepoint", &warned, line, sizeof(line)), 1);
	ck_assert_msg(strstr(line, "skipped 1 run of the RTT program (lost-events: tp_rtt 1 so far)"),
		      "%s", line);
}
END_TEST

START_TEST(health_lost_by_truncates_the_names_never_the_count)
{
	struct ts_health h;
	char name[40];

	memset(&h, 0, sizeof(h));
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "program_number_%d", i);
		ts_health_add_lost(&h, name, 1000000007ULL);
		ck_assert_uint_lt(strlen(h.lost_by), sizeof(h.lost_by));
	}
	ck_assert_uint_eq(h.lost_events, 40 * 1000000007ULL);
	ck_assert_msg(strncmp(h.lost_by, "program_number_0 1000000007, program_number_1 ", 46) == 0,
		      "%s", h.lost_by);
	/* Whole items only. */
	ck_assert_msg(h.lost_by[strlen(h.lost_by) - 1] == '7', "%s", h.lost_by);
}
END_TEST

static Suite *tshist_suite(void)
{
	Suite *s = suite_create("tshist");
	TCase *tc = tcase_create("slots");

	tcase_add_test(tc, slot_of_is_floor_log2_with_open_top);
	tcase_add_test(tc, every_value_lies_inside_its_slot_bounds);
	tcase_add_test(tc, slot_bounds_in_seconds);
	tcase_add_test(tc, small_values_have_a_bucket_each_then_eight_per_power_of_two);
	tcase_add_test(tc, buckets_tile_the_range_and_sum_into_their_log2_slot);
	suite_add_tcase(s, tc);

	tc = tcase_create("percentiles");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, empty_histogram_has_no_percentile_or_average);
	tcase_add_test(tc, single_sample_reports_its_bucket_middle);
	tcase_add_test(tc, values_below_sixteen_microseconds_are_exact);
	tcase_add_test(tc, open_top_bucket_reports_its_lower_bound);
	tcase_add_test(tc, percentiles_of_random_distributions_within_ten_percent);
	tcase_add_test(tc, percentiles_of_adversarial_distributions_within_ten_percent);
	tcase_add_test(tc, steady_flow_reads_its_rtt);
	tcase_add_test(tc, percentiles_in_one_scan_match_one_by_one);
	tcase_add_test(tc, delta_of_cumulative_histograms);
	tcase_add_test(tc, one_step_is_delta_counts_and_slots);
	tcase_add_test(tc, wrapped_kernel_counts_add_their_gain);
	tcase_add_test(tc, cpu_histograms_sum_per_slot_line_by_line);
	tcase_add_test(tc, names_follow_collectd_tail_style);
	suite_add_tcase(s, tc);

	tc = tcase_create("values");
	tcase_add_test(tc, read_cycle_dispatches_every_family);
	tcase_add_test(tc, interval_without_samples_has_no_percentiles);
	tcase_add_test(tc, disabled_families_and_unmatched_are_not_dispatched);
	tcase_add_test(tc, pairs_are_named_local_to_remote);
	suite_add_tcase(s, tc);

	tc = tcase_create("cardinality");
	tcase_add_test(tc, merged_buckets_cover_every_slot_once);
	tcase_add_test(tc, merged_bucket_names_keep_the_lo_hi_convention);
	tcase_add_test(tc, coarse_buckets_sum_their_slots_and_keep_fine_percentiles);
	tcase_add_test(tc, buckets_off_keeps_percentiles_and_averages);
	tcase_add_test(tc, values_per_cycle_is_what_a_full_cycle_dispatches);
	tcase_add_test(tc, health_warning_once_when_events_were_lost_or_not_measured);
	tcase_add_test(tc, health_lost_by_truncates_the_names_never_the_count);
	tcase_add_test(tc, health_warning_rtt_samples_only_then_the_figures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tshist_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
