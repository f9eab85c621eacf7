/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libbpf glue for the tcpsubnet plugin: attach-method choice, load, map fill, reads.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* unshare(), setns(), pipe2() */
#endif
#include "tsbpf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <linux/capability.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "tcpsubnet.skel.h"
#include "tcpsubnet_cast.skel.h"
#include "tscgroup.h"
#include "tskernel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

_Static_assert(TS_HIST_BUCKETS == TS_RTT_BUCKETS,
	       "tshist.h and bpf/tcpsubnet.h describe the same histogram");

/*
 * The kernel's 32-bit bucket counts (bpf/tcpsubnet.h, struct ts_rtt), summed over the
 * CPUs modulo 2^32 as last read: the difference to the next read is what each bucket
 * gained, added to the 64-bit counts that ts_bpf_read() returns.
 */
struct rtt_last {
	uint32_t bucket[TS_RTT_BUCKETS];
};

/* A per-CPU array read in one batch into a preallocated buffer. */
struct pcpu_reader {
	int fd;
	size_t value_size;
	int batch; /* 1: batch lookups work, 0: per-key fallback */
	void *values; /* n_ids * ncpu values */
};

/* kprobe mode: probes created through tracefs (see kp_attach_legacy). */
#define TS_KP_MAX 16

struct ts_bpf {
	struct tcpsubnet_bpf *skel;
	enum ts_attach_mode mode;
	char choice[512];
	__u32 n_ids;
	int ncpu;
	int rtt_on;
	__u32 *keys;
	struct pcpu_reader counters;
	/* RTT on: the rtt map, mapped read-only (n_ids slots of each CPU in turn) */
	int rtt_fd;
	const struct ts_rtt *rtt_map;
	size_t rtt_len;
	/* RTT on: per slot, the CPUs' summed 32-bit counts last read, and the 64-bit ones */
	struct rtt_last *rtt_last;
	struct ts_hist *rtt_cum;
	/* kprobe mode attaches by hand: links, and the tracefs events it created */
	struct bpf_link *links[TS_KP_MAX * 2];
	int n_links;
	char kp_events[TS_KP_MAX][64];
	int n_kp_events;
	char tracefs[256];
	int sweep;		/* 1: this process sees every thread (initial pid namespace) */
	int boost;		/* 1: map reads run at SCHED_FIFO (see read_boost) */
	int boost_warned;
	__u64 swept;		/* stash entries of exited threads removed by user space */
	void *stats_buf;	/* TS_STAT_COUNT x ncpu */
	/* Cgroup options: the walker, the per-slot counter count, zeros to reset a slot */
	struct ts_cgstate *cg;
	__u32 per_cgroup;
	void *zeros;
	int cg_fd;
	size_t cg_changes;
	int not_mode;		/* 1: try_mode failed where no other attach mode can do better */
	int cast;		/* the cast build of the object is loaded (tcpsubnet.bpf.c, TS_TCP_SK) */
	/*
	 * Accounting "socket": the state program's link, the read cycle's walk of the
	 * accounted sockets, or (kernels that refuse it) of every socket (acct_visit)
	 */
	struct bpf_link *acct_state, *acct_state_owned, *acct_walk, *acct_visit;
	int acct_on, acct_warned;
};

/* What the running kernel offers, read from its BTF. */
struct kfeat {
	int has_tp;		/* tp_btf/sock_send_length and sock_recv_length (6.3+) */
	int has_sendpage;	/* tcp_sendpage() exists (before 6.5) */
	int has_tcp_funcs;	/* tcp_sendmsg(), tcp_recvmsg(), tcp_rcv_established() in BTF */
	int retrans_err;	/* tcp_retransmit_skb tracepoint passes "err" (6.x, newer) */
	/* tcp_recvmsg() takes "nonblock" before flags (before 5.19, commit ec095263a965) */
	int recvmsg_nonblock;
	enum ts_preempt preempt;
	char preempt_how[128];
	enum ts_lockdown lockdown;
	char lockdown_how[64];
	int kprobe_pmu;		/* /sys/bus/event_source/devices/kprobe */
	/* struct sock_cgroup_data holds a cgroup pointer (5.15+, commit 8520e224f547) */
	int sk_cgroup_ptr;
	int trampolines;	/* BPF trampolines: ftrace direct calls in kallsyms */
	/* The kernel's own BTF, which tp_btf/fentry attach through (a KernelBTF file is not) */
	int own_btf;
	/* What Accounting "socket" needs that BTF shows; NULL when all is there */
	const char *socket_lacks;
	/* The bpf_rdonly_cast kfunc (6.2+) in the kernel's own BTF: the cast build loads */
	int rdonly_cast;
};

static ts_log_fn log_fn;

/* strerror() that also knows libbpf's own codes (4000+, e.g. "not a BTF file"). */
static const char *errstr(int e)
{
	static __thread char buf[128];

	if (e < 0)
		e = -e;
	if (libbpf_strerror(e, buf, sizeof(buf)) != 0)
		return strerror(e);
	return buf;
}

static void ts_log(enum ts_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ts_log(enum ts_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (log_fn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_fn(level, line);
}

/*
 * libbpf explains every refused program at length; while auto probes methods that is
 * expected, so it all goes to debug and our own one-line summaries carry the outcome.
 */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *text = NULL, *line, *save = NULL;

	(void)level;
	/* A verifier log arrives as one message of many lines: one log line each. */
	if (log_fn == NULL || vasprintf(&text, fmt, ap) < 0)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_fn(TS_LOG_DEBUG, line);
	free(text);
	return 0;
}

void ts_bpf_set_log(ts_log_fn fn)
{
	log_fn = fn;
	libbpf_set_print(libbpf_print);
}

static int check_caps(char *err, size_t len)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	int bpf, perfmon, sysadmin;

	if (syscall(SYS_capget, &hdr, data) != 0)
		return 0; /* cannot tell: let the kernel decide */
	bpf = !!(data[CAP_BPF / 32].effective & (1U << (CAP_BPF % 32)));
	perfmon = !!(data[CAP_PERFMON / 32].effective & (1U << (CAP_PERFMON % 32)));
	sysadmin = !!(data[0].effective & (1U << CAP_SYS_ADMIN));
	if (sysadmin || (bpf && perfmon))
		return 0;
	snprintf(err, len, "missing capability %s%s%s: run collectd as root or grant it "
		 "CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)",
		 bpf ? "" : "CAP_BPF", !bpf && !perfmon ? " and " : "",
		 perfmon ? "" : "CAP_PERFMON");
	return -EPERM;
}

