#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# /init of the qemu kernel matrix guest (the initramfs is built by tests/qemu-matrix.sh).
# Runs under busybox sh on the kernel being tested. For every attach mode it runs a real
# `collectd -f` with the plugin and the csv writer, moves known TCP traffic inside a
# network namespace (IPv4, IPv6, IPv4-mapped IPv6 both ways, every send/receive syscall
# including sendfile) and between two namespaces joined by a relay that delays every
# packet 5 ms and drops some data (tests/ts-delay), and checks each metric family
# against that ground truth, with the same helpers and expectation rules as the host
# tests (tests/lib.sh). Modes this kernel cannot support must be refused with the
# plugin's one-line error. In the same collectd run, two whole-run checks that are
# columns of tests/qemu-families.list like the families:
#   rawsock  while the namespace's flows run, a raw socket (AF_INET and AF_INET6,
#            SOCK_RAW, IPPROTO_TCP; ts-stress --raw) reads copies of their packets: it
#            must read some, and every subnet's bytes stay exact ("other" 0 0).
#   stress   after the flows, ts-stress runs 8 client/server process pairs at once (16
#            processes on 2 vCPUs), 2,000,000 bytes per client in 64-byte writes, read
#            with 4093-byte reads, and 500,000 bytes back from every server, between
#            subnets "st" (servers) and "sc" (clients). Their rx/tx and connections
#            must be exact, and the plugin's own count of missed events (derive
#            lost-events of the empty plugin instance) tells whether it knows:
#              pass     exact, lost-events 0
#              lossy:N  a forced mode known to lose events on this kernel (fentry or
#                       tracepoint on a preemptible kernel: BPF trampolines skip a
#                       program that is already running on the CPU) reported N lost
#                       events and logged its warning; or any forced mode with exact
#                       bytes and connections that counted and warned about N skipped
#                       runs (RTT samples); or auto with exact bytes and connections
#                       whose only skipped runs were RTT samples (counted and warned:
#                       the owner-flag split leaves a narrow window, see raw_rtt in
#                       bpf/tcpsubnet.bpf.c); not a failure
#              FAIL:... anything else: auto not exact or losing more than RTT samples (FAIL:lost,
#                       FAIL:inexact), figures off while lost-events says 0 (FAIL:hidden:
#                       the plugin hid a loss), no lost-events value at all (FAIL:nolost
#                       or FAIL:inexact), loss without its warning (FAIL:nowarn)
#   socket   after the collectd run, the plugin's own loader (ts-probe) in this mode with
#            Accounting "socket" around every byte path of tests/ts-paths
#            (tests/paths-lib.sh: send/receive syscalls, sendfile, splice both ways,
#            io_uring, a reset with unsent data, a connection opened before the plugin,
#            one open across many read cycles) over IPv4, IPv6 and IPv4-mapped IPv6:
#            every subnet exact and lost-events 0 (n/a while the plugin has no
#            Accounting option).
#
# Everything it finds goes to the serial console as lines the host parses:
#   RESULT env KEY VALUE...            what this kernel has
#   RESULT attach MODE STATUS DETAIL   STATUS: ok | refused (both expected) | FAIL
#   RESULT family MODE FAMILY STATUS DETAIL     STATUS: pass | FAIL | n/a
#   RESULT time MODE SECONDS
#   RESULT fatal DETAIL                the guest could not run the checks at all
#   RESULT done                        last line; its absence is a failure on the host
# Lines starting with "LOG " are diagnostics (collectd's log on a failure).

export PATH=/usr/bin:/usr/sbin:/bin
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
# busybox's ip cannot do `ip netns`, and Debian's busybox sh runs its own applets before
# looking at PATH: a function is the only way to make lib.sh's `ip` iproute2's.
ip() { /usr/bin/ip "$@"; }
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# What a booted system has mounted (lockdown=confidentiality refuses debugfs and
# tracefs): the lockdown mode, the preemption model, kprobe mode's tracefs.
mount -t securityfs securityfs /sys/kernel/security 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
exec </dev/null >/dev/console 2>&1
# Modules the host harness packed because this kernel has them as modules (tun).
for m in /ts/modules/*.ko; do
	[ -e "$m" ] || continue
	insmod "$m" || echo "RESULT fatal insmod $m failed"
done

result() { echo "RESULT $*"; }
say() { sed 's/^/LOG /'; }
finish() {
	result "done"
	sync
	poweroff -f
	sleep 30 # poweroff -f does not return; if it did, init exiting panics: qemu stops
}

top_srcdir=/ts top_builddir=/ts/build COLLECTD=/usr/sbin/collectd
TS_STRESS=/ts/build/tests/ts-stress TS_BLOCKERS=/ts/build/tests/ts-blockers
export top_srcdir top_builddir COLLECTD TMPDIR=/tmp
# shellcheck source=tests/lib.sh
. /ts/tests/lib.sh
# The socket column's byte paths; smaller amounts than on the host (TCG is slow).
TS_PATHS_BYTES=60013 TS_PATHS_FAMILIES="4 6 m" TS_PATHS_LONG=1
# shellcheck source=tests/paths-lib.sh
. /ts/tests/paths-lib.sh
# In here a skip means the guest cannot run the checks: report it, never exit (init
# exiting would panic the kernel without a word on the console).
ts_skip() {
	result fatal "$*"
	finish
}

now() { cut -d. -f1 /proc/uptime; }
t_boot=$(now)

# ---- what this kernel has ----
has_sym() { grep -q " $1\$" /proc/kallsyms; }
[ -r /sys/kernel/btf/vmlinux ] || ts_skip "no /sys/kernel/btf/vmlinux: this kernel has no BTF"
tp=no sendpage=no kprobes=no ftrace_direct=no
# __traceiter_* exists for every tracepoint since 5.10; these two came with 6.3.
has_sym __traceiter_sock_send_length && tp=yes
# Gone in 6.5 (MSG_SPLICE_PAGES): from then on sendfile reaches tcp_sendmsg().
has_sym tcp_sendpage && sendpage=yes
[ -e /sys/bus/event_source/devices/kprobe ] && kprobes=yes
# fentry/fexit on kernel functions need BPF trampolines on ftrace direct calls
# (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS), which bring this function.
has_sym register_ftrace_direct && ftrace_direct=yes
result env uname "$(uname -r)"
tun=no
[ -c /dev/net/tun ] && tun=yes
result env features "btf=yes sock_send_length_tp=$tp tcp_sendpage=$sendpage" \
	"kprobes=$kprobes ftrace_direct=$ftrace_direct tun=$tun"
result env cmdline "$(cat /proc/cmdline)"
# "none [integrity] confidentiality": the mode in brackets is in force.
lockdown=none
if [ -r /sys/kernel/security/lockdown ]; then
	result env lockdown "$(cat /sys/kernel/security/lockdown)"
	lockdown=$(sed -n 's/.*\[\(.*\)\].*/\1/p' /sys/kernel/security/lockdown)
