// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel side of collectd-tcpsubnet: TCP bytes, RTT and health per subnet.
 *
 * Every event (a successful send or receive, a received segment on an established
 * socket, a state change, a retransmission) on a TCP socket of any network namespace is
 * classified by the socket's remote address (and, with LocalSubnet blocks, its local
 * address) with LPM trie lookups into a counter index, and added to per-CPU slots:
 * struct ts_counters and the struct ts_rtt histogram. User space sums the CPUs each read
 * cycle; nothing is ever cleared, so no update can be lost between reads.
 *
 * Three program flavours feed the same counters; user space loads one set:
 *   tracepoint  tp_btf: sock_send_length, sock_recv_length (6.3+), tcp_probe,
 *               inet_sock_set_state, tcp_retransmit_skb
 *   fentry      fexit on tcp_sendmsg, tcp_sendpage (<6.5), tcp_recvmsg; fentry on
 *               tcp_rcv_established; tp_btf for state changes and retransmissions
 *   kprobe      k(ret)probes on the same functions; raw_tp for the two tracepoints
 * Bytes count the functions' return values (bytes moved); failures, EAGAIN, MSG_PEEK
 * and MSG_ERRQUEUE reads count nothing. Port filters run before any map lookup.
 *
 * With Cgroup options the index gains a cgroup dimension: the cgroup v2 id the kernel
 * recorded in the socket when it was created (sk_cgrp_data) is looked up in the
 * cgroup_slots hash that user space refreshes every read cycle; index = cgroup slot x
 * n_per_cgroup + subnet index, slot 0 being cgroup "other".
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "tcpsubnet.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by user space before load; the verifier prunes the branches they turn off. */
const volatile bool count_unmatched = true;
const volatile bool have_local = false;
const volatile __u32 n_remote_ids = 1;
const volatile bool filter_lport = false;
const volatile bool filter_rport = false;
/* Memoise classifications per socket (see struct ts_memo); off for small tries. */
const volatile bool use_memo = false;
const volatile __u64 lport_bits[TS_PORT_WORDS];
const volatile __u64 rport_bits[TS_PORT_WORDS];
/* Cgroup blocks: counter slots per cgroup slot, and whether cgroup "other" counts. */
const volatile bool have_cgroups = false;
const volatile bool count_other_cgroup = true;
const volatile __u32 n_per_cgroup = 1;
/*
 * Bumped by user space after each change of cgroup_slots: a memo classified under an
 * older epoch is classified again, so a socket of a cgroup that appeared (or went)
 * after its memo was made moves to the right slot at its next event.
 */
volatile __u32 cg_epoch;

/* Sizes are set by user space from the configuration before load. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct ts_lpm_key);
	__type(value, __u32);
} subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, struct ts_lpm_key);
	__type(value, __u32);
} local_subnets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ts_counters);
} counters SEC(".maps");

/*
 * RTT histograms, one per CPU and counter slot: key cpu x rtt_slots + slot. A plain
 * array and not a per-CPU one: a per-CPU lookup loads the slot's per-CPU pointer from
 * the map, one more line that is cold when the samples are rare, while an array value
 * is at an offset computed from the key alone. BPF_F_MMAPABLE makes the kernel start
 * the values on a page (array_map_alloc(), 5.5+), so with 896-byte values each of the
 * 64-byte groups of struct ts_rtt is one cache line and no two CPUs share one; user
 * space reads the map through its mapping. A run keeps its CPU (programs run with
 * migration disabled, PREEMPT_RT included), and the atomic adds keep runs that nest on
 * one CPU exact, as they did in the per-CPU map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ts_rtt);
} rtt SEC(".maps");

/* Counter slots per CPU in rtt (user space sets it with the map's size). */
const volatile __u32 rtt_slots = 1;

/* Cgroup id -> cgroup slot (1..), written by user space only; absent: "other". */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, __u32);
} cgroup_slots SEC(".maps");

/*
 * Typed programs (tp_btf, fentry/fexit) only: what the classification of a socket found,
 * kept in the socket itself (socket-local storage, freed with the socket). Every later
 * event of that socket costs one storage lookup and an address comparison instead of LPM
 * trie walks whose depth grows with the number of prefixes.
 * With few prefixes the trie walk is as cheap as the memo (measured: equal at one
 * prefix, 2x apart at 65536), so user space turns it on only for larger tries and
 * small configurations allocate nothing per socket. Only the bytes and RTT programs
 * create memos; state changes and retransmissions use one if it exists.
 * bpf_sk_storage_get() is allowed in tp_btf and fentry/fexit programs since 5.11
 * (commit 8e4597c627fb); user space loads again without the memo when the kernel
 * refuses it. kprobes and raw_tp cannot use it and classify every event.
 *
 * A memo is immutable once published. It is created with its final contents: the
 * kernel copies the initial value passed to bpf_sk_storage_get(..., F_CREATE) into the
 * new element before linking it under the socket's storage lock, and readers find it
 * through RCU, so no CPU can see a partly written memo. A socket connected again
 * elsewhere gets its memo deleted and a new one created; a reader still holding the old
 * one reads a complete old record, whose index is right for the addresses in it, and
 * it only uses the index when those addresses are the ones it read from the socket.
 * (The previous scheme rewrote memos in place: a reader could pair a stale index with
 * addresses another CPU was writing; tests/bpf-reconnect.sh moves sockets between
 * subnets under load to check the classification stays exact.)
 */
struct ts_memo {
	__u32 raddr[4];
	__u32 laddr[4];
	/* TS_MEMO_SKIP (not reported: unmatched subnet or cgroup) or the counter index. */
	__u32 index;
	/* cg_epoch at classification; only compared with Cgroup options. */
	__u32 epoch;
};

#define TS_MEMO_SKIP 0xffffffffU

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ts_memo);
} memo SEC(".maps");

/*
 * Tracepoint mode (tp_send, tp_recv, tp_rtt): the last classifications each CPU made.
 * An event of a socket whose addresses were classified last on its CPU costs a few word
 * compares on a line that is hot while traffic flows, instead of the LPM lookup or the
 * memo lookup (a helper call each, 20-50 ns on the project's machine, and for the RTT
 * program's rare events a cold socket-storage line). Two ways, picked by a hash of the
 * remote address, because one flow's events on a CPU come from both of its ends on
 * loopback: a receiving CPU runs the bytes program for the receiving socket and the RTT
 * program for the ACKs to the sending one. Either way may hold any address (a hash that
 * picks the way made the bench's 198.19.48.1 and .2 share one and evict each other at
 * every RTT sample), and a fill replaces the way the previous fill did not. With
 * LocalSubnet blocks the pair of addresses decides: a way's local address is in the
 * entry's second cache line, which only those configurations touch. The classification is a function of the addresses alone (plus
 * the cgroup: not cached with Cgroup options, which use the memo), and the tries do not
 * change while the programs are attached, so an entry whose addresses match holds the
 * right index whichever socket it came from.
 * Runs on one CPU can nest (a softirq into a task, or a preempted task, under BPF
 * trampolines on preemptible kernels), so the entry is written under a per-CPU
 * sequence count: odd while it is written, changed by every write. A reader uses a way
 * only if the count was even and the same before and after reading it; a writer that
 * finds it odd (it nested into another writer) undoes its increment and writes
 * nothing. Fetching atomic adds, as a nested writer can run between a load and a
 * store: they need 5.12 (BPF_FETCH), which tracepoint mode (6.3+) always has, but not
 * fentry mode (5.5+), whose programs classify every event.
 */