/* Reads a small text file whole into buf (NUL-terminated); -1 when it cannot. */
static int read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	while (n + 1 < len && (r = read(fd, buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

/* The mount point of a filesystem type in this mount namespace, from mountinfo. */
static int find_mount(const char *fstype, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[1024];
	int found = -1;

	if (f == NULL)
		return -1;
	while (found != 0 && fgets(line, sizeof(line), f)) {
		char mnt[512], type[64];
		const char *sep = strstr(line, " - ");

		/* "36 35 0:32 / /sys/kernel/tracing rw,... - tracefs tracefs rw" */
		if (sep && sscanf(line, "%*s %*s %*s %*s %511s", mnt) == 1 &&
		    sscanf(sep + 3, "%63s", type) == 1 && strcmp(type, fstype) == 0) {
			snprintf(out, len, "%s", mnt);
			found = 0;
		}
	}
	fclose(f);
	return found;
}

/*
 * Reads rel from a filesystem of type fstype. Where it is not mounted, a child process
 * mounts it in a mount namespace of its own (at dir) and sends the text back, so
 * nothing changes for the host. Only system calls in the child: collectd may have
 * threads.
 */
static int read_pseudo(const char *fstype, const char *dir, const char *rel, char *buf,
		       size_t len)
{
	char mnt[512], path[768];
	int p[2], st;
	size_t n = 0;
	ssize_t r;
	pid_t pid;

	if (find_mount(fstype, mnt, sizeof(mnt)) == 0) {
		snprintf(path, sizeof(path), "%s/%s", mnt, rel);
		return read_text(path, buf, len);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		char tmp[4096];
		int fd;

		close(p[0]);
		if (unshare(CLONE_NEWNS) == 0 &&
		    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		    mount(fstype, dir, fstype, 0, NULL) == 0 &&
		    (fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
			while ((r = read(fd, tmp, sizeof(tmp))) > 0)
				if (write(p[1], tmp, (size_t)r) != r)
					break;
		}
		_exit(0);
	}
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		return -1;
	}
	while (n + 1 < len && (r = read(p[0], buf + n, len - 1 - n)) > 0)
		n += (size_t)r;
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	buf[n] = '\0';
	return n > 0 ? 0 : -1;
}

static int kallsyms_has(const char *sym)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	char line[512], name[256];
	int found = 0;

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "%*s %*s %255s", name) == 1 && strcmp(name, sym) == 0;
	fclose(f);
	return found;
}

/* Preemption model, lockdown, kprobes, trampolines: what auto and the errors need. */
static void read_kernel_facts(struct kfeat *kf)
{
	size_t config_len = 1 << 20;
	char *config = malloc(config_len);
	char rt[16], dbg[128], sec[128], cmdline[4096], path[300];
	struct ts_preempt_src src = { 0 };
	struct utsname u;

	if (read_text("/sys/kernel/realtime", rt, sizeof(rt)) == 0)
		src.realtime = rt;
	if (read_pseudo("debugfs", "/sys/kernel/debug", "sched/preempt", dbg, sizeof(dbg)) == 0)
		src.debugfs = dbg;
	if (read_text("/proc/cmdline", cmdline, sizeof(cmdline)) == 0)
		src.cmdline = cmdline;
	if (uname(&u) == 0) {
		src.uname_version = u.version;
		snprintf(path, sizeof(path), "/boot/config-%s", u.release);
		if (config && read_text(path, config, config_len) == 0)
			src.config = config;
	}
	kf->preempt = ts_preempt_parse(&src, kf->preempt_how, sizeof(kf->preempt_how));
	free(config);
	if (read_pseudo("securityfs", "/sys/kernel/security", "lockdown", sec, sizeof(sec)) == 0) {
		kf->lockdown = ts_lockdown_parse(sec, NULL);
		snprintf(kf->lockdown_how, sizeof(kf->lockdown_how), "/sys/kernel/security/lockdown");
	} else {
		kf->lockdown = ts_lockdown_parse(NULL, src.cmdline);
		snprintf(kf->lockdown_how, sizeof(kf->lockdown_how), "the lockdown= boot argument");
	}
	kf->kprobe_pmu = access("/sys/bus/event_source/devices/kprobe", F_OK) == 0;
	/* BPF trampolines call through ftrace direct calls (5.5+; renamed in 6.3). */
	kf->trampolines = kallsyms_has("register_ftrace_direct") == 1 ||
			  kallsyms_has("register_ftrace_direct_multi") == 1;
}

/* An enumerator of the kernel's BTF (e.g. a helper id of enum bpf_func_id). */
static int btf_has_enumerator(const struct btf *btf, const char *enum_name, const char *name)
{
	int id = btf__find_by_name_kind(btf, enum_name, BTF_KIND_ENUM);
	const struct btf_type *t = id > 0 ? btf__type_by_id(btf, id) : NULL;
	const struct btf_enum *e = t ? btf_enum(t) : NULL;

	for (int i = 0; e && i < btf_vlen(t); i++)
		if (strcmp(btf__name_by_offset(btf, e[i].name_off), name) == 0)
			return 1;
	return 0;
}

/*
 * Accounting "socket": the state tracepoint with BTF, the socket-storage iterator (5.9)
 * and socket storage in tracing programs (5.11, which also brought bpf_sock_from_file:
 * its helper id marks the release); the 64-bit compare-and-swap (5.12) shows only when
 * the programs load.
 */
static const char *socket_lacks(const struct btf *btf)
{
	if (btf__find_by_name_kind(btf, "btf_trace_inet_sock_set_state", BTF_KIND_TYPEDEF) <= 0)
		return "the inet_sock_set_state tracepoint";
	if (btf__find_by_name_kind(btf, "bpf_iter__bpf_sk_storage_map", BTF_KIND_STRUCT) <= 0)
		return "the socket-storage map iterator (5.9+)";
	if (!btf_has_enumerator(btf, "bpf_func_id", "BPF_FUNC_sock_from_file"))
		return "socket storage in tracing programs (5.11+)";
	return NULL;
}

/* ts_bpf_test_helper_cast(): only tests/ts-probe.c sets it. */
static bool no_cast;

void ts_bpf_test_helper_cast(bool on)
{
	no_cast = on;
}

static int read_kfeat(const char *path, int custom, struct kfeat *kf, char *err, size_t len)
{
	struct btf *btf;
	int id, sid;

	if (access(path, R_OK) != 0 || (btf = btf__parse(path, NULL)) == NULL) {
		int e = errno;

		if (custom)
			snprintf(err, len, "KernelBTF \"%s\" is not usable (%s); point it at the "
				 "BTF of the running kernel, or remove it to use %s", path,
				 errstr(e), TS_DEFAULT_BTF_PATH);
		else
			snprintf(err, len, "kernel BTF is missing: cannot read %s (%s); the kernel "
				 "needs CONFIG_DEBUG_INFO_BTF=y, or set KernelBTF to a BTF file for "
				 "this kernel", path, errstr(e));
		return -e;
	}
	memset(kf, 0, sizeof(*kf));
	kf->own_btf = !custom || access(TS_DEFAULT_BTF_PATH, R_OK) == 0;
	kf->has_tp = btf__find_by_name_kind(btf, "btf_trace_sock_send_length",
					    BTF_KIND_TYPEDEF) > 0 &&
		     btf__find_by_name_kind(btf, "btf_trace_sock_recv_length",
					    BTF_KIND_TYPEDEF) > 0;
	kf->has_sendpage = btf__find_by_name_kind(btf, "tcp_sendpage", BTF_KIND_FUNC) > 0;
	sid = btf__find_by_name_kind(btf, "tcp_sendmsg", BTF_KIND_FUNC);
	id = btf__find_by_name_kind(btf, "tcp_recvmsg", BTF_KIND_FUNC);
	kf->has_tcp_funcs = sid > 0 && id > 0 &&
			    btf__find_by_name_kind(btf, "tcp_rcv_established", BTF_KIND_FUNC) > 0;
	sid = btf__find_by_name_kind(btf, "btf_trace_tcp_retransmit_skb", BTF_KIND_TYPEDEF);
	if (sid > 0) {
		/* typedef -> pointer -> func proto (void *ctx, sk, skb[, err]) */
		const struct btf_type *t = btf__type_by_id(btf, sid);

		t = t ? btf__type_by_id(btf, t->type) : NULL;
		t = t ? btf__type_by_id(btf, t->type) : NULL;
		kf->retrans_err = t && btf_is_func_proto(t) && btf_vlen(t) >= 4;
	}
	if (id > 0) {
		const struct btf_type *fn = btf__type_by_id(btf, id);
		const struct btf_type *proto = fn ? btf__type_by_id(btf, fn->type) : NULL;

		kf->recvmsg_nonblock = proto && btf_vlen(proto) == 6;
	}
	sid = btf__find_by_name_kind(btf, "sock_cgroup_data", BTF_KIND_STRUCT);
	if (sid > 0) {
		const struct btf_type *t = btf__type_by_id(btf, sid);
		const struct btf_member *m = btf_members(t);

		for (int i = 0; i < btf_vlen(t); i++)
			if (strcmp(btf__name_by_offset(btf, m[i].name_off), "cgroup") == 0)
				kf->sk_cgroup_ptr = 1;
	}
	kf->socket_lacks = socket_lacks(btf);
	/*
	 * libbpf resolves the kfunc in the kernel's own BTF only; with a KernelBTF file the
	 * kernel may have none (and this BTF is not the one libbpf searches).
	 */
	kf->rdonly_cast = !custom && !no_cast &&
			  btf__find_by_name_kind(btf, "bpf_rdonly_cast", BTF_KIND_FUNC) > 0;
	btf__free(btf);
	read_kernel_facts(kf);
	return 0;
}

enum family { FAM_BYTES, FAM_RTT, FAM_CONN, FAM_RETRANS };
enum cond { C_ALWAYS, C_SENDPAGE, C_NB, C_NO_NB, C_ERR, C_NO_ERR };

#define M_TP (1U << TS_ATTACH_TRACEPOINT)
#define M_FE (1U << TS_ATTACH_FENTRY)
#define M_KP (1U << TS_ATTACH_KPROBE)

/* Which program of the object serves which mode, family and kernel variant. */
static const struct {
	const char *name;
	unsigned modes;
	enum family family;
	enum cond cond;
} progs[] = {
	{ "tp_send", M_TP, FAM_BYTES, C_ALWAYS },
	{ "tp_recv", M_TP, FAM_BYTES, C_ALWAYS },
	{ "tp_rtt", M_TP, FAM_RTT, C_ALWAYS },
	/* tp_btf needs no trampoline: also used in fentry mode. */
	{ "tp_state", M_TP | M_FE, FAM_CONN, C_ALWAYS },
	{ "tp_state_owned", M_TP | M_FE, FAM_CONN, C_ALWAYS },
	{ "tp_retrans", M_TP | M_FE, FAM_RETRANS, C_NO_ERR },
	{ "tp_retrans_err", M_TP | M_FE, FAM_RETRANS, C_ERR },
	{ "fexit_sendmsg", M_FE, FAM_BYTES, C_ALWAYS },
	{ "fexit_sendpage", M_FE, FAM_BYTES, C_SENDPAGE },
	{ "fexit_recvmsg", M_FE, FAM_BYTES, C_NO_NB },
	{ "fexit_recvmsg_nb", M_FE, FAM_BYTES, C_NB },
	{ "fentry_rtt", M_FE, FAM_RTT, C_ALWAYS },
	{ "kp_sendmsg", M_KP, FAM_BYTES, C_ALWAYS },
	{ "krp_sendmsg", M_KP, FAM_BYTES, C_ALWAYS },
	{ "kp_sendpage", M_KP, FAM_BYTES, C_SENDPAGE },
	{ "krp_sendpage", M_KP, FAM_BYTES, C_SENDPAGE },
	{ "kp_recvmsg", M_KP, FAM_BYTES, C_NO_NB },
	{ "kp_recvmsg_nb", M_KP, FAM_BYTES, C_NB },
	{ "krp_recvmsg", M_KP, FAM_BYTES, C_ALWAYS },
	{ "raw_rtt", M_KP, FAM_RTT, C_ALWAYS },
	{ "raw_rtt_owned", M_KP, FAM_RTT, C_ALWAYS },
	/* raw_tp: kernels without trampolines (kprobe mode) may lack tp_btf. */
	{ "raw_state", M_KP, FAM_CONN, C_ALWAYS },
	{ "raw_state_owned", M_KP, FAM_CONN, C_ALWAYS },
	{ "raw_retrans", M_KP, FAM_RETRANS, C_NO_ERR },
	{ "raw_retrans_err", M_KP, FAM_RETRANS, C_ERR },
};

/* FAM_BYTES for a program not in progs[] (socket accounting's count bytes too). */
static enum family prog_family(const char *name)
{
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (strcmp(progs[i].name, name) == 0)
			return progs[i].family;
	return FAM_BYTES;
}

/* Accounting "socket": the same programs in every attach mode. */
static const char *const acct_progs[] = {
	"acct_state", "acct_state_owned", "acct_walk", "acct_visit_tcp", "acct_visit_file",
};

static int prog_wanted(const char *name, enum ts_attach_mode m, const struct kfeat *kf,
		       const struct ts_config *c)
{
	int acct = 0;

	for (size_t i = 0; i < sizeof(acct_progs) / sizeof(acct_progs[0]); i++)
		acct |= strcmp(acct_progs[i], name) == 0;
	if (acct || c->accounting == TS_ACCT_SOCKET)
		return acct && c->accounting == TS_ACCT_SOCKET;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (strcmp(progs[i].name, name) != 0)
			continue;
		if (!(progs[i].modes & (1U << m)))
			return 0;
		if ((progs[i].family == FAM_RTT && !c->rtt) ||
		    (progs[i].family == FAM_CONN && !c->connections) ||
		    (progs[i].family == FAM_RETRANS && !c->retransmits))
			return 0;
		switch (progs[i].cond) {
		case C_SENDPAGE:
			return kf->has_sendpage;
		case C_NB:
			return kf->recvmsg_nonblock;
		case C_NO_NB:
			return !kf->recvmsg_nonblock;
		case C_ERR:
			return kf->retrans_err;
		case C_NO_ERR:
			return !kf->retrans_err;
		default:
			return 1;
		}
	}
	return 0;
}

