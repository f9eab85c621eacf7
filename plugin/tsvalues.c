/* SPDX-License-Identifier: GPL-2.0-only */
#include "tsvalues.h"

#include <math.h>

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

static void emit_rtt(const struct ts_config *c, const char *inst, const struct ts_hist *now,
		     struct ts_hist *prev, double elapsed, ts_value_fn fn, void *ctx)
{
	struct ts_hist d;
	uint64_t samples = ts_hist_delta(now, prev, &d);
	char name[64];

	*prev = *now;
	emit_derive(fn, ctx, inst, "derive", "rtt-samples", ts_hist_count(now));
	for (unsigned i = 0; i < TS_HIST_SLOTS; i++) {
		ts_hist_bucket_name(i, name, sizeof(name));
		emit_gauge(fn, ctx, inst, "bucket", name, (double)d.slot[i] / elapsed);
	}
	/* No samples in this interval: no figure rather than a fake zero. */
	if (samples == 0)
		return;
	emit_gauge(fn, ctx, inst, "latency", "rtt-average", ts_hist_average(&d));
	for (size_t i = 0; i < c->n_percentiles; i++) {
		ts_hist_percentile_name(c->percentiles[i], name, sizeof(name));
		emit_gauge(fn, ctx, inst, "latency", name,
			   ts_hist_percentile(&d, c->percentiles[i]));
	}
}

void ts_values_emit(const struct ts_config *c, const struct ts_counters *totals,
		    const struct ts_hist *rtt_now, struct ts_hist *rtt_prev, double elapsed,
		    ts_value_fn fn, void *ctx)
{
	size_t n = ts_config_index_count(c);
	char inst[TS_INSTANCE_MAX + 1];

	if (!(elapsed > 0))
		elapsed = 1;
	for (size_t i = 0; i < n; i++) {
		const struct ts_counters *t = &totals[i];
		struct ts_value bytes = { .plugin_instance = inst, .type = "if_octets",
					  .type_instance = "", .n = 2, .derive = true,
					  .d = { t->rx_bytes, t->tx_bytes } };

		if (!ts_config_index_name(c, i, inst, sizeof(inst)))
			continue;
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
		if (c->rtt && rtt_now && rtt_prev)
			emit_rtt(c, inst, &rtt_now[i], &rtt_prev[i], elapsed, fn, ctx);
	}
}
