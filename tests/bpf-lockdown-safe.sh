#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# lockdown=confidentiality refuses bpf_probe_read_kernel and the other probe-read helpers,
# and a single refused program fails the whole object. So no program that tracepoint or
# fentry mode loads (sections tp_btf/, fentry/, fexit/), nor Accounting "socket" in any
# mode (tp_btf/ and iter/), may call one, nor any subprogram (.text) they could call.
# Checked on the built object's instructions: a BPF call's
# immediate is the helper id (uapi/linux/bpf.h): 4 probe_read, 45 probe_read_str,
# 112 probe_read_user, 113 probe_read_kernel, 114 probe_read_user_str,
# 115 probe_read_kernel_str. The qemu matrix boots a locked-down kernel for the real thing.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
obj=$top_builddir/bpf/tcpsubnet.raw.bpf.o
OBJDUMP=$(command -v llvm-objdump || command -v llvm-objdump-14 || true)
[ -n "$OBJDUMP" ] || { echo "FAIL: llvm-objdump (package llvm-14, a dependency of clang) is missing"; exit 1; }
[ -f "$obj" ] || { echo "FAIL: $obj is not built"; exit 1; }
"$OBJDUMP" -d "$obj" >"${TMPDIR:-/tmp}/lockdown-safe.$$" || { echo "FAIL: cannot disassemble $obj"; exit 1; }
awk '
/^Disassembly of section / { sec = $4; sub(/:$/, "", sec); typed = sec ~ /^(tp_btf|fentry|fexit|iter)\// || sec == ".text"; if (typed) n++; next }
typed && /call / { id = $NF; calls[sec] = calls[sec] " " id
	if (id == 4 || id == 45 || id == 112 || id == 113 || id == 114 || id == 115) { bad[sec] = bad[sec] " " id; nbad++ } }
END {
	for (s in bad) print "FAIL: " s " calls probe-read helper(s)" bad[s] ": refused under lockdown=confidentiality"
	if (n < 8) { print "FAIL: only " n " typed sections found: the object is not what this test expects"; exit 1 }
	if (nbad) exit 1
	print "PASS: " n " tp_btf/fentry/fexit/iter sections, no probe-read helper calls"
}' "${TMPDIR:-/tmp}/lockdown-safe.$$"
rc=$?
rm -f "${TMPDIR:-/tmp}/lockdown-safe.$$"
exit $rc