/*
 * Why a mode cannot work here, from what the kernel says of itself, before trying it;
 * NULL when nothing rules it out.
 */
static const char *mode_blocked(enum ts_attach_mode m, const struct kfeat *kf, char *buf,
				size_t len)
{
	int locked;

	/*
	 * libbpf applies btf_custom_path to CO-RE relocations only; the kernel resolves
	 * tp_btf and fentry attach points in its own BTF (ESRCH without it).
	 */
	if ((m == TS_ATTACH_TRACEPOINT || m == TS_ATTACH_FENTRY) && !kf->own_btf)
		return "the kernel exposes no BTF of its own at " TS_DEFAULT_BTF_PATH ", and its "
		       "tracepoint and fentry programs attach through that (KernelBTF serves only "
		       "AttachMode \"kprobe\")";
	switch (m) {
	case TS_ATTACH_TRACEPOINT:
		if (kf->has_tp)
			return NULL;
		return "the kernel has no sock_send_length/sock_recv_length tracepoints (they "
		       "came with 6.3)";
	case TS_ATTACH_FENTRY:
		if (!kf->has_tcp_funcs)
			return "tcp_sendmsg/tcp_recvmsg/tcp_rcv_established are not in the kernel "
			       "BTF";
		if (kf->trampolines)
			return NULL;
		return "the kernel has no BPF trampolines (no ftrace direct calls in "
		       "/proc/kallsyms: built without CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS)";
	case TS_ATTACH_KPROBE:
		if (!kf->has_tcp_funcs)
			return "tcp_sendmsg/tcp_recvmsg/tcp_rcv_established are not in the kernel "
			       "BTF";
		/* LOCKDOWN_KPROBES and LOCKDOWN_BPF_READ_KERNEL: integrity and above. */
		locked = kf->lockdown == TS_LOCKDOWN_INTEGRITY ||
			 kf->lockdown == TS_LOCKDOWN_CONFIDENTIALITY;
		if (!locked && kf->kprobe_pmu)
			return NULL;
		snprintf(buf, len, "%s%s%s%s%s%s%s",
			 kf->kprobe_pmu ? "" : "the kernel has no kprobes (no "
			 "/sys/bus/event_source/devices/kprobe: built without CONFIG_KPROBES or "
			 "CONFIG_KPROBE_EVENTS)", !kf->kprobe_pmu && locked ? " and " : "",
			 locked ? "the kernel is locked down (lockdown=" : "",
			 locked ? ts_lockdown_name(kf->lockdown) : "",
			 locked ? ", read from " : "", locked ? kf->lockdown_how : "",
			 locked ? "), which forbids kprobes and bpf_probe_read_kernel" : "");
		return buf;
	default:
		return NULL;
	}
}

static int fill_trie(struct bpf_map *map, const struct ts_prefix *p, size_t n, char *why,
		     size_t len)
{
	int fd = bpf_map__fd(map);

	for (size_t i = 0; i < n; i++) {
		struct ts_lpm_key key;
		__u32 id = p[i].subnet_id;

		ts_lpm_key_build(&p[i], &key);
		if (bpf_map_update_elem(fd, &key, &id, BPF_NOEXIST) != 0) {
			int e = errno;
			char text[64];

			ts_cidr_format(&p[i], text, sizeof(text));
			snprintf(why, len, "filling the %s map failed at prefix %s (%s)",
				 bpf_map__name(map), text, errstr(e));
			return -e;
		}
	}
	return 0;
}

/* Threads inside a probed call at once that kprobe mode can follow. */
#define TS_STASH_MAX 16384
/*
 * Return-probe instances per kretprobe. The kernel's default (max(10, 2 x CPUs) on 6.1)
 * is exceeded as soon as more threads wait in recv() than that, and every further return
 * is missed: 4096 is the most the kernel accepts (KRETPROBE_MAXACTIVE_MAX). Only probes
 * created through tracefs can set it; perf_event_open() kprobes always get the default.
 */
#define TS_KRETPROBE_MAXACTIVE 4096
#define TS_KP_GROUP "tcpsubnet"

/* ts_bpf_test_limits(): only tests/ts-probe.c lowers these. */
static unsigned kp_maxactive = TS_KRETPROBE_MAXACTIVE, kp_stash_max = TS_STASH_MAX;

void ts_bpf_test_limits(unsigned maxactive, unsigned stash_max)
{
	if (maxactive >= 1 && maxactive <= TS_KRETPROBE_MAXACTIVE)
		kp_maxactive = maxactive;
	if (stash_max >= 1 && stash_max <= TS_STASH_MAX)
		kp_stash_max = stash_max;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	n = n == (ssize_t)strlen(text) ? 0 : -(n < 0 ? errno : EIO);
	close(fd);
	return (int)n;
}

/*
 * tracefs for kprobe events: where it is mounted, else mounted on /sys/kernel/tracing
 * (where systemd mounts it). Probes created there report their misses in kprobe_profile.
 */
static int find_tracefs(char *out, size_t len)
{
	char path[600];

	if (find_mount("tracefs", out, len) != 0) {
		if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0)
			return -errno;
		ts_log(TS_LOG_INFO, "mounted tracefs on /sys/kernel/tracing for kprobe events");
		snprintf(out, len, "/sys/kernel/tracing");
	}
	snprintf(path, sizeof(path), "%s/kprobe_events", out);
	return access(path, W_OK) == 0 ? 0 : -errno;
}

