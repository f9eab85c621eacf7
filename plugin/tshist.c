/* SPDX-License-Identifier: GPL-2.0-only */
#include "tshist.h"

#include <linux/types.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../bpf/tcpsubnet.h"

_Static_assert(TS_HIST_BUCKETS == TS_RTT_BUCKETS && TS_HIST_SLOTS == TS_RTT_SLOTS,
	       "tshist.h and bpf/tcpsubnet.h count the same buckets and slots");

/* The kernel's own functions; srtt_us is 32 bits there. */
unsigned ts_hist_bucket_of(uint64_t us)
{
	return us > UINT32_MAX ? TS_HIST_BUCKETS - 1 : ts_rtt_bucket((__u32)us);
}

unsigned ts_hist_slot_of(uint64_t us)
{
	return us > UINT32_MAX ? TS_HIST_SLOTS - 1 : ts_log2_slot((__u32)us);
}

uint64_t ts_hist_bucket_lo_us(unsigned b)
{
	if (b < 2 * TS_RTT_SUB)
		return b;
	if (b >= TS_HIST_BUCKETS - 1)
		return 1ULL << TS_RTT_TOP_LOG2;
	return (uint64_t)(TS_RTT_SUB + b % TS_RTT_SUB) << (b / TS_RTT_SUB - 1);
}

uint64_t ts_hist_bucket_width_us(unsigned b)
{
	if (b < 2 * TS_RTT_SUB)
		return 1;
	if (b >= TS_HIST_BUCKETS - 1)
		return 0;
	return 1ULL << (b / TS_RTT_SUB - 1);
}

double ts_hist_slot_lo(unsigned slot)
{
	if (slot == 0)
		return 0.0;
	return ldexp(1.0, (int)slot) * 1e-6;
}

double ts_hist_slot_hi(unsigned slot)
{
	if (slot >= TS_HIST_SLOTS - 1)
		return INFINITY;
	return ldexp(1.0, (int)slot + 1) * 1e-6;
}

/* The buckets first .. last of a log2 slot. */
static void slot_buckets(unsigned slot, unsigned *first, unsigned *last)
{
	/* Slots 0..3 are buckets 0-1, 2-3, 4-7, 8-15; slot i >= 4 is 8 (i - 2) .. +7. */
	if (slot >= TS_HIST_SLOTS - 1) {
		*first = *last = TS_HIST_BUCKETS - 1;
	} else if (slot < 4) {
		*first = slot ? 1u << slot : 0;
		*last = (2u << slot) - 1;
	} else {
		*first = TS_RTT_SUB * (slot - 2);
		*last = *first + TS_RTT_SUB - 1;
	}
}

uint64_t ts_hist_slot_count(const struct ts_hist *h, unsigned slot)
{
	unsigned first, last;
	uint64_t n = 0;

	slot_buckets(slot, &first, &last);
	for (unsigned b = first; b <= last; b++)
		n += h->bucket[b];
	return n;
}

uint64_t ts_hist_count(const struct ts_hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < TS_HIST_BUCKETS; i++)
		n += h->bucket[i];
	return n;
}

uint64_t ts_hist_delta(const struct ts_hist *now, const struct ts_hist *prev,
		       struct ts_hist *d)
{
	int reset = now->sum_us < prev->sum_us;
	uint64_t n = 0;

	/* One pass: 193 buckets per slot and cycle are most of a read cycle's work. */
	for (unsigned i = 0; i < TS_HIST_BUCKETS; i++) {
		reset |= now->bucket[i] < prev->bucket[i];
		d->bucket[i] = now->bucket[i] - prev->bucket[i];
		n += d->bucket[i];
	}
	d->sum_us = now->sum_us - prev->sum_us;
	if (reset) {
		*d = *now;
		n = ts_hist_count(d);
	}
	return n;
}

void ts_hist_add_wrapped(struct ts_hist *cum, uint32_t *last, const uint32_t *now)
{
	for (unsigned i = 0; i < TS_HIST_BUCKETS; i++) {
		cum->bucket[i] += (uint32_t)(now[i] - last[i]);
		last[i] = now[i];
	}
}

_Static_assert(sizeof(struct ts_rtt_line) == 64 && sizeof(struct ts_rtt) % 64 == 0 &&
	       TS_RTT_LINES * TS_RTT_LINE_BUCKETS >= TS_RTT_BUCKETS,
	       "a struct ts_rtt line is a cache line and the lines hold every bucket");

uint64_t ts_hist_sum_cpus(const struct ts_rtt *first, size_t stride, size_t ncpu,
			  uint32_t now[TS_HIST_BUCKETS])
{
	uint64_t sum_us = 0;

	memset(now, 0, TS_HIST_BUCKETS * sizeof(*now));
	for (size_t cpu = 0; cpu < ncpu; cpu++) {
		const struct ts_rtt *h = first + cpu * stride;

		for (unsigned l = 0; l < TS_RTT_LINES; l++) {
			unsigned base = l * TS_RTT_LINE_BUCKETS;
			unsigned n = TS_RTT_BUCKETS - base < TS_RTT_LINE_BUCKETS ?
				     TS_RTT_BUCKETS - base : TS_RTT_LINE_BUCKETS;

			for (unsigned k = 0; k < n; k++)
				now[base + k] += __atomic_load_n(&h->line[l].bucket[k],
								 __ATOMIC_RELAXED);
			sum_us += __atomic_load_n(&h->line[l].sum_us, __ATOMIC_RELAXED);
		}
	}
	return sum_us;
}

