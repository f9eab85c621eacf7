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
 * Smoothed-RTT histogram, log-linear: every power of two of microseconds is cut into
 * TS_RTT_SUB equal buckets, so a bucket is at most 1/TS_RTT_SUB of its lower bound wide.
 * Buckets 0..15 hold 0..15 us exactly (one value each); bucket b >= 16 holds
 * [(8 + b % 8) << (b / 8 - 1), +1 << (b / 8 - 1)) us; the top bucket (TS_RTT_BUCKETS - 1)
 * is open-ended (>= 2^26 us, 67 s). Summing the buckets of one power of two gives the
 * log2 slot the plugin dispatches (TS_RTT_SLOTS of them: slot 0 = 0..1 us, slot i >= 1 =
 * [2^i, 2^(i+1)) us). Cumulative, never cleared.
 * Bucket counts are 32 bits and wrap: user space sums the CPUs modulo 2^32 and adds the
 * difference to the previous read to its own 64-bit counts, which is exact while fewer
 * than 2^32 samples of one bucket arrive between two reads (at one sample per round trip,
 * hundreds of millions per second). Half the size of 64-bit counts, which is what the
 * map is made of. The sum of microseconds stays 64 bits.
 * A sample writes one cache line: the buckets are grouped TS_RTT_LINE_BUCKETS to a
 * 64-byte line with the sum of those buckets' samples (user space adds the lines'
 * sums), and the map's values start on a page (bpf/tcpsubnet.bpf.c, rtt), so each line
 * is a cache line: the RTT program's events can be rare enough that each finds the
 * histogram out of the caches (loopback under 64-byte writes: a few hundred a second),
 * and one sum for all buckets made every sample write two lines. 14 lines of 64 bytes =
 * 896 bytes per counter slot and CPU (193 buckets and 14 sums; 3 bucket places unused).
 */
#define TS_RTT_SUB_BITS 3
#define TS_RTT_SUB (1U << TS_RTT_SUB_BITS)
#define TS_RTT_TOP_LOG2 26
#define TS_RTT_SLOTS (TS_RTT_TOP_LOG2 + 1)
#define TS_RTT_BUCKETS (TS_RTT_SUB * (TS_RTT_TOP_LOG2 - TS_RTT_SUB_BITS + 1) + 1)

#define TS_RTT_LINE_BUCKETS 14
#define TS_RTT_LINES ((TS_RTT_BUCKETS + TS_RTT_LINE_BUCKETS - 1) / TS_RTT_LINE_BUCKETS)

struct ts_rtt_line {
	__u32 bucket[TS_RTT_LINE_BUCKETS];
	__u64 sum_us;
};

struct ts_rtt {
	struct ts_rtt_line line[TS_RTT_LINES];
};

/* floor(log2(v)), 0 for 0, branch-free (the verifier counts branches). */
static inline __u32 ts_log2(__u32 v)
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
	return r;
}

/* The log2 slot of v: floor(log2(v)) clamped to the top slot. */
static inline __u32 ts_log2_slot(__u32 v)
{
	__u32 r = ts_log2(v);

	return r < TS_RTT_SLOTS - 1 ? r : TS_RTT_SLOTS - 1;
}

/*
 * The log-linear bucket of v: below 2 x TS_RTT_SUB the value itself, else the power of
 * two and the TS_RTT_SUB_BITS bits below its leading one.
 */
static inline __u32 ts_rtt_bucket(__u32 v)
{
	__u32 k = ts_log2(v), shift;

	if (k >= TS_RTT_TOP_LOG2)
		return TS_RTT_BUCKETS - 1;
	shift = k > TS_RTT_SUB_BITS ? k - TS_RTT_SUB_BITS : 0;
	return (shift << TS_RTT_SUB_BITS) + (v >> shift);
}

/*
 * Slots of the per-CPU "stats" array: what the programs could not do. Names as
 * dispatched (derive values of the empty plugin_instance) are in plugin/tsvalues.c.
 */
enum ts_stat_id {
	TS_STAT_STASH_STALE,	/* kprobe mode: a return probe did not run for a call */
	TS_STAT_STASH_FULL,	/* kprobe mode: no room to remember a call: not measured */
	/*
	 * A per-socket memo could not be created (classified anyway); socket accounting: a
	 * connection's account could not be created or its final update failed.
	 */
	TS_STAT_STORAGE_FAIL,
	TS_STAT_COUNT
};

/* Port filters: one bit per port, host byte order. */
#define TS_PORT_WORDS (65536 / 64)

#endif /* TCPSUBNET_H */
