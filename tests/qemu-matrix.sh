#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The qemu kernel matrix: boots every row of tests/kernels.list (a Debian kernel package
# and optional boot arguments, appended to the kernel command line) under
# qemu-system-x86_64 with TCG software emulation (no KVM needed) and an initramfs built
# here from what is installed: busybox, the real collectd with the csv writer, the
# plugin as built, ts-traffic, ts-stress, ts-probe, ts-paths, ts-stream, ts-blockers,
# iproute2's ip and bpftool. In the guest, tests/qemu-guest.sh runs collectd for every
# attach mode on known traffic and checks every column of tests/qemu-families.list
# against it: the metric families (bytes, rtt, connections, retransmits) and whole-run
# checks, stress (8 concurrent small-write client/server pairs on 2 vCPUs: exact bytes
# and connections, and the plugin's lost-events), rawsock (a raw TCP socket reading
# packet copies adds nothing), in kprobe mode the stash check (missed return probes and a
# full stash are counted, then swept, and a following flow is exact), and socket (every
# byte path of tests/ts-paths with Accounting "socket" in that attach mode: exact,
# lost-events 0). This proves the fentry and kprobe paths, which the host (BTF tracepoints
# only) cannot run, on preemption models and lockdown modes the host does not have.
# Prints the matrix kernel x boot arguments x attach mode x column, the total time, and
# leaves a copy in tests/qemu-matrix.txt of the build tree (scripts/kernel-matrix puts
# it into docs/KERNELS.md).
#
# Environment: TS_KERNELS (rows instead of tests/kernels.list: words, a new row at every
# word starting with linux-image-, e.g. "linux-image-cloud-amd64 linux-image-cloud-amd64
# preempt=full" is two rows), TS_QEMU_MODES
# (default "fentry kprobe tracepoint auto"), TS_KERNEL_CACHE (where downloaded kernel
# packages are kept, see kernel_cache below), TS_QEMU_TIMEOUT (seconds per kernel,
# default 600), TS_QEMU_ACCEL (default tcg), TS_QEMU (the qemu binary). Without qemu,
# busybox or a downloadable kernel it skips, which TS_STRICT=1 (CI) turns into a failure.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

QEMU=${TS_QEMU:-qemu-system-x86_64}
MODES=${TS_QEMU_MODES:-fentry kprobe tracepoint auto}
TIMEOUT=${TS_QEMU_TIMEOUT:-600}
ACCEL=${TS_QEMU_ACCEL:-tcg}

command -v "$QEMU" >/dev/null ||
	ts_skip "$QEMU is not installed: apt-get install qemu-system-x86 (scripts/deps --test does)"
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] || ts_skip "busybox is not installed: apt-get install busybox-static (scripts/deps --test does)"
IP=$(command -v ip || true)
[ -n "$IP" ] || ts_skip "iproute2 (ip) is not installed"
BPFTOOL=$(command -v bpftool || command -v /usr/sbin/bpftool || true)
[ -n "$BPFTOOL" ] || ts_skip "bpftool is not installed"
[ -x "$COLLECTD" ] || ts_skip "collectd is not installed ($COLLECTD)"
for f in "$top_builddir/.libs/tcpsubnet.so" "$TS_PROBE" "$TS_TRAFFIC" "$top_builddir/tests/ts-delay" \
	"$top_builddir/tests/ts-stress" "$top_builddir/tests/ts-blockers" "$top_builddir/tests/ts-paths" \
	"$top_builddir/tests/ts-stream"; do
	# The initramfs needs the real ELF files, not libtool wrapper scripts.
	[ "$(head -c 4 "$f" 2>/dev/null | tail -c 3)" = ELF ] ||
		{ echo "FAIL: $f is not built (or not an ELF file)"; exit 1; }
done
ts_tmpdir
t_start=$(date +%s)

# ---- kernel packages: resolved, downloaded once, kept in a cache ----

# Root keeps them in /var/cache/collectd-tcpsubnet/kernels for every build tree and
# every later run (make check, make distcheck, another clone); others in the build tree
# (removed by make distclean). A fresh CI machine starts empty and downloads.
kernel_cache() {
	local c=${TS_KERNEL_CACHE:-}
	if [ -z "$c" ]; then
		c=/var/cache/collectd-tcpsubnet/kernels
		mkdir -p "$c" 2>/dev/null && [ -w "$c" ] || c=$top_builddir/tests/kernel-cache
	fi
	mkdir -p "$c" && echo "$c"
}
CACHE=$(kernel_cache) || { echo "FAIL: cannot create a kernel cache folder"; exit 1; }

