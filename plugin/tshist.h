/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * RTT histogram maths of the tcpsubnet plugin (pure C): bucket bounds, the per-interval
 * delta of cumulative kernel histograms, percentiles and value names.
 *
 * The kernel keeps a log-linear histogram (bpf/tcpsubnet.h, ts_rtt_bucket()): 8 buckets
 * per power of two of microseconds, the values 0..15 us one bucket each, an open top
 * bucket from 2^26 us. Percentiles come from those buckets; the dispatched `bucket`
 * values are log2 slots (slot 0 holds 0..1 us, slot i >= 1 holds [2^i, 2^(i+1)) us, the
 * top slot TS_HIST_SLOTS - 1 is open-ended), each the sum of its 8 buckets, so the number
 * of series per subnet stays TS_HIST_SLOTS.
 */
#ifndef TSHIST_H
#define TSHIST_H

#include <stddef.h>
#include <stdint.h>

#define TS_HIST_SLOTS 27	/* log2 slots, dispatched */
#define TS_HIST_BUCKETS 193	/* log-linear buckets, kept by the kernel */

struct ts_hist {
	uint64_t bucket[TS_HIST_BUCKETS];
	uint64_t sum_us;
};

/* The log-linear bucket and the log2 slot a sample of us microseconds goes to. */
unsigned ts_hist_bucket_of(uint64_t us);
unsigned ts_hist_slot_of(uint64_t us);

/*
 * Integer microseconds a bucket holds: [lo, lo + width); the top bucket is open (its
 * width is 0).
 */
uint64_t ts_hist_bucket_lo_us(unsigned bucket);
uint64_t ts_hist_bucket_width_us(unsigned bucket);

/* Log2 slot bounds in seconds; the top slot's upper bound is INFINITY. */
double ts_hist_slot_lo(unsigned slot);
double ts_hist_slot_hi(unsigned slot);

/* Samples in a log2 slot: the sum of its buckets. */
uint64_t ts_hist_slot_count(const struct ts_hist *h, unsigned slot);

uint64_t ts_hist_count(const struct ts_hist *h);

/*
 * d = now - prev, bucket by bucket. Cumulative counters never go backwards; if one does
 * (counters were recreated) the delta is now itself. Returns the number of samples.
 */
uint64_t ts_hist_delta(const struct ts_hist *now, const struct ts_hist *prev,
		       struct ts_hist *d);

/*
 * The kernel counts each bucket in 32 bits per CPU, wrapping (bpf/tcpsubnet.h): adds to
 * cum->bucket[] what now[] (the CPUs' counts summed modulo 2^32) gained since last[], and
 * makes last[] now[]. Exact while no bucket gains 2^32 or more between two calls.
 */
void ts_hist_add_wrapped(struct ts_hist *cum, uint32_t *last, const uint32_t *now);

/* One CPU's histogram of one counter slot as the kernel writes it (bpf/tcpsubnet.h). */
struct ts_rtt;

/*
 * The CPUs' histograms of one counter slot, the first at first and each next CPU's
 * stride histograms further (the rtt map's layout): their 32-bit bucket counts summed
 * modulo 2^32 into now[], for ts_hist_add_wrapped(), and the sum of their lines'
 * microseconds returned. The kernel keeps adding to the mapped memory meanwhile: every
 * field is read once, with a relaxed atomic load.
 */
uint64_t ts_hist_sum_cpus(const struct ts_rtt *first, size_t stride, size_t ncpu,
			  uint32_t now[TS_HIST_BUCKETS]);

/*
 * What a read cycle needs of one counter slot, in one pass over its buckets: the
 * interval's histogram d = now - prev (as ts_hist_delta), its sample count and log2 slot
 * counts, now's sample count; then prev = now, so the next interval starts there.
 */
struct ts_hist_interval {
	struct ts_hist d;
	uint64_t samples;		/* ts_hist_count(&d) */
	uint64_t total;			/* ts_hist_count(now) */
	uint64_t slot[TS_HIST_SLOTS];	/* ts_hist_slot_count(&d, i) */
};

void ts_hist_step(const struct ts_hist *now, struct ts_hist *prev, struct ts_hist_interval *iv);

/* ts_hist_percentiles() of iv->d, the slot counts leading it to each rank's slot. */
void ts_hist_interval_percentiles(const struct ts_hist_interval *iv, const double *pct,
				  size_t n, double *out);

/*
 * The pct-th percentile (0 < pct <= 100) in seconds; NAN for an empty histogram. The
 * exact value is the nearest-rank one (the smallest sample with at least pct % of the
 * samples at or below it); the result is the middle of the integer range of the bucket
 * that holds it, so within half a bucket width: 0 below 16 us, at most 1/16 (6.25 %)
 * relative above. In the open top bucket (>= 2^26 us, 67 s) its lower bound is returned.
 */
double ts_hist_percentile(const struct ts_hist *h, double pct);

/* ts_hist_percentile() of each of pct[0 .. n-1] into out[], in one scan (n <= 16). */
#define TS_HIST_MAX_PCT 16
void ts_hist_percentiles(const struct ts_hist *h, const double *pct, size_t n, double *out);

/* Mean sample in seconds (exact: the kernel sums the samples); NAN when empty. */
double ts_hist_average(const struct ts_hist *h);

/* "rtt-<lo>_<hi>" of a log2 slot, %g seconds and "inf", as collectd's tail plugin. */
void ts_hist_bucket_name(unsigned slot, char *buf, size_t len);

/*
 * Coarser dispatched bucket values (RTTBucketWidth): dispatched bucket j merges the
 * width adjacent log2 slots from j x width on, so each spans a factor of 2^width (the
 * last one, which holds the open top slot, may have fewer slots). Percentiles and
 * averages keep using the kernel's log-linear buckets; only the dispatched bucket values
 * get coarser.
 */
unsigned ts_hist_bucket_count(unsigned width);
unsigned ts_hist_bucket_first(unsigned width, unsigned bucket);
unsigned ts_hist_bucket_end(unsigned width, unsigned bucket); /* one past its last slot */

/* "rtt-<lo>_<hi>" of a merged bucket: its first slot's lower and last slot's upper bound. */
void ts_hist_merged_bucket_name(unsigned width, unsigned bucket, char *buf, size_t len);

/* "rtt-percentile-<pct>" with %g (50, 99.9). */
void ts_hist_percentile_name(double pct, char *buf, size_t len);

#endif /* TSHIST_H */