struct ts_cls_cache {
	__u64 seq;
	__u32 index[2];	/* TS_MEMO_SKIP: not counted */
	__u32 next;	/* the way the next fill replaces */
	__u32 pad0;
	__u32 raddr[2][4];
	__u32 pad1[2];
	/* the second line: read and written only with LocalSubnet blocks */
	__u32 laddr[2][4];
	__u32 pad2[8];	/* two cache lines each (see rtt) */
};

/* Keyed by CPU, for the reasons given above rtt. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ts_cls_cache);
} cls_cache SEC(".maps");

/*
 * What the programs could not do, per CPU (enum ts_stat_id in tcpsubnet.h); user space
 * dispatches the sums with the kernel's own count of skipped program runs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TS_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 id)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &id);

	if (v)
		__sync_fetch_and_add(v, 1);
}

/*
 * kprobe mode only: socket and flags from function entry, keyed by thread, taken by the
 * return probe. A thread is inside at most one probed call, so an entry that is still
 * there when its thread enters again belongs to a call whose return probe did not run
 * (kretprobe instances exhausted, or the probe was skipped): it is counted (stash-stale)
 * and replaced, so such leaks never accumulate per live thread. Entries of threads that
 * exit without a return are removed by user space each read cycle (tsbpf.c,
 * stash_sweep), so the map stays bounded by the threads inside the calls; when it is
 * full anyway, the call is counted as stash-full and not measured.
 */
struct kp_args {
	struct sock *sk;
	__s32 flags;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct kp_args);
} kp_stash SEC(".maps");

/* What the classification needs of a socket. Addresses in IPv4-mapped form. */
struct ts_sk {
	__u32 raddr[4];
	__u32 laddr[4];
	__u64 cgid;
};

/*
 * Raw sockets opened with IPPROTO_TCP have sk_protocol TCP too, and sock_send_length/
 * sock_recv_length fire for them (their reads are packet copies, not TCP payload).
 */
static __always_inline bool tcp_stream(__u16 type, __u16 protocol)
{
	return type == SOCK_STREAM && protocol == IPPROTO_TCP;
}

static __always_inline bool port_set(const volatile __u64 *bits, __u16 port)
{
	return bits[port / 64] & (1ULL << (port % 64));
}

static __always_inline bool ports_pass(__u16 lport, __be16 rport_be)
{
	if (filter_lport && !port_set(lport_bits, lport))
		return false;
	if (filter_rport && !port_set(rport_bits, bpf_ntohs(rport_be)))
		return false;
	return true;
}

/*
 * The counter index of an LPM key's address (remote; local from laddr with LocalSubnet
 * blocks), or false when it is not reported. The key is the caller's: built in place,
 * prefixlen set here, nothing zeroed or copied.
 */
static __always_inline bool index_of(struct ts_lpm_key *key, const __u32 *laddr, __u64 cgid,
				     __u32 *index)
{
	__u32 rid = TS_UNMATCHED_ID, lid = TS_UNMATCHED_ID, cslot = 0, *found;

	if (have_cgroups) {
		found = bpf_map_lookup_elem(&cgroup_slots, &cgid);
		if (found)
			cslot = *found;
		else if (!count_other_cgroup)
			return false;
	}

	key->prefixlen = 128;
	found = bpf_map_lookup_elem(&subnets, key);
	if (found)
		rid = *found;
	else if (!count_unmatched)
		return false;
	if (have_local) {
		key->addr[0] = laddr[0];
		key->addr[1] = laddr[1];
		key->addr[2] = laddr[2];
		key->addr[3] = laddr[3];
		found = bpf_map_lookup_elem(&local_subnets, key);
		if (found)
			lid = *found;
	}
	*index = cslot * n_per_cgroup + lid * n_remote_ids + rid;
	return true;
}

/* Typed loads through the socket's cgroup pointer (PTR_TO_BTF_ID, no probe read). */
static __always_inline __u64 cgroup_id_typed(const struct sock *sk)
{
	struct cgroup *cg;

	if (!have_cgroups)
		return 0;
	cg = sk->sk_cgrp_data.cgroup;
	return cg ? cg->kn->id : 0;
}

/*
 * tp_btf and fentry/fexit hand us a typed socket pointer: direct loads are allowed and
 * cost about half of BPF_CORE_READ's probe reads (measured on 6.18). Returns false for
 * sockets that are not counted (other families, filtered ports, unmatched and not
 * reported), before any map lookup for the first two.
 */
/*
 * The addresses a typed socket is classified by (remote into key->addr, local into laddr
 * with LocalSubnet blocks, else zeros), or false for sockets that are not counted (other
 * families, filtered ports), before any map lookup. known_tcp: the hook is TCP's own
 * (tcp_rcv_established()), so the type and protocol (another cache line of struct
 * sock than the addresses and ports) need not be read.
 */
static __always_inline bool addrs_typed(const struct sock *sk, __u16 lport,
					struct ts_lpm_key *key, __u32 *laddr, bool known_tcp)
{
	__u16 family = sk->__sk_common.skc_family;

	if ((!known_tcp && !tcp_stream(sk->sk_type, sk->sk_protocol)) ||
	    (family != AF_INET && family != AF_INET6))
		return false;
	if (!ports_pass(lport, sk->__sk_common.skc_dport))
		return false;
	if (family == AF_INET) {
		key->addr[0] = 0;
		key->addr[1] = 0;
		key->addr[2] = bpf_htonl(0xffff);
		key->addr[3] = sk->__sk_common.skc_daddr;
		if (have_local) {
			laddr[2] = bpf_htonl(0xffff);
			laddr[3] = sk->__sk_common.skc_rcv_saddr;
		}
	} else {
		key->addr[0] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[0];
		key->addr[1] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[1];
		key->addr[2] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[2];
		key->addr[3] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[3];
		if (have_local) {
			laddr[0] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[0];
			laddr[1] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[1];
			laddr[2] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[2];
			laddr[3] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[3];
		}
	}
	return true;
}

