/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The few kernel types tcpsubnet.bpf.c touches, written by hand instead of a generated
 * vmlinux.h (see docs/DESIGN.md). Structs carry preserve_access_index, so every field
 * access is a CO-RE relocation that libbpf resolves against the BTF of the kernel the
 * plugin runs on: only the field names and types below must exist there, never the
 * layout of the build host's kernel. Numeric constants are stable uapi values.
 */
#ifndef TS_KERNEL_TYPES_H
#define TS_KERNEL_TYPES_H

/* Tells bpf_tracing.h to use the kernel's pt_regs field names (di, si, ...). */
#define __VMLINUX_H__

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef __u64 size_t;
typedef _Bool bool;
#define true 1
#define false 0
#define NULL ((void *)0)

/* uapi/linux/bpf.h: only what the map definitions use. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2, /* bench/naive.bpf.c */
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_LPM_TRIE = 11,
	BPF_MAP_TYPE_SK_STORAGE = 24,
};
#define BPF_F_NO_PREALLOC (1U << 0)
#define BPF_F_MMAPABLE (1U << 10)
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_SK_STORAGE_GET_F_CREATE (1ULL << 0)

/* uapi socket constants */
#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1
#define MSG_PEEK 0x2
#define MSG_ERRQUEUE 0x2000

/* include/net/tcp_states.h */
enum {
	TCP_ESTABLISHED = 1,
	TCP_SYN_SENT = 2,
	TCP_SYN_RECV = 3,
	TCP_FIN_WAIT1 = 4,
	TCP_FIN_WAIT2 = 5,
	TCP_TIME_WAIT = 6,
	TCP_CLOSE = 7,
	TCP_CLOSE_WAIT = 8,
	TCP_LAST_ACK = 9,
	TCP_LISTEN = 10,
	TCP_CLOSING = 11,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be16 u6_addr16[8];
		__be32 u6_addr32[4];
	} in6_u;
};

/* A network namespace's inode number (what stat() of /proc/PID/ns/net shows). */
struct ns_common {
	unsigned int inum;
};

struct net {
	struct ns_common ns;
};

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	union {
		struct {
			__be32 skc_daddr;
			__be32 skc_rcv_saddr;
		};
	};
	union {
		struct {
			__be16 skc_dport;
			__u16 skc_num;
		};
	};
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	/* sock's flags moved here (sk_flags is a #define for it) in 6.10 */
	unsigned long skc_flags;
	possible_net_t skc_net;
};

/*
 * sk_type and sk_protocol became plain u16 fields in 5.6 (commit bf9765145b85); older
 * kernels have bitfields, which these direct loads cannot read: 5.6 is a floor of every
 * mode (the project supports 5.10+).
 */
/*
 * Cgroup v2 of the socket's creator: sk_cgrp_data holds a plain cgroup pointer since
 * 5.15 (commit 8520e224f547); before, a tagged u64 that these reads cannot follow, so
 * user space refuses Cgroup options there. The cgroup id is its kernfs node id (u64
 * since 5.5), which is the inode number of the cgroup's directory in cgroupfs.
 */
struct kernfs_node {
	__u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct sock_cgroup_data {
	struct cgroup *cgroup;
};

/* The socket's owner lock: owned is set while a task holds lock_sock(). */
typedef struct {
	int owned;
} socket_lock_t;

/* include/net/sock.h enum sock_flags: set by tcp_fin() when the peer's FIN is taken. */
#define SOCK_DONE 1

struct sock {
	struct sock_common __sk_common;
	socket_lock_t sk_lock;
	struct sock_cgroup_data sk_cgrp_data;
	__u16 sk_type;
	__u16 sk_protocol;
};

/* CO-RE flavour: struct sock before 6.10 kept its flags itself. */
struct sock___pre610 {
	unsigned long sk_flags;
};

struct inet_sock {
	__be16 inet_sport;
};

struct inet_connection_sock {
	struct inet_sock icsk_inet;
};

struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u32 srtt_us; /* smoothed RTT << 3, in us */
	__u32 snd_una; /* first byte we want an ack for */
	__u32 rtt_seq; /* snd_nxt when the RTT estimator last closed a round */
	__u64 bytes_received; /* in-order sequence space received: payload, + 1 for a FIN (4.1+) */
	__u64 bytes_acked; /* sequence space the peer acknowledged: SYN, payload, FIN (4.1+) */
	__u32 write_seq; /* after the last byte queued (and the FIN, once queued) */
	__u32 total_retrans; /* retransmitted segments */
};

/* Socket accounting: the contexts of its iterator programs (include/linux/bpf.h). */
struct bpf_iter_meta {
	void *seq;
	__u64 session_id;
	__u64 seq_num;
};

struct bpf_map;

struct bpf_iter__bpf_sk_storage_map {
	union {
		struct bpf_iter_meta *meta;
	};
	union {
		struct bpf_map *map;
	};
	union {
		struct sock *sk;
	};
	union {
		void *value;
	};
};

struct bpf_iter__tcp {
	union {
		struct bpf_iter_meta *meta;
	};
	union {
		struct sock_common *sk_common;
	};
	__u32 uid;
};

/*
 * The fields the RTT programs read of TCP's per-skb state (include/net/tcp.h), which
 * tcp_v4_rcv()/tcp_v6_rcv() fill in sk_buff.cb before tcp_rcv_established() runs.
 */
struct tcp_skb_cb {
	__u32 seq;
	__u32 end_seq;
	__u8 tcp_flags;
	__u32 ack_seq;
};

/* TCP keeps its per-skb state (struct tcp_skb_cb) in cb[]; see TS_SKB_GSO_SEGS_OFF. */
struct sk_buff {
	char cb[48];
};

struct msghdr;
struct page;

#pragma clang attribute pop

/*
 * x86_64 pt_regs, in the kernel's (uapi-stable) order: kprobe programs read their
 * arguments straight from the context, which is this exact layout.
 */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

#endif /* TS_KERNEL_TYPES_H */