/* Removes probe events an earlier process of ours left behind when it was killed. */
static void kp_remove_stale(const char *tracefs)
{
	static char text[1 << 16];
	char path[600], cmd[160];

	snprintf(path, sizeof(path), "%s/kprobe_events", tracefs);
	if (read_text(path, text, sizeof(text)) != 0)
		return;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char ev[96];
		int pid;

		/* "r4096:tcpsubnet/ts1234_krp_recvmsg tcp_recvmsg" */
		if (sscanf(line, "%*[^:]:" TS_KP_GROUP "/%95s", ev) != 1 ||
		    sscanf(ev, "ts%d_", &pid) != 1 || pid <= 0 || kill(pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		snprintf(cmd, sizeof(cmd), "-:" TS_KP_GROUP "/%s\n", ev);
		write_text(path, cmd);
	}
}

/* A k(ret)probe through tracefs, the program attached with perf_event_open(). */
static int kp_attach_legacy(struct ts_bpf *b, struct bpf_program *prog, const char *func,
			    int ret, char *why, size_t len)
{
	struct perf_event_attr attr = { .size = sizeof(attr), .type = PERF_TYPE_TRACEPOINT };
	char path[600], cmd[256], idtext[32];
	char *ev = b->kp_events[b->n_kp_events];
	struct bpf_link *link;
	int rc, pfd;

	snprintf(ev, sizeof(b->kp_events[0]), "ts%d_%s", (int)getpid(),
		 bpf_program__name(prog));
	if (ret)
		snprintf(cmd, sizeof(cmd), "r%u:" TS_KP_GROUP "/%s %s\n", kp_maxactive, ev, func);
	else
		snprintf(cmd, sizeof(cmd), "p:" TS_KP_GROUP "/%s %s\n", ev, func);
	snprintf(path, sizeof(path), "%s/kprobe_events", b->tracefs);
	rc = write_text(path, cmd);
	if (rc) {
		snprintf(why, len, "creating the %s %s on %s in %.200s failed (%s)",
			 ret ? "kretprobe" : "kprobe", ev, func, path, errstr(rc));
		return rc;
	}
	b->n_kp_events++;
	snprintf(path, sizeof(path), "%s/events/" TS_KP_GROUP "/%s/id", b->tracefs, ev);
	if (read_text(path, idtext, sizeof(idtext)) != 0) {
		snprintf(why, len, "cannot read %.200s (%s)", path, errstr(errno));
		return -ENOENT;
	}
	attr.config = strtoull(idtext, NULL, 10);
	pfd = (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0) {
		rc = -errno;
		snprintf(why, len, "perf_event_open of %s failed (%s)", ev, errstr(rc));
		return rc;
	}
	link = bpf_program__attach_perf_event(prog, pfd);
	if (link == NULL) {
		rc = -errno;
		close(pfd);
		snprintf(why, len, "attaching %s to %s failed (%s)", bpf_program__name(prog), ev,
			 errstr(rc));
		return rc;
	}
	b->links[b->n_links++] = link;
	return 0;
}

/*
 * kprobe mode: every k(ret)probe through tracefs when it can be used (maxactive, miss
 * counts), else through perf_event_open() as libbpf does; raw tracepoints as usual.
 */
static int kp_attach_all(struct ts_bpf *b, char *why, size_t len)
{
	struct bpf_program *prog;
	int tfs = find_tracefs(b->tracefs, sizeof(b->tracefs)), legacy = tfs == 0;

	if (legacy)
		kp_remove_stale(b->tracefs);
	else
		/* A user without root (CAP_BPF+CAP_PERFMON) can mount nothing nor write there. */
		ts_log(TS_LOG_WARN, "kprobe mode without tracefs (%s): each return probe follows "
		       "at most the kernel's default number of threads at once, and its misses "
		       "show only as stash-stale, not in lost-events; %s", errstr(-tfs),
		       tfs == -EACCES || tfs == -EPERM ?
		       "run collectd as root, which can write /sys/kernel/tracing/kprobe_events" :
		       "mount tracefs on /sys/kernel/tracing");
	bpf_object__for_each_program(prog, b->skel->obj) {
		const char *sec = bpf_program__section_name(prog);
		int ret = strncmp(sec, "kretprobe/", 10) == 0;
		struct bpf_link *link;

		if (!bpf_program__autoload(prog))
			continue;
		if (b->n_links >= TS_KP_MAX * 2 || b->n_kp_events >= TS_KP_MAX) {
			snprintf(why, len, "too many kprobe programs");
			return -E2BIG;
		}
		if (legacy && (ret || strncmp(sec, "kprobe/", 7) == 0)) {
			int rc = kp_attach_legacy(b, prog, strchr(sec, '/') + 1, ret, why, len);

			if (rc)
				return rc;
			continue;
		}
		link = bpf_program__attach(prog);
		if (link == NULL) {
			int rc = -errno;

			snprintf(why, len, "attaching %s (%s) failed (%s)", bpf_program__name(prog),
				 sec, errstr(rc));
			return rc;
		}
		b->links[b->n_links++] = link;
	}
	return 0;
}

static void kp_detach_all(struct ts_bpf *b)
{
	char path[600], cmd[160];

	for (int i = 0; i < b->n_links; i++)
		bpf_link__destroy(b->links[i]);
	b->n_links = 0;
	snprintf(path, sizeof(path), "%s/kprobe_events", b->tracefs);
	for (int i = 0; i < b->n_kp_events; i++) {
		int rc = -EBUSY;

		snprintf(cmd, sizeof(cmd), "-:" TS_KP_GROUP "/%s\n", b->kp_events[i]);
		/*
		 * The kernel refuses (EBUSY) while the event still has a perf user, and
		 * closing the perf event fd frees it only after an RCU grace period: retry.
		 */
		for (int tries = 0; tries < 100 && rc == -EBUSY; tries++) {
			rc = write_text(path, cmd);
			if (rc == -EBUSY)
				usleep(20000);
		}
		if (rc && rc != -ENOENT)
			ts_log(TS_LOG_WARN, "cannot remove the kprobe event %s (%s); remove it with "
			       "echo '-:" TS_KP_GROUP "/%s' >> %.200s", b->kp_events[i], errstr(rc),
			       b->kp_events[i], path);
	}
	b->n_kp_events = 0;
}

/*
 * Runs an iterator to its end. Its programs print nothing, so each read() walks on until
 * the kernel stops a batch (at most a million objects, or a pending signal).
 */
static int iter_run(struct bpf_link *link, const char *what, char *why, size_t len)
{
	char buf[64];
	int fd = bpf_iter_create(bpf_link__fd(link));
	ssize_t n;

	if (fd < 0) {
		snprintf(why, len, "starting the %s failed (%s)", what, errstr(errno));
		return -errno;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0)
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			break;
	if (n < 0) {
		int e = errno;

		snprintf(why, len, "the %s failed (%s)", what, errstr(e));
		close(fd);
		return -e;
	}
	close(fd);
	return 0;
}

static void acct_detach(struct ts_bpf *b)
{
	bpf_link__destroy(b->acct_walk);
	bpf_link__destroy(b->acct_visit);
	bpf_link__destroy(b->acct_state);
	bpf_link__destroy(b->acct_state_owned);
	b->acct_walk = b->acct_state = b->acct_state_owned = b->acct_visit = NULL;
	b->acct_on = 0;
}

struct ns_visit {
	struct bpf_link *link;
	int ns_fd, rc;
	char why[256];
};

/* A thread of its own enters the namespace, so collectd's threads stay where they are. */
static void *ns_visit_thread(void *arg)
{
	struct ns_visit *v = arg;

	if (setns(v->ns_fd, CLONE_NEWNET) != 0) {
		v->rc = -errno;
		snprintf(v->why, sizeof(v->why), "entering it failed (%s)", errstr(errno));
		return NULL;
	}
	v->rc = iter_run(v->link, "walk", v->why, sizeof(v->why));
	return NULL;
}

/* Said once: other namespaces' connections then count only from their close. */
static void acct_ns_denied(struct ts_bpf *b, const char *path, const char *why)
{
	if (b->acct_warned)
		return;
	ts_log(TS_LOG_WARN, "Accounting \"socket\": cannot enter the network namespace %s "
	       "(%s), so connections of other namespaces that were open at start are not "
	       "counted%s; grant collectd CAP_SYS_ADMIN and CAP_SYS_PTRACE or run it as root",
	       path, why, b->acct_walk ? "" : ", and on this kernel the others count only "
	       "when they close");
	b->acct_warned = 1;
}

static int ino_seen(const ino_t *inos, size_t n, ino_t ino)
{
	for (size_t i = 0; i < n; i++)
		if (inos[i] == ino)
			return 1;
	return 0;
}

/* Namespaces with accounts, tracked where the kernel refuses acct_walk (acct_ns map). */
#define TS_ACCT_NS_MAX 4096

/* Whether a namespace holds accounts (or may: all at start, or the map overflowed). */
static int ns_wanted(struct ts_bpf *b, int all, ino_t ino)
{
	__u32 key = (__u32)ino;
	__u8 v;

	return all || b->skel->bss->acct_ns_full ||
	       bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.acct_ns), &key, &v) == 0;
}

/* Forgets namespaces that are gone (their inode numbers may come back: harmless). */
static void ns_prune(struct ts_bpf *b, const ino_t *inos, size_t n)
{
	int fd = bpf_map__fd(b->skel->maps.acct_ns);
	__u32 key, next, gone[64];
	int n_gone = 0, more;

	more = bpf_map_get_next_key(fd, NULL, &next) == 0;
	while (more && n_gone < 64) {
		key = next;
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (!ino_seen(inos, n, key))
			gone[n_gone++] = key;
	}
	for (int i = 0; i < n_gone; i++)
		bpf_map_delete_elem(fd, &gone[i]);
}

/*
 * Runs acct_visit_tcp in the network namespaces this process can find: its own, each
 * process's (/proc/PID/ns/net) and each named one (/run/netns); a namespace that no
 * process is in and nothing names is not found. all: in every one (at start), else
 * only in those where accounts were created. Entering another namespace needs
 * CAP_SYS_ADMIN: without it only this one is walked, said once.
 */