/* The classification of addresses read by addrs_typed() (key->addr is clobbered). */
static __always_inline bool classify_addrs(const struct sock *sk, struct ts_lpm_key *k,
					   const __u32 *laddr, __u32 *index, __u64 create)
{
	struct ts_memo *m = NULL, fresh = {};
	__u32 epoch = 0;
	bool counted;

	if (use_memo) {
		/* Read before the classification's lookups: a change after it is seen next time. */
		if (have_cgroups)
			epoch = cg_epoch;
		/* NULL when the socket has none yet or is being destroyed: classify. */
		m = bpf_sk_storage_get(&memo, (struct sock *)sk, NULL, 0);
		if (m && (!have_cgroups || m->epoch == epoch) &&
		    m->raddr[3] == k->addr[3] && m->raddr[2] == k->addr[2] &&
		    m->raddr[1] == k->addr[1] && m->raddr[0] == k->addr[0] &&
		    (!have_local || (m->laddr[0] == laddr[0] && m->laddr[1] == laddr[1] &&
				     m->laddr[2] == laddr[2] && m->laddr[3] == laddr[3]))) {
			*index = m->index;
			return m->index != TS_MEMO_SKIP;
		}
		if (create) {
			fresh.raddr[0] = k->addr[0];
			fresh.raddr[1] = k->addr[1];
			fresh.raddr[2] = k->addr[2];
			fresh.raddr[3] = k->addr[3];
			fresh.laddr[0] = laddr[0];
			fresh.laddr[1] = laddr[1];
			fresh.laddr[2] = laddr[2];
			fresh.laddr[3] = laddr[3];
			fresh.epoch = epoch;
		}
	}
	counted = index_of(k, laddr, cgroup_id_typed(sk), index);
	if (use_memo && create) {
		fresh.index = counted ? *index : TS_MEMO_SKIP;
		/* Connected again elsewhere: replace, never rewrite (see struct ts_memo). */
		if (m)
			bpf_sk_storage_delete(&memo, (struct sock *)sk);
		if (!bpf_sk_storage_get(&memo, (struct sock *)sk, &fresh, create) &&
		    !bpf_sk_storage_get(&memo, (struct sock *)sk, NULL, 0))
			/* Not a race with another creator: memory, or a dying socket. */
			stat_inc(TS_STAT_STORAGE_FAIL);
	}
	return counted;
}

static __always_inline bool classify_typed(const struct sock *sk, __u16 lport, __u32 *index,
					   __u64 create)
{
	struct ts_lpm_key key;
	__u32 laddr[4] = {};

	return addrs_typed(sk, lport, &key, laddr, false) &&
	       classify_addrs(sk, &key, laddr, index, create);
}

static __always_inline bool cls_way_holds(const struct ts_cls_cache *c, __u32 w,
					  const __u32 *raddr, const __u32 *laddr)
{
	return c->raddr[w][3] == raddr[3] && c->raddr[w][2] == raddr[2] &&
	       c->raddr[w][1] == raddr[1] && c->raddr[w][0] == raddr[0] &&
	       (!have_local || (c->laddr[w][3] == laddr[3] && c->laddr[w][2] == laddr[2] &&
				c->laddr[w][1] == laddr[1] && c->laddr[w][0] == laddr[0]));
}

/* classify_typed() through cls_cache (see there); cpu: bpf_get_smp_processor_id(). */
static __always_inline bool classify_cached(const struct sock *sk, __u16 lport, __u32 cpu,
					    __u32 *index, bool known_tcp)
{
	struct ts_lpm_key key;
	__u32 laddr[4] = {}, raddr[4], found = 0, w;
	struct ts_cls_cache *c;
	bool counted, hit;
	__u64 seq;

	if (!addrs_typed(sk, lport, &key, laddr, known_tcp))
		return false;
	c = have_cgroups ? NULL : bpf_map_lookup_elem(&cls_cache, &cpu);
	if (!c)
		return classify_addrs(sk, &key, laddr, index, BPF_SK_STORAGE_GET_F_CREATE);
	seq = c->seq;
	barrier();
	if (!(seq & 1)) {
		if ((hit = cls_way_holds(c, 0, key.addr, laddr)))
			found = c->index[0];
		else if ((hit = cls_way_holds(c, 1, key.addr, laddr)))
			found = c->index[1];
		barrier();
		if (hit && c->seq == seq) {
			*index = found;
			return found != TS_MEMO_SKIP;
		}
	}
	raddr[0] = key.addr[0];
	raddr[1] = key.addr[1];
	raddr[2] = key.addr[2];
	raddr[3] = key.addr[3];
	counted = classify_addrs(sk, &key, laddr, index, BPF_SK_STORAGE_GET_F_CREATE);
	if (__sync_fetch_and_add(&c->seq, 1) & 1) {
		__sync_fetch_and_add(&c->seq, 1);
		return counted;
	}
	w = c->next & 1;
	c->raddr[w][0] = raddr[0];
	c->raddr[w][1] = raddr[1];
	c->raddr[w][2] = raddr[2];
	c->raddr[w][3] = raddr[3];
	if (have_local) {
		c->laddr[w][0] = laddr[0];
		c->laddr[w][1] = laddr[1];
		c->laddr[w][2] = laddr[2];
		c->laddr[w][3] = laddr[3];
	}
	c->index[w] = counted ? *index : TS_MEMO_SKIP;
	c->next = w ^ 1;
	__sync_fetch_and_add(&c->seq, 1);
	return counted;
}

/* kprobes and raw_tp only have an untyped pointer: CO-RE probe reads. */
static __always_inline bool read_untyped_lport(const struct sock *sk, __u16 lport,
					       struct ts_sk *s)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (!tcp_stream(BPF_CORE_READ(sk, sk_type), BPF_CORE_READ(sk, sk_protocol)) ||
	    (family != AF_INET && family != AF_INET6))
		return false;
	if (!ports_pass(lport, BPF_CORE_READ(sk, __sk_common.skc_dport)))
		return false;
	if (family == AF_INET) {
		s->raddr[2] = bpf_htonl(0xffff);
		s->raddr[3] = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		if (have_local) {
			s->laddr[2] = bpf_htonl(0xffff);
			s->laddr[3] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		}
	} else {
		/* Into the local arrays: a pointer destination would copy only 8 bytes. */
		BPF_CORE_READ_INTO(&s->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr32);
		if (have_local)
			BPF_CORE_READ_INTO(&s->laddr, sk,
					   __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32);
	}
	if (have_cgroups)
		s->cgid = BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
	return true;
}

static __always_inline bool read_untyped(const struct sock *sk, struct ts_sk *s)
{
	return read_untyped_lport(sk, BPF_CORE_READ(sk, __sk_common.skc_num), s);
}

/* The counter index of a socket read with probe reads, or false when not reported. */
static __always_inline bool lookup_index(struct ts_sk *s, __u32 *index)
{
	struct ts_lpm_key key;

	key.addr[0] = s->raddr[0];
	key.addr[1] = s->raddr[1];
	key.addr[2] = s->raddr[2];
	key.addr[3] = s->raddr[3];
	return index_of(&key, s->laddr, s->cgid, index);
}

/*
 * Every update of a counter slot is an atomic add, although the slots are per CPU: a
 * plain read-modify-write is not safe on every kernel. BPF trampolines (fentry/fexit)
 * run programs with only migration disabled, so on preemptible kernels (preempt=full,
 * PREEMPT_RT) a program can be preempted between its load and its store while another
 * task on the same CPU runs a different program on the same slot (fexit_sendmsg and
 * fexit_sendpage both add tx bytes), and on every kernel a softirq can interrupt a
 * process-context program and run another one. An atomic add on a per-CPU line costs a
 * few ns (no other CPU holds it). What atomics cannot fix is a program run the kernel
 * skips: those are counted by the kernel and dispatched as lost-events (docs/DESIGN.md,
 * "What is exact where"); tests/qemu-matrix.sh checks both on preemptible kernels.
 */
