// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark reference only (bench/run), never shipped: the "usual approach" to per-subnet
 * TCP accounting as blog posts and exporter recipes write it, on the same tp_btf hooks
 * as the plugin. Per event: read the addresses with CO-RE probe reads, scan an array of
 * {prefix, mask, name} linearly for the longest match, then look up a hash map keyed by
 * the subnet's name string (char[32]; inserted on first use) and add with
 * __sync_fetch_and_add (atomic, shared by all CPUs). Only the bytes and RTT paths are
 * implemented; they are the ones that fire per send, receive and segment.
 *
 * The scan runs through bpf_loop() (5.17+): an open-coded loop over 65536 entries would
 * exceed the verifier's one-million-instruction budget. The bench runs on the host only.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "naive.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 n_subnets = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct naive_subnet);
} naive_subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, char[NAIVE_NAME_LEN]);
	__type(value, struct naive_val);
} naive_counts SEC(".maps");

struct scan_ctx {
	__u32 addr[4];
	__s32 best_len;
	__u32 best;
};

static long scan_one(__u32 i, void *data)
{
	struct scan_ctx *ctx = data;
	struct naive_subnet *s = bpf_map_lookup_elem(&naive_subnets, &i);

	if (!s)
		return 1;
	if ((ctx->addr[0] & s->mask[0]) == s->addr[0] &&
	    (ctx->addr[1] & s->mask[1]) == s->addr[1] &&
	    (ctx->addr[2] & s->mask[2]) == s->addr[2] &&
	    (ctx->addr[3] & s->mask[3]) == s->addr[3] && (__s32)s->plen > ctx->best_len) {
		ctx->best_len = s->plen;
		ctx->best = i;
	}
	return 0;
}

static __always_inline struct naive_val *classify(const struct sock *sk)
{
	struct scan_ctx ctx = { .best_len = -1 };
	char name[NAIVE_NAME_LEN] = "other";
	struct naive_val zero = {}, *v;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		ctx.addr[2] = bpf_htonl(0xffff);
		ctx.addr[3] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&ctx.addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
	} else {
		return NULL;
	}
	bpf_loop(n_subnets, scan_one, &ctx, 0);
	if (ctx.best_len >= 0) {
		struct naive_subnet *s = bpf_map_lookup_elem(&naive_subnets, &ctx.best);

		if (s)
			__builtin_memcpy(name, s->name, sizeof(name));
	}
	v = bpf_map_lookup_elem(&naive_counts, name);
	if (v)
		return v;
	bpf_map_update_elem(&naive_counts, name, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&naive_counts, name);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(naive_send, struct sock *sk, int ret, int flags)
{
	struct naive_val *v;

	if (ret <= 0 || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	v = classify(sk);
	if (v)
		__sync_fetch_and_add(&v->tx_bytes, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(naive_recv, struct sock *sk, int ret, int flags)
{
	struct naive_val *v;

	if (ret <= 0 || (flags & (MSG_PEEK | MSG_ERRQUEUE)) ||
	    BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	v = classify(sk);
	if (v)
		__sync_fetch_and_add(&v->rx_bytes, ret);
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(naive_rtt, struct sock *sk, struct sk_buff *skb)
{
	__u32 srtt = BPF_CORE_READ((struct tcp_sock *)sk, srtt_us) >> 3, slot = 0;
	struct naive_val *v;

	if (srtt == 0)
		return 0;
	v = classify(sk);
	if (!v)
		return 0;
	while (slot < 26 && (srtt >> (slot + 1)))
		slot++;
	__sync_fetch_and_add(&v->rtt_slot[slot], 1);
	__sync_fetch_and_add(&v->rtt_sum_us, srtt);
	return 0;
}
