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
OBJDUMP=$(command -v llvm-objdump || command -v llvm-objdump-14 || true)
[ -n "$OBJDUMP" ] || { echo "FAIL: llvm-objdump (package llvm-14, a dependency of clang) is missing"; exit 1; }
tmp=${TMPDIR:-/tmp}/lockdown-safe.$$
rc=0
# Both builds of the object (Makefile.am): the default one and the cast one, which user
# space loads only where the kernel's own BTF has bpf_rdonly_cast.
for obj in "$top_builddir/bpf/tcpsubnet.raw.bpf.o" "$top_builddir/bpf/tcpsubnet_cast.raw.bpf.o"; do
	name=$(basename "$obj")
	[ -f "$obj" ] || { echo "FAIL: $obj is not built"; rc=1; continue; }
	"$OBJDUMP" -d "$obj" >"$tmp" || { echo "FAIL: cannot disassemble $obj"; rc=1; continue; }
	awk -v name="$name" '
/^Disassembly of section / { sec = $4; sub(/:$/, "", sec); typed = sec ~ /^(tp_btf|fentry|fexit|iter)\// || sec == ".text"; if (typed) n++; next }
typed && /call / { id = $NF; calls[sec] = calls[sec] " " id
	if (id == 4 || id == 45 || id == 112 || id == 113 || id == 114 || id == 115) { bad[sec] = bad[sec] " " id; nbad++ } }
END {
	for (s in bad) print "FAIL: " name ": " s " calls probe-read helper(s)" bad[s] ": refused under lockdown=confidentiality"
	if (n < 8) { print "FAIL: " name ": only " n " typed sections found: the object is not what this test expects"; exit 1 }
	if (nbad) exit 1
	print "PASS: " name ": " n " tp_btf/fentry/fexit/iter sections, no probe-read helper calls"
}' "$tmp" || rc=1
done
# Fetching atomics (atomic_fetch_add, xchg, cmpxchg: BPF_FETCH) need 5.12, but fentry
# mode loads from 5.5 and kprobe mode on any kernel with BTF: none in their sections
# (tracepoint mode, 6.3+, and socket accounting, 5.12+, may use them).
"$OBJDUMP" -d "$top_builddir/bpf/tcpsubnet.raw.bpf.o" | awk '
/^Disassembly of section / { sec = $4; sub(/:$/, "", sec); old = sec ~ /^(fentry|fexit|kprobe|kretprobe|raw_tp|raw_tracepoint)\// || sec == ".text"; if (old) n++; next }
old && /atomic_fetch|cmpxchg|xchg/ { bad[sec]++; nbad++ }
END {
	for (s in bad) print "FAIL: " s " uses " bad[s] " fetching atomic(s) (5.12+): fentry/kprobe mode would fail to load on 5.10"
	if (n < 6) { print "FAIL: only " n " fentry/fexit/kprobe/raw_tp sections found"; exit 1 }
	if (nbad) exit 1
	print "PASS: " n " fentry/fexit/kprobe/raw_tp sections, no fetching atomics (5.12+)"
}' || rc=1
# Externs (ksyms, kfuncs): libbpf 1.1 resolves every extern of the object, weak or not,
# whichever programs load, and one the running kernel lacks makes it search module BTF,
# which needs CAP_SYS_ADMIN: CAP_BPF+CAP_PERFMON loads (the shipped systemd drop-in)
# would then fail on older kernels (bpf_rdonly_cast, 6.2+, failed so on 6.1). So the
# default build has none, and the cast build exactly the kfunc user space checks for.
externs() {
	"$OBJDUMP" -t "$1" | awk '$0 ~ /\*UND\*/ && $NF != "" && $NF !~ /^\./ { print $NF }' | sort -u | tr '\n' ' '
}
ext=$(externs "$top_builddir/bpf/tcpsubnet.raw.bpf.o")
if [ -n "$ext" ]; then
	echo "FAIL: the default build references kernel symbols ($ext): CAP_BPF+CAP_PERFMON loads fail on kernels without them"
	rc=1
else
	echo "PASS: no extern kernel symbols (ksyms, kfuncs) in the default build"
fi
ext=$(externs "$top_builddir/bpf/tcpsubnet_cast.raw.bpf.o")
if [ "$ext" != "bpf_rdonly_cast " ]; then
	echo "FAIL: the cast build references \"$ext\", not only bpf_rdonly_cast, which is all tsbpf.c checks the kernel for"
	rc=1
else
	echo "PASS: the cast build references bpf_rdonly_cast only"
fi
# User space opens the cast build through the default build's skeleton (tsbpf.c,
# open_object): every map, global and program must be where the skeleton expects it.
layout() {
	"$OBJDUMP" -t "$1" | awk '$4 ~ /^\.(rodata|bss|data|maps|kconfig)/ { print $1, $4, $5, $6 }' | sort
	"$OBJDUMP" -t "$1" | awk '$3 == "F" { print $4, $NF }' | sort
}
layout "$top_builddir/bpf/tcpsubnet.raw.bpf.o" >"$tmp.a"
layout "$top_builddir/bpf/tcpsubnet_cast.raw.bpf.o" >"$tmp.b"
if [ "$(wc -l <"$tmp.a")" -lt 20 ]; then
	echo "FAIL: only $(wc -l <"$tmp.a") symbols of maps, globals and programs found"
	rc=1
elif ! cmp -s "$tmp.a" "$tmp.b"; then
	echo "FAIL: the two builds differ in maps, globals or programs:"
	diff "$tmp.a" "$tmp.b" | head -20
	rc=1
else
	echo "PASS: both builds have the same $(wc -l <"$tmp.a") maps, globals and programs (name, section, offset, size)"
fi
rm -f "$tmp" "$tmp.a" "$tmp.b"
exit $rc
