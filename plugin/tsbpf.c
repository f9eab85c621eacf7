/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libbpf glue for the tcpsubnet plugin: attach-method choice, load, map fill, reads.
 */
#include "tsbpf.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "tcpsubnet.skel.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

_Static_assert(sizeof(struct ts_hist) == sizeof(struct ts_rtt) &&
		       TS_HIST_BUCKETS == TS_RTT_BUCKETS,
	       "tshist.h and bpf/tcpsubnet.h describe the same histogram");

/* A per-CPU array read in one batch into a preallocated buffer. */
struct pcpu_reader {
	int fd;
	size_t value_size;
	int batch; /* 1: batch lookups work, 0: per-key fallback */
	void *values; /* n_ids * ncpu values */
};

struct ts_bpf {
	struct tcpsubnet_bpf *skel;
	enum ts_attach_mode mode;
	char choice[512];
	__u32 n_ids;
	int ncpu;
	int rtt_on;
	__u32 *keys;
	struct pcpu_reader counters, rtt;
};

/* What the running kernel offers, read from its BTF. */
struct kfeat {
	int has_tp;		/* tp_btf/sock_send_length and sock_recv_length (6.3+) */
	int has_sendpage;	/* tcp_sendpage() exists (before 6.5) */
	int has_tcp_funcs;	/* tcp_sendmsg(), tcp_recvmsg(), tcp_rcv_established() in BTF */
	int retrans_err;	/* tcp_retransmit_skb tracepoint passes "err" (6.x, newer) */
	/* tcp_recvmsg() takes "nonblock" before flags (before 5.19, commit ec095263a965) */
	int recvmsg_nonblock;
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
	char line[1024];
	size_t n;

	(void)level;
	if (log_fn == NULL)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_fn(TS_LOG_DEBUG, line);
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
	btf__free(btf);
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
	{ "kp_rtt", M_KP, FAM_RTT, C_ALWAYS },
	/* raw_tp: kernels without trampolines (kprobe mode) may lack tp_btf. */
	{ "raw_state", M_KP, FAM_CONN, C_ALWAYS },
	{ "raw_retrans", M_KP, FAM_RETRANS, C_NO_ERR },
	{ "raw_retrans_err", M_KP, FAM_RETRANS, C_ERR },
};

static int prog_wanted(const char *name, enum ts_attach_mode m, const struct kfeat *kf,
		       const struct ts_config *c)
{
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

static const char *mode_hint(enum ts_attach_mode m)
{
	switch (m) {
	case TS_ATTACH_FENTRY:
		return "the kernel refuses fentry/fexit (needs 5.5+ with BPF trampolines and no "
		       "lockdown restriction)";
	case TS_ATTACH_KPROBE:
		return "the kernel has no usable kprobes (CONFIG_KPROBES)";
	case TS_ATTACH_TRACEPOINT:
		return "the sock_send_length/sock_recv_length tracepoints need kernel 6.3+";
	default:
		return "";
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

/*
 * Above this many prefixes (Subnet and LocalSubnet together) the typed programs memoise
 * each socket's classification: the LPM trie walk grows with the trie's depth, the memo
 * lookup does not. Below it the walk is as cheap and nothing is allocated per socket.
 */
#define TS_MEMO_MIN_PREFIXES 32

/* Loads, fills and attaches one method; on failure leaves nothing behind. */
static int try_mode(struct ts_bpf *b, const struct ts_config *c, enum ts_attach_mode m,
		    const struct kfeat *kf, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = c->btf_path);
	struct tcpsubnet_bpf *skel;
	struct bpf_program *prog;
	__u32 n_ids;
	int err;
	/* kprobes cannot use socket storage: they classify every event. */
	bool memo = m != TS_ATTACH_KPROBE &&
		    c->n_prefixes + c->n_lprefixes > TS_MEMO_MIN_PREFIXES;

	if (m == TS_ATTACH_TRACEPOINT && !kf->has_tp) {
		snprintf(why, len, "%s", mode_hint(m));
		return -ENOENT;
	}
	if (m != TS_ATTACH_TRACEPOINT && !kf->has_tcp_funcs) {
		snprintf(why, len, "tcp_sendmsg/tcp_recvmsg/tcp_rcv_established are not in the "
			 "kernel BTF");
		return -ENOENT;
	}

again:
	skel = tcpsubnet_bpf__open_opts(&oo);
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
	memcpy((void *)skel->rodata->lport_bits, c->lport_bits, sizeof(c->lport_bits));
	memcpy((void *)skel->rodata->rport_bits, c->rport_bits, sizeof(c->rport_bits));
	bpf_map__set_max_entries(skel->maps.subnets, c->n_prefixes ? (__u32)c->n_prefixes : 1);
	bpf_map__set_max_entries(skel->maps.local_subnets,
				 c->n_lprefixes ? (__u32)c->n_lprefixes : 1);
	bpf_map__set_max_entries(skel->maps.counters, n_ids);
	bpf_map__set_max_entries(skel->maps.rtt, c->rtt ? n_ids : 1);
	/* One entry per thread inside a probed call; preallocated, so bounded. */
	bpf_map__set_max_entries(skel->maps.kp_stash, m == TS_ATTACH_KPROBE ? 16384 : 1);
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog_wanted(bpf_program__name(prog), m, kf, c));

	err = tcpsubnet_bpf__load(skel);
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
		snprintf(why, len, "loading failed (%s): %s", errstr(err), mode_hint(m));
		goto fail;
	}
	err = fill_trie(skel->maps.subnets, c->prefixes, c->n_prefixes, why, len);
	if (!err)
		err = fill_trie(skel->maps.local_subnets, c->lprefixes, c->n_lprefixes, why, len);
	if (err)
		goto fail;
	err = tcpsubnet_bpf__attach(skel);
	if (err) {
		snprintf(why, len, "attaching failed (%s): %s", errstr(err), mode_hint(m));
		goto fail;
	}
	b->skel = skel;
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

		/* The whole array fits one batch: ENOENT just says the walk is over. */
		if ((rc == 0 || errno == ENOENT) && count == b->n_ids) {
			for (__u32 i = 0; i < count; i++)
				if (b->keys[i] != i)
					goto per_key;
			return 0;
		}
		ts_log(TS_LOG_DEBUG, "batch lookup unavailable (%s), reading key by key",
		       errstr(errno));
per_key:
		r->batch = 0;
	}
	for (__u32 id = 0; id < b->n_ids; id++) {
		if (bpf_map_lookup_elem(r->fd, &id, (char *)r->values + id * stride) != 0) {
			snprintf(err, err_len, "reading counter slot %u failed (%s)", id,
				 errstr(errno));
			return -errno;
		}
	}
	return 0;
}