else
	result env lockdown "no /sys/kernel/security/lockdown (no lockdown LSM)"
fi
# The preemption model in force: debugfs shows the PREEMPT_DYNAMIC choice, "none
# voluntary (full)" (lockdown hides it); else a preempt= boot argument; else the
# kernel's configured one (the host harness puts the kernel's config in /ts).
preempt=$(sed -n 's/.*(\([a-z]*\)).*/\1/p' /sys/kernel/debug/sched/preempt 2>/dev/null)
[ -n "$preempt" ] || preempt=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^preempt=//p' | tail -n 1)
if [ -z "$preempt" ]; then
	case $(grep -x 'CONFIG_PREEMPT\(_RT\|_VOLUNTARY\|_NONE\)\?=y' /ts/kernel.config 2>/dev/null) in
	*PREEMPT_RT=y*) preempt=rt ;;
	*PREEMPT=y*) preempt=full ;;
	*VOLUNTARY=y*) preempt=voluntary ;;
	*NONE=y*) preempt=none ;;
	*) preempt=unknown ;;
	esac
fi
grep -qx 'CONFIG_PREEMPT_RT=y' /ts/kernel.config 2>/dev/null && preempt=rt
# Modes known to lose events here: the trampoline-run ones on a preemptible kernel.
lossy_modes=""
case $preempt in full | rt) lossy_modes="fentry tracepoint" ;; esac
result env preempt "$preempt (modes that may lose events here: ${lossy_modes:-none})"

# expect_mode MODE: "works" or "refused" on this kernel, by the rules of docs/DESIGN.md.
expect_mode() {
	case $1 in
	tracepoint) [ $tp = yes ] && echo works || echo refused ;;
	fentry) [ $ftrace_direct = yes ] && echo works || echo refused ;;
	# Lockdown's confidentiality mode refuses kprobes (LOCKDOWN_KPROBES).
	kprobe) [ $kprobes = yes ] && [ "$lockdown" != confidentiality ] && echo works || echo refused ;;
	*) echo works ;;
	esac
}
# auto's order (docs/DESIGN.md): tracepoints first only where they also see sendfile;
# before that, kprobe first on a preemptible kernel, where trampolines lose events.
if [ $tp = yes ] && [ $sendpage = no ]; then
	auto_order="tracepoint fentry kprobe"
elif [ -n "$lossy_modes" ]; then
	auto_order="kprobe fentry tracepoint"
else
	auto_order="fentry kprobe tracepoint"
fi
auto_want=""
for m in $auto_order; do
	[ "$(expect_mode $m)" = works ] && { auto_want=$m; break; }
done
# What auto may take: a mode that works here and loses no events here, if there is one.
auto_ok=""
for m in $auto_order; do
	[ "$(expect_mode $m)" = works ] && ! echo " $lossy_modes " | grep -q " $m " &&
		auto_ok="$auto_ok $m"
done
[ -n "$auto_ok" ] || auto_ok=" $auto_want"
result env auto "order=$(echo $auto_order | tr ' ' ,) expected=${auto_want:-none}" \
	"acceptable=$(echo $auto_ok | tr ' ' ,)"

# ---- the traffic and the subnets it is classified into ----
ts_tmpdir
ns=tsq
ts_netns "$ns" 198.18.112.1 198.18.113.1 198.18.114.1 198.18.115.1 198.18.116.1 \
	198.18.117.1 198.18.117.2 198.18.118.1 198.18.118.2 2001:db8:112::1 2001:db8:113::1
# "m" is written as an IPv4-mapped IPv6 prefix: it must match plain IPv4 peers too.
cat >"$TS_TMP/subnets" <<'CONF'
  <Subnet "a">
    Prefix "198.18.112.0/24"
    Prefix "2001:db8:112::/48"
  </Subnet>
  <Subnet "b">
    Prefix "198.18.113.0/24"
    Prefix "2001:db8:113::/48"
  </Subnet>
  <Subnet "m">
    Prefix "::ffff:198.18.114.0/120"
  </Subnet>
  <Subnet "rc">
    Prefix "198.18.120.0/24"
    Prefix "2001:db8:120::/48"
  </Subnet>
  <Subnet "rs">
    Prefix "198.18.121.0/24"
    Prefix "2001:db8:121::/48"
  </Subnet>
  <Subnet "st">
    Prefix "198.18.115.0/24"
  </Subnet>
  <Subnet "sc">
    Prefix "198.18.116.0/24"
  </Subnet>
  ReportUnmatched true
CONF
# The flows' subnets; "st" (stress servers) and "sc" (stress clients) are the stress
# check's alone.
SUBNETS="a b m rc rs other"
# ts-stress: pairs, bytes per client (64-byte writes), bytes back per server.
STRESS="--listen 198.18.115.1 --bind 198.18.116.1 --pairs 8 --bytes 2000000 --reply-bytes 500000"
# The relay: one-way delay in ms, and its drops of client data (A to B) that force
# retransmissions. RTT through it is at least twice the delay.
RELAY_MS=5
RELAY_DROPS="--drop-every 40 --drop-max 6"
# Flows: where (lo: loopback in namespace tsq; relay: client in the relay's namespace A,
# server in B), server subnet, client subnet, ts-traffic arguments. Loopback: IPv4; IPv6;
# a dual-stack client connecting to an IPv4-mapped address; a dual-stack listener
# accepting an IPv4 client. Relay: IPv4 and IPv6. ts-traffic cycles through its send
# calls with growing sizes and reaches sendfile (the tcp_sendpage() path on kernels
# before 6.5) only after 166544 bytes: every direction moves more than that.
cat >"$TS_TMP/flows" <<'FLOWS'
lo a b --listen 198.18.112.1 --connect 198.18.112.1 --bind 198.18.113.1 --bytes 300007 --reply-bytes 200003
lo a b --listen 2001:db8:112::1 --connect 2001:db8:112::1 --bind 2001:db8:113::1 --bytes 200003 --reply-bytes 180001
lo a b --listen dual --connect ::ffff:198.18.112.1 --bind 198.18.113.1 --bytes 180001 --reply-bytes 170003
lo m a --listen dual --connect 198.18.114.1 --bind 198.18.112.1 --bytes 250007 --reply-bytes 190001
relay rs rc --listen 198.18.121.1 --connect 198.18.121.1 --bytes 1000003 --reply-bytes 200003
relay rs rc --listen 2001:db8:121::1 --connect 2001:db8:121::1 --bytes 600001 --reply-bytes 180001
FLOWS

