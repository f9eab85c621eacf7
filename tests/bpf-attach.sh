#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Attach-method choice and kernel/privilege faults, on the running kernel:
# - auto picks what docs/DESIGN.md says for this kernel and logs it once;
# - every forced AttachMode either counts exact bytes or fails with one clear line;
# - missing BTF and missing capabilities fail with one line naming what is missing.
# (Other kernels' paths run for real in the qemu kernel matrix.)
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
chmod 755 "$TS_TMP" # read by the unprivileged-user case
command -v bpftool >/dev/null || ts_skip "bpftool is not installed"

ns=tsattach$$
ts_netns "$ns" 198.18.80.1 198.18.81.1 2001:db8:80::1 2001:db8:81::1
cat >"$TS_TMP/conf" <<'CONF'
<Subnet "a">
  Prefix "198.18.80.0/24"
  Prefix "2001:db8:80::/48"
</Subnet>
<Subnet "b">
  Prefix "198.18.81.0/24"
  Prefix "2001:db8:81::/48"
</Subnet>
CONF
cat >"$TS_TMP/flows" <<'FLOWS'
a b --listen 198.18.80.1 --connect 198.18.80.1 --bind 198.18.81.1 --bytes 300007 --reply-bytes 100003
a b --listen 2001:db8:80::1 --connect 2001:db8:80::1 --bind 2001:db8:81::1 --bytes 200003 --reply-bytes 50001
a b --listen dual --connect 198.18.80.1 --bind 198.18.81.1 --bytes 250007 --reply-bytes 70001
FLOWS

# ---- auto ----
if ts_kernel_has TYPEDEF btf_trace_sock_send_length && ! ts_kernel_has FUNC tcp_sendpage; then
	want_auto=tracepoint
else
	want_auto="fentry\|kprobe\|tracepoint"
fi
if ts_probe_flows auto "$TS_TMP/conf" "$TS_TMP/flows" "$ns"; then
	ts_check_exact "auto" a b
	n=$(grep -c "attach mode " "$TS_TMP/err")
	line=$(grep "attach mode " "$TS_TMP/err")
	if [ "$n" = 1 ] && echo "$line" | grep -q "attach mode \($want_auto\) (auto"; then
		ts_pass "auto: $line"
	else
		ts_fail "auto: want one 'attach mode $want_auto' line, got: $(cat "$TS_TMP/err")"
	fi
else
	ts_fail "auto failed: $(cat "$TS_TMP/err")"
fi

# ---- forced modes: exact bytes, or one line saying it does not work here ----
kprobes_absent=no
[ -e /sys/bus/event_source/devices/kprobe ] ||
	[ -e /sys/kernel/tracing/kprobe_events ] || [ -e /sys/kernel/debug/tracing/kprobe_events ] ||
	kprobes_absent=yes
matrix=""
for mode in fentry tracepoint kprobe; do
	{ cat "$TS_TMP/conf"; echo "AttachMode \"$mode\""; } >"$TS_TMP/conf.$mode"
	if ts_probe_flows "$mode" "$TS_TMP/conf.$mode" "$TS_TMP/flows" "$ns"; then
		before=$TS_FAILS
		ts_check_exact "$mode" a b
		grep -q "attach mode $mode (configured)" "$TS_TMP/err" ||
			ts_fail "$mode: no 'attach mode $mode (configured)' line"
		[ "$before" = "$TS_FAILS" ] && matrix="$matrix $mode=exact" || matrix="$matrix $mode=WRONG"
		[ "$mode" = kprobe ] && [ "$kprobes_absent" = yes ] &&
			ts_fail "kprobe mode worked although this kernel shows no kprobe support"
		continue
	fi
	lines=$(grep -c . "$TS_TMP/err")
	err=$(cat "$TS_TMP/err")
	case $err in
	"tcpsubnet plugin: AttachMode \"$mode\" does not work on this kernel: "*"; use AttachMode \"auto\"")
		[ "$lines" = 1 ] && ts_pass "$mode unavailable, one line: $err" ||
			ts_fail "$mode: error is $lines lines: $err"
		matrix="$matrix $mode=unavailable"
		;;
	*) ts_fail "$mode: unexpected failure output: $err" ;;
	esac
	# The line names the real cause, read from the kernel, not a guess. (The kprobe
	# programs' verifier acceptance is proven where kprobes exist: tests/qemu-matrix.sh.)
	if [ "$mode" = kprobe ] && [ "$kprobes_absent" = yes ]; then
		echo "$err" | grep -q "the kernel has no kprobes (no /sys/bus/event_source/devices/kprobe" &&
			ts_pass "kprobe refusal names the missing kprobe support" ||
			ts_fail "kprobe refusal does not say kprobes are missing: $err"
	fi
