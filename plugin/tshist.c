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

uint64_t ts_hist_slot_count(const struct ts_hist *h, unsigned slot)
{
	unsigned first, last;
	uint64_t n = 0;

	/* Slots 0..3 are buckets 0-1, 2-3, 4-7, 8-15; slot i >= 4 is 8 (i - 2) .. +7. */
	if (slot >= TS_HIST_SLOTS - 1) {
		first = last = TS_HIST_BUCKETS - 1;
	} else if (slot < 4) {
		first = slot ? 1u << slot : 0;
		last = (2u << slot) - 1;
	} else {
		first = TS_RTT_SUB * (slot - 2);
		last = first + TS_RTT_SUB - 1;
	}
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

	for (unsigned i = 0; i < TS_HIST_BUCKETS && !reset; i++)
		reset = now->bucket[i] < prev->bucket[i];
	if (reset) {
		*d = *now;
	} else {
		for (unsigned i = 0; i < TS_HIST_BUCKETS; i++)
			d->bucket[i] = now->bucket[i] - prev->bucket[i];
		d->sum_us = now->sum_us - prev->sum_us;
	}
	return ts_hist_count(d);
}

double ts_hist_percentile(const struct ts_hist *h, double pct)
{
	uint64_t total = ts_hist_count(h), rank, below = 0;
	double r;

	if (total == 0 || !(pct > 0))
		return NAN;
	if (pct > 100)
		pct = 100;
	/* ceil(pct % of total); the slack keeps 7.000000000000001 from becoming 8. */
	r = pct * (double)total / 100.0;
	rank = (uint64_t)ceil(r - r * 1e-12);
	if (rank < 1)
		rank = 1;
	if (rank > total)
		rank = total;
	for (unsigned b = 0; b < TS_HIST_BUCKETS; b++) {
		uint64_t lo = ts_hist_bucket_lo_us(b), w = ts_hist_bucket_width_us(b);

		below += h->bucket[b];
		if (below < rank)
			continue;
		/* The samples here are the integers lo .. lo + w - 1: their middle. */
		return w ? ((double)lo + (double)(w - 1) / 2.0) * 1e-6 : (double)lo * 1e-6;
	}
	return NAN; /* not reached: the buckets add up to total */
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

void ts_hist_percentile_name(double pct, char *buf, size_t len)
{
	snprintf(buf, len, "rtt-percentile-%g", pct);
}