# ---- metric families: which ones the plugin has ----
# The plugin's own parser decides whether it knows an option (ts-probe shares it, and
# loads the BPF object, seconds under TCG): all options at once first, one by one only
# if that fails.
{
	cat "$TS_TMP/subnets"
	awk '$1 !~ /^#/ && NF > 1 && $2 != "-" { $1 = ""; print }' /ts/families
} >"$TS_TMP/probe-all.conf"
all_known=no
"$TS_PROBE" "$TS_TMP/probe-all.conf" >/dev/null 2>&1 && all_known=yes
FAMILIES=""
while read -r fam opt; do
	case $fam in '' | '#'*) continue ;; esac
	FAMILIES="$FAMILIES $fam"
	eval "fam_opt_$fam=\$opt"
	eval "fam_state_$fam=always"
	[ "$opt" = - ] && continue
	{ cat "$TS_TMP/subnets"; echo "  $opt"; } >"$TS_TMP/probe.conf"
	if [ $all_known = yes ]; then
		eval "fam_state_$fam=option"
	elif "$TS_PROBE" "$TS_TMP/probe.conf" >/dev/null 2>"$TS_TMP/probe.err"; then
		eval "fam_state_$fam=option"
	elif grep -q "unknown option \"${opt%% *}\"" "$TS_TMP/probe.err"; then
		eval "fam_state_$fam=unknown"
	else
		eval "fam_state_$fam=broken"
		say <"$TS_TMP/probe.err"
	fi
	result env option "$fam '$opt': $(eval echo "\$fam_state_$fam")"
done </ts/families

# fam_state FAMILY: always | option (accepted) | unknown (not implemented) | broken
fam_state() { eval echo "\$fam_state_$1"; }

# csv_files DIR SUBNET FILE: the csv writer's daily files of one value, e.g.
# FILE=latency-rtt-average (collectd names them TYPE-INSTANCE-YYYY-MM-DD).
csv_files() {
	ls "$1"/csv/tstest/tcpsubnet-"$2"/"$3"-[0-9]* 2>/dev/null
}
# last_table DIR: DIR/last, one line per value of the finished run: INSTANCE FILE
# VALUES... of its newest row ("-" for the empty plugin instance). The checks look up
# hundreds of values and every process costs dearly under TCG: one awk reads them all.
last_table() {
	awk -F, 'FNR == 1 { n = split(FILENAME, p, "/"); inst = p[n - 1]; sub(/^tcpsubnet-?/, "", inst)
			f = p[n]; sub(/-[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/, "", f)
			k = (inst == "" ? "-" : inst) " " f; if (!(k in v)) o[++m] = k }
		$1 != "epoch" { $1 = ""; v[k] = $0 }
		END { for (i = 1; i <= m; i++) print o[i] v[o[i]] }' \
		/dev/null "$1"/csv/tstest/tcpsubnet*/*-[0-9]* >"$1/last" 2>/dev/null
}
# csv_last DIR SUBNET FILE: the value fields of the newest row, space separated (from
# last_table).
csv_last() {
	awk -v i="$2" -v f="$3" '$1 == i && $2 == f { $1 = $2 = ""; sub(/^ +/, ""); print; exit }' "$1/last"
}
# family_absent DIR FAMILY GLOB: "n/a" when the plugin has neither the family's option
# nor any of its values (the feature has not landed); empty otherwise.
family_absent() {
	[ "$(fam_state "$2")" = unknown ] || return 0
	# shellcheck disable=SC2086
	ls "$1"/csv/tstest/tcpsubnet-*/$3 >/dev/null 2>&1 && return 0
	echo n/a
}

# ---- the family checks: each sets $st (pass|FAIL|n/a) and $why ----

