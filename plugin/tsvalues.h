/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the plugin dispatches each read cycle, as plain data (pure C): identifiers,
 * types and values of every counter slot, from the summed kernel counters and the
 * previous cycle's RTT histograms. The collectd glue turns each into a value_list_t;
 * test tools print them.
 */
#ifndef TSVALUES_H
#define TSVALUES_H

#include <linux/types.h>
#include <stdbool.h>
#include <stdint.h>

#include "tscgroup.h"
#include "tsconf.h"
#include "tshist.h"
#include "../bpf/tcpsubnet.h"

struct ts_value {
	const char *plugin_instance;
	const char *type;	   /* a type of collectd's stock types.db */
	const char *type_instance; /* "" for none */
	int n;			   /* 1, or 2 for if_octets (rx, tx) */
	bool derive;		   /* DERIVE in d[], else GAUGE in g */
	uint64_t d[2];
	double g;
};

typedef void (*ts_value_fn)(void *ctx, const struct ts_value *v);

/*
 * Emits the values of every reported counter slot. rtt_now/rtt_prev have
 * ts_config_index_count() entries (NULL when RTT is off); rtt_prev is updated to
 * rtt_now. elapsed is the length of the interval in seconds (bucket rates).
 */
void ts_values_emit(const struct ts_config *c, const struct ts_counters *totals,
		    const struct ts_hist *rtt_now, struct ts_hist *rtt_prev, double elapsed,
		    ts_value_fn fn, void *ctx);

/*
 * The same with Cgroup options: cg names the cgroup slots to dispatch (NULL: no
 * cgroups, as ts_values_emit); every value of slot s gets the plugin_instance
 * "<cgroup>~<subnet instance>", and a fresh slot's RTT baseline starts from zero.
 */
void ts_values_emit_cg(const struct ts_config *c, const struct ts_cgview *cg,
		       const struct ts_counters *totals, const struct ts_hist *rtt_now,
		       struct ts_hist *rtt_prev, double elapsed, ts_value_fn fn, void *ctx);

/*
 * What the figures are missing, cumulative since start (docs/DESIGN.md, "What is exact
 * where"). lost_events: runs of the plugin's programs the kernel skipped (recursion
 * misses, missed kprobes and kretprobes); the others are counted by the programs.
 */
struct ts_health {
	uint64_t lost_events;
	uint64_t stash_stale;	/* kprobe mode: calls whose return probe never ran */
	uint64_t stash_full;	/* kprobe mode: calls not measured, no room to remember them */
	uint64_t storage_fail;	/* per-socket memos or socket accounts that failed */
	uint64_t rtt_lost;	/* the part of lost_events that only cost RTT samples */
	char lost_by[160];	/* "tp_rtt 2, kprobes 1": where lost_events came from, for the warning */
};

/*
 * Emits the health values: derive lost-events, stash-stale, stash-full and
 * storage-failures, with an empty plugin_instance (they belong to no subnet).
 */
void ts_values_emit_health(const struct ts_health *h, ts_value_fn fn, void *ctx);

/*
 * Adds n to h->lost_events and "what n" to h->lost_by (comma separated; what no longer
 * fits is left out of lost_by, never out of lost_events). n == 0 adds nothing.
 */
void ts_health_add_lost(struct ts_health *h, const char *what, uint64_t n);

/* The same, for skipped runs of an RTT program: they also count in h->rtt_lost. */
void ts_health_add_rtt_lost(struct ts_health *h, const char *what, uint64_t n);

/*
 * The read cycles' warnings that figures are incomplete, each at most once per load:
 * the first call whose h shows lost events other than RTT samples, or calls not
 * measured (stash-full), writes the line that byte and connection figures are
 * incomplete; before that, the first call whose h shows skipped RTT samples only writes
 * the line that says so (and that bytes and connections are complete). The line goes
 * to buf (without the "tcpsubnet plugin: " prefix) and the call returns 1; otherwise 0.
 * *warned (0 at load) remembers which lines were written. mode is the attach mode's
 * name, for the line.
 */
int ts_values_health_warning(const struct ts_health *h, const char *mode, int *warned,
			     char *buf, size_t len);

#endif /* TSVALUES_H */