int ts_bpf_open(const struct ts_config *c, struct ts_bpf **out, char *err, size_t err_len)
{
	enum ts_attach_mode order[3];
	const char *btf_path = c->btf_path ? c->btf_path : TS_DEFAULT_BTF_PATH;
	char tried[3][256];
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

	if (c->attach_mode != TS_ATTACH_AUTO) {
		order[n++] = c->attach_mode;
	} else if (kf.has_tp && !kf.has_sendpage) {
		/*
		 * 6.5+: the tracepoints see every sendmsg/recvmsg including sendfile, are a
		 * stable interface and cost least; fentry and kprobe remain fallbacks.
		 */
		order[n++] = TS_ATTACH_TRACEPOINT;
		order[n++] = TS_ATTACH_FENTRY;
		order[n++] = TS_ATTACH_KPROBE;
	} else {
		/* Before 6.5 sendfile bypasses the tracepoints; take them last. */
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
		if (rc == 0)
			break;
		ts_log(TS_LOG_DEBUG, "attach mode %s: %s", ts_attach_mode_name(order[i]),
		       tried[i]);
	}
	if (i == n) {
		if (c->attach_mode != TS_ATTACH_AUTO)
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

	if (c->attach_mode != TS_ATTACH_AUTO)
		snprintf(b->choice, sizeof(b->choice), "%s (configured)",
			 ts_attach_mode_name(b->mode));
	else if (i == 0)
		snprintf(b->choice, sizeof(b->choice), "%s (auto: first choice on this kernel)",
			 ts_attach_mode_name(b->mode));
	else
		snprintf(b->choice, sizeof(b->choice), "%s (auto: %s unavailable: %.200s)",
			 ts_attach_mode_name(b->mode), ts_attach_mode_name(order[0]), tried[0]);
	if (b->mode == TS_ATTACH_TRACEPOINT && kf.has_sendpage)
		ts_log(TS_LOG_WARN, "tracepoint mode on a kernel before 6.5: bytes sent with "
		       "sendfile()/splice() are not counted; use AttachMode \"fentry\" or "
		       "\"kprobe\" for them");

	b->n_ids = (__u32)ts_config_index_count(c);
	b->ncpu = libbpf_num_possible_cpus();
	b->rtt_on = c->rtt;
	b->keys = calloc(b->n_ids, sizeof(*b->keys));
	if (b->ncpu <= 0 || b->keys == NULL ||
	    reader_init(&b->counters, b->skel->maps.counters, sizeof(struct ts_counters),
			b->n_ids, b->ncpu) != 0 ||
	    (c->rtt && reader_init(&b->rtt, b->skel->maps.rtt, sizeof(struct ts_rtt), b->n_ids,
				   b->ncpu) != 0)) {
		snprintf(err, err_len, "cannot allocate the counter buffers (%u slots, %d CPUs)",
			 b->n_ids, b->ncpu);
		ts_bpf_close(b);
		return -ENOMEM;
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

int ts_bpf_read(struct ts_bpf *b, struct ts_counters *totals, struct ts_hist *rtt,
		char *err, size_t err_len)
{
	size_t ncpu = (size_t)b->ncpu;
	int rc = reader_fetch(b, &b->counters, err, err_len);

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
	rc = reader_fetch(b, &b->rtt, err, err_len);
	if (rc)
		return rc;
	for (__u32 id = 0; id < b->n_ids; id++) {
		const struct ts_rtt *v = (const struct ts_rtt *)b->rtt.values + id * ncpu;
		struct ts_hist sum = { { 0 }, 0 };

		for (size_t cpu = 0; cpu < ncpu; cpu++) {
			for (unsigned i = 0; i < TS_HIST_BUCKETS; i++)
				sum.bucket[i] += v[cpu].bucket[i];
			sum.sum_us += v[cpu].sum_us;
		}
		rtt[id] = sum;
	}
	return 0;
}

struct bpf_object *ts_bpf_object(const struct ts_bpf *b)
{
	return b->skel->obj;
}

void ts_bpf_close(struct ts_bpf *b)
{
	if (b == NULL)
		return;
	tcpsubnet_bpf__destroy(b->skel);
	free(b->keys);
	free(b->counters.values);
	free(b->rtt.values);
	free(b);
}
