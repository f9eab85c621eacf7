/* SPDX-License-Identifier: GPL-2.0-only */
#include "tshist.h"

#include <linux/types.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../bpf/tcpsubnet.h"

unsigned ts_hist_slot_of(uint64_t us)
{
	/* The kernel's own function; srtt_us is 32 bits there. */
	return us > UINT32_MAX ? TS_HIST_SLOTS - 1 : ts_log2_slot((__u32)us);
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

uint64_t ts_hist_count(const struct ts_hist *h)
{
	uint64_t n = 0;

	for (unsigned i = 0; i < TS_HIST_SLOTS; i++)
		n += h->slot[i];
	return n;
}

uint64_t ts_hist_delta(const struct ts_hist *now, const struct ts_hist *prev,
		       struct ts_hist *d)
{
	int reset = now->sum_us < prev->sum_us;

	for (unsigned i = 0; i < TS_HIST_SLOTS && !reset; i++)
		reset = now->slot[i] < prev->slot[i];
	if (reset) {
		*d = *now;
	} else {
		for (unsigned i = 0; i < TS_HIST_SLOTS; i++)
			d->slot[i] = now->slot[i] - prev->slot[i];
		d->sum_us = now->sum_us - prev->sum_us;
	}
	return ts_hist_count(d);
}

double ts_hist_percentile(const struct ts_hist *h, double pct)
{
	uint64_t total = ts_hist_count(h), below = 0;
	double rank;

	if (total == 0 || !(pct > 0))
		return NAN;
	if (pct > 100)
		pct = 100;
	rank = pct / 100.0 * (double)total;
	for (unsigned i = 0; i < TS_HIST_SLOTS; i++) {
		double lo, hi;

		if (h->slot[i] == 0)
			continue;
		if ((double)(below + h->slot[i]) < rank) {
			below += h->slot[i];
			continue;
		}
		lo = ts_hist_slot_lo(i);
		hi = ts_hist_slot_hi(i);
		if (isinf(hi))
			return lo;
		return lo + (hi - lo) * ((rank - (double)below) / (double)h->slot[i]);
	}
	/* Rounding left rank just above the total: the last non-empty slot's top. */
	for (unsigned i = TS_HIST_SLOTS; i-- > 0;)
		if (h->slot[i])
			return isinf(ts_hist_slot_hi(i)) ? ts_hist_slot_lo(i) : ts_hist_slot_hi(i);
	return NAN;
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