static int acct_visit_all(struct ts_bpf *b, int all, char *why, size_t len)
{
	static const char *const dirs[] = { "/proc", "/run/netns" };
	struct stat st;
	ino_t *inos = NULL;
	size_t n = 0, cap = 64;
	int rc = 0, denied = 0, complete = 1;

	if (stat("/proc/self/ns/net", &st) != 0 || ns_wanted(b, all, st.st_ino))
		rc = iter_run(b->acct_visit, "walk of this namespace's connections", why, len);
	inos = malloc(cap * sizeof(*inos));
	if (rc || inos == NULL) {
		free(inos);
		return rc;
	}
	inos[n++] = st.st_ino;
	for (size_t d = 0; d < 2; d++) {
		DIR *dir = opendir(dirs[d]);
		struct dirent *e;

		while (dir && (e = readdir(dir)) != NULL) {
			char path[300];
			struct ns_visit v = { .link = b->acct_visit };
			pthread_t t;

			if (e->d_name[0] == '.' ||
			    (d == 0 && (e->d_name[0] < '0' || e->d_name[0] > '9')))
				continue;
			snprintf(path, sizeof(path), d == 0 ? "/proc/%s/ns/net" : "/run/netns/%s",
				 e->d_name);
			if (stat(path, &st) != 0) {
				if (errno == EACCES || errno == EPERM) {
					complete = 0;
					acct_ns_denied(b, path, errstr(errno));
				}
				continue;
			}
			if (ino_seen(inos, n, st.st_ino))
				continue;
			if (n == cap) {
				ino_t *more = realloc(inos, 2 * cap * sizeof(*inos));

				if (!more) {
					complete = 0;
					break;
				}
				inos = more;
				cap *= 2;
			}
			inos[n++] = st.st_ino;
			/* Once entering was denied, the rest are only told apart. */
			if (denied || !ns_wanted(b, all, st.st_ino) ||
			    (v.ns_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
				continue;
			if (pthread_create(&t, NULL, ns_visit_thread, &v) == 0)
				pthread_join(t, NULL);
			else
				v.rc = -EAGAIN;
			close(v.ns_fd);
			if (v.rc == -EPERM) {
				denied = 1;
				acct_ns_denied(b, path, v.why);
			}
		}
		if (dir)
			closedir(dir);
	}
	if (complete && !b->acct_walk)
		ns_prune(b, inos, n);
	free(inos);
	return 0;
}

/* The read cycle's walk: the accounted sockets, or every socket found. */
static int acct_run(struct ts_bpf *b, char *why, size_t len)
{
	if (b->acct_walk)
		return iter_run(b->acct_walk, "socket walk", why, len);
	return acct_visit_all(b, 0, why, len);
}

/*
 * Accounting "socket": the state program first, so every connection established from
 * then on gets its account there; then the connections already open are adopted, once,
 * in every network namespace found.
 */
static int acct_attach(struct ts_bpf *b, char *why, size_t len)
{
	struct tcpsubnet_bpf *skel = b->skel;
	union bpf_iter_link_info linfo = { .map.map_fd = bpf_map__fd(skel->maps.acct) };
	LIBBPF_OPTS(bpf_iter_attach_opts, io, .link_info = &linfo,
		    .link_info_len = sizeof(linfo));
	int rc;

	b->acct_state = bpf_program__attach(skel->progs.acct_state);
	if (b->acct_state != NULL)
		b->acct_state_owned = bpf_program__attach(skel->progs.acct_state_owned);
	if (b->acct_state == NULL || b->acct_state_owned == NULL) {
		rc = -errno;
		snprintf(why, len, "attaching the socket accounting state program failed (%s)",
			 errstr(rc));
		return rc;
	}
	if (bpf_program__autoload(skel->progs.acct_walk)) {
		b->acct_walk = bpf_program__attach_iter(skel->progs.acct_walk, &io);
		if (b->acct_walk == NULL) {
			rc = -errno;
			snprintf(why, len, "creating the socket walk failed (%s)", errstr(rc));
			return rc;
		}
	}
	b->acct_visit = bpf_program__attach_iter(skel->progs.acct_visit_tcp, NULL);
	if (b->acct_visit == NULL) {
		rc = -errno;
		snprintf(why, len, "creating the walk of the open connections failed (%s)",
			 errstr(rc));
		return rc;
	}
	b->acct_on = 1;
	skel->bss->acct_adopting = true;
	rc = acct_visit_all(b, 1, why, len);
	skel->bss->acct_adopting = false;
	return rc;
}

/*
 * Above this many prefixes (Subnet and LocalSubnet together) the typed programs memoise
 * each socket's classification: the LPM trie walk grows with the trie's depth, the memo
 * lookup does not. Below it the walk is as cheap and nothing is allocated per socket.
 */
#define TS_MEMO_MIN_PREFIXES 32

/*
 * tcpsubnet_bpf__open_opts(), with the ELF bytes of the cast build (Makefile.am) when
 * cast is set. Both builds are one source compiled with and without TS_RDONLY_CAST:
 * maps, programs and global data match the skeleton by name and layout
 * (tests/bpf-lockdown-safe.sh compares them); only the RTT programs' instructions differ.
 */
static struct tcpsubnet_bpf *open_object(const struct bpf_object_open_opts *oo, bool cast)
{
	struct tcpsubnet_bpf *obj = calloc(1, sizeof(*obj));
	int err;

	if (obj == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	err = tcpsubnet_bpf__create_skeleton(obj);
	if (!err && cast)
		obj->skeleton->data = (void *)tcpsubnet_cast_bpf__elf_bytes(&obj->skeleton->data_sz);
	if (!err)
		err = bpf_object__open_skeleton(obj->skeleton, oo);
	if (err) {
		tcpsubnet_bpf__destroy(obj);
		errno = -err;
		return NULL;
	}
	return obj;
}

/* Loads, fills and attaches one method; on failure leaves nothing behind. */
static int try_mode(struct ts_bpf *b, const struct ts_config *c, enum ts_attach_mode m,
		    const struct kfeat *kf, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = c->btf_path);
	struct tcpsubnet_bpf *skel;
	struct bpf_program *prog;
	__u32 n_ids;
	int err;
	/*
	 * kprobes cannot use socket storage: they classify every event. With Cgroup options
	 * the memo is always on: it saves the cgroup hash lookup and the pointer chase to
	 * the cgroup id (measured +44 ns per event without it at one prefix, +4 with it).
	 */
	bool sock = c->accounting == TS_ACCT_SOCKET, map_walk = true;
	bool cast = kf->rdonly_cast;
	/* Only the RTT programs of tracepoint and fentry mode call the kfunc. */
	bool rtt_prog = c->rtt && c->accounting != TS_ACCT_SOCKET && m != TS_ATTACH_KPROBE;
	int walk_err = 0, cast_err = 0, ncpu = libbpf_num_possible_cpus();
	bool memo = m != TS_ATTACH_KPROBE && !sock &&
		    (c->n_prefixes + c->n_lprefixes > TS_MEMO_MIN_PREFIXES ||
		     ts_config_has_cgroups(c));

	char buf[512];
	/* Socket accounting loads the same programs in every mode (ts_bpf_open checks). */
	const char *blocked = sock ? NULL : mode_blocked(m, kf, buf, sizeof(buf));

	if (blocked) {
		snprintf(why, len, "%s", blocked);
		return -ENOENT;
	}

	if (ncpu <= 0) {
		snprintf(why, len, "cannot count the possible CPUs (%s)", errstr(ncpu));
		return ncpu ? ncpu : -EINVAL;
	}
	if ((uint64_t)ncpu * (c->rtt ? ts_config_index_count(c) : 1) > UINT32_MAX) {
		snprintf(why, len, "%zu counter slots on %d CPUs do not fit one RTT map: lower "
			 "the number of subnets or cgroups, or set RTT false",
			 ts_config_index_count(c), ncpu);
		return -E2BIG;
	}
again:
	skel = open_object(&oo, cast);
	if (skel == NULL) {
		err = -errno;
		snprintf(why, len, "opening the BPF object failed (%s)", errstr(err));
		return err;
	}
	n_ids = (__u32)ts_config_index_count(c);
	skel->rodata->count_unmatched = c->report_unmatched;
	skel->rodata->have_local = c->n_lsubnets > 0;
	skel->rodata->n_remote_ids = (__u32)c->n_subnets + 1;
	skel->rodata->filter_lport = c->lport_filter;
	skel->rodata->filter_rport = c->rport_filter;
	skel->rodata->use_memo = memo;
	skel->rodata->have_cgroups = ts_config_has_cgroups(c);
	skel->rodata->count_other_cgroup = c->report_other_cgroup;
	skel->rodata->n_per_cgroup = (__u32)ts_config_subnet_index_count(c);
	skel->rodata->acct_conns = c->connections;
	skel->rodata->acct_retrans = c->retransmits;
	skel->rodata->acct_rtt = c->rtt;
	skel->rodata->acct_track_ns = sock && !map_walk;
	bpf_map__set_max_entries(skel->maps.acct_ns, sock && !map_walk ? TS_ACCT_NS_MAX : 1);
	memcpy((void *)skel->rodata->lport_bits, c->lport_bits, sizeof(c->lport_bits));
	memcpy((void *)skel->rodata->rport_bits, c->rport_bits, sizeof(c->rport_bits));
	bpf_map__set_max_entries(skel->maps.subnets, c->n_prefixes ? (__u32)c->n_prefixes : 1);
	bpf_map__set_max_entries(skel->maps.local_subnets,
				 c->n_lprefixes ? (__u32)c->n_lprefixes : 1);
	bpf_map__set_max_entries(skel->maps.counters, n_ids);
	/* rtt and cls_cache are keyed by CPU (bpf/tcpsubnet.bpf.c, rtt). */
	skel->rodata->rtt_slots = c->rtt ? n_ids : 1;
	bpf_map__set_max_entries(skel->maps.rtt, (__u32)ncpu * skel->rodata->rtt_slots);
	bpf_map__set_max_entries(skel->maps.cls_cache, (__u32)ncpu);
	bpf_map__set_max_entries(skel->maps.cgroup_slots,
				 ts_config_has_cgroups(c) ? TS_CGROUP_MAX_IDS : 1);
	/* One entry per thread inside a probed call; preallocated, so bounded. */
	bpf_map__set_max_entries(skel->maps.kp_stash,
				 m == TS_ATTACH_KPROBE && !sock ? kp_stash_max : 1);
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog_wanted(bpf_program__name(prog), m, kf, c));
	if (sock && !map_walk)
		bpf_program__set_autoload(skel->progs.acct_walk, false);

	err = tcpsubnet_bpf__load(skel);
	if (err && sock && map_walk) {
		/*
		 * Seen on a 6.18 host: iter/bpf_sk_storage_map programs refused (EPERM) where
		 * iter/tcp loads; walk every socket instead.
		 */
		walk_err = err;
		tcpsubnet_bpf__destroy(skel);
		map_walk = false;
		goto again;
	}
	if (!err && walk_err)
		ts_log(TS_LOG_INFO, "the kernel refused the walk of the socket storage (%s); the "
		       "read cycle walks the TCP sockets of every network namespace found "
		       "instead", errstr(walk_err));
	if (err && cast && rtt_prog && (err == -EINVAL || err == -EACCES || err == -ENOTSUP ||
					 err == -524 /* ENOTSUPP */)) {
		/*
		 * The kfunc is in the kernel's BTF but the verifier refused its call (kfunc
		 * calls need the JIT, for one): try the helper build. A refusal of the mode
		 * itself (EPERM) is not the kfunc's.
		 */
		cast_err = err;
		tcpsubnet_bpf__destroy(skel);
		cast = false;
		goto again;
	}
	if (!err && cast_err)
		ts_log(TS_LOG_INFO, "the kernel refused the RTT program's bpf_rdonly_cast build "
		       "(%s); loaded the build that calls bpf_skc_to_tcp_sock() instead",
		       errstr(cast_err));
	if (err && memo) {
		/* Socket storage in tracing programs needs 5.11+: classify every event. */
		ts_log(TS_LOG_INFO, "no per-socket memo in %s mode: this kernel refuses socket "
		       "storage in tracing programs (%s; needs 5.11+), so every event is "
		       "classified", ts_attach_mode_name(m), errstr(err));
		tcpsubnet_bpf__destroy(skel);
		memo = false;
		goto again;
	}
	if (err) {
		if (sock)
			snprintf(why, len, "the kernel refused the socket accounting programs (%s; "
				 "they need 5.12+; run collectd with debug logging for the "
				 "verifier's reasons)", errstr(err));
		else
			snprintf(why, len, "the kernel refused the %s programs (%s; run collectd "
				 "with debug logging for the verifier's reasons)",
				 ts_attach_mode_name(m), errstr(err));
		goto fail;
	}
	err = fill_trie(skel->maps.subnets, c->prefixes, c->n_prefixes, why, len);
	if (!err)
		err = fill_trie(skel->maps.local_subnets, c->lprefixes, c->n_lprefixes, why, len);
	if (err) {
		/* Every mode fills the same maps: trying the others would fail alike. */
		size_t used = strlen(why);

		b->not_mode = 1;
		snprintf(why + used, len - used, err == -ENOMEM ?
			 ": the kernel refused memory for the prefixes; raise collectd's memory "
			 "cgroup limit (MemoryMax) or configure fewer prefixes" :
			 ": the kernel refused the prefixes in every attach mode");
		goto fail;
	}
	b->skel = skel;
	b->cast = cast;
	if (sock)
		err = acct_attach(b, why, len);
	else
		err = m == TS_ATTACH_KPROBE ? kp_attach_all(b, why, len) :
					      tcpsubnet_bpf__attach(skel);
	if (err) {
		if (m != TS_ATTACH_KPROBE && !sock)
			snprintf(why, len, "attaching the %s programs failed (%s)",
				 ts_attach_mode_name(m), errstr(err));
		acct_detach(b);
		kp_detach_all(b);
		b->skel = NULL;
		goto fail;
	}
	b->mode = m;
	return 0;
fail:
	tcpsubnet_bpf__destroy(skel);
	return err;
}

static int reader_init(struct pcpu_reader *r, struct bpf_map *map, size_t value_size,
		       __u32 n_ids, int ncpu)
{
	r->fd = bpf_map__fd(map);
	r->value_size = value_size;
	r->batch = 1;
	r->values = calloc((size_t)n_ids * (size_t)ncpu, value_size);
	return r->values ? 0 : -1;
}

/* Reads all n_ids per-CPU values of a map: one batch syscall, or one per key. */
static int reader_fetch(struct ts_bpf *b, struct pcpu_reader *r, char *err, size_t err_len)
{
	size_t stride = r->value_size * (size_t)b->ncpu;

	if (r->batch) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 count = b->n_ids, next = 0;
		int rc = bpf_map_lookup_batch(r->fd, NULL, &next, b->keys, r->values, &count, &bo);
		int e = rc ? errno : 0;

		/* The whole array fits one batch: ENOENT just says the walk is over. */
		if ((rc == 0 || e == ENOENT) && count == b->n_ids) {
			for (__u32 i = 0; i < count; i++)
				if (b->keys[i] != i)
					goto per_key;
			return 0;
		}
		/*
		 * Only a kernel without batch operations (before 5.6: EINVAL) ends batching
		 * for good; a transient failure (EIO, ENOMEM) reads key by key this once.
		 */
		if (e != EINVAL && e != ENOTSUP && e != EOPNOTSUPP && e != ENOENT && e != 0)
			goto this_once;
		ts_log(TS_LOG_DEBUG, "batch lookup unavailable (%s), reading key by key",
		       errstr(e));
per_key:
		r->batch = 0;
	}
this_once:
	for (__u32 id = 0; id < b->n_ids; id++) {
		if (bpf_map_lookup_elem(r->fd, &id, (char *)r->values + id * stride) != 0) {
			snprintf(err, err_len, "reading counter slot %u failed (%s)", id,
				 errstr(errno));
			return -errno;
		}
	}
	return 0;
}