# bytes: if_octets rx/tx of every subnet equal the bytes moved, exactly; "other" is 0.
check_family_bytes() {
	local d=$1 s want got bad=""
	for s in $SUBNETS; do
		want=$(ts_sum "$TS_TMP/expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
		got=$(csv_last "$d" "$s" if_octets)
		[ "${want:-0 0}" = "$got" ] || bad="$bad $s: want rx tx '${want:-0 0}' got '$got';"
	done
	if [ -z "$bad" ]; then
		st=pass why="exact:$(ts_sum "$TS_TMP/expect" | tr '\n' ';')"
	else
		st=FAIL why=$bad
	fi
}

# rtt: for every subnet with traffic, latency-rtt-average and latency-rtt-percentile-50
# (seconds) have a value > 0 in a read after the traffic started and none >= 1 s (this
# is loopback or a 5 ms relay, even under emulation); derive-rtt-samples is > 0. Through
# the relay every RTT sample is at least 2 x RELAY_MS: the exact average must not be
# below 90 % of that, the p50 (within 1/16 of the samples' p50, see README) not below half.
check_family_rtt() {
	local d=$1 s f bad="" n min
	st=$(family_absent "$d" rtt "latency-rtt-*")
	[ -n "$st" ] && { why="plugin has no RTT option or values yet"; return; }
	for s in a b m rc rs; do
		for f in latency-rtt-average latency-rtt-percentile-50; do
			min=0
			case $s/$f in
			r?/latency-rtt-average) min=$(awk -v ms=$RELAY_MS 'BEGIN { print 2 * ms * 0.9 / 1000 }') ;;
			r?/*) min=$(awk -v ms=$RELAY_MS 'BEGIN { print ms / 1000 }') ;;
			esac
			# shellcheck disable=SC2046
			n=$(cat /dev/null $(csv_files "$d" "$s" "$f") | awk -F, -v t="$t_traffic" -v min="$min" '
				$1 == "epoch" || $1 + 0 < t || $2 == "nan" { next }
				$2 + 0 < 0 || $2 + 0 >= 1 { bad = bad " " $2 }
				$2 + 0 > 0 && $2 + 0 < min { bad = bad " " $2 }
				$2 + 0 > 0 { pos++ }
				END { print (bad ? "bad:" bad : pos + 0) }')
			[ "${n#bad}" = "$n" ] && [ "$n" -gt 0 ] 2>/dev/null ||
				bad="$bad $s $f: want values in ($min, 1) s after the traffic, got $n;"
		done
		n=$(csv_last "$d" "$s" derive-rtt-samples)
		[ "${n:-0}" -gt 0 ] 2>/dev/null || bad="$bad $s derive-rtt-samples '${n}';"
	done
	if [ -z "$bad" ]; then
		st=pass
		# shellcheck disable=SC2046
		why="a: last avg $(cat $(csv_files "$d" a latency-rtt-average) |
			awk -F, '$1 != "epoch" && $2 != "nan" { v = $2 } END { print v }') s,"
		why="$why samples $(csv_last "$d" a derive-rtt-samples); rs: last avg $(cat $(csv_files "$d" rs latency-rtt-average) |
			awk -F, '$1 != "epoch" && $2 != "nan" { v = $2 } END { print v }') s"
	else
		st=FAIL why=$bad
	fi
}

# connections: each flow is one connection the client opened actively to the server's
# subnet and the server accepted passively from the client's subnet; both sockets are
# closed, and each counts against its own peer's subnet (the rule of the byte counters).
# So: opened-active[server subnet] += 1, opened-passive[client subnet] += 1,
# closed[both] += 1.
check_family_connections() {
	local d=$1 s t want got bad=""
	st=$(family_absent "$d" connections "connections-*")
	[ -n "$st" ] && { why="plugin has no connection option or values yet"; return; }
	for s in $SUBNETS; do
		for t in opened-active opened-passive closed; do
			want=$(awk -v s="$s" -v t="$t" '$1 == s && $2 == t { n++ } END { print n + 0 }' \
				"$TS_TMP/conns")
			got=$(csv_last "$d" "$s" "connections-$t")
			[ "$s" = other ] && [ -z "$got" ] && continue # "other" may carry bytes only
			[ "$got" = "$want" ] || bad="$bad $s $t: want $want got '$got';"
		done
	done
	if [ -z "$bad" ]; then
		st=pass
		why="a: active $(csv_last "$d" a connections-opened-active)"
		why="$why passive $(csv_last "$d" a connections-opened-passive)"
		why="$why closed $(csv_last "$d" a connections-closed)"
	else
		st=FAIL why=$bad
	fi
}

# retransmits: derive-retransmit-segments of a subnet equals TCP_INFO's
# tcpi_total_retrans of the sockets whose peer is in it (each client socket's against
# the server's subnet, each server socket's against the client's), which ts-traffic
# reads once all data is acked; the relay's drops make that more than 0.
check_family_retransmits() {
	local d=$1 s want got bad="" total
	st=$(family_absent "$d" retransmits "derive-retransmit-*")
	[ -n "$st" ] && { why="plugin has no retransmit option or values yet"; return; }
	for s in $SUBNETS; do
		want=$(awk -v s="$s" '$1 == s { n += $2 } END { print n + 0 }' "$TS_TMP/retrans")
		got=$(csv_last "$d" "$s" derive-retransmit-segments)
		[ "$s" = other ] && [ -z "$got" ] && continue
		[ "$got" = "$want" ] || bad="$bad $s: want $want (TCP_INFO) got '$got';"
	done
	total=$(awk '$1 == "rs" { n += $2 } END { print n + 0 }' "$TS_TMP/retrans")
	[ "$total" -gt 0 ] || bad="$bad the relay caused no retransmission to count;"
	if [ -z "$bad" ]; then
		st=pass why="rs: $(csv_last "$d" rs derive-retransmit-segments) segments = TCP_INFO"
	else
		st=FAIL why=$bad
	fi
}

# rawsock: the raw-socket reader read packet copies of the namespace's flows while they
# ran, and the bytes are still exact everywhere ("other", where an unconnected raw
# socket's bytes would land, 0 0).
check_family_rawsock() {
	local d=$1 raw n
	raw=$(grep raw_bytes= "$TS_TMP/raw.out" 2>/dev/null)
	if [ -z "$raw" ]; then
		st=FAIL why="the raw-socket reader did not run: $(tr '\n' ' ' <"$TS_TMP/raw.err")"
		return
	fi
	n=$(ts_field "$raw" raw_bytes)
	if [ "${n:-0}" -le 0 ]; then
		st=FAIL why="the raw sockets read nothing, so this proves nothing: $raw"
		return
	fi
	check_family_bytes "$d"
	if [ "$st" = pass ]; then
		why="$raw while the flows ran; every subnet exact, other $(csv_last "$d" other if_octets)"
	else
		why="$raw while the flows ran;$why"
	fi
}

# health DIR NAME: the newest value of derive NAME of the empty plugin instance (the
# plugin's own account of what its figures miss); 0 for stash-full when absent.
health() {
	local v
	v=$(csv_last "$1" - "derive-$2")
	[ -n "$v" ] || [ "$2" != stash-full ] || v=0
	echo "$v"
}

# misses DIR: " NAME=N" for every program with recursion misses and every k(ret)probe
# with misses, as the kernel counted them before collectd stopped; " none" if none.
misses() {
	{
		awk '/^[0-9]+: / { for (i = 1; i < NF; i++) {
			if ($i == "name") n = $(i + 1)
			if ($i == "recursion_misses" && $(i + 1) > 0) printf " %s=%s", n, $(i + 1) } }' "$1/progs"
		awk 'NF == 3 && $3 > 0 { printf " %s(kprobe)=%s", $1, $3 }' "$1/kprobe_profile" 2>/dev/null
	} | tr -d '\n' | grep . || echo " none"
}

# The recursion misses of programs other than the RTT ones (*_rtt, *_rtt_owned), and any
# kprobe miss: empty when only RTT sample runs were skipped.
non_rtt_misses() {
	misses "$1" | tr ' ' '\n' | grep -v -E '^$|^none$|^[a-z_]+_rtt(_owned)?=[0-9]+$' || true
}

# stress: the rules are in the header of this file. MODE is the attach mode of the run.
check_family_stress() {
	local d=$1 mode=$2 s want got bad="" figures="" c lost warn
	if [ -s "$TS_TMP/stress.failed" ]; then
		st=FAIL why="ts-stress failed: $(head -n 1 "$TS_TMP/stress.failed")"
		return
	fi
	for s in st sc; do
		want=$(ts_sum "$TS_TMP/stress.expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
		got=$(csv_last "$d" "$s" if_octets)
		figures="$figures $s rx tx '$got' of '$want';"
		[ "$want" = "$got" ] || bad="$bad $s $(echo "${got:-0 0} $want" | awk '{
			printf "rx %+d (%+.4f%%) tx %+d (%+.4f%%)", $1 - $3, ($1 - $3) * 100 / $3,
				$2 - $4, ($2 - $4) * 100 / $4 }');"
	done
	if [ "$(fam_state connections)" != unknown ]; then
		for c in "st opened-active $STRESS_PAIRS" "sc opened-passive $STRESS_PAIRS" \
			"st closed $STRESS_PAIRS" "sc closed $STRESS_PAIRS" "st opened-passive 0" \
			"sc opened-active 0"; do
			# shellcheck disable=SC2086
			set -- $c
			got=$(csv_last "$d" "$1" "connections-$2")
			[ "${got:-0}" = "$3" ] || bad="$bad $1 connections-$2 want $3 got '$got';"
		done
	fi
	# Missed: lost-events, plus kprobe mode's calls not measured for a full stash.
	lost=$(health "$d" lost-events)
	[ -z "$lost" ] || lost=$((lost + $(health "$d" stash-full)))
	figures="$figures health:"
	for c in lost-events stash-full stash-stale storage-failures; do
		figures="$figures $c=$(health "$d" $c)"
	done
	figures="$figures; misses by program:$(misses "$d")"
	warn=$(grep -i 'tcpsubnet plugin: .*lost' "$d/collectd.log" | head -n 1 | sed 's/.*tcpsubnet plugin: //')
	if [ -z "$lost" ]; then
		st=FAIL:nolost
		[ -z "$bad" ] || st=FAIL:inexact
		why="no derive lost-events in the empty plugin instance;$figures$bad"
	elif [ "$lost" = 0 ]; then
		if [ -z "$bad" ]; then
			st=pass why="exact, lost-events 0:$figures"
		else
			st=FAIL:hidden why="lost-events 0 but not exact:$bad$figures"
		fi
	elif [ -z "$warn" ]; then
		st=FAIL:nowarn why="lost-events $lost without a warning in the log;$bad$figures"
	elif [ "$mode" != auto ] && echo " $lossy_modes " | grep -q " $mode "; then
		st=lossy:$lost why="lost-events $lost, warned '$warn';${bad:- exact;}$figures"
	elif [ "$mode" != auto ] && [ -z "$bad" ]; then
		# A forced mode whose bytes and connections are exact while a few runs of another
		# program were skipped and counted (an RTT sample run nested by a softirq): the
		# plugin said so and warned, as a forced mode must.
		st=lossy:$lost why="lost-events $lost, warned '$warn'; bytes and connections exact;$figures"
	elif [ -z "$bad" ] && [ "$(health "$d" stash-full)" = 0 ] && [ -z "$(non_rtt_misses "$d")" ] &&
		misses "$d" | grep -q "_rtt" && ts_lost_only_rtt "$d/collectd.log" >/dev/null; then
		# auto too: its bytes and connections are exact, and the only runs skipped were
		# RTT samples of a softirq that interrupted the RTT program's brief run for an
		# owned socket's segment in process context (the window the owner-flag split
		# leaves: tcpsubnet.bpf.c, above raw_rtt), counted, and warned as RTT samples only.
		st=lossy:$lost why="lost-events $lost, all RTT sample runs, warned '$warn'; bytes and connections exact;$figures"
	else
		st=FAIL:lost why="lost-events $lost (warned '$warn') where $mode must lose nothing;$bad$figures"
	fi
}

# ---- one attach mode ----

# A mode this kernel cannot support must fail to load with exactly one line.
check_refused() {
	local mode=$1 err
	{ cat "$TS_TMP/subnets"; echo "  AttachMode \"$mode\""; } >"$TS_TMP/conf.$mode"
	if "$TS_PROBE" "$TS_TMP/conf.$mode" >/dev/null 2>"$TS_TMP/err"; then
		result attach "$mode" FAIL "loaded although this kernel should refuse it:" \
			"$(tr '\n' ' ' <"$TS_TMP/err")"
		return
	fi
	err=$(cat "$TS_TMP/err")
	case $err in
	"tcpsubnet plugin: AttachMode \"$mode\" does not work on this kernel: "*"; use AttachMode \"auto\"")
		if [ "$(grep -c . "$TS_TMP/err")" != 1 ]; then
			result attach "$mode" FAIL "error is not one line: $(tr '\n' '|' <"$TS_TMP/err")"
		elif [ "$mode" = kprobe ] && [ "$lockdown" = confidentiality ] &&
			! echo "$err" | grep -qi lockdown; then
			result attach "$mode" FAIL "refused without naming lockdown ($lockdown), the cause: $err"
		else
			result attach "$mode" refused "$err"
		fi
		;;
	*) result attach "$mode" FAIL "unexpected error: $(tr '\n' '|' <"$TS_TMP/err")" ;;
	esac
}

# progs: names of the BPF programs in the kernel (the guest runs no others).
progs() {
	bpftool prog show 2>/dev/null | sed -n 's/^[0-9]*: [a-z_]*  *name \([^ ]*\).*/\1/p' |
		sort | tr '\n' ' ' | sed 's/ $//'
}

