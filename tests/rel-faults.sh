#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Kernel-side faults against a real collectd daemon. Each fault must give exactly one
# error line from the plugin, the plugin must disable itself (no values, no BPF file
# descriptors left in collectd), and collectd must keep running its other plugins and
# stop normally. Faults: forced attach modes that cannot work on this kernel, an
# unprivileged user, capabilities dropped with capsh, kernel BTF hidden or the
# KernelBTF override pointing at a missing file, a failing subnet-map fill (preloaded
# shim, tests/ts-fault.c). Read-side faults must not lose counts: counter reads that
# fail for a while, and batch reads that never work, still end in exact totals.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
ts_require_bpf
ts_tmpdir
rel_plugins
[ -f "$TS_FAULT_LIB" ] || { rel_fail "fault library not built: $TS_FAULT_LIB"; exit 1; }

cat >"$TS_TMP/good" <<'CONF'
<Subnet "srv">
  Prefix "198.19.138.0/24"
  Prefix "2001:db8:8138::/48"
</Subnet>
<Subnet "cli">
  Prefix "198.19.139.0/24"
  Prefix "2001:db8:8139::/48"
</Subnet>
CONF
n_case=0

# fault WHAT BLOCK-FILE WANT [WRAPPER...]: one daemon; WANT is the exact error line, or
# "~REGEX" (grep -x) where the text depends on the kernel.
fault() {
	local what=$1 block=$2 want=$3 d running=no bpf=? rows got n
	shift 3
	n_case=$((n_case + 1))
	d=$TS_TMP/fault$n_case
	rel_conf "$d" "$block" 0.1
	rel_start "$d" "$@"
	if rel_wait_rows "$d/csv/tstest/load/load-*" 3 15 && rel_pid "$d"; then
		running=yes
		bpf=$(rel_bpf_fds "$REL_PID")
	fi
	rel_stop "$d"
	rows=$(rel_rows "$d/csv/tstest/load/load-*")
	rel_errors "$d" >"$d/errors"
	n=$(wc -l <"$d/errors")
	got=$(cat "$d/errors")
	case $want in
	"~"*) echo "$got" | grep -qx -- "${want#\~}" || got="(does not match) $got" ;;
	*) [ "$got" = "$want" ] || got="(differs from '$want') $got" ;;
	esac
	if [ "$n" != 1 ]; then
		rel_fail "$what: want one error line, got $n: $(cat "$d/errors")"
	elif [ "${got#(}" != "$got" ]; then
		rel_fail "$what: $got"
	elif [ "$running" != yes ]; then
		rel_fail "$what: collectd did not keep running: $(cat "$d/stdout" "$d/collectd.log")"
	elif [ "$bpf" != 0 ]; then
		rel_fail "$what: the disabled plugin left $bpf BPF file descriptors in collectd"
	elif [ "$REL_DIED" = yes ]; then
		rel_fail "$what: collectd did not stop normally (status $REL_RC)"
	elif ls "$d/csv/tstest" | grep -q tcpsubnet; then
		rel_fail "$what: the plugin dispatched values although init failed"
	else
		rel_pass "$what: $got | collectd kept running ($rows load rows), 0 BPF fds left, stopped normally"
	fi
}

# works WHAT BLOCK-FILE [WRAPPER...]: the same setup must count normally.
works() {
	local what=$1 block=$2 d
	shift 2
	n_case=$((n_case + 1))
	d=$TS_TMP/works$n_case
	rel_conf "$d" "$block" 0.1
	rel_start "$d" "$@"
	if rel_wait_rows "$d/csv/tstest/tcpsubnet-srv/if_octets-*" 2 15; then
		rel_stop "$d"
		rel_pass "$what: works: $(grep -m1 -o 'tcpsubnet plugin: attach mode .*' "$d/collectd.log")"
	else
		rel_stop "$d"
		rel_fail "$what: no values: $(cat "$d/stdout" "$d/collectd.log")"
	fi
}

# ---- forced attach modes: each works, or is one of the faults ----
impossible=""
for mode in fentry kprobe tracepoint; do
	{ cat "$TS_TMP/good"; echo "AttachMode \"$mode\""; } >"$TS_TMP/mode.$mode"
	d=$TS_TMP/probe.$mode
	mkdir -p "$d"
	if "$TS_PROBE" "$TS_TMP/mode.$mode" >/dev/null 2>"$d/err"; then
		works "AttachMode \"$mode\"" "$TS_TMP/mode.$mode"
	else
		impossible="$impossible $mode"
		fault "AttachMode \"$mode\" impossible on $(uname -r)" "$TS_TMP/mode.$mode" \
			"~tcpsubnet plugin: AttachMode \"$mode\" does not work on this kernel: .*; use AttachMode \"auto\""
	fi