/* Thread ids of BPF (the initial pid namespace's) are this process's own only there. */
static int initial_pid_ns(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	int levels = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "NSpid:", 6) == 0)
			for (char *t = strtok(line + 6, " \t\n"); t; t = strtok(NULL, " \t\n"))
				levels++;
	fclose(f);
	return levels == 1;
}

/* The cgroup2 mount point from /proc/self/mountinfo. */
static int cgroup_root(char *out, size_t len)
{
	static char text[1 << 16];

	if (read_text("/proc/self/mountinfo", text, sizeof(text)) != 0)
		return -1;
	return ts_cgroup_mount_parse(text, out, len);
}

static void cgroup_warn(void *ctx, const char *line)
{
	(void)ctx;
	ts_log(TS_LOG_WARN, "%s", line);
}

static void cgroup_apply(void *ctx, uint64_t id, uint32_t slot, bool remove)
{
	struct ts_bpf *b = ctx;

	if (remove)
		bpf_map_delete_elem(b->cg_fd, &id);
	else if (bpf_map_update_elem(b->cg_fd, &id, &slot, BPF_ANY) != 0)
		ts_log(TS_LOG_WARN, "cgroup %llu not mapped to its slot (%s)",
		       (unsigned long long)id, errstr(errno));
	b->cg_changes++;
}

/*
 * Walks the cgroup tree and brings cgroup_slots up to date. A slot given to another
 * cgroup starts from zero (its old counts belong to a series no longer dispatched), and
 * cg_epoch tells the memos that their cgroup slots may be stale.
 */
static void cgroup_refresh(struct ts_bpf *b)
{
	const struct ts_cgview *v;

	if (ts_cgroup_scan(b->cg, cgroup_warn, NULL) != 0) {
		ts_log(TS_LOG_WARN, "out of memory while walking the cgroups; the mapping of the "
		       "previous cycle stays");
		return;
	}
	v = ts_cgroup_view(b->cg);
	for (size_t s = 0; s < v->n_slots; s++) {
		if (!v->fresh[s])
			continue;
		for (__u32 i = 0; i < b->per_cgroup; i++) {
			__u32 id = (__u32)s * b->per_cgroup + i;

			bpf_map_update_elem(b->counters.fd, &id, b->zeros, BPF_ANY);
			if (b->rtt_on) {
				for (__u32 cpu = 0; cpu < (__u32)b->ncpu; cpu++) {
					__u32 key = cpu * b->n_ids + id;

					bpf_map_update_elem(b->rtt_fd, &key, b->zeros, BPF_ANY);
				}
				memset(&b->rtt_last[id], 0, sizeof(b->rtt_last[id]));
				memset(&b->rtt_cum[id], 0, sizeof(b->rtt_cum[id]));
			}
		}
	}
	if (ts_cgroup_changes(b->cg, cgroup_apply, b) > 0)
		__atomic_add_fetch(&b->skel->bss->cg_epoch, 1, __ATOMIC_SEQ_CST);
}

const struct ts_cgview *ts_bpf_cgview(const struct ts_bpf *b)
{
	return b->cg ? ts_cgroup_view(b->cg) : NULL;
}