# The one "attach mode" line collectd logged must name the expected mode and reason.
# PROGS (the programs loaded meanwhile) go into the report.
check_attach_line() {
	local mode=$1 d=$2 progs=$3 want n line chosen
	n=$(grep -c "tcpsubnet plugin: attach mode " "$d/collectd.log")
	line=$(grep "tcpsubnet plugin: attach mode " "$d/collectd.log" | sed 's/.*tcpsubnet plugin: //')
	if [ "$mode" != auto ]; then
		want="attach mode $mode (configured)"
		if [ "$n" = 1 ] && echo "$line" | grep -qF "$want"; then
			result attach "$mode" ok "$line; programs: $progs"
		else
			result attach "$mode" FAIL "want one '$want' line, got $n: $line"
		fi
		return
	fi
	# auto: the predicted first choice with its reason; or, where the plugin cannot see
	# the preemption model (lockdown hides debugfs) and plays safe, another mode that
	# loses nothing here ($auto_ok). A mode that can lose events here is never right
	# while one that cannot works.
	chosen=$(echo "$line" | sed -n 's/^attach mode \([a-z]*\) (auto: .*/\1/p')
	set -- $auto_order
	if [ "$auto_want" = "$1" ]; then
		want="attach mode $auto_want (auto: first choice on this kernel)"
	else
		want="attach mode $auto_want (auto: $1 unavailable"
	fi
	if [ "$n" = 1 ] && echo "$line" | grep -qF "$want"; then
		result attach "$mode" "ok:$chosen" "$line; programs: $progs"
	elif [ "$n" = 1 ] && [ -n "$chosen" ] && echo "$auto_ok " | grep -q " $chosen "; then
		result attach "$mode" "ok:$chosen" "not the predicted '$want' but a mode that" \
			"loses nothing here: $line; $(grep -o 'kernel: preemption.*' "$d/collectd.log");" \
			"programs: $progs"
	else
		result attach "$mode" FAIL "want one '$want' line (or a mode of$auto_ok), got $n: $line"
	fi
}

