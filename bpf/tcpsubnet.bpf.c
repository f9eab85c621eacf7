// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel side of collectd-tcpsubnet: TCP payload bytes per remote subnet.
 *
 * Every successful TCP send or receive of the host (all network namespaces) is
 * classified by the socket's remote address with one LPM trie lookup and added to a
 * per-CPU counter slot of the matching subnet id. User space sums the CPUs each read
 * cycle; counters are never cleared, so no update can be lost between reads.
 *
 * Three program flavours count the same thing; user space loads exactly one set:
 *   tracepoint  tp_btf/sock_send_length, sock_recv_length  (6.3+; sendfile needs 6.5+)
 *   fentry      fexit/tcp_sendmsg, tcp_sendpage (<6.5), tcp_recvmsg  (5.5+, BTF, trampolines)
 *   kprobe      k(ret)probe on the same functions  (any kernel with kprobes)
 * All of them count the syscall's return value (bytes actually moved), skip failures,
 * EAGAIN and MSG_PEEK / MSG_ERRQUEUE reads.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcpsubnet.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load. */
const volatile bool count_unmatched = true;

/* Sizes are set by user space from the configuration before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct ts_lpm_key);
	__type(value, __u32);
} subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ts_counters);
} counters SEC(".maps");

/* kprobe mode only: socket and flags from function entry, keyed by thread. */
struct kp_args {
	struct sock *sk;
	__s32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct kp_args);
} kp_stash SEC(".maps");

static __always_inline void ts_add(struct ts_lpm_key *key, __u64 bytes, bool tx)
{
	__u32 id = TS_UNMATCHED_ID;
	struct ts_counters *c;
	__u32 *found;

	found = bpf_map_lookup_elem(&subnets, key);
	if (found)
		id = *found;
	else if (!count_unmatched)
		return;
	c = bpf_map_lookup_elem(&counters, &id);
	if (!c)
		return;
	/*
	 * Plain read-modify-write is safe: the slot is this CPU's, tracepoints and kprobes
	 * run with preemption off, and fentry trampolines refuse to re-enter a program on
	 * the same CPU.
	 */
	if (tx)
		c->tx_bytes += bytes;
	else
		c->rx_bytes += bytes;
}

/*
 * tp_btf and fexit hand us a typed socket pointer: direct loads are allowed and cost
 * about half of BPF_CORE_READ's probe reads (measured on 6.18, see docs/PERFORMANCE.md).
 */
static __always_inline void ts_count_typed(struct sock *sk, __u64 bytes, bool tx)
{
	struct ts_lpm_key key = { .prefixlen = 128 };
	__u16 family = sk->__sk_common.skc_family;

	if (family == AF_INET) {
		key.addr[2] = bpf_htonl(0xffff);
		key.addr[3] = sk->__sk_common.skc_daddr;
	} else if (family == AF_INET6) {
		key.addr[0] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
		key.addr[1] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
		key.addr[2] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
		key.addr[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
	} else {
		return;
	}
	ts_add(&key, bytes, tx);
}

/* kprobes only have an untyped pointer: every field goes through a CO-RE probe read. */
static __always_inline void ts_count_untyped(struct sock *sk, __u64 bytes, bool tx)
{
	struct ts_lpm_key key = { .prefixlen = 128 };
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		key.addr[2] = bpf_htonl(0xffff);
		key.addr[3] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		/* Read into the local array: a pointer destination would copy only 8 bytes. */
		BPF_CORE_READ_INTO(&key.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
	} else {
		return;
	}
	ts_add(&key, bytes, tx);
}

static __always_inline bool ts_is_counted_read(int ret, int flags)
{
	return ret > 0 && !(flags & (MSG_PEEK | MSG_ERRQUEUE));
}

/* ---- tracepoint mode: fired by sock_sendmsg()/sock_recvmsg() for every socket ---- */

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_send, struct sock *sk, int ret, int flags)
{
	if (ret > 0 && sk->sk_protocol == IPPROTO_TCP)
		ts_count_typed(sk, ret, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_recv, struct sock *sk, int ret, int flags)
{
	if (ts_is_counted_read(ret, flags) && sk->sk_protocol == IPPROTO_TCP)
		ts_count_typed(sk, ret, false);
	return 0;
}

/* ---- fentry mode: fexit on the TCP functions, return value = bytes moved ---- */

SEC("fexit/tcp_sendmsg")
int BPF_PROG(fexit_sendmsg, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	if (ret > 0)
		ts_count_typed(sk, ret, true);
	return 0;
}

/* sendfile()/splice reach TCP through tcp_sendpage() until 6.5 (MSG_SPLICE_PAGES). */
SEC("fexit/tcp_sendpage")
int BPF_PROG(fexit_sendpage, struct sock *sk, struct page *page, int offset, size_t size,
	     int flags, int ret)
{
	if (ret > 0)
		ts_count_typed(sk, ret, true);
	return 0;
}

SEC("fexit/tcp_recvmsg")
int BPF_PROG(fexit_recvmsg, struct sock *sk, struct msghdr *msg, size_t len, int flags,
	     int *addr_len, int ret)
{
	if (ts_is_counted_read(ret, flags))
		ts_count_typed(sk, ret, false);
	return 0;
}

/* Same, for kernels before 5.19 where "nonblock" precedes flags. */
SEC("fexit/tcp_recvmsg")
int BPF_PROG(fexit_recvmsg_nonblock, struct sock *sk, struct msghdr *msg, size_t len,
	     int nonblock, int flags, int *addr_len, int ret)
{
	if (ts_is_counted_read(ret, flags))
		ts_count_typed(sk, ret, false);
	return 0;
}

/* ---- kprobe mode: entry stashes the socket, return counts ---- */

static __always_inline void kp_save(struct sock *sk, int flags)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct kp_args a = { .sk = sk, .flags = flags };

	bpf_map_update_elem(&kp_stash, &tid, &a, BPF_ANY);
}

static __always_inline void kp_finish(long ret, bool tx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct kp_args *a = bpf_map_lookup_elem(&kp_stash, &tid);

	if (!a)
		return;
	if (tx ? ret > 0 : ts_is_counted_read(ret, a->flags))
		ts_count_untyped(a->sk, ret, tx);
	bpf_map_delete_elem(&kp_stash, &tid);
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(kp_sendmsg, struct sock *sk)
{
	kp_save(sk, 0);
	return 0;
}

SEC("kretprobe/tcp_sendmsg")
int BPF_KRETPROBE(krp_sendmsg, int ret)
{
	kp_finish(ret, true);
	return 0;
}

SEC("kprobe/tcp_sendpage")
int BPF_KPROBE(kp_sendpage, struct sock *sk)
{
	kp_save(sk, 0);
	return 0;
}

SEC("kretprobe/tcp_sendpage")
int BPF_KRETPROBE(krp_sendpage, int ret)
{
	kp_finish(ret, true);
	return 0;
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(kp_recvmsg, struct sock *sk, struct msghdr *msg, size_t len, int flags)
{
	kp_save(sk, flags);
	return 0;
}

/*
 * Before 5.19 flags is the fifth argument. A separate program rather than a runtime
 * branch: clang merges the two context loads into one at a variable offset, which the
 * verifier refuses ("dereference of modified ctx ptr").
 */
SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(kp_recvmsg_nonblock, struct sock *sk, struct msghdr *msg, size_t len,
	       int nonblock, int flags)
{
	kp_save(sk, flags);
	return 0;
}

SEC("kretprobe/tcp_recvmsg")
int BPF_KRETPROBE(krp_recvmsg, int ret)
{
	kp_finish(ret, false);
	return 0;
}
