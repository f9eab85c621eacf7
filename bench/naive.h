/* SPDX-License-Identifier: GPL-2.0-only */
/* Types shared by bench/naive.bpf.c and bench/ts-bench.c (benchmark reference only). */
#ifndef TS_NAIVE_H
#define TS_NAIVE_H

#define NAIVE_NAME_LEN 32

/* One configured prefix, IPv4 as IPv4-mapped IPv6, scanned linearly. */
struct naive_subnet {
	__u32 addr[4];
	__u32 mask[4];
	__u32 plen;
	char name[NAIVE_NAME_LEN];
};

/* Value of the hash map keyed by the subnet name. */
struct naive_val {
	__u64 rx_bytes;
	__u64 tx_bytes;
	__u64 rtt_slot[27];
	__u64 rtt_sum_us;
};

#endif