# started DIR: the plugin dispatched its first values within 60 s; gives up at once when
# collectd says the plugin's init failed.
started() {
	local i
	for i in $(seq 1 600); do
		ls "$1"/csv/tstest/tcpsubnet-a/if_octets-* >/dev/null 2>&1 && return 0
		grep -q "Initialization of plugin .tcpsubnet. failed" "$1/collectd.log" 2>/dev/null &&
			return 1
		sleep 0.1
	done
	return 1
}

# cgroups: the plugin's own loader (ts-probe) in this mode with two Cgroup blocks: a
# client in a child cgroup of one block, the server in the other; both sockets' bytes
# land in their own block exactly. The guest mounts cgroup2 itself.
check_family_cgroups() {
	local root c s out
	st=FAIL
	if ! grep -q ' - cgroup2 ' /proc/self/mountinfo; then
		mkdir -p /sys/fs/cgroup && mount -t cgroup2 none /sys/fs/cgroup ||
			{ why="cannot mount cgroup2"; return; }
	fi
	root=$(awk '{ for (i = 1; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
		/proc/self/mountinfo)
	mkdir -p "$root/tsq-a/child" "$root/tsq-b"
	{
		cat "$TS_TMP/subnets"
		echo "  AttachMode \"$mode\""
		echo "  Cgroup \"/tsq-a\""
		echo "  Cgroup \"/tsq-b\""
	} >"$TS_TMP/cg.conf"
	if ! "$TS_PROBE" "$TS_TMP/cg.conf" -- "$TS_TRAFFIC" --server-netns "$ns" --client-netns "$ns" \
		--listen 198.18.112.1 --connect 198.18.112.1 --bind 198.18.113.1 \
		--server-cgroup "$root/tsq-b" --client-cgroup "$root/tsq-a/child" \
		--bytes 200003 --reply-bytes 100003 >"$TS_TMP/cg.out" 2>"$TS_TMP/cg.err"; then
		why="ts-probe failed: $(tail -n 2 "$TS_TMP/cg.err" | tr '\n' '|')"
		return
	fi
	out=$(grep '^c2s=' "$TS_TMP/cg.out")
	c=$(ts_field "$out" c2s) s=$(ts_field "$out" s2c)
	got=$(awk '$2 == "if_octets" && ($1 == "tsq-a~a" || $1 == "tsq-b~b" || $1 == "other~a" ||
		$1 == "other~b") { printf "%s=%s/%s ", $1, $3, $4 }
		$1 == "-" && $2 == "derive-lost-events" { printf "lost=%s", $3 }' "$TS_TMP/cg.out")
	if [ "$got" = "other~a=0/0 other~b=0/0 tsq-a~a=$s/$c tsq-b~b=$c/$s lost=0" ]; then
		st=pass why="$got"
	else
		why="want tsq-a~a=$s/$c tsq-b~b=$c/$s, others 0; got '$got'"
	fi
}

# socket: the byte paths in this mode with Accounting "socket" (header of this file).
check_family_socket() {
	local mode=$2 TS_TMP=$TS_TMP/paths-$2 n
	st=FAIL
	mkdir -p "$TS_TMP"
	[ -n "$paths_ns" ] || { paths_names; paths_ns=tsqp; paths_netns $paths_ns; }
	paths_conf "$TS_TMP/conf" "Accounting \"socket\"" "AttachMode \"$mode\""
	if ! paths_run "$TS_TMP/conf" $paths_ns; then
		if grep -q 'unknown option "Accounting"' "$TS_TMP/err"; then
			st=n/a why="plugin has no Accounting option yet"
		else
			why="ts-probe failed: $(tail -n 3 "$TS_TMP/err" | tr '\n' '|')"
		fi
		return
	fi
	TS_FAILS=0
	paths_check "socket $mode" socket >"$TS_TMP/check"
	n=$(grep -c '^ok' "$TS_TMP/check")
	if [ "$TS_FAILS" = 0 ] && [ -z "$PATHS_MISSING" ]; then
		st=pass why="$n checks exact ($(echo $PATHS | wc -w) paths x $TS_PATHS_FAMILIES);"
		why="$why $(grep 'lost-events' "$TS_TMP/check" | sed 's/.*: //')"
	else
		why="${PATHS_MISSING:+not built: $PATHS_MISSING; }$(grep FAIL "$TS_TMP/check" | head -n 3 | tr '\n' '|')"
		grep FAIL "$TS_TMP/check" | say
	fi
	TS_FAILS=0
}
paths_ns=""