done
if [ -z "$impossible" ]; then
	# Every method works on this kernel: take one away by handing the plugin a BTF
	# without the sock_*_length tracepoints (the BPF object's own BTF).
	{ cat "$TS_TMP/mode.tracepoint"; echo "KernelBTF \"$top_builddir/bpf/tcpsubnet.bpf.o\""; } \
		>"$TS_TMP/mode.synthetic"
	fault "AttachMode \"tracepoint\" with a BTF that lacks the tracepoints" "$TS_TMP/mode.synthetic" \
		"tcpsubnet plugin: AttachMode \"tracepoint\" does not work on this kernel: the kernel has no sock_send_length/sock_recv_length tracepoints (they came with 6.3); use AttachMode \"auto\""
fi

# ---- the kernel refuses the kfunc build of the RTT program ----
# The kernel's BTF has bpf_rdonly_cast but a call of it is refused (kfunc calls need the
# JIT, for one): the plugin loads the build that calls the helper, says so in one info
# line, and runs. Only where the kfunc build is what the plugin loads first.
if bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -q "FUNC 'bpf_rdonly_cast'" &&
	! echo "$impossible" | grep -q tracepoint; then
	works "the kernel refuses tp_rtt's kfunc build" "$TS_TMP/mode.tracepoint" \
		env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_KFUNC_REFUSE=tp_rtt
	d=$TS_TMP/works$n_case
	if grep -q "tcpsubnet plugin: the kernel refused the RTT program's bpf_rdonly_cast build (Invalid argument); loaded the build that calls bpf_skc_to_tcp_sock() instead" "$d/collectd.log" &&
		grep -q "tcpsubnet plugin: RTT program: the socket's tcp_sock through the bpf_skc_to_tcp_sock() helper" "$d/collectd.log"; then
		rel_pass "the kfunc build refused: the helper build loaded, said so"
	else
		rel_fail "the kfunc build refused: no fallback in the log: $(grep 'tcpsubnet plugin' "$d/collectd.log" | head -5)"
	fi
else
	echo "not checked: the kernel's BTF has no bpf_rdonly_cast or tracepoint mode is impossible: no kfunc build to refuse"
fi

# ---- privileges ----
command -v setpriv >/dev/null || ts_skip "setpriv (util-linux) is not installed"
command -v capsh >/dev/null || ts_skip "capsh (libcap2-bin) is not installed"
fault "unprivileged user (nobody)" "$TS_TMP/good" \
	"tcpsubnet plugin: missing capability CAP_BPF and CAP_PERFMON: run collectd as root or grant it CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)" \
	setpriv --reuid=65534 --regid=65534 --clear-groups
# capsh --drop takes capabilities out of the bounding set: root's collectd then starts
# without them. CAP_SYS_ADMIN alone still grants BPF, so dropping CAP_BPF alone works.
works "capsh --drop=cap_bpf (CAP_SYS_ADMIN still allows BPF)" "$TS_TMP/good" \
	capsh --drop=cap_bpf -- -c 'exec "$@"' capsh
fault "capsh --drop=cap_bpf,cap_sys_admin" "$TS_TMP/good" \
	"tcpsubnet plugin: missing capability CAP_BPF: run collectd as root or grant it CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)" \
	capsh --drop=cap_bpf,cap_sys_admin -- -c 'exec "$@"' capsh
fault "capsh --drop=cap_perfmon,cap_sys_admin" "$TS_TMP/good" \
	"tcpsubnet plugin: missing capability CAP_PERFMON: run collectd as root or grant it CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)" \
	capsh --drop=cap_perfmon,cap_sys_admin -- -c 'exec "$@"' capsh