static __always_inline void add_bytes(__u32 index, __u64 bytes, bool tx)
{
	struct ts_counters *c = bpf_map_lookup_elem(&counters, &index);

	if (!c)
		return;
	if (tx)
		__sync_fetch_and_add(&c->tx_bytes, bytes);
	else
		__sync_fetch_and_add(&c->rx_bytes, bytes);
}

/*
 * cached: tracepoint mode, through cls_cache (not with Cgroup options, where asking for
 * the CPU would be a helper call per event before 6.10 for nothing).
 */
static __always_inline void bytes_typed(const struct sock *sk, __u64 bytes, bool tx,
					bool cached)
{
	__u16 lport = sk->__sk_common.skc_num;
	__u32 index;

	if (cached && !have_cgroups ?
		    classify_cached(sk, lport, bpf_get_smp_processor_id(), &index, false) :
		     classify_typed(sk, lport, &index, BPF_SK_STORAGE_GET_F_CREATE))
		add_bytes(index, bytes, tx);
}

static __always_inline bool counted_read(int ret, int flags)
{
	return ret > 0 && !(flags & (MSG_PEEK | MSG_ERRQUEUE));
}

/*
 * Atomic adds: a preemptible kernel may run another program on this CPU mid-update.
 * cpu is bpf_get_smp_processor_id() (inlined by the verifier on x86-64 since 6.10).
 */
static __always_inline void add_rtt(__u32 cpu, __u32 index, __u32 srtt_us)
{
	__u32 key = cpu * rtt_slots + index;
	struct ts_rtt *h = bpf_map_lookup_elem(&rtt, &key);
	__u64 b = ts_rtt_bucket(srtt_us), l, k;

	l = b / TS_RTT_LINE_BUCKETS;
	k = b - l * TS_RTT_LINE_BUCKETS;
	/*
	 * Never true, but the verifier cannot follow the variable shift and division: 64-bit
	 * bounds it sees on the registers that index (barrier_var keeps clang from checking
	 * zero-extended copies instead).
	 */
	barrier_var(l);
	barrier_var(k);
	if (!h || l >= TS_RTT_LINES || k >= TS_RTT_LINE_BUCKETS)
		return;
	__sync_fetch_and_add(&h->line[l].bucket[k], 1);
	__sync_fetch_and_add(&h->line[l].sum_us, srtt_us);
}

#define TS_TCPHDR_ACK 0x10

/* The control block fields the sampling test needs. */
struct ts_cbv {
	__u32 seq;
	__u32 end_seq;
	__u32 ack_seq;
	__u16 flags;
};

/*
 * One sample per round trip of new data, not per received segment. The hooks run first
 * thing in tcp_rcv_established(), before tcp_ack() measures this segment's RTT and
 * updates srtt; a sample is the srtt as the segment finds it. The kernel's estimator
 * closes a round when an ACK takes snd_una past rtt_seq (the snd_nxt of the previous
 * round's end): tcp_rtt_estimator() then moves rtt_seq on and tells sockops programs
 * (BPF_SOCK_OPS_RTT_CB). Sampling the ACK that does so (it acknowledges new data,
 * ack_seq after snd_una, and reaches past rtt_seq) gives each connection one sample per
 * RTT, whatever its ACK rate: srtt moves by 1/8 of each measurement's difference, so the
 * ACKs of one round would add near copies of one value, and a fast bulk flow would
 * outweigh slower connections. A request/response connection samples once per exchange.
 * A socket that only receives acknowledges nothing new and its srtt stays the
 * handshake's (it moves only when the socket's own data is acknowledged): per-segment
 * sampling, as bcc's tcprtt does, counted that stale value once per received segment.
 * It is sampled once, on its first segment with payload (bytes_received still 0), so its
 * connection counts once with the one RTT it has. No per-socket state is needed, so
 * kprobe mode (which has no socket storage) samples the same way.
 */
static __always_inline bool new_rtt_sample(const struct ts_cbv *cb, const struct tcp_sock *tp,
					   bool typed)
{
/* Typed (tp_btf, fentry) programs load directly, raw_tp ones through probe reads. */
#define TS_RD(p, f) (typed ? (p)->f : BPF_CORE_READ(p, f))
	/*
	 * Each tcp_sock field is in another cache line, which the socket's other end keeps
	 * writing (on loopback, from the other CPU): a field is read only when the test
	 * before it leaves the answer open (barrier() keeps clang from loading it ahead).
	 * rtt_seq first: an ACK within a round (most of them) is refused on that one line,
	 * as is a data segment of a socket that sends nothing (rtt_seq is its snd_una);
	 * bytes_received is in the line the kernel wrote just before (tcp_segs_in()).
	 * Measured on 6.18: the test costs about one cache miss above the floor.
	 */
	if ((cb->flags & TS_TCPHDR_ACK) && (__s32)(cb->ack_seq - TS_RD(tp, rtt_seq)) > 0) {
		barrier();
		if ((__s32)(cb->ack_seq - TS_RD(tp, snd_una)) > 0)
			return true;
	}
	if (cb->end_seq == cb->seq)
		return false;
	barrier();
	return TS_RD(tp, bytes_received) == 0;
#undef TS_RD
}

/*
 * The RTT programs need the tcp_sock of a typed struct sock pointer. The object is built
 * twice (Makefile.am) and user space loads one build: with TS_RDONLY_CAST the cast is
 * the bpf_rdonly_cast kfunc (6.2+, commit fd264ca02094), which the verifier replaces by
 * a register move; without it, the bpf_skc_to_tcp_sock() helper call (5.9+), which on
 * the project's machine (a return thunk per call, spec_rstack_overflow) cost about 30 ns
 * per segment, as much as the rest of the sampling test. One object cannot hold both:
 * libbpf 1.1 resolves every extern of an object, weak or not, and one the kernel lacks
 * sends it searching module BTF, which needs CAP_SYS_ADMIN, so CAP_BPF+CAP_PERFMON
 * loads would fail before 6.2. User space picks the cast build only when the kernel's
 * own BTF has the kfunc, which libbpf then finds there without that search
 * (tests/bpf-lockdown-safe.sh checks which build references which symbol).
 */
#ifdef TS_RDONLY_CAST
extern void *bpf_rdonly_cast(void *obj, __u32 btf_id) __ksym;
#define TS_TCP_SK(sk) \
	((struct tcp_sock *)bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock)))
#else
#define TS_TCP_SK(sk) bpf_skc_to_tcp_sock(sk)
#endif

/*
 * RTT of a typed socket known to be TCP (tcp_rcv_established() is TCP's); 0 (no RTT
 * measured yet) is not a sample: no lookup at all.
 */
static __always_inline void rtt_typed(struct sock *sk, struct sk_buff *skb,
				      struct tcp_sock *tp, bool cached)
{
	const struct tcp_skb_cb *cb = (const struct tcp_skb_cb *)skb->cb;
	struct ts_cbv v;
	__u32 srtt_us, index, cpu;