# stash: kprobe mode's per-thread stash when return probes are missed and it overflows,
# and its recovery (docs/DESIGN.md, "What is exact where"); other modes keep no stash
# (n/a). The plugin's loader, ts-probe, runs a read cycle every 500 ms as collectd would
# (--read-every: with the stash sweep and the one warning), with test-only limits
# (TS_PROBE_MAXACTIVE, TS_PROBE_STASH): STASH_MA return-probe instance per kretprobe and
# a stash of STASH_S threads, instead of 4096 and 16384, which would take thousands of
# threads here.
#   1. ts-blockers block: STASH_N threads blocked in recv() at once (subnet kb), then
#      released and gone: STASH_N - STASH_MA returns are missed, STASH_N - STASH_S calls
#      find the stash full and STASH_S - STASH_MA entries stay behind, of threads whose
#      return never ran (the instance holders were stashed first and clean up);
#   2. until the stash is empty (bpftool; at most 10 s);
#   3. ts-blockers flow: 300,000 bytes one way (subnet kf): one send and one receive in
#      progress at a time, two stash entries (more than the STASH_MA a stash that never
#      recovers keeps free), one instance per kretprobe.
# pass: lost-events >= STASH_N - STASH_MA, stash-full >= STASH_N - STASH_S, stash-stale >=
# STASH_S - STASH_MA, exactly one warning; the stash empty before the flow and after it;
# the flow exact (kf rx = tx = its bytes) with no kretprobe miss during it (kprobe_profile).
STASH_N=16 STASH_MA=1 STASH_S=8
check_family_stash() {
	local out got lost stale full warns flow e1 e2 m1 m2 bad=""
	if [ "$mode" != kprobe ]; then
		st=n/a why="kprobe mode only"
		return
	fi
	{
		echo '  <Subnet "kb">'
		echo '    Prefix "198.18.117.0/24"'
		echo '  </Subnet>'
		echo '  <Subnet "kf">'
		echo '    Prefix "198.18.118.0/24"'
		echo '  </Subnet>'
		echo '  AttachMode "kprobe"'
		echo '  RTT false'
		echo '  Connections false'
		echo '  Retransmits false'
	} >"$TS_TMP/stash.conf"
	cat >"$TS_TMP/stash.sh" <<EOF
#!/bin/sh
entries() { bpftool map dump name kp_stash 2>/dev/null | grep -c '"key": '; }
missed() { awk '\$1 ~ /^ts[0-9]+_krp_/ { n += \$3 } END { print n + 0 }' /sys/kernel/tracing/kprobe_profile; }
/usr/bin/ip netns exec $ns $TS_BLOCKERS block 198.18.117.1 198.18.117.2 $STASH_N 1000 || exit 1
i=0
while [ \$i -lt 40 ] && [ "\$(entries)" != 0 ]; do sleep 0.25; i=\$((i + 1)); done
echo "entries-before-flow=\$(entries) missed-before-flow=\$(missed)"
/usr/bin/ip netns exec $ns $TS_BLOCKERS flow 198.18.118.1 198.18.118.2 300000 || exit 1
echo "entries-after-flow=\$(entries) missed-after-flow=\$(missed)"
EOF
	chmod +x "$TS_TMP/stash.sh"
	if ! TS_PROBE_MAXACTIVE=$STASH_MA TS_PROBE_STASH=$STASH_S "$TS_PROBE" "$TS_TMP/stash.conf" \
		--read-every 500 -- "$TS_TMP/stash.sh" >"$TS_TMP/stash.out" 2>"$TS_TMP/stash.err"; then
		st=FAIL why="ts-probe failed: $(tail -n 3 "$TS_TMP/stash.err" | tr '\n' '|')"
		return
	fi
	out=$(tr '\n' ' ' <"$TS_TMP/stash.out")
	lost=$(awk '$1 == "-" && $2 == "derive-lost-events" { print $3 }' "$TS_TMP/stash.out")
	stale=$(awk '$1 == "-" && $2 == "derive-stash-stale" { print $3 }' "$TS_TMP/stash.out")
	full=$(awk '$1 == "-" && $2 == "derive-stash-full" { print $3 }' "$TS_TMP/stash.out")
	warns=$(grep -c 'tcpsubnet plugin: the figures are incomplete' "$TS_TMP/stash.err")
	flow=$(ts_field "$out" c2s)
	e1=$(ts_field "$out" entries-before-flow) e2=$(ts_field "$out" entries-after-flow)
	m1=$(ts_field "$out" missed-before-flow) m2=$(ts_field "$out" missed-after-flow)
	got=$(awk '$1 == "kf" && $2 == "if_octets" { print $3, $4 }' "$TS_TMP/stash.out")
	[ "${lost:-0}" -ge $((STASH_N - STASH_MA)) ] || bad="$bad lost-events '$lost' < $((STASH_N - STASH_MA));"
	[ "${full:-0}" -ge $((STASH_N - STASH_S)) ] || bad="$bad stash-full '$full' < $((STASH_N - STASH_S));"
	[ "${stale:-0}" -ge $((STASH_S - STASH_MA)) ] || bad="$bad stash-stale '$stale' < $((STASH_S - STASH_MA));"
	[ "$warns" = 1 ] || bad="$bad $warns warnings, want 1;"
	[ "$e1" = 0 ] || bad="$bad stash not swept: $e1 entries left 10 s after the blockers exited;"
	[ "$e2" = 0 ] || bad="$bad $e2 stash entries after the flow;"
	[ -n "$m1" ] && [ "$m1" = "$m2" ] || bad="$bad kretprobe misses during the flow: $m1 -> $m2;"
	[ -n "$flow" ] && [ "$got" = "$flow $flow" ] || bad="$bad flow: want kf rx tx '$flow $flow' got '$got';"
	why="blockers $STASH_N (maxactive $STASH_MA, stash $STASH_S): lost-events $lost, stash-stale $stale,"
	why="$why stash-full $full, $warns warning; stash entries $e1 before the flow, $e2 after;"
	why="$why flow kf rx tx '$got' of $flow, kretprobe misses $m1 -> $m2"
	if [ -z "$bad" ]; then
		st=pass
	else
		st=FAIL why="$bad $why"
	fi
}

