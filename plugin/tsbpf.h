/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libbpf side of the tcpsubnet plugin: choose an attach method, load and attach the
 * embedded BPF object, fill the subnet trie, read the counters. No collectd here, so
 * test tools link it too.
 */
#ifndef TSBPF_H
#define TSBPF_H

#include <linux/types.h>
#include <stddef.h>

#include "tscgroup.h"
#include "tsconf.h"
#include "tshist.h"
#include "tsvalues.h"
#include "../bpf/tcpsubnet.h"

enum ts_log_level { TS_LOG_ERR, TS_LOG_WARN, TS_LOG_INFO, TS_LOG_DEBUG };
typedef void (*ts_log_fn)(enum ts_log_level level, const char *line);

/* Installs the log sink for this file and for libbpf (process-wide; call once). */
void ts_bpf_set_log(ts_log_fn fn);

struct ts_bpf;

/*
 * Loads and attaches per c->attach_mode (auto tries each method in turn). On failure
 * returns a negative errno and writes one line saying what is missing and how to fix
 * it to err.
 */
int ts_bpf_open(const struct ts_config *c, struct ts_bpf **out, char *err, size_t err_len);

/* The method in use, and one line on why auto chose it. */
enum ts_attach_mode ts_bpf_mode(const struct ts_bpf *b);
const char *ts_bpf_choice(const struct ts_bpf *b);

/*
 * Sums the per-CPU counters and RTT histograms of every counter index (see
 * ts_config_index_count) into totals and rtt (rtt may be NULL; it is only read when RTT
 * is on; its counts are 64-bit totals since load, kept here from the kernel's wrapping
 * 32-bit ones, so the RTT histograms must be read at least once per 2^32 samples of a
 * bucket). Both arrays have ts_config_index_count() entries. Allocates nothing, except
 * that with Cgroup options it walks the cgroup tree first (tscgroup.c keeps its lists).
 */
int ts_bpf_read(struct ts_bpf *b, struct ts_counters *totals, struct ts_hist *rtt,
		char *err, size_t err_len);

/*
 * With Cgroup options: the cgroup slots the last ts_bpf_read dispatches (each read
 * walks the cgroup tree first); NULL without them.
 */
const struct ts_cgview *ts_bpf_cgview(const struct ts_bpf *b);

/* Fills h (struct ts_health in tsvalues.h) (and, in kprobe mode, removes stash entries of exited threads). */
int ts_bpf_health(struct ts_bpf *b, struct ts_health *h);

void ts_bpf_close(struct ts_bpf *b);

/*
 * Test-only (tests/ts-probe.c; the plugin never calls it): kprobe mode with at most
 * maxactive return-probe instances per kretprobe and a stash of stash_max threads
 * instead of the real limits, so that a test provokes missed returns and a full stash
 * with a handful of threads. 0 keeps a limit. Applies to later ts_bpf_open calls.
 */
void ts_bpf_test_limits(unsigned maxactive, unsigned stash_max);

/*
 * Test-only (tests/ts-probe.c): load the build whose RTT programs cast with the
 * bpf_skc_to_tcp_sock() helper even where the kernel has the bpf_rdonly_cast kfunc, so
 * the helper build is tested on kernels after 6.2 too. Applies to later ts_bpf_open calls.
 */
void ts_bpf_test_helper_cast(bool on);

/* The loaded BPF object, for tools that inspect its programs and maps (bench/ts-bench). */
struct bpf_object;
struct bpf_object *ts_bpf_object(const struct ts_bpf *b);

#endif /* TSBPF_H */