# ---- kernel BTF ----
# A private mount namespace hides /sys/kernel/btf from collectd alone: a kernel
# without CONFIG_DEBUG_INFO_BTF, as far as the plugin can tell.
hide_btf="unshare -m sh -c"
fault "kernel BTF missing (/sys/kernel/btf hidden)" "$TS_TMP/good" \
	"tcpsubnet plugin: kernel BTF is missing: cannot read /sys/kernel/btf/vmlinux (No such file or directory); the kernel needs CONFIG_DEBUG_INFO_BTF=y, or set KernelBTF to a BTF file for this kernel" \
	$hide_btf 'mount -t tmpfs none /sys/kernel/btf && exec "$0" "$@"'
{ cat "$TS_TMP/good"; echo 'KernelBTF "/nonexistent/vmlinux"'; } >"$TS_TMP/btf.missing"
fault "KernelBTF override names a missing file" "$TS_TMP/btf.missing" \
	"tcpsubnet plugin: KernelBTF \"/nonexistent/vmlinux\" is not usable (No such file or directory); point it at the BTF of the running kernel, or remove it to use /sys/kernel/btf/vmlinux"
# The documented override with the real BTF while /sys/kernel/btf is hidden: libbpf
# uses the file for CO-RE, but tp_btf and fentry programs need the kernel's own BTF to
# find their attach points, so only kprobe mode can work this way.
cp /sys/kernel/btf/vmlinux "$TS_TMP/vmlinux.btf"
{ cat "$TS_TMP/good"; echo "KernelBTF \"$TS_TMP/vmlinux.btf\""; } >"$TS_TMP/btf.copy"
if echo "$impossible" | grep -q kprobe; then
	fault "KernelBTF override while /sys/kernel/btf is hidden" "$TS_TMP/btf.copy" \
		"~tcpsubnet plugin: no attach method works on this kernel: .*the kernel exposes no BTF of its own at /sys/kernel/btf/vmlinux, and its tracepoint and fentry programs attach through that (KernelBTF serves only AttachMode \"kprobe\").*" \
		$hide_btf 'mount -t tmpfs none /sys/kernel/btf && exec "$0" "$@"'
else
	works "KernelBTF override while /sys/kernel/btf is hidden" "$TS_TMP/btf.copy" \
		$hide_btf 'mount -t tmpfs none /sys/kernel/btf && exec "$0" "$@"'
fi

# ---- subnet map fill fails (what a memory cgroup limit does to the trie) ----
# Not a property of the attach mode: auto stops at the first fill failure, says so.
fault "subnet map update fails (ENOMEM at the 2nd prefix), AttachMode auto" "$TS_TMP/good" \
	"tcpsubnet plugin: filling the subnets map failed at prefix 2001:db8:8138::/48 (Cannot allocate memory): the kernel refused memory for the prefixes; raise collectd's memory cgroup limit (MemoryMax) or configure fewer prefixes" \
	env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_LPM_FAIL_AT=2
{ cat "$TS_TMP/good"; echo 'AttachMode "tracepoint"'; } >"$TS_TMP/fill.tp"
if ! echo "$impossible" | grep -q tracepoint; then
	fault "subnet map update fails (E2BIG at the 1st prefix), AttachMode tracepoint" "$TS_TMP/fill.tp" \
		"tcpsubnet plugin: filling the subnets map failed at prefix 198.19.138.0/24 (Argument list too long): the kernel refused the prefixes in every attach mode" \
		env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_LPM_FAIL_AT=1:7
fi