	if (!tp)
		return;
	v.seq = cb->seq;
	v.end_seq = cb->end_seq;
	v.ack_seq = cb->ack_seq;
	v.flags = cb->tcp_flags;
	if (!new_rtt_sample(&v, tp, true))
		return;
	srtt_us = tp->srtt_us >> 3;
	if (srtt_us == 0)
		return;
	cpu = bpf_get_smp_processor_id();
	if (cached ? classify_cached(sk, sk->__sk_common.skc_num, cpu, &index, true) :
		     classify_typed(sk, sk->__sk_common.skc_num, &index,
				    BPF_SK_STORAGE_GET_F_CREATE))
		add_rtt(cpu, index, srtt_us);
}

/* Which connection counter a state change feeds, if any. */
enum { TS_ST_NONE, TS_ST_ACTIVE, TS_ST_PASSIVE, TS_ST_CLOSED };

static __always_inline int state_kind(int oldstate, int newstate)
{
	if (newstate == TCP_ESTABLISHED) {
		if (oldstate == TCP_SYN_SENT)
			return TS_ST_ACTIVE;
		if (oldstate == TCP_SYN_RECV)
			return TS_ST_PASSIVE;
		return TS_ST_NONE;
	}
	/* Only connections that were established: not failed connects, listeners. */
	if (newstate == TCP_CLOSE && oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV &&
	    oldstate != TCP_LISTEN && oldstate != TCP_CLOSE)
		return TS_ST_CLOSED;
	return TS_ST_NONE;
}

static __always_inline void add_state(__u32 index, int kind)
{
	struct ts_counters *c = bpf_map_lookup_elem(&counters, &index);

	if (!c)
		return;
	if (kind == TS_ST_CLOSED)
		__sync_fetch_and_add(&c->closed, 1);
	else if (kind == TS_ST_ACTIVE)
		__sync_fetch_and_add(&c->opened_active, 1);
	else
		__sync_fetch_and_add(&c->opened_passive, 1);
}

/* struct tcp_skb_cb in skb->cb: seq (4), end_seq (4), then u16 tcp_gso_segs. */
#define TS_SKB_GSO_SEGS_OFF 8

static __always_inline void add_retrans(__u32 index, __u16 segs)
{
	struct ts_counters *c = bpf_map_lookup_elem(&counters, &index);

	if (c)
		__sync_fetch_and_add(&c->retrans_segs, segs ? segs : 1);
}

/* ---- tracepoint mode ---- */

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_send, struct sock *sk, int ret, int flags)
{
	if (ret > 0)
		bytes_typed(sk, ret, true, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_recv, struct sock *sk, int ret, int flags)
{
	if (counted_read(ret, flags))
		bytes_typed(sk, ret, false, true);
	return 0;
}

/*
 * Fired first thing in tcp_rcv_established(): see new_rtt_sample(). Not split by the
 * owner flag as the state programs are: a run for a socket whose owner processes its
 * backlog (process context, bottom halves enabled) can be interrupted by a softirq's
 * segment, whose nested run the kernel skips and counts (measured on 6.18: 2 to 7 in
 * 30 s of 12 loopback iperf3 streams on 2 busy CPUs). That costs one RTT sample, and
 * user space reports such misses apart from the others (ts_health_add_rtt_lost); a
 * second program would cost its kernel entry on every received segment and only
 * narrow the window (the comment above raw_rtt, below).
 */
SEC("tp_btf/tcp_probe")
int BPF_PROG(tp_rtt, struct sock *sk, struct sk_buff *skb)
{
	rtt_typed(sk, skb, TS_TCP_SK(sk), true);
	return 0;
}

/*
 * State changes and retransmissions: tp_btf in tracepoint and fentry modes.
 * On the way to CLOSE the kernel releases the bound port (inet_put_port() zeroes
 * skc_num) before the tracepoint fires, so the local port comes from inet_sport, which
 * stays set.
 */
static __always_inline int state_typed(const struct sock *sk, int oldstate, int newstate)
{
	int kind = state_kind(oldstate, newstate);
	struct tcp_sock *tp;
	__u32 index;

	if (kind == TS_ST_NONE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp && classify_typed(sk, bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport), &index, 0))
		add_state(index, kind);
	return 0;
}

/*
 * The tp_btf guard skips a run nested into a run of the same program on that CPU (a
 * recursion miss), as raw_tp's does: split by the owner flag like raw_state (see the
 * comment above raw_rtt, also for the narrow window the split leaves). A state change
 * is rare next to segments, so the second program costs next to nothing.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return sk->sk_lock.owned ? 0 : state_typed(sk, oldstate, newstate);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tp_state_owned, const struct sock *sk, const int oldstate, const int newstate)
{
	return sk->sk_lock.owned ? state_typed(sk, oldstate, newstate) : 0;
}

/*
 * tp_btf: a direct load from the typed skb. Not a probe read: lockdown=confidentiality
 * refuses bpf_probe_read_kernel, and one refused program fails the whole object, so no
 * program that tracepoint or fentry mode loads may call it (tests/bpf-lockdown-safe.sh
 * checks the object).
 */
static __always_inline __u16 gso_segs_typed(const struct sk_buff *skb)
{
	/* Little-endian u16 (x86-64, the only target built); cb[] is signed char. */
	return (__u8)skb->cb[TS_SKB_GSO_SEGS_OFF] |
	       (__u16)((__u8)skb->cb[TS_SKB_GSO_SEGS_OFF + 1] << 8);
}

/* raw_tp (kprobe mode): an untyped pointer, so a probe read. */
static __always_inline __u16 gso_segs_untyped(const struct sk_buff *skb)
{
	__u16 segs = 0;

	bpf_probe_read_kernel(&segs, sizeof(segs), &skb->cb[TS_SKB_GSO_SEGS_OFF]);
	return segs;
}

/* Until 6.x the tracepoint fires only for successful retransmissions. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tp_retrans, const struct sock *sk, const struct sk_buff *skb)
{
	__u32 index;

	if (classify_typed(sk, sk->__sk_common.skc_num, &index, 0))
		add_retrans(index, gso_segs_typed(skb));
	return 0;
}

/* Newer kernels pass the transmit result and fire for failures too: count err == 0. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tp_retrans_err, const struct sock *sk, const struct sk_buff *skb, int err)
{
	__u32 index;

	if (err == 0 && classify_typed(sk, sk->__sk_common.skc_num, &index, 0))
		add_retrans(index, gso_segs_typed(skb));
	return 0;
}

/* ---- fentry mode ---- */

SEC("fexit/tcp_sendmsg")
int BPF_PROG(fexit_sendmsg, struct sock *sk, struct msghdr *msg, size_t size, int ret)
{
	if (ret > 0)
		bytes_typed(sk, ret, true, false);
	return 0;
}

/* sendfile()/splice reach TCP through tcp_sendpage() until 6.5 (MSG_SPLICE_PAGES). */
SEC("fexit/tcp_sendpage")
int BPF_PROG(fexit_sendpage, struct sock *sk, struct page *page, int offset, size_t size,
	     int flags, int ret)
{
	if (ret > 0)
		bytes_typed(sk, ret, true, false);
	return 0;
}

SEC("fexit/tcp_recvmsg")
int BPF_PROG(fexit_recvmsg, struct sock *sk, struct msghdr *msg, size_t len, int flags,
	     int *addr_len, int ret)
{
	if (counted_read(ret, flags))
		bytes_typed(sk, ret, false, false);
	return 0;
}

