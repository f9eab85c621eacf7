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

/* One per subnet id and CPU (BPF_MAP_TYPE_PERCPU_ARRAY): plain adds, no atomics. */
struct ts_counters {
	__u64 rx_bytes;
	__u64 tx_bytes;
};

#endif /* TCPSUBNET_H */