# ---- read faults: no count may be lost ----
ns=tsrel$$
ts_netns "$ns" 198.19.138.1 198.19.139.1
# traffic BYTES REPLY: moves known bytes srv <-> cli; appends the expectation.
traffic() {
	local line
	line=$(ip netns exec "$ns" "$TS_TRAFFIC" --listen 198.19.138.1 --connect 198.19.138.1 \
		--bind 198.19.139.1 --bytes "$1" --reply-bytes "$2") || { rel_fail "traffic failed"; return; }
	ts_expect_add "$TS_TMP/expect" srv cli "$line"
}
# exact DIR WHAT: the newest csv values of srv and cli equal the expectation.
exact() {
	local d=$1 what=$2 s want got
	for s in srv cli; do
		want=$(ts_sum "$TS_TMP/expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
		got=$(cat "$d"/csv/tstest/tcpsubnet-$s/if_octets-* | tail -n 1 | cut -d, -f2- | tr , ' ')
		if [ "$want" = "$got" ]; then
			rel_pass "$what: $s rx tx = $got, exactly the bytes moved"
		else
			rel_fail "$what: $s: want rx tx '$want', got '$got'"
		fi
	done
}
# settle DIR: waits for a csv row of srv written after now.
settle() {
	local t0 i=0 last
	t0=$(date +%s.%N)
	while [ $i -lt 300 ]; do
		last=$(cat "$1"/csv/tstest/tcpsubnet-srv/if_octets-* 2>/dev/null | tail -n 1 | cut -d, -f1)
		[ -n "$last" ] && awk -v a="$last" -v b="$t0" 'BEGIN { exit !(a > b) }' && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

d=$TS_TMP/readfault
: >"$TS_TMP/expect"
rel_conf "$d" "$TS_TMP/good" 0.1
flag=$TS_TMP/reads-fail
rel_start "$d" env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_READ_FILE="$flag" \
	TS_FAULT_COUNT_FILE="$TS_TMP/batch-reads"
rel_wait_rows "$d/csv/tstest/tcpsubnet-srv/if_octets-*" 2 15 || rel_fail "read faults: no values"
rel_pid "$d"
traffic 300007 100003
settle "$d"
rows_before=$(rel_rows "$d/csv/tstest/tcpsubnet-srv/if_octets-*")
touch "$flag"
sleep 1.5
traffic 200003 50021 # moved while every read fails
sleep 1
rows_during=$(($(rel_rows "$d/csv/tstest/tcpsubnet-srv/if_octets-*") - rows_before))
load_before=$(rel_rows "$d/csv/tstest/load/load-*")
rm -f "$flag"
# collectd doubles a failing read's interval each time: recovery takes a few seconds.
settle "$d" || rel_fail "read faults: no values after the fault ended"
sleep 1
load_after=$(rel_rows "$d/csv/tstest/load/load-*")
rel_stop "$d"
# Every value row comes from a read that tried the batch call first (counted by the
# shim at exit): after a transient failure the plugin goes on using batch lookups.
rows_total=$(rel_rows "$d/csv/tstest/tcpsubnet-srv/if_octets-*")
batch_reads=$(sed -n 's/^reads //p' "$TS_TMP/batch-reads" 2>/dev/null)
[ "${batch_reads:-0}" -ge "$rows_total" ] && [ "$rows_total" -gt $((rows_before + 2)) ] &&
	rel_pass "read faults: batch lookups resumed after the fault ($batch_reads batch calls for $rows_total value rows)" ||
	rel_fail "read faults: batch lookups did not resume: ${batch_reads:-none} batch calls for $rows_total value rows ($rows_before before the fault)"
rel_errors "$d" | sort | uniq -c >"$TS_TMP/read-errors"
n_err=$(awk '{ n += $1 } END { print n + 0 }' "$TS_TMP/read-errors")
if [ "$(wc -l <"$TS_TMP/read-errors")" = 1 ] &&
	grep -q "tcpsubnet plugin: reading counter slot 0 failed (Input/output error)$" "$TS_TMP/read-errors" &&
	[ "$rows_during" -le 1 ]; then
	rel_pass "counter reads failing for 2.5 s: $n_err failed reads, each one line: $(sed 's/^ *[0-9]* //' "$TS_TMP/read-errors"); $rows_during values dispatched meanwhile"
else
	rel_fail "read faults: want one kind of error line and no values meanwhile, got $rows_during values and: $(cat "$TS_TMP/read-errors")"
fi
[ "$load_after" -gt "$load_before" ] && [ "$REL_DIED" = no ] &&
	rel_pass "read faults: collectd kept running its other plugins ($load_before -> $load_after load rows)" ||
	rel_fail "read faults: collectd did not keep running (load rows $load_before -> $load_after)"
exact "$d" "after read faults"

d=$TS_TMP/nobatch
: >"$TS_TMP/expect"
rel_conf "$d" "$TS_TMP/good" 0.1
rel_start "$d" env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_NO_BATCH=1
rel_wait_rows "$d/csv/tstest/tcpsubnet-srv/if_octets-*" 2 15 || rel_fail "no batch: no values"
traffic 400009 120011
settle "$d"
rel_stop "$d"
if [ -z "$(rel_errors "$d")" ]; then
	rel_pass "batch lookups unavailable (EINVAL, as before 5.6): per-key reads, no error"
else
	rel_fail "batch lookups unavailable: errors: $(rel_errors "$d")"
fi
exact "$d" "per-key reads"

rel_done "every fault gives one line, disables only the plugin, loses no count"