void ts_hist_step(const struct ts_hist *now, struct ts_hist *prev, struct ts_hist_interval *iv)
{
	struct ts_hist *d = &iv->d;
	uint64_t reset = now->sum_us < prev->sum_us, total = 0;

	/*
	 * One pass for the delta, the reset test, now's count and prev's update (most of a
	 * read cycle's work, 193 buckets per slot), then the slot sums over d, in L1 by then.
	 */
	d->sum_us = now->sum_us - prev->sum_us;
	prev->sum_us = now->sum_us;
	for (unsigned i = 0; i < TS_HIST_BUCKETS; i++) {
		uint64_t n = now->bucket[i], p = prev->bucket[i];

		reset |= n < p;
		d->bucket[i] = n - p;
		prev->bucket[i] = n;
		total += n;
	}
	if (reset)
		*d = *now;
	iv->total = total;
	iv->samples = 0;
	for (unsigned s = 0; s < TS_HIST_SLOTS; s++) {
		iv->slot[s] = ts_hist_slot_count(d, s);
		iv->samples += iv->slot[s];
	}
}

/* The nearest rank of pct % of total: ceil(), with slack so 7.000000000000001 is 7. */
static uint64_t rank_of(double pct, uint64_t total)
{
	double r = (pct > 100 ? 100 : pct) * (double)total / 100.0;
	uint64_t rank = (uint64_t)ceil(r - r * 1e-12);

	return rank < 1 ? 1 : rank > total ? total : rank;
}

/* The samples in a bucket are the integers lo .. lo + w - 1: their middle, in seconds. */
static double bucket_middle(unsigned b)
{
	uint64_t lo = ts_hist_bucket_lo_us(b), w = ts_hist_bucket_width_us(b);

	return (w ? (double)lo + (double)(w - 1) / 2.0 : (double)lo) * 1e-6;
}

/*
 * The nearest ranks of pct[0 .. n-1] of total samples, order[0 .. *m-1] their indexes in
 * increasing rank (insertion sort, n is small); out[] set to NAN, for the scan to fill.
 */
static void sort_ranks(const double *pct, size_t n, uint64_t total, uint64_t *rank,
		       size_t *order, size_t *m, double *out)
{
	*m = 0;
	for (size_t i = 0; i < n; i++) {
		size_t j;

		out[i] = NAN;
		if (total == 0 || !(pct[i] > 0) || *m == TS_HIST_MAX_PCT)
			continue;
		rank[i] = rank_of(pct[i], total);
		for (j = (*m)++; j > 0 && rank[order[j - 1]] > rank[i]; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
}

void ts_hist_percentiles(const struct ts_hist *h, const double *pct, size_t n, double *out)
{
	uint64_t rank[TS_HIST_MAX_PCT], below = 0;
	size_t order[TS_HIST_MAX_PCT], m, k = 0;

	sort_ranks(pct, n, ts_hist_count(h), rank, order, &m, out);
	for (unsigned b = 0; b < TS_HIST_BUCKETS && k < m; b++) {
		below += h->bucket[b];
		for (; k < m && below >= rank[order[k]]; k++)
			out[order[k]] = bucket_middle(b);
	}
}

void ts_hist_interval_percentiles(const struct ts_hist_interval *iv, const double *pct,
				  size_t n, double *out)
{
	uint64_t rank[TS_HIST_MAX_PCT], below = 0;
	size_t order[TS_HIST_MAX_PCT], m = 0, k = 0;
	unsigned s = 0;

	sort_ranks(pct, n, iv->samples, rank, order, &m, out);
	/* Whole slots while the next rank lies beyond them, then that slot's buckets. */
	while (k < m && s < TS_HIST_SLOTS) {
		unsigned first, last;

		if (below + iv->slot[s] < rank[order[k]]) {
			below += iv->slot[s++];
			continue;
		}
		slot_buckets(s++, &first, &last);
		for (unsigned b = first; b <= last && k < m; b++) {
			below += iv->d.bucket[b];
			for (; k < m && below >= rank[order[k]]; k++)
				out[order[k]] = bucket_middle(b);
		}
	}
}

double ts_hist_percentile(const struct ts_hist *h, double pct)
{
	double v;

	ts_hist_percentiles(h, &pct, 1, &v);
	return v;
}

double ts_hist_average(const struct ts_hist *h)
{
	uint64_t n = ts_hist_count(h);

	return n ? (double)h->sum_us / (double)n * 1e-6 : NAN;
}

void ts_hist_bucket_name(unsigned slot, char *buf, size_t len)
{
	snprintf(buf, len, "rtt-%g_%g", ts_hist_slot_lo(slot), ts_hist_slot_hi(slot));
}

unsigned ts_hist_bucket_count(unsigned width)
{
	if (width == 0)
		width = 1;
	return (TS_HIST_SLOTS + width - 1) / width;
}

unsigned ts_hist_bucket_first(unsigned width, unsigned bucket)
{
	unsigned first = (width ? width : 1) * bucket;

	return first < TS_HIST_SLOTS ? first : TS_HIST_SLOTS;
}

unsigned ts_hist_bucket_end(unsigned width, unsigned bucket)
{
	return ts_hist_bucket_first(width, bucket + 1);
}

void ts_hist_merged_bucket_name(unsigned width, unsigned bucket, char *buf, size_t len)
{
	unsigned first = ts_hist_bucket_first(width, bucket);
	unsigned end = ts_hist_bucket_end(width, bucket);

	if (end == 0 || first >= end) {
		snprintf(buf, len, "rtt-none");
		return;
	}
	snprintf(buf, len, "rtt-%g_%g", ts_hist_slot_lo(first), ts_hist_slot_hi(end - 1));
}

void ts_hist_percentile_name(double pct, char *buf, size_t len)
{
	snprintf(buf, len, "rtt-percentile-%g", pct);
}