done
[ "$want_auto" = tracepoint ] && ! echo "$matrix" | grep -q "tracepoint=exact" &&
	ts_fail "tracepoint mode must work on this kernel"
echo "attach matrix on $(uname -r):$matrix"

# ---- faults: one line naming what is missing ----
expect_one_line() {
	local what=$1 pattern=$2
	shift 2
	if "$@" >/dev/null 2>"$TS_TMP/err"; then
		ts_fail "$what: loaded although it should not"
		return
	fi
	if [ "$(grep -c . "$TS_TMP/err")" = 1 ] && grep -q "$pattern" "$TS_TMP/err"; then
		ts_pass "$what: $(cat "$TS_TMP/err")"
	else
		ts_fail "$what: want one line matching '$pattern', got: $(cat "$TS_TMP/err")"
	fi
}
{ cat "$TS_TMP/conf"; echo 'KernelBTF "/nonexistent/vmlinux"'; } >"$TS_TMP/conf.btf"
expect_one_line "missing BTF" \
	'^tcpsubnet plugin: KernelBTF "/nonexistent/vmlinux" is not usable (No such file or directory)' \
	"$TS_PROBE" "$TS_TMP/conf.btf"
{ cat "$TS_TMP/conf"; echo 'KernelBTF "/etc/hostname"'; } >"$TS_TMP/conf.btf2"
expect_one_line "BTF file that is not BTF" '^tcpsubnet plugin: KernelBTF "/etc/hostname" is not usable' \
	"$TS_PROBE" "$TS_TMP/conf.btf2"
if command -v setpriv >/dev/null; then
	expect_one_line "no CAP_BPF" '^tcpsubnet plugin: missing capability CAP_BPF: ' \
		setpriv --bounding-set -bpf,-sys_admin "$TS_PROBE" "$TS_TMP/conf"
	expect_one_line "no CAP_PERFMON" '^tcpsubnet plugin: missing capability CAP_PERFMON: ' \
		setpriv --bounding-set -perfmon,-sys_admin "$TS_PROBE" "$TS_TMP/conf"
	expect_one_line "unprivileged user" \
		'^tcpsubnet plugin: missing capability CAP_BPF and CAP_PERFMON: run collectd as root' \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$TS_PROBE" "$TS_TMP/conf"
	# CAP_BPF + CAP_PERFMON without CAP_SYS_ADMIN is enough.
	if setpriv --bounding-set -sys_admin,-net_admin,-sys_resource "$TS_PROBE" "$TS_TMP/conf" \
		>/dev/null 2>"$TS_TMP/err"; then
		ts_pass "CAP_BPF and CAP_PERFMON suffice"
	else
		ts_fail "CAP_BPF and CAP_PERFMON alone: $(cat "$TS_TMP/err")"
	fi
else
	ts_skip "setpriv (util-linux) is not installed"
fi

# Nothing of ours stays in the kernel after the loader exits: the program ids a
# ts-probe holds (read from its fdinfo by the command it runs) must all be gone after
# it exits. Other BPF users of the machine do not matter. Freeing is deferred a little
# after the last descriptor closes, hence the wait.
"$TS_PROBE" "$TS_TMP/conf" -- sh -c \
	'grep -h "^prog_id:" /proc/$PPID/fdinfo/* 2>/dev/null | awk "{ print \$2 }" | sort -u' \
	>"$TS_TMP/ids.out" 2>/dev/null
ids=$(grep -E '^[0-9]+$' "$TS_TMP/ids.out" | tr '\n' ' ')
if [ -z "$ids" ]; then
	ts_fail "could not read the program ids a loader holds"
else
	for i in 1 2 3 4 5 6 7 8 9 10; do
		left=""
		for id in $ids; do
			bpftool prog show id "$id" >/dev/null 2>&1 && left="$left $id"
		done
		[ -z "$left" ] && break
		sleep 0.5
	done
	[ -z "$left" ] && ts_pass "the $(echo $ids | wc -w) programs a loader held are gone after it exits" ||
		ts_fail "programs left behind:$left"
fi

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: attach methods and faults"