int ts_bpf_open(const struct ts_config *c, struct ts_bpf **out, char *err, size_t err_len)
{
	enum ts_attach_mode order[3];
	char cgroot[TS_CGROUP_PATH_MAX];
	const char *btf_path = c->btf_path ? c->btf_path : TS_DEFAULT_BTF_PATH;
	char tried[3][512];
	struct kfeat kf;
	struct ts_bpf *b;
	size_t n = 0, i;
	int rc;

	*out = NULL;
	rc = check_caps(err, err_len);
	if (rc)
		return rc;
	rc = read_kfeat(btf_path, c->btf_path != NULL, &kf, err, err_len);
	if (rc)
		return rc;
	if (ts_config_has_cgroups(c) && !kf.sk_cgroup_ptr) {
		snprintf(err, err_len, "Cgroup options need a kernel whose sockets point to their "
			 "cgroup v2 (5.15+; struct sock_cgroup_data has no \"cgroup\" member in "
			 "%s); remove the Cgroup and CgroupEach options", btf_path);
		return -EOPNOTSUPP;
	}
	if (ts_config_has_cgroups(c) && cgroup_root(cgroot, sizeof(cgroot)) != 0) {
		snprintf(err, err_len, "Cgroup options need the cgroup2 filesystem, and "
			 "/proc/self/mountinfo shows none; mount it (mount -t cgroup2 none "
			 "/sys/fs/cgroup) or remove the Cgroup and CgroupEach options");
		return -ENOENT;
	}

	if (c->accounting == TS_ACCT_SOCKET && !kf.own_btf)
		kf.socket_lacks = "BTF of its own at " TS_DEFAULT_BTF_PATH " (its tp_btf and "
				  "iterator programs attach through it; KernelBTF does not serve)";
	if (c->accounting == TS_ACCT_SOCKET && kf.socket_lacks) {
		snprintf(err, err_len, "Accounting \"socket\" needs %s, which this kernel lacks "
			 "(in %s); use Accounting \"syscall\"", kf.socket_lacks, btf_path);
		return -EOPNOTSUPP;
	}
	if (c->attach_mode != TS_ATTACH_AUTO || c->accounting == TS_ACCT_SOCKET) {
		/* Socket accounting: one set of programs whatever the mode (auto included). */
		order[n++] = c->attach_mode;
	} else if (kf.has_tp && !kf.has_sendpage) {
		/*
		 * 6.5+: the tracepoints see every sendmsg/recvmsg including sendfile, are a
		 * stable interface and cost least; fentry and kprobe remain fallbacks.
		 */
		order[n++] = TS_ATTACH_TRACEPOINT;
		order[n++] = TS_ATTACH_FENTRY;
		order[n++] = TS_ATTACH_KPROBE;
	} else if (ts_preempt_trampolines_lossy(kf.preempt)) {
		/*
		 * Before 6.5 sendfile bypasses the tracepoints; take them last. On a
		 * preemptible kernel BPF trampolines skip a program while another run of it
		 * is preempted on the same CPU (measured: 4.5 % of received bytes lost on
		 * 6.1 with preempt=full, tests/qemu-matrix.sh); kprobe handlers run with
		 * preemption off. fentry stays the fallback (locked-down kernels have no
		 * kprobes), with a warning and the misses in lost-events.
		 */
		order[n++] = TS_ATTACH_KPROBE;
		order[n++] = TS_ATTACH_FENTRY;
		order[n++] = TS_ATTACH_TRACEPOINT;
	} else {
		order[n++] = TS_ATTACH_FENTRY;
		order[n++] = TS_ATTACH_KPROBE;
		order[n++] = TS_ATTACH_TRACEPOINT;
	}

	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		rc = try_mode(b, c, order[i], &kf, tried[i], sizeof(tried[i]));
		if (rc == 0 || b->not_mode)
			break;
		ts_log(TS_LOG_DEBUG, "attach mode %s: %s", ts_attach_mode_name(order[i]),
		       tried[i]);
	}
	if (b->not_mode) {
		snprintf(err, err_len, "%s", tried[i]);
		free(b);
		return rc;
	}
	if (i == n) {
		if (c->accounting == TS_ACCT_SOCKET)
			snprintf(err, err_len, "Accounting \"socket\" does not work on this kernel: "
				 "%s; use Accounting \"syscall\"", tried[0]);
		else if (c->attach_mode != TS_ATTACH_AUTO)
			snprintf(err, err_len, "AttachMode \"%s\" does not work on this kernel: %s; "
				 "use AttachMode \"auto\"", ts_attach_mode_name(order[0]),
				 tried[0]);
		else
			snprintf(err, err_len, "no attach method works on this kernel: %s: %s; %s: "
				 "%s; %s: %s", ts_attach_mode_name(order[0]), tried[0],
				 ts_attach_mode_name(order[1]), tried[1],
				 ts_attach_mode_name(order[2]), tried[2]);
		free(b);
		return rc;
	}

	if (c->accounting == TS_ACCT_SOCKET)
		snprintf(b->choice, sizeof(b->choice), "%s, Accounting \"socket\" (state changes "
			 "through tp_btf and a walk of the sockets each read cycle, in every mode)",
			 ts_attach_mode_name(b->mode));
	else if (c->attach_mode != TS_ATTACH_AUTO)
		snprintf(b->choice, sizeof(b->choice), "%s (configured)",
			 ts_attach_mode_name(b->mode));
	else if (i == 0)
		snprintf(b->choice, sizeof(b->choice), "%s (auto: first choice on this kernel)",
			 ts_attach_mode_name(b->mode));
	else
		snprintf(b->choice, sizeof(b->choice), "%s (auto: %s unavailable: %.200s)",
			 ts_attach_mode_name(b->mode), ts_attach_mode_name(order[0]), tried[0]);
	ts_log(TS_LOG_INFO, "kernel: preemption %s (from %s), lockdown %s",
	       ts_preempt_name(kf.preempt), kf.preempt_how, ts_lockdown_name(kf.lockdown));
	if (c->rtt && c->accounting != TS_ACCT_SOCKET && b->mode != TS_ATTACH_KPROBE)
		ts_log(TS_LOG_INFO, "RTT program: the socket's tcp_sock %s",
		       b->cast ? "through the bpf_rdonly_cast kfunc" :
		       "through the bpf_skc_to_tcp_sock() helper, a call per received segment (the "
		       "kernel's BTF has no bpf_rdonly_cast kfunc, before 6.2; or a KernelBTF file "
		       "is set; or the kernel refused the kfunc build)");
	if (b->mode == TS_ATTACH_TRACEPOINT && kf.has_sendpage && c->accounting != TS_ACCT_SOCKET)
		ts_log(TS_LOG_WARN, "tracepoint mode on a kernel before 6.5: bytes sent with "
		       "sendfile()/splice() are not counted; use AttachMode \"fentry\" or "
		       "\"kprobe\" for them");
	if (b->mode == TS_ATTACH_FENTRY && ts_preempt_trampolines_lossy(kf.preempt) &&
	    c->accounting != TS_ACCT_SOCKET)
		ts_log(TS_LOG_WARN, "fentry mode on a kernel whose preemption model is %s "
		       "(from %s): %sBPF trampolines skip a program while another run of it is "
		       "preempted on the same CPU, so events can be missed; lost-events counts "
		       "them%s", ts_preempt_name(kf.preempt), kf.preempt_how,
		       kf.preempt == TS_PREEMPT_UNKNOWN ? "if it is preemptible (preempt=full, "
		       "PREEMPT_RT), " : "",
		       mode_blocked(TS_ATTACH_KPROBE, &kf, tried[0], sizeof(tried[0])) ?
		       "" : "; AttachMode \"kprobe\" is exact here");

	b->n_ids = (__u32)ts_config_index_count(c);
	b->ncpu = libbpf_num_possible_cpus();
	b->rtt_on = c->rtt;
	b->keys = calloc(b->n_ids, sizeof(*b->keys));
	if (b->ncpu <= 0 || b->keys == NULL ||
	    reader_init(&b->counters, b->skel->maps.counters, sizeof(struct ts_counters),
			b->n_ids, b->ncpu) != 0 ||
	    (c->rtt && (!(b->rtt_last = calloc(b->n_ids, sizeof(*b->rtt_last))) ||
			!(b->rtt_cum = calloc(b->n_ids, sizeof(*b->rtt_cum)))))) {
		snprintf(err, err_len, "cannot allocate the counter buffers (%u slots, %d CPUs)",
			 b->n_ids, b->ncpu);
		ts_bpf_close(b);
		return -ENOMEM;
	}
	if (c->rtt) {
		void *m;

		b->rtt_fd = bpf_map__fd(b->skel->maps.rtt);
		b->rtt_len = (size_t)b->ncpu * b->n_ids * sizeof(struct ts_rtt);
		m = mmap(NULL, b->rtt_len, PROT_READ, MAP_SHARED, b->rtt_fd, 0);
		if (m == MAP_FAILED) {
			snprintf(err, err_len, "cannot map the RTT histograms (%zu bytes: %s); "
				 "set RTT false to run without them", b->rtt_len, errstr(errno));
			b->rtt_len = 0;
			ts_bpf_close(b);
			return -ENOMEM;
		}
		b->rtt_map = m;
	}
	b->stats_buf = calloc((size_t)b->ncpu, sizeof(__u64));
	/* Socket accounting runs no kprobe: no stash to sweep, no reads to protect. */
	b->sweep = b->mode == TS_ATTACH_KPROBE && !b->acct_on && initial_pid_ns();
	b->boost = b->mode == TS_ATTACH_KPROBE && !b->acct_on &&
		   ts_preempt_trampolines_lossy(kf.preempt);
	if (b->stats_buf == NULL) {
		snprintf(err, err_len, "out of memory");
		ts_bpf_close(b);
		return -ENOMEM;
	}
	if (ts_config_has_cgroups(c)) {
		b->per_cgroup = (__u32)ts_config_subnet_index_count(c);
		b->cg_fd = bpf_map__fd(b->skel->maps.cgroup_slots);
		b->cg = ts_cgroup_new(c, cgroot);
		b->zeros = calloc((size_t)b->ncpu, sizeof(struct ts_counters) + sizeof(struct ts_rtt));
		if (b->cg == NULL || b->zeros == NULL) {
			snprintf(err, err_len, "out of memory");
			ts_bpf_close(b);
			return -ENOMEM;
		}
		ts_log(TS_LOG_INFO, "cgroup2 root %s", cgroot);
		cgroup_refresh(b);
	}
	*out = b;
	return 0;
}