/* tcp_recvmsg() had a "nonblock" argument before flags until 5.19 (ec095263a965). */
SEC("fexit/tcp_recvmsg")
int BPF_PROG(fexit_recvmsg_nb, struct sock *sk, struct msghdr *msg, size_t len,
	     int nonblock, int flags, int *addr_len, int ret)
{
	if (counted_read(ret, flags))
		bytes_typed(sk, ret, false, false);
	return 0;
}

SEC("fentry/tcp_rcv_established")
int BPF_PROG(fentry_rtt, struct sock *sk, struct sk_buff *skb)
{
	rtt_typed(sk, skb, TS_TCP_SK(sk), false);
	return 0;
}

/* ---- kprobe mode: entry stashes the socket, return counts ---- */

static __always_inline void kp_save(struct sock *sk, int flags)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct kp_args a = { .sk = sk, .flags = flags };

	if (bpf_map_lookup_elem(&kp_stash, &tid))
		stat_inc(TS_STAT_STASH_STALE);
	if (bpf_map_update_elem(&kp_stash, &tid, &a, BPF_ANY) != 0)
		stat_inc(TS_STAT_STASH_FULL);
}

static __always_inline void kp_finish(long ret, bool tx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct kp_args *a = bpf_map_lookup_elem(&kp_stash, &tid);
	struct ts_sk s = {};
	__u32 index;

	if (!a)
		return;
	if ((tx ? ret > 0 : counted_read(ret, a->flags)) && read_untyped(a->sk, &s) &&
	    lookup_index(&s, &index))
		add_bytes(index, ret, tx);
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
int BPF_KPROBE(kp_recvmsg_nb, struct sock *sk, struct msghdr *msg, size_t len,
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

/*
 * RTT in kprobe mode: the tcp_probe tracepoint (first thing in tcp_rcv_established(),
 * like the other modes), as a raw tracepoint rather than a kprobe. A kprobe that fires
 * in a softirq while one of our kprobe handlers runs on that CPU is missed by the
 * kernel (counted in kprobe_profile, so lost-events went above 0 under load on 6.1
 * preempt=full); raw tracepoints only guard against the same program nesting. The same
 * sampling test as rtt_typed(), with probe reads: nothing per socket to keep.
 *
 * That guard still bites: tcp_rcv_established() and state changes run in softirq and,
 * for a socket a task holds with lock_sock(), in that task's process context (the
 * backlog at release_sock(), connect(), close()) with bottom halves enabled, so a
 * softirq can interrupt a run of the program and the kernel skips the nested run (a
 * recursion miss: RTT samples lost, 4 in a 16-process stress on 6.1 preempt=full). So
 * each hook has two programs, split by the socket's owner flag (sk_lock.owned): the
 * *_owned one takes the events of owned sockets, which only their owner's process
 * context sees (a softirq hands an owned socket's packets to the backlog, and timers
 * and error handlers leave owned sockets alone); the other takes the rest, in softirq
 * or with bottom halves disabled, where nothing can interrupt it with another event.
 * A run of the *_owned program that the kernel skips is a softirq's event, which its
 * partner took (tsbpf.c leaves those recursion misses out of lost-events). The split
 * narrows the window but does not close it: the tracepoint enters both programs for
 * every event, so the other program also runs, briefly, for an owned socket's event in
 * process context (from the kernel's recursion check to its return on the owner flag),
 * and a softirq that interrupts that brief run has its own event skipped. Those misses
 * stay in lost-events (measured: raw_rtt 2 in the 16-process stress on 6.1
 * preempt=full, tests/qemu-guest.sh, where the unsplit program missed 4 and more); no
 * arrangement of programs on one tracepoint avoids them, as any flag a program could
 * set for its partner leaves the kernel's own entry and exit uncovered. The flag is a
 * field of the socket, read like the others: no per-CPU symbols (whose weak ksyms made
 * libbpf look through module BTF, which needs CAP_SYS_ADMIN).
 */
static __always_inline bool owned_by_task(const struct sock *sk)
{
	return BPF_CORE_READ(sk, sk_lock.owned) != 0;
}

static __always_inline int rtt_untyped(struct sock *sk, struct sk_buff *skb)
{
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct ts_sk s = {};
	struct ts_cbv v;
	__u32 srtt_us, index;
	/* The control block's head in one probe read, not one per field (4 helper calls). */
	__u8 c[24];

	if (bpf_probe_read_kernel(c, sizeof(c), skb->cb))
		return 0;
	v.seq = *(__u32 *)&c[bpf_core_field_offset(struct tcp_skb_cb, seq)];
	v.end_seq = *(__u32 *)&c[bpf_core_field_offset(struct tcp_skb_cb, end_seq)];
	v.ack_seq = *(__u32 *)&c[bpf_core_field_offset(struct tcp_skb_cb, ack_seq)];
	/* Its low byte (little-endian), where the ACK flag is: 8 bits before 6.18, 16 after. */
	v.flags = c[bpf_core_field_offset(struct tcp_skb_cb, tcp_flags)];
	if (!new_rtt_sample(&v, tp, false))
		return 0;
	srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	if (srtt_us != 0 && read_untyped(sk, &s) && lookup_index(&s, &index))
		add_rtt(bpf_get_smp_processor_id(), index, srtt_us);
	return 0;
}

SEC("raw_tp/tcp_probe")
int BPF_PROG(raw_rtt, struct sock *sk, struct sk_buff *skb)
{
	return owned_by_task(sk) ? 0 : rtt_untyped(sk, skb);
}

SEC("raw_tp/tcp_probe")
int BPF_PROG(raw_rtt_owned, struct sock *sk, struct sk_buff *skb)
{
	return owned_by_task(sk) ? rtt_untyped(sk, skb) : 0;
}

/* Kernels without trampolines may lack tp_btf too: raw tracepoints, untyped. */
static __always_inline int state_untyped(const struct sock *sk, const int oldstate,
					 const int newstate)
{
	int kind = state_kind(oldstate, newstate);
	struct ts_sk s = {};
	__u32 index;

	if (kind != TS_ST_NONE && BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP &&
	    read_untyped_lport(sk, bpf_ntohs(BPF_CORE_READ((struct tcp_sock *)sk,
							  inet_conn.icsk_inet.inet_sport)), &s) &&
	    lookup_index(&s, &index))
		add_state(index, kind);
	return 0;
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_state, const struct sock *sk, const int oldstate, const int newstate)
{
	return owned_by_task(sk) ? 0 : state_untyped(sk, oldstate, newstate);
}

SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(raw_state_owned, const struct sock *sk, const int oldstate, const int newstate)
{
	return owned_by_task(sk) ? state_untyped(sk, oldstate, newstate) : 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(raw_retrans, const struct sock *sk, const struct sk_buff *skb)
{
	struct ts_sk s = {};
	__u32 index;

	if (read_untyped(sk, &s) && lookup_index(&s, &index))
		add_retrans(index, gso_segs_untyped(skb));
	return 0;
}

SEC("raw_tp/tcp_retransmit_skb")
int BPF_PROG(raw_retrans_err, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct ts_sk s = {};
	__u32 index;

	if (err == 0 && read_untyped(sk, &s) && lookup_index(&s, &index))
		add_retrans(index, gso_segs_untyped(skb));
	return 0;
}

/*
 * ---- socket accounting (Accounting "socket") ----
 *
 * No program per segment, send or receive: the kernel's own totals of each TCP socket
 * (bytes_acked, bytes_received, total_retrans, srtt_us) are read on the connection's
 * state changes and once per read cycle, and their deltas added to the same counters.
 * Each counted connection carries a struct ts_acct in socket storage: its counter index
 * (classified once, when it becomes established) and the totals accounted so far.
 *   acct_state  tp_btf/inet_sock_set_state (every attach mode: tp_btf needs BTF, not
 *               trampolines; raw_tp cannot use socket storage): ESTABLISHED creates the
 *               account with the totals of that moment as baseline, CLOSE adds the final
 *               deltas, one RTT sample, and deletes it
 *   acct_walk   iter/bpf_sk_storage_map, run by user space each read cycle: every socket
 *               with an account, in every network namespace, adds its deltas and one
 *               RTT sample
 *   acct_visit_tcp iter/tcp, run by user space once per network namespace at start
 *               (an iterator walks the namespace of the thread that creates it):
 *               connections established before the plugin get an account whose
 *               baseline is that moment; on kernels that refuse acct_walk it is also
 *               the read cycle's walk
 * The walk runs concurrently with the close program of the same socket (another CPU,
 * or the same one: iterator programs run with only migration disabled), and reads the
 * socket without its lock; docs/DESIGN.md ("Socket accounting") argues why every byte
 * is counted once: each accounted total moves only by compare-and-swap from the value
 * its delta was computed against, and the close marks it final (TS_ACCT_FINAL) so no
 * walk can move it afterwards.
 */
const volatile bool acct_conns = true;
const volatile bool acct_retrans = true;
const volatile bool acct_rtt = true;

#define TS_ACCT_FINAL (1ULL << 63)

struct ts_acct {
	__u64 rx;	/* bytes_received accounted, FIN excluded (| TS_ACCT_FINAL once closed) */
	__u64 tx;	/* bytes_acked accounted, SYN and FIN excluded */
	__u64 retrans;	/* total_retrans accounted */
	__u32 index;	/* counter index, TS_MEMO_SKIP: not reported */
	__u32 epoch;	/* cg_epoch of the classification (Cgroup options) */
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct ts_acct);
} acct SEC(".maps");

/*
 * Only where the kernel refuses acct_walk (user space sets acct_track_ns): the network
 * namespaces (inode numbers) in which accounts were created, so that the read cycle's
 * per-namespace walk enters only those. User space removes namespaces that are gone.
 */
const volatile bool acct_track_ns = false;
volatile bool acct_ns_full;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8);
} acct_ns SEC(".maps");