N_RUN=0
run_mode() {
	local mode=$1 d=$TS_TMP/run-$1 t0 fam opt where ssub csub args line done_at i last ra rb left
	local t_up t_flows t_stress t_stop
	t0=$(now)
	N_RUN=$((N_RUN + 1))
	if [ "$(expect_mode "$mode")" = refused ]; then
		check_refused "$mode"
		for fam in $FAMILIES; do
			result family "$mode" "$fam" n/a "mode refused on this kernel"
		done
		result time "$mode" $(($(now) - t0))
		return
	fi
	{
		cat "$TS_TMP/subnets"
		echo "  AttachMode \"$mode\""
		for fam in $FAMILIES; do
			[ "$(fam_state "$fam")" = option ] && eval "echo \"  \$fam_opt_$fam\""
		done
	} >"$TS_TMP/block.$mode"
	# A fresh relay for every mode: its drop budget (--drop-max) is per relay.
	ra=tsqa$N_RUN rb=tsqb$N_RUN
	if [ $tun = yes ]; then
		# shellcheck disable=SC2086
		ts_delay_link tsd$N_RUN $ra 198.18.120.1 2001:db8:120::1 $rb 198.18.121.1 \
			2001:db8:121::1 $RELAY_MS $RELAY_DROPS
	fi
	ts_collectd_conf "$d" "$TS_TMP/block.$mode"
	# (An empty pattern file matches nothing: the kprobe check below needs a non-empty one.)
	{ echo "#"; cat /sys/kernel/tracing/kprobe_events 2>/dev/null; } >"$TS_TMP/kprobe_events.before"
	ts_collectd_start "$d"
	# Traffic starts once the plugin has dispatched, so its programs are attached.
	if ! started "$d"; then
		ts_collectd_stop
		result attach "$mode" FAIL "init failed or no values within 60 s: $(grep tcpsubnet "$d/collectd.log" |
			tail -n 3 | tr '\n' '|')"
		say <"$d/collectd.log"
		for fam in $FAMILIES; do
			result family "$mode" "$fam" FAIL "plugin did not start"
		done
		result time "$mode" $(($(now) - t0))
		return
	fi
	check_attach_line "$mode" "$d" "$(progs)"
	t_up=$(now)

	t_traffic=$(date +%s)
	: >"$TS_TMP/expect"
	: >"$TS_TMP/conns"
	: >"$TS_TMP/retrans"
	: >"$TS_TMP/traffic.failed"
	: >"$TS_TMP/stress.expect"
	: >"$TS_TMP/stress.failed"
	# The raw-socket reader of the rawsock check, in the namespace of the loopback flows.
	# Not through the ip function: $! must be the reader itself (ip netns exec execs it).
	/usr/bin/ip netns exec "$ns" "$TS_STRESS" --raw >"$TS_TMP/raw.out" 2>"$TS_TMP/raw.err" &
	raw_pid=$!
	for i in $(seq 1 50); do
		grep -q ready "$TS_TMP/raw.out" && break
		sleep 0.1
	done
	while read -r where ssub csub args; do
		if [ $where = relay ] && [ $tun = no ]; then
			echo "$args (no /dev/net/tun for the relay)" >>"$TS_TMP/traffic.failed"
			continue
		fi
		if [ $where = lo ]; then
			set -- ip netns exec "$ns" "$TS_TRAFFIC"
		else
			set -- "$TS_TRAFFIC" --client-netns "$ra" --server-netns "$rb"
		fi
		# shellcheck disable=SC2086
		if line=$("$@" $args 2>"$TS_TMP/traffic.err"); then
			ts_expect_add "$TS_TMP/expect" "$ssub" "$csub" "$line"
			printf '%s opened-active\n%s opened-passive\n%s closed\n%s closed\n' \
				"$ssub" "$csub" "$ssub" "$csub" >>"$TS_TMP/conns"
			echo "$ssub $(ts_field "$line" retrans_client)" >>"$TS_TMP/retrans"
			echo "$csub $(ts_field "$line" retrans_server)" >>"$TS_TMP/retrans"
		else
			# No ground truth for this flow: every family's figures are now off.
			echo "traffic failed: $args: $(cat "$TS_TMP/traffic.err")" | say
			echo "$args" >>"$TS_TMP/traffic.failed"
		fi
	done <"$TS_TMP/flows"
	kill "$raw_pid" 2>/dev/null
	wait "$raw_pid" 2>/dev/null
	t_flows=$(now)
	# shellcheck disable=SC2086
	if line=$(ip netns exec "$ns" "$TS_STRESS" $STRESS 2>"$TS_TMP/stress.err"); then
		ts_expect_add "$TS_TMP/stress.expect" st sc "$line"
		STRESS_PAIRS=$(ts_field "$line" pairs)
	else
		echo "$STRESS: $(cat "$TS_TMP/stress.err")" >>"$TS_TMP/stress.failed"
	fi
	done_at=$(date +%s)
	t_stress=$(now)
	# Wait for a read cycle that started after the traffic ended, then one more.
	for i in $(seq 1 150); do
		last=$(csv_files "$d" a if_octets | xargs cat | tail -n 1 | cut -d. -f1 | cut -d, -f1)
		[ -n "$last" ] && [ "$last" -gt "$done_at" ] 2>/dev/null && break
		sleep 0.1
	done
	sleep 1.2
	# Where missed events come from, while the programs are still loaded: per program
	# the kernel's recursion misses, per k(ret)probe its misses.
	bpftool prog show >"$d/progs" 2>&1
	cat /sys/kernel/tracing/kprobe_profile >"$d/kprobe_profile" 2>/dev/null
	ts_collectd_stop
	# Nothing stays in the kernel once collectd is gone (freeing is deferred a little).
	for i in $(seq 1 20); do
		[ -z "$(progs)" ] && break
		sleep 0.5
	done
	[ -z "$(progs)" ] || result attach "$mode" FAIL "BPF programs left behind: $(progs)"
	# kprobe mode may create its probes through tracefs; they go with collectd too.
	left=$(cat /sys/kernel/tracing/kprobe_events 2>/dev/null | grep -vxF -f "$TS_TMP/kprobe_events.before")
	[ -z "$left" ] || result attach "$mode" FAIL "kprobe events left behind in tracefs: $(echo "$left" | tr '\n' ' ')"

	t_stop=$(now)
	last_table "$d"
	for fam in $FAMILIES; do
		st=FAIL why="no check function check_family_$fam"
		command -v "check_family_$fam" >/dev/null && "check_family_$fam" "$d" "$mode"
		[ -s "$TS_TMP/traffic.failed" ] && [ "$st" != n/a ] && [ "$fam" != stress ] &&
			st=FAIL why="the test traffic failed: $(head -n 1 "$TS_TMP/traffic.failed")"
		result family "$mode" "$fam" "$st" "$why"
	done
	if grep -q "tcpsubnet.*rror\|tcpsubnet.*failed" "$d/collectd.log"; then
		result attach "$mode" FAIL "errors in collectd's log"
		grep tcpsubnet "$d/collectd.log" | say
	fi
	result time "$mode" "$(($(now) - t0)) (start $((t_up - t0)), flows $((t_flows - t_up))," \
		"stress $((t_stress - t_flows)), stop $((t_stop - t_stress)), checks $(($(now) - t_stop)))"
}

for mode in $(cat /ts/modes); do
	run_mode "$mode"
done
result time boot-to-end $(($(now) - t_boot))
finish
