// SPDX-License-Identifier: GPL-2.0-only
/*
 * Benchmark reference only (bench/run), never shipped: the floor. One program per hook
 * the plugin uses in tracepoint mode, each returning at once, so its run time is what
 * the kernel charges for entering any BPF program there (trampoline, context setup and
 * the run-time statistics themselves). The plugin's cost minus this is its own work.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_send)
{
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_recv)
{
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(floor_rtt)
{
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_state)
{
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(floor_retrans)
{
	return 0;
}
