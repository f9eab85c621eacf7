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

struct ts_bpf {
	struct tcpsubnet_bpf *skel;
	enum ts_attach_mode mode;
	char choice[512];
	int counters_fd;
	__u32 n_ids;
	int ncpu;
	int batch; /* 1: batch lookups work, 0: per-key fallback */
	__u32 *keys;
	struct ts_counters *values; /* n_ids * ncpu */
};

/* What the running kernel offers, read from its BTF. */
struct kfeat {
	int has_tp;		/* tp_btf/sock_send_length and sock_recv_length (6.3+) */
	int has_sendpage;	/* tcp_sendpage() exists (before 6.5) */
	int has_tcp_funcs;	/* tcp_sendmsg() and tcp_recvmsg() are in BTF */
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
	kf->has_tcp_funcs = sid > 0 && id > 0;
	if (id > 0) {
		const struct btf_type *fn = btf__type_by_id(btf, id);
		const struct btf_type *proto = fn ? btf__type_by_id(btf, fn->type) : NULL;

		kf->recvmsg_nonblock = proto && btf_vlen(proto) == 6;
	}
	btf__free(btf);
	return 0;
}

static int prog_wanted(const char *name, enum ts_attach_mode m, const struct kfeat *kf)
{
	int page = strstr(name, "sendpage") != NULL;
	int nonblock = strstr(name, "nonblock") != NULL;

	switch (m) {
	case TS_ATTACH_TRACEPOINT:
		return strncmp(name, "tp_", 3) == 0;
	case TS_ATTACH_FENTRY:
		if (strncmp(name, "fexit_", 6) != 0)
			return 0;
		if (page)
			return kf->has_sendpage;
		if (strstr(name, "recvmsg"))
			return nonblock == kf->recvmsg_nonblock;
		return 1;
	case TS_ATTACH_KPROBE:
		if (strncmp(name, "kp_", 3) != 0 && strncmp(name, "krp_", 4) != 0)
			return 0;
		if (page)
			return kf->has_sendpage;
		if (strncmp(name, "kp_recvmsg", 10) == 0)
			return nonblock == kf->recvmsg_nonblock;
		return 1;
	default:
		return 0;
	}
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

static int fill_subnets(struct tcpsubnet_bpf *skel, const struct ts_config *c, char *why,
			size_t len)
{
	int fd = bpf_map__fd(skel->maps.subnets);

	for (size_t i = 0; i < c->n_prefixes; i++) {
		struct ts_lpm_key key;
		__u32 id = c->prefixes[i].subnet_id;

		ts_lpm_key_build(&c->prefixes[i], &key);
		if (bpf_map_update_elem(fd, &key, &id, BPF_NOEXIST) != 0) {
			int e = errno;
			char text[64];

			ts_cidr_format(&c->prefixes[i], text, sizeof(text));
			snprintf(why, len, "filling the subnet map failed at prefix %s (%s)", text,
				 errstr(e));
			return -e;
		}
	}
	return 0;
}

/* Loads, fills and attaches one method; on failure leaves nothing behind. */
static int try_mode(struct ts_bpf *b, const struct ts_config *c, enum ts_attach_mode m,
		    const struct kfeat *kf, char *why, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo, .btf_custom_path = c->btf_path);
	struct tcpsubnet_bpf *skel;
	struct bpf_program *prog;
	int err;

	if (m == TS_ATTACH_TRACEPOINT && !kf->has_tp) {
		snprintf(why, len, "%s", mode_hint(m));
		return -ENOENT;
	}
	if (m != TS_ATTACH_TRACEPOINT && !kf->has_tcp_funcs) {
		snprintf(why, len, "tcp_sendmsg/tcp_recvmsg are not in the kernel BTF");
		return -ENOENT;
	}

	skel = tcpsubnet_bpf__open_opts(&oo);
	if (skel == NULL) {
		err = -errno;
		snprintf(why, len, "opening the BPF object failed (%s)", errstr(err));
		return err;
	}
	skel->rodata->count_unmatched = c->report_unmatched;
	bpf_map__set_max_entries(skel->maps.subnets, c->n_prefixes ? (__u32)c->n_prefixes : 1);
	bpf_map__set_max_entries(skel->maps.counters, (__u32)c->n_subnets + 1);
	/* One entry per thread inside a probed call; preallocated, so bounded. */
	bpf_map__set_max_entries(skel->maps.kp_stash, m == TS_ATTACH_KPROBE ? 16384 : 1);
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, prog_wanted(bpf_program__name(prog), m, kf));

	err = tcpsubnet_bpf__load(skel);
	if (err) {
		snprintf(why, len, "loading failed (%s): %s", errstr(err), mode_hint(m));
		goto fail;
	}
	err = fill_subnets(skel, c, why, len);
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

	b->counters_fd = bpf_map__fd(b->skel->maps.counters);
	b->n_ids = (__u32)c->n_subnets + 1;
	b->ncpu = libbpf_num_possible_cpus();
	b->batch = 1;
	b->keys = calloc(b->n_ids, sizeof(*b->keys));
	b->values = calloc((size_t)b->n_ids * (size_t)(b->ncpu > 0 ? b->ncpu : 1),
			   sizeof(*b->values));
	if (b->ncpu <= 0 || b->keys == NULL || b->values == NULL) {
		snprintf(err, err_len, "cannot size the counter buffers (%d CPUs)", b->ncpu);
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

int ts_bpf_read(struct ts_bpf *b, struct ts_counters *totals, char *err, size_t err_len)
{
	size_t ncpu = (size_t)b->ncpu;

	if (b->batch) {
		LIBBPF_OPTS(bpf_map_batch_opts, bo);
		__u32 count = b->n_ids, next = 0;
		int rc = bpf_map_lookup_batch(b->counters_fd, NULL, &next, b->keys, b->values,
					      &count, &bo);

		/* The whole array fits one batch: ENOENT just says the walk is over. */
		if ((rc == 0 || errno == ENOENT) && count == b->n_ids) {
			for (__u32 i = 0; i < count; i++)
				if (b->keys[i] != i)
					goto per_key;
		} else {
			ts_log(TS_LOG_DEBUG, "batch lookup unavailable (%s), reading key by key",
			       errstr(errno));
per_key:
			b->batch = 0;
		}
	}
	if (!b->batch) {
		for (__u32 id = 0; id < b->n_ids; id++) {
			if (bpf_map_lookup_elem(b->counters_fd, &id, &b->values[id * ncpu]) != 0) {
				snprintf(err, err_len, "reading the counters of subnet id %u failed "
					 "(%s)", id, errstr(errno));
				return -errno;
			}
		}
	}
	for (__u32 id = 0; id < b->n_ids; id++) {
		const struct ts_counters *v = &b->values[id * ncpu];
		struct ts_counters sum = { 0, 0 };

		for (size_t cpu = 0; cpu < ncpu; cpu++) {
			sum.rx_bytes += v[cpu].rx_bytes;
			sum.tx_bytes += v[cpu].tx_bytes;
		}
		totals[id] = sum;
	}
	return 0;
}

void ts_bpf_close(struct ts_bpf *b)
{
	if (b == NULL)
		return;
	tcpsubnet_bpf__destroy(b->skel);
	free(b->keys);
	free(b->values);
	free(b);
}
