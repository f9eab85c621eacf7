/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * RTT histogram maths of the tcpsubnet plugin (pure C): slot bounds, the per-interval
 * delta of cumulative kernel histograms, interpolated percentiles and value names.
 *
 * Slots mirror the kernel's log2_slot(): slot 0 holds 0..1 us, slot i >= 1 holds
 * [2^i, 2^(i+1)) us, and the top slot (TS_HIST_SLOTS - 1) is open-ended.
 */
#ifndef TSHIST_H
#define TSHIST_H

#include <stddef.h>
#include <stdint.h>

#define TS_HIST_SLOTS 27

struct ts_hist {
	uint64_t slot[TS_HIST_SLOTS];
	uint64_t sum_us;
};

/* The slot a sample of us microseconds goes to (as the kernel computes it). */
unsigned ts_hist_slot_of(uint64_t us);

/* Slot bounds in seconds; the top slot's upper bound is INFINITY. */
double ts_hist_slot_lo(unsigned slot);
double ts_hist_slot_hi(unsigned slot);

uint64_t ts_hist_count(const struct ts_hist *h);

/*
 * d = now - prev, slot by slot. Cumulative counters never go backwards; if one does
 * (counters were recreated) the delta is now itself. Returns the number of samples.
 */
uint64_t ts_hist_delta(const struct ts_hist *now, const struct ts_hist *prev,
		       struct ts_hist *d);

/*
 * The pct-th percentile (0 < pct <= 100) in seconds, interpolated linearly inside the
 * log2 slot that holds the rank; NAN for an empty histogram. In the open top slot the
 * slot's lower bound is returned. The result lies in the same slot as the true value:
 * below the true value by less than the slot width and above it by less than the slot
 * width (for slot i >= 1 the width is 2^i us, so at most a factor of 2 either way).
 */
double ts_hist_percentile(const struct ts_hist *h, double pct);

/* Mean sample in seconds; NAN when empty. */
double ts_hist_average(const struct ts_hist *h);

/* "rtt-<lo>_<hi>" with %g seconds and "inf", as collectd's tail plugin names buckets. */
void ts_hist_bucket_name(unsigned slot, char *buf, size_t len);

/*
 * Coarser bucket values (RTTBucketWidth): bucket j merges the width adjacent slots
 * from j x width on, so each bucket spans a factor of 2^width (the last one, which
 * holds the open top slot, may have fewer slots). Percentiles and averages keep using
 * the fine slots; only the dispatched bucket values get coarser.
 */
unsigned ts_hist_bucket_count(unsigned width);
unsigned ts_hist_bucket_first(unsigned width, unsigned bucket);
unsigned ts_hist_bucket_end(unsigned width, unsigned bucket); /* one past its last slot */

/* "rtt-<lo>_<hi>" of a merged bucket: its first slot's lower and last slot's upper bound. */
void ts_hist_merged_bucket_name(unsigned width, unsigned bucket, char *buf, size_t len);

/* "rtt-percentile-<pct>" with %g (50, 99.9). */
void ts_hist_percentile_name(double pct, char *buf, size_t len);

#endif /* TSHIST_H */
