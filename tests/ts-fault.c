/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * libtsfault.so - fault injection for the reliability tests, loaded into collectd with
 * LD_PRELOAD. It wraps four libbpf calls the plugin makes and changes nothing unless
 * an environment variable asks it to:
 *
 *   TS_FAULT_LPM_FAIL_AT=K[:ERRNO]  the K-th update (1-based) of every LPM trie map and
 *                                   all later ones fail with ERRNO (default ENOMEM):
 *                                   what a memory cgroup limit does to the trie's
 *                                   allocate-on-insert nodes
 *   TS_FAULT_READ_FILE=PATH         while PATH exists, lookups of per-CPU arrays (the
 *                                   counters) fail with EIO
 *   TS_FAULT_NO_BATCH=1             batch lookups fail with EINVAL, as on kernels
 *                                   before 5.6: the plugin must fall back to per-key reads
 *   TS_FAULT_LEAK_BYTES=N           every counter read leaks N bytes (a deliberate leak,
 *   TS_FAULT_LEAK_FD=1              or one file descriptor), so the tests can show that
 *                                   their leak detectors fire
 *   TS_FAULT_KFUNC_REFUSE=NAME      loads of the BPF program NAME that call a kernel
 *                                   function (kfunc) fail with EINVAL: a kernel that
 *                                   refuses the kfunc build of tp_rtt, not the other
 *   TS_FAULT_COUNT_FILE=PATH        no fault: counts read cycles (batch lookups of the
 *                                   counters map) into PATH ("reads N"), every 50 and at
 *                                   exit, for runs without a writer plugin to count them
 *
 * Why a preload shim and not a kernel-side limit: the plugin sizes the trie to exactly
 * the configured prefixes, so no configuration can make an insert fail, and a memory
 * cgroup tight enough to refuse trie nodes also starves collectd itself at a point no
 * test can choose. Wrapping the libbpf entry points fails exactly the call we mean, and
 * the plugin's error path runs as it would for a real ENOMEM.
 *
 * The plugin calls these through its PLT, so symbols defined here win. libbpf's own
 * internal calls (e.g. filling .rodata) also reach us; we only touch the map types the
 * plugin itself updates or reads.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

/* Exported wrappers: declared by <bpf/bpf.h>, defined again here on purpose. */

static int map_type(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
		return -1;
	return (int)info.type;
}

static __u32 map_id(int fd)
{
	struct bpf_map_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
		return 0;
	return info.id;
}

static int fail(int e)
{
	errno = e;
	return -e;
}

/* Updates seen per LPM map id: each attach attempt creates a fresh trie. */
static struct {
	__u32 id;
	unsigned long n;
} lpm_seen[64];

static unsigned long lpm_count(__u32 id)
{
	for (size_t i = 0; i < sizeof(lpm_seen) / sizeof(lpm_seen[0]); i++) {
		if (lpm_seen[i].id == id || lpm_seen[i].id == 0) {
			lpm_seen[i].id = id;
			return ++lpm_seen[i].n;
		}
	}
	return ~0UL; /* table full: treat as past any threshold */
}

int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags)
{
	static int (*real)(int, const void *, const void *, __u64);
	const char *at = getenv("TS_FAULT_LPM_FAIL_AT");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bpf_map_update_elem");
	if (at != NULL && map_type(fd) == BPF_MAP_TYPE_LPM_TRIE) {
		char *end;
		unsigned long k = strtoul(at, &end, 10);
		int e = *end == ':' ? atoi(end + 1) : ENOMEM;

		if (lpm_count(map_id(fd)) >= k)
			return fail(e);
	}
	return real(fd, key, value, flags);
}

/* A BPF call of a kernel function (BPF_PSEUDO_KFUNC_CALL in src_reg). */
static int calls_kfunc(const struct bpf_insn *insns, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (insns[i].code == (BPF_JMP | BPF_CALL) && insns[i].src_reg == BPF_PSEUDO_KFUNC_CALL)
			return 1;
	return 0;
}

int bpf_prog_load(enum bpf_prog_type type, const char *name, const char *license,
		  const struct bpf_insn *insns, size_t insn_cnt,
		  const struct bpf_prog_load_opts *opts)
{
	static int (*real)(enum bpf_prog_type, const char *, const char *,
			   const struct bpf_insn *, size_t, const struct bpf_prog_load_opts *);
	const char *want = getenv("TS_FAULT_KFUNC_REFUSE");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bpf_prog_load");
	/* Every attempt: libbpf loads a refused program again to fetch the verifier log. */
	if (want != NULL && name != NULL && strcmp(name, want) == 0 && calls_kfunc(insns, insn_cnt))
		return fail(EINVAL);
	return real(type, name, license, insns, insn_cnt, opts);
}

/* Leaks on purpose (TS_FAULT_LEAK_*), touching the memory so it counts in RSS. */
static void leak_on_read(void)
{
	const char *bytes = getenv("TS_FAULT_LEAK_BYTES");
	const char *fds = getenv("TS_FAULT_LEAK_FD");

	if (bytes != NULL) {
		size_t n = strtoul(bytes, NULL, 10);
		char *p = malloc(n);

		if (p != NULL)
			memset(p, 0x5a, n);
	}
	/* The descriptor is leaked on purpose (a negative control of the leak test). */
	if (fds != NULL && atoi(fds) > 0 && dup(STDERR_FILENO) < 0)
		perror("ts-fault: dup");
}

static int read_faulted(int fd)
{
	const char *path = getenv("TS_FAULT_READ_FILE");

	return path != NULL && access(path, F_OK) == 0 &&
	       map_type(fd) == BPF_MAP_TYPE_PERCPU_ARRAY;
}

/*
 * Read cycles: batch lookups of the map named "counters" (the RTT map is read through
 * its mapping, with no call). Written to TS_FAULT_COUNT_FILE every 50 and at
 * exit, with plain syscalls: nothing allocated per read.
 */
static unsigned long read_cycles;
static int counters_fd = -1;

static void write_count(void)
{
	const char *path = getenv("TS_FAULT_COUNT_FILE");
	char buf[64];
	int fd, n;

	if (path == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "reads %lu\n", read_cycles);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)n) != n)
		(void)0; /* the test reading it will notice */
	close(fd);
}

static void __attribute__((destructor)) write_count_at_exit(void)
{
	write_count();
}

static void count_read(int fd)
{
	if (counters_fd < 0) {
		struct bpf_map_info info;
		__u32 len = sizeof(info);

		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		    strcmp(info.name, "counters") == 0)
			counters_fd = fd;
	}
	if (fd == counters_fd && __atomic_add_fetch(&read_cycles, 1, __ATOMIC_RELAXED) % 50 == 0)
		write_count();
}

int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			 __u32 *count, const struct bpf_map_batch_opts *opts)
{
	static int (*real)(int, void *, void *, void *, void *, __u32 *,
			   const struct bpf_map_batch_opts *);
	const char *nobatch = getenv("TS_FAULT_NO_BATCH");

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bpf_map_lookup_batch");
	count_read(fd);
	if (fd == counters_fd)
		leak_on_read(); /* once per read cycle */
	if (nobatch != NULL && atoi(nobatch) > 0)
		return fail(EINVAL);
	if (read_faulted(fd))
		return fail(EIO);
	return real(fd, in_batch, out_batch, keys, values, count, opts);
}

int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	static int (*real)(int, const void *, void *);

	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "bpf_map_lookup_elem");
	if (read_faulted(fd))
		return fail(EIO);
	return real(fd, key, value);
}