enum ts_attach_mode ts_bpf_mode(const struct ts_bpf *b)
{
	return b->mode;
}

const char *ts_bpf_choice(const struct ts_bpf *b)
{
	return b->choice;
}

/*
 * kprobe programs run only while the per-CPU bpf_prog_active is 0. A map lookup, update
 * or delete through the bpf() syscall raises it for its whole copy with only migration
 * disabled (bpf_disable_instrumentation()), so on a preemptible kernel a reading thread
 * preempted there makes the kernel skip every kprobe program on that CPU until it runs
 * again, and kernels before 6.7 count none of those skips (measured: PREEMPT_RT 6.1,
 * AttachMode kprobe, 22016 bytes of 16000000 sent not counted, lost-events 0). While it
 * reads, the thread runs at the highest SCHED_FIFO priority, so no task that sends or
 * receives can preempt it. Tracepoint, raw_tp and fentry programs use a per-program
 * recursion guard instead and are not affected.
 */
struct read_boost {
	int policy, boosted;
	struct sched_param param;
};

static void boost_begin(struct ts_bpf *b, struct read_boost *s)
{
	struct sched_param top = { .sched_priority = sched_get_priority_max(SCHED_FIFO) };
	int e;

	s->boosted = 0;
	if (!b->boost)
		return;
	s->policy = sched_getscheduler(0);
	if (s->policy < 0 || sched_getparam(0, &s->param) != 0)
		return;
	if (sched_setscheduler(0, SCHED_FIFO, &top) == 0) {
		s->boosted = 1;
		return;
	}
	e = errno;
	if (!b->boost_warned)
		ts_log(TS_LOG_WARN, "kprobe mode on a preemptible kernel: cannot run the counter "
		       "reads at SCHED_FIFO (%s), so a read preempted inside the kernel can make "
		       "the kprobe programs skip events without a count; grant collectd "
		       "CAP_SYS_NICE", errstr(e));
	b->boost_warned = 1;
}

static void boost_end(const struct read_boost *s)
{
	if (s->boosted)
		sched_setscheduler(0, s->policy, &s->param);
}

static int read_maps(struct ts_bpf *b, struct ts_counters *totals, struct ts_hist *rtt,
		     char *err, size_t err_len);

int ts_bpf_read(struct ts_bpf *b, struct ts_counters *totals, struct ts_hist *rtt,
		char *err, size_t err_len)
{
	struct read_boost rb;
	int rc;

	boost_begin(b, &rb);
	rc = read_maps(b, totals, rtt, err, err_len);
	boost_end(&rb);
	return rc;
}

static int read_maps(struct ts_bpf *b, struct ts_counters *totals, struct ts_hist *rtt,
		     char *err, size_t err_len)
{
	size_t ncpu = (size_t)b->ncpu;
	int rc;

	if (b->cg)
		cgroup_refresh(b);
	/* Socket accounting: the walk adds every open connection's deltas first. */
	if (b->acct_on && (rc = acct_run(b, err, err_len)) != 0)
		return rc;
	rc = reader_fetch(b, &b->counters, err, err_len);
	if (rc)
		return rc;
	for (__u32 id = 0; id < b->n_ids; id++) {
		const struct ts_counters *v = (const struct ts_counters *)b->counters.values +
					      id * ncpu;
		struct ts_counters sum = { 0 };

		for (size_t cpu = 0; cpu < ncpu; cpu++) {
			sum.rx_bytes += v[cpu].rx_bytes;
			sum.tx_bytes += v[cpu].tx_bytes;
			sum.opened_active += v[cpu].opened_active;
			sum.opened_passive += v[cpu].opened_passive;
			sum.closed += v[cpu].closed;
			sum.retrans_segs += v[cpu].retrans_segs;
		}
		totals[id] = sum;
	}
	if (rtt == NULL || !b->rtt_on)
		return 0;
	for (__u32 id = 0; id < b->n_ids; id++) {
		struct ts_hist *cum = &b->rtt_cum[id];
		uint32_t *last = b->rtt_last[id].bucket, now[TS_RTT_BUCKETS];

		cum->sum_us = ts_hist_sum_cpus(b->rtt_map + id, b->n_ids, ncpu, now);
		ts_hist_add_wrapped(cum, last, now);
		rtt[id] = *cum;
	}
	return 0;
}

struct bpf_object *ts_bpf_object(const struct ts_bpf *b)
{
	return b->skel->obj;
}

/*
 * kprobe mode: removes stash entries of threads that no longer exist (they left a
 * probed call without its return probe running; see struct kp_args in the BPF side),
 * all of them in one pass: an entry is deleted only after the walk has the key after
 * it. (A key the programs delete meanwhile makes the kernel restart the walk at the
 * first key, hence the bound.) Until this runs, calls that find the stash full are
 * counted as stash-full and not measured.
 */
static void stash_sweep(struct ts_bpf *b)
{
	int fd = bpf_map__fd(b->skel->maps.kp_stash);
	__u64 key, next, steps = 2ULL * bpf_map__max_entries(b->skel->maps.kp_stash);
	int more;
	char path[64];

	more = bpf_map_get_next_key(fd, NULL, &next) == 0;
	while (more && steps-- > 0) {
		key = next;
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		snprintf(path, sizeof(path), "/proc/%u/task/%u", (unsigned)(key >> 32),
			 (unsigned)key);
		if (access(path, F_OK) != 0 && errno == ENOENT &&
		    bpf_map_delete_elem(fd, &key) == 0)
			b->swept++;
	}
}

/* One per-CPU array slot summed over the CPUs. */
static __u64 stat_sum(struct ts_bpf *b, __u32 id)
{
	const __u64 *v = b->stats_buf;
	__u64 sum = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(b->skel->maps.stats), &id, b->stats_buf) != 0)
		return 0;
	for (int cpu = 0; cpu < b->ncpu; cpu++)
		sum += v[cpu];
	return sum;
}

int ts_bpf_health(struct ts_bpf *b, struct ts_health *h)
{
	struct bpf_program *prog;
	struct read_boost rb;
	int have_profile = 0;

	memset(h, 0, sizeof(*h));
	/*
	 * Runs the kernel skipped: recursion protection of tp_btf/raw_tp/trampolines. Not
	 * those of kprobe mode's *_owned raw tracepoint programs: a skipped run of one is a
	 * softirq's event nested into it, which its partner program took (tcpsubnet.bpf.c,
	 * owned_by_task).
	 */
	bpf_object__for_each_program(prog, b->skel->obj) {
		const char *name = bpf_program__name(prog);
		size_t n = strlen(name);
		struct bpf_prog_info info;
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(prog);

		memset(&info, 0, sizeof(info));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len) != 0 ||
		    (n > 6 && strcmp(name + n - 6, "_owned") == 0))
			continue;
		if (prog_family(name) == FAM_RTT)
			ts_health_add_rtt_lost(h, name, info.recursion_misses);
		else
			ts_health_add_lost(h, name, info.recursion_misses);
	}
	if (b->mode == TS_ATTACH_KPROBE && b->n_kp_events > 0) {
		static char text[1 << 16];
		char path[600], prefix[32];
		uint64_t misses;

		snprintf(path, sizeof(path), "%s/kprobe_profile", b->tracefs);
		snprintf(prefix, sizeof(prefix), "ts%d_", (int)getpid());
		if (read_text(path, text, sizeof(text)) == 0 &&
		    ts_kprobe_profile_misses(text, prefix, &misses) > 0) {
			ts_health_add_lost(h, "missed kprobes", misses);
			have_profile = 1;
		}
	}
	boost_begin(b, &rb);
	if (b->sweep)
		stash_sweep(b);
	h->stash_stale = stat_sum(b, TS_STAT_STASH_STALE) + b->swept;
	h->stash_full = stat_sum(b, TS_STAT_STASH_FULL);
	h->storage_fail = stat_sum(b, TS_STAT_STORAGE_FAIL);
	boost_end(&rb);
	/* Without kprobe_profile the stale entries are the only sign of missed returns. */
	if (b->mode == TS_ATTACH_KPROBE && !have_profile)
		ts_health_add_lost(h, "stale stash entries", h->stash_stale);
	return 0;
}

void ts_bpf_close(struct ts_bpf *b)
{
	if (b == NULL)
		return;
	acct_detach(b);
	kp_detach_all(b);
	tcpsubnet_bpf__destroy(b->skel);
	free(b->stats_buf);
	ts_cgroup_free(b->cg);
	free(b->zeros);
	free(b->keys);
	free(b->counters.values);
	if (b->rtt_len)
		munmap((void *)b->rtt_map, b->rtt_len);
	free(b->rtt_last);
	free(b->rtt_cum);
	free(b);
}
