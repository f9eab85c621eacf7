/* SPDX-License-Identifier: GPL-2.0-only */
#include "tsvalues.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

_Static_assert(TS_MAX_PERCENTILES <= TS_HIST_MAX_PCT, "one percentile scan takes them all");

static void emit_derive(ts_value_fn fn, void *ctx, const char *inst, const char *type,
			const char *type_inst, uint64_t v)
{
	struct ts_value val = { .plugin_instance = inst, .type = type,
				.type_instance = type_inst, .n = 1, .derive = true,
				.d = { v } };

	fn(ctx, &val);
}

static void emit_gauge(ts_value_fn fn, void *ctx, const char *inst, const char *type,
		       const char *type_inst, double g)
{
	struct ts_value val = { .plugin_instance = inst, .type = type,
				.type_instance = type_inst, .n = 1, .g = g };

	fn(ctx, &val);
}

/*
 * Value names that are the same for every slot, formatted once per cycle: printf's %g
 * was most of a read cycle when done per value (profiled with 4096 subnets).
 */
struct rtt_names {
	unsigned n_buckets;		   /* 0 with RTTBuckets false */
	unsigned edge[TS_HIST_SLOTS + 1]; /* bucket b holds slots edge[b] .. edge[b + 1] - 1 */
	char bucket[TS_HIST_SLOTS][48];
	char percentile[TS_MAX_PERCENTILES][48];
};

static void emit_rtt(const struct ts_config *c, const struct rtt_names *names,
		     const char *inst, const struct ts_hist *now, struct ts_hist *prev,
		     double elapsed, ts_value_fn fn, void *ctx)
{
	struct ts_hist_interval iv;
	double pct[TS_MAX_PERCENTILES];

	ts_hist_step(now, prev, &iv);
	emit_derive(fn, ctx, inst, "derive", "rtt-samples", iv.total);
	for (unsigned b = 0; b < names->n_buckets; b++) {
		uint64_t n = 0;

		for (unsigned i = names->edge[b]; i < names->edge[b + 1]; i++)
			n += iv.slot[i];
		emit_gauge(fn, ctx, inst, "bucket", names->bucket[b], (double)n / elapsed);
	}
	/* No samples in this interval: no figure rather than a fake zero. */
	if (iv.samples == 0)
		return;
	emit_gauge(fn, ctx, inst, "latency", "rtt-average",
		   (double)iv.d.sum_us / (double)iv.samples * 1e-6);
	ts_hist_interval_percentiles(&iv, c->percentiles, c->n_percentiles, pct);
	for (size_t i = 0; i < c->n_percentiles; i++)
		emit_gauge(fn, ctx, inst, "latency", names->percentile[i], pct[i]);
}

void ts_values_emit(const struct ts_config *c, const struct ts_counters *totals,
		    const struct ts_hist *rtt_now, struct ts_hist *rtt_prev, double elapsed,
		    ts_value_fn fn, void *ctx)
{
	ts_values_emit_cg(c, NULL, totals, rtt_now, rtt_prev, elapsed, fn, ctx);
}

void ts_values_emit_cg(const struct ts_config *c, const struct ts_cgview *cg,
		       const struct ts_counters *totals, const struct ts_hist *rtt_now,
		       struct ts_hist *rtt_prev, double elapsed, ts_value_fn fn, void *ctx)
{
	size_t n = ts_config_subnet_index_count(c), slots = cg ? cg->n_slots : 1;
	/* Config checks keep instances within TS_INSTANCE_MAX; the buffer fits any join. */
	char buf[2 * TS_INSTANCE_MAX + 2], sub[TS_INSTANCE_MAX + 1];
	struct rtt_names names;
	bool rtt = c->rtt && rtt_now && rtt_prev;