# apt_known PKG: apt has the package in its lists; refreshes them once (as root) when
# not, because a fresh machine may have none. (Runs in subshells: a file remembers.)
apt_known() {
	apt-cache show --no-all-versions "$1" >/dev/null 2>&1 && return 0
	[ ! -e "$TS_TMP/apt-updated" ] && [ "$(id -u)" = 0 ] || return 1
	: >"$TS_TMP/apt-updated"
	echo "apt-get update (package lists do not know $1)" >&2
	apt-get update -qq >"$TS_TMP/apt-update.log" 2>&1 || cat "$TS_TMP/apt-update.log" >&2
	apt-cache show --no-all-versions "$1" >/dev/null 2>&1
}

# kernel_deb PKG: prints the path of the kernel package's .deb in the cache. A meta
# package is replaced by the versioned kernel package it depends on today.
kernel_deb() {
	local pkg=$1 real ver file sum have
	if apt_known "$pkg"; then
		real=$(apt-cache depends "$pkg" 2>/dev/null |
			awk '$1 ~ /Depends:$/ && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
		real=${real:-$pkg}
		apt_known "$real" || { echo "apt knows $pkg but not $real" >&2; return 1; }
		ver=$(apt-cache show --no-all-versions "$real" | awk '$1 == "Version:" { print $2; exit }')
		sum=$(apt-cache show --no-all-versions "$real" | awk '$1 == "SHA256:" { print $2; exit }')
		file=$CACHE/${real}_$(echo "$ver" | sed 's/:/%3a/')_amd64.deb
		if [ -f "$file" ] && [ -n "$sum" ] &&
			[ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sum" ]; then
			echo "$file: checksum mismatch, downloading it again" >&2
			rm -f "$file"
		fi
		if [ ! -f "$file" ]; then
			echo "downloading $real $ver into $CACHE" >&2
			# apt warns that its _apt user cannot write here; harmless, so kept quiet.
			(cd "$CACHE" && apt-get download "$real=$ver") >"$TS_TMP/download.log" 2>&1 ||
				{ cat "$TS_TMP/download.log" >&2; rm -f "$file"; return 1; }
			have=$(sha256sum "$file" | cut -d' ' -f1)
			[ -z "$sum" ] || [ "$have" = "$sum" ] ||
				{ echo "$file: SHA256 $have, apt says $sum" >&2; rm -f "$file"; return 1; }
		fi
		basename "$file" >"$CACHE/$pkg.resolved"
		echo "$file"
		return 0
	fi
	# No package lists (offline developer machine): the last download, if any.
	if [ -f "$CACHE/$pkg.resolved" ] && [ -f "$CACHE/$(cat "$CACHE/$pkg.resolved")" ]; then
		echo "apt does not know $pkg; using the cached $(cat "$CACHE/$pkg.resolved")" >&2
		echo "$CACHE/$(cat "$CACHE/$pkg.resolved")"
		return 0
	fi
	echo "apt does not know $pkg and nothing is cached in $CACHE" >&2
	return 1
}

# ---- the initramfs: the same for every kernel ----
root=$TS_TMP/root

# stage SRC DEST: copies a file into the initramfs, with the shared libraries it needs
# at the paths the dynamic loader looks for them.
stage() {
	local lib
	mkdir -p "$root$(dirname "$2")"
	cp -L "$1" "$root$2" || { echo "FAIL: cannot stage $1"; exit 1; }
	ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
		while read -r lib; do
			[ -e "$root$lib" ] && continue
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
}

mkdir -p "$root"/proc "$root"/sys "$root"/dev "$root"/tmp "$root"/run "$root"/var \
	"$root"/ts/tests "$root"/etc
ln -s /run "$root/var/run" # iproute2 keeps named namespaces in /var/run/netns
stage "$BUSYBOX" /bin/busybox
# glibc loads libgcc_s at run time (pthread_exit/cancel unwinding; ldd does not list it):
# without it collectd aborts while stopping its threads, before any plugin's shutdown.
for lib in /lib/x86_64-linux-gnu/libgcc_s.so.1 /usr/lib/x86_64-linux-gnu/libgcc_s.so.1; do
	[ -e "$lib" ] && { stage "$lib" "$lib"; break; }
done
ln -s busybox "$root/bin/sh"
stage "$IP" /usr/bin/ip
stage "$BPFTOOL" /usr/sbin/bpftool
stage "$COLLECTD" /usr/sbin/collectd
for p in csv logfile load; do
	stage "/usr/lib/collectd/$p.so" "/usr/lib/collectd/$p.so"
done
stage /usr/share/collectd/types.db /usr/share/collectd/types.db
stage "$top_builddir/.libs/tcpsubnet.so" /ts/build/.libs/tcpsubnet.so
stage "$TS_PROBE" /ts/build/tests/ts-probe
stage "$TS_TRAFFIC" /ts/build/tests/ts-traffic
stage "$top_builddir/tests/ts-delay" /ts/build/tests/ts-delay
stage "$top_builddir/tests/ts-stress" /ts/build/tests/ts-stress
stage "$top_builddir/tests/ts-blockers" /ts/build/tests/ts-blockers
stage "$top_builddir/tests/ts-paths" /ts/build/tests/ts-paths
stage "$top_builddir/tests/ts-stream" /ts/build/tests/ts-stream
stage "$top_srcdir/tests/lib.sh" /ts/tests/lib.sh
stage "$top_srcdir/tests/paths-lib.sh" /ts/tests/paths-lib.sh
stage "$top_srcdir/tests/qemu-guest.sh" /init
chmod 755 "$root/init"
grep -v '^#' "$top_srcdir/tests/qemu-families.list" | grep . >"$root/ts/families"
echo "$MODES" >"$root/ts/modes"
FAMILIES=$(awk '{ print $1 }' "$root/ts/families")
(cd "$root" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -1 >"$TS_TMP/initrd.gz" ||
	{ echo "FAIL: cannot build the initramfs"; exit 1; }
echo "initramfs: $(du -k "$TS_TMP/initrd.gz" | cut -f1) KiB"

# ---- one kernel ----

# boot_kernel ROW PKG [ARGS...]: boots the kernel of PKG with ARGS appended to its
# command line and leaves the guest's RESULT lines in $TS_TMP/ROW.results. Prints a
# reason and returns non-zero when it could not boot the kernel at all.
boot_kernel() {
	local row=$1 pkg=$2 deb k vmlinuz config opt pid t0 i initrd mod deps a needs
	shift 2
	deb=$(kernel_deb "$pkg") || return 2
	# Rows of one package share its unpacked files.
	k=$TS_TMP/k-$(basename "$deb" .deb)
	mkdir -p "$k"
	[ -d "$k/boot" ] || dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$k" ./boot ||
		{ echo "cannot unpack $deb"; return 1; }
	vmlinuz=$(ls "$k"/boot/vmlinuz-* 2>/dev/null | head -n 1)
	config=$(ls "$k"/boot/config-* 2>/dev/null | head -n 1)
	[ -n "$vmlinuz" ] && [ -n "$config" ] || { echo "$deb has no /boot/vmlinuz-* and config-*"; return 1; }
	# The harness loads no modules: what the guest needs must be built in. Boot arguments
	# that would be ignored without a feature need it: lockdown= the lockdown LSM,
	# preempt= the run-time preemption model choice.
	needs="BPF_SYSCALL DEBUG_INFO_BTF NET_NS IPV6 BLK_DEV_INITRD RD_GZIP DEVTMPFS SERIAL_8250_CONSOLE"
	for a in "$@"; do
		case $a in
		lockdown=*) needs="$needs SECURITY_LOCKDOWN_LSM SECURITYFS" ;;
		preempt=*) needs="$needs PREEMPT_DYNAMIC" ;;
		esac
	done
	for opt in $needs; do
		grep -qx "CONFIG_$opt=y" "$config" ||
			{ echo "$(basename "$config"): CONFIG_$opt is not built in"; return 1; }
	done
	# Modules the guest needs that this kernel builds as modules, packed into a second
	# cpio archive appended to the initramfs (the kernel unpacks both). busybox insmod
	# resolves no dependencies, so a module that has some is refused here.
	# The same archive brings the kernel's config (the guest reads its preemption model).
	initrd=$k/initrd.gz
	mkdir -p "$k/extra/ts/modules"
	rm -f "$k"/extra/ts/modules/*
	cp "$config" "$k/extra/ts/kernel.config"
	for opt in TUN:drivers/net/tun.ko; do
		grep -qx "CONFIG_${opt%%:*}=m" "$config" || continue
		# Debian compresses modules from 6.7 on (tun.ko.xz); busybox insmod wants them plain.
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x --wildcards -C "$k" "./lib/modules/*/kernel/${opt#*:}*" ||
			{ echo "cannot unpack ${opt#*:} from $deb"; return 1; }
		mod=$(ls "$k"/lib/modules/*/kernel/"${opt#*:}"* | head -n 1)
		case $mod in
		*.xz) xz -dc "$mod" >"${mod%.xz}" ;;
		*.zst) zstd -qdc "$mod" >"${mod%.zst}" ;;
		*.gz) gzip -dc "$mod" >"${mod%.gz}" ;;
		esac || { echo "cannot decompress $mod"; return 1; }
		mod=${mod%.xz}
		mod=${mod%.zst}
		mod=${mod%.gz}
		deps=$(grep -a -o 'depends=[a-z0-9_,-]*' "$mod" | head -n 1 | cut -d= -f2)
		[ -z "$deps" ] || { echo "${opt#*:} needs the modules $deps; the harness loads single modules"; return 1; }
		cp "$mod" "$k/extra/ts/modules/"
	done
	(cd "$k/extra" && find . | "$BUSYBOX" cpio -o -H newc 2>/dev/null) | gzip -1 >"$k/extra.gz"
	cat "$TS_TMP/initrd.gz" "$k/extra.gz" >"$initrd"
	basename "$deb" >"$TS_TMP/$row.deb"
	t0=$(date +%s)
	"$QEMU" -accel "$ACCEL" -cpu max -smp 2 -m 1024 -kernel "$vmlinuz" \
		-initrd "$initrd" -append "console=ttyS0 panic=-1 quiet${*:+ $*}" \
		-nographic -no-reboot -nic none </dev/null >"$TS_TMP/$row.console" 2>&1 &
	pid=$!
	# This runs in a subshell: a stopped test must not leave its guest running.
	trap 'kill "$pid" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt "$TIMEOUT" ]; do
		sleep 1
		i=$((i + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid"
		wait "$pid" 2>/dev/null
		echo "guest still running after $TIMEOUT s: killed"
	fi
	wait "$pid" 2>/dev/null
	trap - EXIT
	echo "$(($(date +%s) - t0))" >"$TS_TMP/$row.seconds"
	# Kept for a look after a failure (removed by make distclean).
	cp "$TS_TMP/$row.console" "$top_builddir/tests/qemu-matrix-$row.console" 2>/dev/null
	# Serial lines end in CR LF; a kernel message may have been printed in front.
	tr -d '\r' <"$TS_TMP/$row.console" | sed -n 's/.*\(RESULT .*\)/\1/p' >"$TS_TMP/$row.results"
	return 0
}

# cell ROW KIND MODE [FAMILY]: the STATUS of that RESULT line; a FAIL* status wins if
# several lines say different things; "none" if there is none.
cell() {
	local f=$TS_TMP/$1.results
	if [ "$2" = attach ]; then
		awk -v m="$3" '$2 == "attach" && $3 == m { s = (s ~ /^FAIL/ ? s : $4) } END { print s ? s : "none" }' "$f"
	else
		awk -v m="$3" -v fam="$4" '$2 == "family" && $3 == m && $4 == fam { s = (s ~ /^FAIL/ ? s : $5) }
			END { print s ? s : "none" }' "$f"
	fi
}

# Columns: kernel (uname -r), the row's boot arguments, mode, attach, then one per column
# of tests/qemu-families.list.
row_head() { printf '%-36s %-25s %-11s %-13s' "$@"; }
: >"$TS_TMP/matrix"
row_head kernel "boot arguments" mode attach >"$TS_TMP/matrix.head"
for fam in $FAMILIES; do printf ' %-12s' "$fam" >>"$TS_TMP/matrix.head"; done
echo >>"$TS_TMP/matrix.head"

# The rows: "PKG [ARG...]" per line.
if [ -n "${TS_KERNELS:-}" ]; then
	echo "$TS_KERNELS" | tr -s ' \t\n' '\n\n\n' |
		awk '/^linux-image-/ && NR > 1 { printf "\n" } NF { printf "%s%s", (/^linux-image-/ ? "" : " "), $0 }
			END { printf "\n" }' | grep . >"$TS_TMP/rows"
else
	grep -v '^#' "$top_srcdir/tests/kernels.list" | awk 'NF { $1 = $1; print }' >"$TS_TMP/rows"
fi
[ -s "$TS_TMP/rows" ] || { echo "FAIL: no kernels in tests/kernels.list"; exit 1; }
unavailable=""
n_rows=$(wc -l <"$TS_TMP/rows")
for i in $(seq 1 "$n_rows"); do
	# shellcheck disable=SC2046
	set -- $(sed -n "${i}p" "$TS_TMP/rows")
	pkg=$1
	shift
	args="$*"
	# The row's name in file names: package and arguments, joined by "+".
	row=$(echo "$pkg $args" | sed 's/ *$//; s/ /+/g; s/[^A-Za-z0-9._=+-]/_/g')
	echo "==== $pkg${args:+ ($args)}"
	t_row=$(date +%s)
	rc=0
	why=$(boot_kernel "$row" "$pkg" "$@" 2>&1) || rc=$?
	[ -n "$why" ] && echo "$why"
	if [ $rc = 2 ]; then
		# Could not download: no network or apt source on a developer machine. The other
		# kernels still run; the test skips (fails with TS_STRICT=1) at the end.
		unavailable="$unavailable $pkg"
		row_head "$pkg" "${args:--}" - unavailable | sed 's/ *$//' >>"$TS_TMP/matrix"
		continue
	fi
	if [ $rc != 0 ]; then
		ts_fail "$pkg${args:+ $args}: cannot boot it: $why"
		row_head "$pkg" "${args:--}" - FAIL | sed 's/ *$//' >>"$TS_TMP/matrix"
		continue
	fi
	r=$TS_TMP/$row.results
	uname=$(awk '$2 == "env" && $3 == "uname" { print $4 }' "$r")
	echo "booted $(cat "$TS_TMP/$row.deb")${args:+ with \"$args\"} in qemu ($ACCEL): $(cat "$TS_TMP/$row.seconds") s"
	sed -n 's/^RESULT \(env\|time\) /  \1: /p' "$r"
	grep '^LOG ' "$TS_TMP/$row.console" | tr -d '\r' | sed 's/^/  guest /'
	if ! grep -qx 'RESULT done' "$r"; then
		ts_fail "$pkg${args:+ $args}: the guest did not report to the end; last console lines:"
		tr -d '\r' <"$TS_TMP/$row.console" | tail -n 40 | sed 's/^/  | /'
	fi
	grep '^RESULT fatal' "$r" | while read -r line; do echo "FAIL: $pkg${args:+ $args}: $line"; done
	grep -q '^RESULT fatal' "$r" && TS_FAILS=$((TS_FAILS + 1))
	label="${uname:-$pkg}${args:+ $args}"
	ver=$(cut -d_ -f2 "$TS_TMP/$row.deb")
	for mode in $MODES; do
		a=$(cell "$row" attach "$mode")
		detail=$(awk -v m="$mode" '$2 == "attach" && $3 == m { $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); print }' "$r")
		case $a in
		ok | ok:* | refused) ts_pass "$label $mode attach $a: $detail" ;;
		*) ts_fail "$label $mode attach $a: $detail" ;;
		esac
		line=$(row_head "${uname:-$pkg} ($ver)" "${args:--}" "$mode" "$a")
		for fam in $FAMILIES; do
			c=$(cell "$row" family "$mode" "$fam")
			detail=$(awk -v m="$mode" -v f="$fam" '$2 == "family" && $3 == m && $4 == f {
				$1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print }' "$r")
			case $c in
			pass | n/a | lossy:*) ts_pass "$label $mode $fam $c: $detail" ;;
			*) ts_fail "$label $mode $fam $c: $detail" ;;
			esac
			line="$line $(printf '%-12s' "$c")"
		done
		echo "$line" | sed 's/ *$//' >>"$TS_TMP/matrix"
	done
	echo "row time: $(($(date +%s) - t_row)) s"
done

{
	echo "qemu kernel matrix, $(date -u +%Y-%m-%d), $("$QEMU" --version | head -n 1 | sed 's/ (.*//'), accel $ACCEL"
	sed 's/ *$//' "$TS_TMP/matrix.head"
	cat "$TS_TMP/matrix"
	echo "attach: ok = the mode loaded and logged itself (auto: the mode it chose), refused ="
	echo "the kernel cannot do it and the plugin said so in one line; family: pass = checked"
	echo "against the test traffic, n/a = not checked (family not in the plugin yet, or mode refused);"
	echo "stress: pass = exact under 8 concurrent pairs and lost-events 0, lossy:N = a forced mode"
	echo "known to lose events here reported N lost events and warned, or bytes and connections"
	echo "exact with only N RTT sample runs skipped, counted and warned; rawsock: pass = a raw TCP"
	echo "socket read packet copies and the plugin counted none of it; stash (kprobe only): missed"
	echo "returns and a full stash counted and warned once, then swept and a flow exact"
	echo "whole matrix: $(($(date +%s) - t_start)) s"
} >"$TS_TMP/matrix.txt"
echo
cat "$TS_TMP/matrix.txt"
cp "$TS_TMP/matrix.txt" "$top_builddir/tests/qemu-matrix.txt" 2>/dev/null || true
echo "total $(($(date +%s) - t_start)) s"
[ "$TS_FAILS" = 0 ] || exit 1
[ -z "$unavailable" ] || ts_skip "kernel packages not available:$unavailable"
echo "PASS: qemu kernel matrix"
