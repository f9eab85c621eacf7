/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unit tests of plugin/tshist.c (log2 RTT histograms, percentiles, names) and
 * plugin/tsvalues.c (what a read cycle dispatches).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtext.h"
#include "tshist.h"
#include "tsvalues.h"

static void put(struct ts_hist *h, uint64_t us, uint64_t n)
{
	h->slot[ts_hist_slot_of(us)] += n;
	h->sum_us += us * n;
}

/* ---- slots ---- */

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

/* ---- percentiles ---- */

START_TEST(empty_histogram_has_no_percentile_or_average)
{
	struct ts_hist h = { { 0 }, 0 };

	ck_assert(isnan(ts_hist_percentile(&h, 50)));
	ck_assert(isnan(ts_hist_average(&h)));
}
END_TEST

START_TEST(single_sample_interpolates_inside_its_slot)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 1500, 1); /* slot 10: [1.024, 2.048) ms */
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 1.536e-3, 1e-12);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 100), 2.048e-3, 1e-12);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 1), 1.024e-3 + 0.01 * 1.024e-3, 1e-12);
	ck_assert_double_eq_tol(ts_hist_average(&h), 1.5e-3, 1e-12);
}
END_TEST

START_TEST(empty_slots_are_skipped)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 10, 50);    /* slot 3: [8, 16) us */
	put(&h, 1500, 50);  /* slot 10 */
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 16e-6, 1e-12);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 51), 1.024e-3 + 0.02 * 1.024e-3, 1e-12);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 25), 8e-6 + 0.5 * 8e-6, 1e-12);
}
END_TEST

START_TEST(open_top_slot_reports_its_lower_bound)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 100000000, 3); /* 100 s */
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 67.108864, 1e-9);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 100), 67.108864, 1e-9);
}
END_TEST

START_TEST(slot_zero_spans_zero_to_two_microseconds)
{
	struct ts_hist h = { { 0 }, 0 };

	put(&h, 1, 4);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 50), 1e-6, 1e-15);
	ck_assert_double_eq_tol(ts_hist_percentile(&h, 100), 2e-6, 1e-15);
}
END_TEST

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The documented bound: same slot as the true value, so within a factor of 2. */
START_TEST(percentile_error_stays_within_the_documented_bound)
{
	enum { N = 5000 };
	static uint64_t v[N];
	static const double pcts[] = { 1, 10, 25, 50, 75, 90, 99, 99.9, 100 };
	unsigned seed = 12345;

	for (int round = 0; round < 50; round++) {
		struct ts_hist h = { { 0 }, 0 };
		int spread = 4 + round % 20;

		for (int i = 0; i < N; i++) {
			seed = seed * 1103515245u + 12345u;
			v[i] = 2 + (seed >> 8) % (1u << spread);
			put(&h, v[i], 1);
		}
		qsort(v, N, sizeof(v[0]), cmp_u64);
		for (size_t k = 0; k < sizeof(pcts) / sizeof(pcts[0]); k++) {
			size_t rank = (size_t)ceil(pcts[k] / 100.0 * N);
			double truth = (double)v[rank ? rank - 1 : 0] * 1e-6;
			double got = ts_hist_percentile(&h, pcts[k]);
			unsigned s = ts_hist_slot_of(v[rank ? rank - 1 : 0]);

			ck_assert_msg(got >= ts_hist_slot_lo(s) && got <= ts_hist_slot_hi(s),
				      "p%g = %g outside the true value's slot [%g, %g]", pcts[k], got,
				      ts_hist_slot_lo(s), ts_hist_slot_hi(s));
			ck_assert_msg(got >= truth / 2 && got <= truth * 2, "p%g = %g, true %g",
				      pcts[k], got, truth);
		}
	}
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
	ck_assert_uint_eq(d.slot[ts_hist_slot_of(100)], 2);
	ck_assert_uint_eq(d.sum_us, 5200);
	/* Counters recreated (went backwards): the new counts are the interval's. */
	ck_assert_uint_eq(ts_hist_delta(&prev, &now, &d), 5);
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
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-percentile-50 0.001536"));
	ck_assert(has_prefix(&s, "10.0.0.0/8 latency-rtt-percentile-90 "));
	ck_assert(has_prefix(&s, "10.0.0.0/8 latency-rtt-percentile-99 "));
	ck_assert(has(&s, "other if_octets 0 0"));
	/* 2 instances x (1 + 3 + 1 + 1 + 27) values, plus 4 RTT figures of one. */
	ck_assert_int_eq(s.n, 2 * 33 + 4);
	/* prev now holds this cycle's counts: the next interval starts there. */
	ck_assert_uint_eq(prev[1].slot[10], 10);
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
	/* Rank 11 of 22 is the 7th of slot 10's 10 samples: 1.024 + 0.7 x 1.024 ms, from
	 * the fine slots (the coarse bucket would give 0.512 + 11/20 x 3.584 ms). */
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-percentile-50 0.0017408"));
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
	ck_assert(has(&s, "10.0.0.0/8 latency-rtt-percentile-50 0.001536"));
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
		struct ts_health health = { 1, 2, 3, 4 };

		config(&c, confs[k]);
		ck_assert_uint_le(ts_config_index_count(&c), 9);
		memset(now, 0, sizeof(now));
		memset(prev, 0, sizeof(prev));
		for (size_t i = 0; i < ts_config_index_count(&c); i++)
			for (unsigned j = 0; j < TS_HIST_SLOTS; j++)
				now[i].slot[j] = 1;
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

static Suite *tshist_suite(void)
{
	Suite *s = suite_create("tshist");
	TCase *tc = tcase_create("slots");

	tcase_add_test(tc, slot_of_is_floor_log2_with_open_top);
	tcase_add_test(tc, every_value_lies_inside_its_slot_bounds);
	tcase_add_test(tc, slot_bounds_in_seconds);
	suite_add_tcase(s, tc);

	tc = tcase_create("percentiles");
	tcase_add_test(tc, empty_histogram_has_no_percentile_or_average);
	tcase_add_test(tc, single_sample_interpolates_inside_its_slot);
	tcase_add_test(tc, empty_slots_are_skipped);
	tcase_add_test(tc, open_top_slot_reports_its_lower_bound);
	tcase_add_test(tc, slot_zero_spans_zero_to_two_microseconds);
	tcase_add_test(tc, percentile_error_stays_within_the_documented_bound);
	tcase_add_test(tc, delta_of_cumulative_histograms);
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