/* Our FIN is in the sequence space the peer acknowledges (tcp_close_state() sent it). */
static __always_inline bool fin_queued(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_CLOSING ||
	       state == TCP_LAST_ACK || state == TCP_TIME_WAIT;
}

/* The peer's FIN has been taken (tcp_fin()). */
static __always_inline bool fin_received(const struct sock *sk)
{
	if (bpf_core_field_exists(sk->__sk_common.skc_flags))
		return sk->__sk_common.skc_flags & (1UL << SOCK_DONE);
	return ((const struct sock___pre610 *)sk)->sk_flags & (1UL << SOCK_DONE);
}

/*
 * Payload totals of a socket: bytes_acked counts the SYN (acknowledged before the
 * socket is established, so it is in every baseline) and our FIN once acknowledged;
 * bytes_received counts the peer's FIN. state: the socket's state (the state it leaves,
 * for a close). The loads are ordered so that, read without the socket lock, a FIN
 * that is being processed can make a total one too high, never too low: SOCK_DONE is
 * set after the FIN moved bytes_received, and snd_una after bytes_acked (x86-64 keeps
 * loads in order; the object is built for x86-64 only). Under the socket's lock (the
 * state program) the totals are exact.
 */
static __always_inline void sock_totals(const struct sock *sk, const struct tcp_sock *tp,
					int state, __u64 *rx, __u64 *tx, __u64 *retrans)
{
	bool fin_in = fin_received(sk);
	__u32 wseq, una;

	barrier();
	*rx = tp->bytes_received - fin_in;
	wseq = tp->write_seq;
	barrier();
	una = tp->snd_una;
	barrier();
	*tx = tp->bytes_acked - (fin_queued(state) && una == wseq);
	*retrans = tp->total_retrans;
}

static __always_inline void acct_add(__u32 index, __u64 rx, __u64 tx, __u64 retrans)
{
	struct ts_counters *c = bpf_map_lookup_elem(&counters, &index);

	if (!c)
		return;
	if (rx)
		__sync_fetch_and_add(&c->rx_bytes, rx);
	if (tx)
		__sync_fetch_and_add(&c->tx_bytes, tx);
	if (retrans)
		__sync_fetch_and_add(&c->retrans_segs, retrans);
}

/*
 * The walk's step for one total: from old (read before the socket) to cur, only
 * forward; a lost compare-and-swap means the close (or nothing else: one walk runs at a
 * time) moved it, and the delta is the close's.
 */
static __always_inline __u64 walk_take(__u64 *last, __u64 old, __u64 cur)
{
	if ((old & TS_ACCT_FINAL) || (__s64)(cur - old) <= 0)
		return 0;
	return __sync_val_compare_and_swap(last, old, cur) == old ? cur - old : 0;
}

/*
 * The close's step: to the exact final total, marked final. It may go back by one: a
 * walk that raced a FIN counted it as a byte. A walk competes at most once per cycle,
 * so two tries cannot both lose to it; a third loss is counted, not retried forever.
 */
static __always_inline __u64 close_take(__u64 *last, __u64 cur, bool *failed)
{
	for (int i = 0; i < 3; i++) {
		__u64 old = *(volatile __u64 *)last;
		__s64 d = (__s64)(cur - old);

		if (old & TS_ACCT_FINAL)
			return 0;
		if (__sync_val_compare_and_swap(last, old, cur | TS_ACCT_FINAL) == old)
			return d >= -1 ? (__u64)d : 0;
	}
	*failed = true;
	return 0;
}

static __always_inline void acct_rtt_sample(__u32 index, const struct tcp_sock *tp)
{
	__u32 srtt_us = tp->srtt_us >> 3;

	if (acct_rtt && srtt_us != 0)
		add_rtt(bpf_get_smp_processor_id(), index, srtt_us);
}

/*
 * The account's counter index. With Cgroup options the cgroup slots change at run time
 * (CgroupEach): after user space bumped cg_epoch the socket is classified again, as the
 * memo of syscall mode is, so its later deltas go to its cgroup's current slot. A
 * concurrent walk and close may both store the same new index: plain u32 stores.
 */
static __always_inline __u32 acct_index(const struct sock *sk, struct ts_acct *a, __u16 lport)
{
	__u32 index, epoch;

	if (!have_cgroups)
		return a->index;
	epoch = cg_epoch;
	if (a->epoch == epoch)
		return a->index;
	if (!classify_typed(sk, lport, &index, 0))
		index = TS_MEMO_SKIP;
	a->index = index;
	a->epoch = epoch;
	return index;
}