	if (!(elapsed > 0))
		elapsed = 1;
	if (rtt) {
		names.n_buckets = ts_config_bucket_values(c);
		for (unsigned b = 0; b < names.n_buckets; b++) {
			names.edge[b] = ts_hist_bucket_first(c->rtt_bucket_width, b);
			names.edge[b + 1] = ts_hist_bucket_end(c->rtt_bucket_width, b);
			ts_hist_merged_bucket_name(c->rtt_bucket_width, b, names.bucket[b],
						   sizeof(names.bucket[b]));
		}
		for (size_t i = 0; i < c->n_percentiles; i++)
			ts_hist_percentile_name(c->percentiles[i], names.percentile[i],
						sizeof(names.percentile[i]));
	}
	for (size_t k = 0; k < slots * n; k++) {
		size_t i = k % n;
		const struct ts_counters *t = &totals[k];
		const char *inst = buf, *cgname = cg ? cg->name[k / n] : NULL;
		struct ts_value bytes = { .type = "if_octets", .type_instance = "", .n = 2,
					  .derive = true, .d = { t->rx_bytes, t->tx_bytes } };

		if (cg && cgname == NULL)
			continue;
		if (cg && cg->fresh[k / n] && rtt)
			memset(&rtt_prev[k], 0, sizeof(rtt_prev[k]));
		if (cg) {
			if (!ts_config_index_name(c, i, sub, sizeof(sub)))
				continue;
			/* "<cgroup>~<subnet instance>": '~' is in no name (docs/DESIGN.md). */
			snprintf(buf, sizeof(buf), "%s%c%s", cgname, TS_CGROUP_SEP, sub);
		} else if (c->n_lsubnets == 0 && (i > 0 || c->report_unmatched)) {
			inst = ts_config_instance(c, (uint32_t)i); /* no pairs: the name itself */
		} else if (!ts_config_index_name(c, i, buf, sizeof(buf))) {
			continue;
		}
		bytes.plugin_instance = inst;
		fn(ctx, &bytes);
		if (c->connections) {
			emit_derive(fn, ctx, inst, "connections", "opened-active",
				    t->opened_active);
			emit_derive(fn, ctx, inst, "connections", "opened-passive",
				    t->opened_passive);
			emit_derive(fn, ctx, inst, "connections", "closed", t->closed);
		}
		if (c->retransmits)
			emit_derive(fn, ctx, inst, "derive", "retransmit-segments",
				    t->retrans_segs);
		if (rtt)
			emit_rtt(c, &names, inst, &rtt_now[k], &rtt_prev[k], elapsed, fn, ctx);
	}
}

void ts_values_emit_health(const struct ts_health *h, ts_value_fn fn, void *ctx)
{
	const struct {
		const char *name;
		uint64_t value;
	} v[] = {
		{ "lost-events", h->lost_events },
		{ "stash-stale", h->stash_stale },
		{ "stash-full", h->stash_full },
		{ "storage-failures", h->storage_fail },
	};

	_Static_assert(sizeof(v) / sizeof(v[0]) == TS_HEALTH_VALUES,
		       "MaxValues counts TS_HEALTH_VALUES of them");
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ts_value out = { .plugin_instance = "", .type = "derive",
					.type_instance = v[i].name, .n = 1, .derive = true,
					.d = { v[i].value, 0 } };

		fn(ctx, &out);
	}
}

void ts_health_add_lost(struct ts_health *h, const char *what, uint64_t n)
{
	size_t used = strlen(h->lost_by);
	char item[96];
	int k;

	if (n == 0)
		return;
	h->lost_events += n;
	k = snprintf(item, sizeof(item), "%s%s %llu", used ? ", " : "", what, (unsigned long long)n);
	if (k > 0 && (size_t)k < sizeof(h->lost_by) - used)
		memcpy(h->lost_by + used, item, (size_t)k + 1);
}

void ts_health_add_rtt_lost(struct ts_health *h, const char *what, uint64_t n)
{
	ts_health_add_lost(h, what, n);
	h->rtt_lost += n;
}

enum { WARNED_ALL = 1, WARNED_RTT = 2 };

int ts_values_health_warning(const struct ts_health *h, const char *mode, int *warned,
			     char *buf, size_t len)
{
	const char *sep = h->lost_by[0] ? ": " : "", *sofar = h->lost_by[0] ? " so far" : "";

	if (!(*warned & WARNED_ALL) && (h->lost_events > h->rtt_lost || h->stash_full > 0)) {
		snprintf(buf, len, "the figures are incomplete: the kernel skipped %llu runs of the "
			 "plugin's programs (lost-events%s%s%s) and %llu calls were not measured "
			 "(stash-full) in attach mode %s; see lost-events in collectd-tcpsubnet(5)",
			 (unsigned long long)h->lost_events, sep, h->lost_by, sofar,
			 (unsigned long long)h->stash_full, mode);
		*warned |= WARNED_ALL | WARNED_RTT;
		return 1;
	}
	if (!(*warned & WARNED_RTT) && h->rtt_lost > 0) {
		snprintf(buf, len, "RTT samples are incomplete: the kernel skipped %llu run%s of the "
			 "RTT program (lost-events%s%s%s), each an RTT sample not taken; bytes and "
			 "connections are complete, in attach mode %s; see lost-events in "
			 "collectd-tcpsubnet(5)", (unsigned long long)h->rtt_lost,
			 h->rtt_lost == 1 ? "" : "s", sep, h->lost_by, sofar, mode);
		*warned |= WARNED_RTT;
		return 1;
	}
	return 0;
}
