/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the running kernel is, from the text files it exposes: preemption model,
 * lockdown mode, kprobe event statistics. Pure parsing (libc only) so the Check tests
 * feed it every variant; tsbpf.c reads the files and decides.
 */
#ifndef TSKERNEL_H
#define TSKERNEL_H

#include <stddef.h>
#include <stdint.h>

enum ts_preempt {
	TS_PREEMPT_UNKNOWN,	/* could not tell: treated as preemptible */
	TS_PREEMPT_NONE,
	TS_PREEMPT_VOLUNTARY,
	TS_PREEMPT_FULL,
	TS_PREEMPT_RT,
};

/* What the preemption model was read from, for the log line. */
struct ts_preempt_src {
	const char *realtime;	  /* /sys/kernel/realtime, or NULL */
	const char *debugfs;	  /* <debugfs>/sched/preempt ("none (voluntary) full"), or NULL */
	const char *cmdline;	  /* /proc/cmdline, or NULL */
	const char *uname_version; /* uname(2) version ("#1 SMP PREEMPT_DYNAMIC ..."), or NULL */
	const char *config;	  /* /boot/config-<release> text, or NULL */
};

/* Decides the model; writes where it came from ("debugfs sched/preempt", ...) to how. */
enum ts_preempt ts_preempt_parse(const struct ts_preempt_src *src, char *how, size_t len);
const char *ts_preempt_name(enum ts_preempt p);
/* Whether BPF trampoline programs can be preempted (and so skipped) on such a kernel. */
int ts_preempt_trampolines_lossy(enum ts_preempt p);

enum ts_lockdown { TS_LOCKDOWN_UNKNOWN, TS_LOCKDOWN_NONE, TS_LOCKDOWN_INTEGRITY,
		   TS_LOCKDOWN_CONFIDENTIALITY };

/* securityfs's "none [integrity] confidentiality", else the lockdown= boot argument. */
enum ts_lockdown ts_lockdown_parse(const char *securityfs, const char *cmdline);
const char *ts_lockdown_name(enum ts_lockdown l);

/*
 * The value of a boot argument in a /proc/cmdline text ("preempt=full" -> "full"),
 * copied to out; 0 when present, -1 otherwise. Only arguments before "--" (the rest
 * goes to init).
 */
int ts_cmdline_arg(const char *cmdline, const char *name, char *out, size_t len);

/*
 * Sums the misses of the kprobe_profile lines ("  EVENT  HITS  MISSES") whose event
 * name starts with prefix. Returns the number of matching lines.
 */
int ts_kprobe_profile_misses(const char *profile, const char *prefix, uint64_t *misses);

#endif /* TSKERNEL_H */