/*
 * A new account, its baseline the socket's totals now. index TS_MEMO_SKIP: not reported
 * now (only kept with Cgroup options, whose classification can change).
 */
static __always_inline void acct_open(struct sock *sk, const struct tcp_sock *tp, int state,
				      __u32 index, __u32 epoch, bool replace)
{
	struct ts_acct init = {};

	sock_totals(sk, tp, state, &init.rx, &init.tx, &init.retrans);
	init.index = index;
	init.epoch = epoch;
	/* Connected again after a close whose program did not run: a fresh account. */
	if (replace)
		bpf_sk_storage_delete(&acct, sk);
	if (!bpf_sk_storage_get(&acct, sk, &init, BPF_SK_STORAGE_GET_F_CREATE)) {
		stat_inc(TS_STAT_STORAGE_FAIL);
		return;
	}
	if (acct_track_ns) {
		__u32 inum = sk->__sk_common.skc_net.net->ns.inum;
		__u8 one = 1;

		/* Full (more namespaces than its size): the walk then enters every one. */
		if (bpf_map_update_elem(&acct_ns, &inum, &one, BPF_ANY) != 0)
			acct_ns_full = true;
	}
}

/*
 * On the way to CLOSE the kernel has released the bound port (skc_num is 0): the local
 * port comes from inet_sport, as in tp_state.
 */
static __always_inline int acct_state_typed(struct sock *sk, int oldstate, int newstate)
{
	int kind = state_kind(oldstate, newstate);
	struct tcp_sock *tp;
	struct ts_acct *a;
	__u32 index, epoch;
	bool failed = false, counted;
	__u64 rx, tx, rt;
	__u16 lport;

	if (kind == TS_ST_NONE || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	if (!tp)
		return 0;
	lport = bpf_ntohs(tp->inet_conn.icsk_inet.inet_sport);
	if (kind != TS_ST_CLOSED) {
		/* Read before the classification: a change after it is seen next time. */
		epoch = have_cgroups ? cg_epoch : 0;
		counted = classify_typed(sk, lport, &index, 0);
		if (counted || have_cgroups)
			acct_open(sk, tp, newstate, counted ? index : TS_MEMO_SKIP, epoch, true);
		if (counted && acct_conns)
			add_state(index, kind);
		return 0;
	}
	a = bpf_sk_storage_get(&acct, sk, NULL, 0);
	if (!a) {
		/* Not accounted (open before the plugin, not adopted): still a close. */
		if (acct_conns && classify_typed(sk, lport, &index, 0))
			add_state(index, kind);
		return 0;
	}
	index = acct_index(sk, a, lport);
	sock_totals(sk, tp, oldstate, &rx, &tx, &rt);
	rx = close_take(&a->rx, rx, &failed);
	tx = close_take(&a->tx, tx, &failed);
	rt = close_take(&a->retrans, rt, &failed);
	acct_add(index, rx, tx, acct_retrans ? rt : 0);
	acct_rtt_sample(index, tp);
	if (acct_conns && index != TS_MEMO_SKIP)
		add_state(index, kind);
	if (failed)
		stat_inc(TS_STAT_STORAGE_FAIL);
	bpf_sk_storage_delete(&acct, sk);
	return 0;
}

/*
 * Split by the owner flag like tp_state: a skipped ESTABLISHED would leave a connection
 * without an account, a skipped CLOSE its last deltas uncounted.
 */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(acct_state, struct sock *sk, const int oldstate, const int newstate)
{
	return sk->sk_lock.owned ? 0 : acct_state_typed(sk, oldstate, newstate);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(acct_state_owned, struct sock *sk, const int oldstate, const int newstate)
{
	return sk->sk_lock.owned ? acct_state_typed(sk, oldstate, newstate) : 0;
}

/* One socket's step of the read cycle's walk (see the race notes above). */
static __always_inline void walk_one(struct sock *sk, struct tcp_sock *tp, struct ts_acct *a)
{
	__u64 o_rx, o_tx, o_rt, rx, tx, rt;
	__u32 index;
	int state;

	o_rx = *(volatile __u64 *)&a->rx;
	o_tx = *(volatile __u64 *)&a->tx;
	o_rt = *(volatile __u64 *)&a->retrans;
	barrier();
	state = sk->__sk_common.skc_state;
	barrier();
	sock_totals(sk, tp, state, &rx, &tx, &rt);
	barrier();
	/*
	 * Closed meanwhile: the close accounts it. Read after the totals, because
	 * tcp_disconnect() zeroes them after the socket entered TCP_CLOSE.
	 */
	if (state == TCP_CLOSE || sk->__sk_common.skc_state == TCP_CLOSE)
		return;
	index = acct_index(sk, a, sk->__sk_common.skc_num);
	acct_add(index, walk_take(&a->rx, o_rx, rx), walk_take(&a->tx, o_tx, tx),
		 acct_retrans ? walk_take(&a->retrans, o_rt, rt) : 0);
	acct_rtt_sample(index, tp);
}

SEC("iter/bpf_sk_storage_map")
int acct_walk(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct sock *sk = ctx->sk;
	struct tcp_sock *tp;
	struct ts_acct *a;

	if (!sk)
		return 0;
	tp = bpf_skc_to_tcp_sock(sk);
	/* A map value pointer (atomics are allowed on it); NULL once the close deleted it. */
	a = tp ? bpf_sk_storage_get(&acct, sk, NULL, 0) : NULL;
	if (a)
		walk_one(sk, tp, a);
	return 0;
}

/*
 * Set by user space while the visit programs run once at start: sockets without an
 * account get one (connections that were open before the plugin, counted from now).
 */
volatile bool acct_adopting;

/*
 * A socket the visit programs found: its walk step, or its adoption. Through the
 * tcp_sock pointer (a sock_common one is not a socket to the storage helpers).
 */
static __always_inline void visit(void *skc)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	struct sock *sk = (struct sock *)tp;
	struct ts_acct *a;
	__u32 index, epoch;
	bool counted;
	int state;

	if (!tp)
		return;
	a = bpf_sk_storage_get(&acct, sk, NULL, 0);
	if (a) {
		walk_one(sk, tp, a);
		return;
	}
	if (!acct_adopting)
		return;
	state = sk->__sk_common.skc_state;
	if (state != TCP_ESTABLISHED && state != TCP_FIN_WAIT1 && state != TCP_FIN_WAIT2 &&
	    state != TCP_CLOSE_WAIT && state != TCP_CLOSING && state != TCP_LAST_ACK)
		return;
	epoch = have_cgroups ? cg_epoch : 0;
	counted = classify_typed(sk, sk->__sk_common.skc_num, &index, 0);
	if (counted || have_cgroups)
		acct_open(sk, tp, state, counted ? index : TS_MEMO_SKIP, epoch, false);
}

/* The sockets of one network namespace (the creating thread's), also orphaned ones. */
SEC("iter/tcp")
int acct_visit_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;

	if (skc)
		visit(skc);
	return 0;
}
