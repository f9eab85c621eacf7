/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Types shared by the kernel side (tcpsubnet.bpf.c) and user space (plugin/tsbpf.c,
 * plugin/tsconf.c). Include <linux/types.h> (user space) or kernel_types.h (BPF) first.
 */
#ifndef TCPSUBNET_H
#define TCPSUBNET_H

/* Counter slot of traffic that matches no configured prefix; subnets use 1..N. */
#define TS_UNMATCHED_ID 0

/*
 * LPM trie key. Both families live in one trie: IPv4 is stored as IPv4-mapped IPv6
 * (::ffff:a.b.c.d, prefix length + 96), which is also exactly how the kernel shows an
 * IPv4 peer of a dual-stack AF_INET6 socket, so both forms match the same entries.
 * addr holds the address bytes in network order.
 */
struct ts_lpm_key {
	__u32 prefixlen;
	__u32 addr[4];
};

/*
 * Counter slots are indexed by local_id * n_remote_ids + remote_id; without LocalSubnet
 * blocks local_id is always 0, so the index is the remote subnet id.
 */

/* One per index and CPU (BPF_MAP_TYPE_PERCPU_ARRAY), updated with atomic adds (see add_bytes). */
struct ts_counters {
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 opened_active;	/* SYN_SENT -> ESTABLISHED */
	__u64 opened_passive;	/* SYN_RECV -> ESTABLISHED */
	__u64 closed;		/* an opened connection reached CLOSE */
	__u64 retrans_segs;	/* retransmitted segments (tcp_skb_pcount) */
};

/*
 * Smoothed-RTT histogram: slot 0 holds 0..1 us, slot i >= 1 holds [2^i, 2^(i+1)) us,
 * the top slot is open-ended (>= 2^26 us, 67 s). Cumulative, never cleared.
 */
#define TS_RTT_SLOTS 27

struct ts_rtt {
	__u64 slot[TS_RTT_SLOTS];
	__u64 sum_us;
};

/* floor(log2(v)) clamped to the top slot, branch-free (the verifier counts branches). */
static inline __u32 ts_log2_slot(__u32 v)
{
	__u32 r = 0, shift;

	shift = (v > 0xffff) << 4;
	v >>= shift;
	r |= shift;
	shift = (v > 0xff) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xf) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r < TS_RTT_SLOTS - 1 ? r : TS_RTT_SLOTS - 1;
}

/*
 * Slots of the per-CPU "stats" array: what the programs could not do. Names as
 * dispatched (derive values of the empty plugin_instance) are in plugin/tsvalues.c.
 */
enum ts_stat_id {
	TS_STAT_STASH_STALE,	/* kprobe mode: a return probe did not run for a call */
	TS_STAT_STASH_FULL,	/* kprobe mode: no room to remember a call: not measured */
	TS_STAT_STORAGE_FAIL,	/* a per-socket memo could not be created (classified anyway) */
	TS_STAT_COUNT
};

/* Port filters: one bit per port, host byte order. */
#define TS_PORT_WORDS (65536 / 64)

#endif /* TCPSUBNET_H */
