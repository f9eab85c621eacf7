# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers of the shell tests (sourced). Environment from Makefile.am:
# top_srcdir, top_builddir, COLLECTD. TS_STRICT=1 (set by .ci/run) turns skips into
# failures: CI can run real BPF, so a skip there hides a broken test.

set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${COLLECTD:=/usr/sbin/collectd}"
TS_PROBE=$top_builddir/tests/ts-probe
TS_TRAFFIC=$top_builddir/tests/ts-traffic
TS_NETNS=""
TS_TMP=""
TS_FAILS=0

ts_skip() {
	if [ "${TS_STRICT:-0}" = 1 ]; then
		echo "FAIL (TS_STRICT=1 forbids skipping): $*"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

ts_fail() {
	echo "FAIL: $*"
	TS_FAILS=$((TS_FAILS + 1))
}

ts_pass() {
	echo "ok: $*"
}

ts_cleanup() {
	local ns
	[ -n "${TS_NETNS_PIDS:-}" ] && kill $TS_NETNS_PIDS 2>/dev/null
	for ns in $TS_NETNS; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "$TS_TMP" ] && rm -rf "$TS_TMP"
	[ -n "${TS_CGDIR:-}" ] && ts_cgroup_remove "$TS_CGDIR"
	return 0
}
trap ts_cleanup EXIT
trap 'exit 1' INT TERM

# Real BPF needs root (CAP_BPF/CAP_PERFMON), kernel BTF and iproute2.
ts_require_bpf() {
	[ "$(id -u)" = 0 ] || ts_skip "needs root for BPF and network namespaces"
	[ -r /sys/kernel/btf/vmlinux ] || ts_skip "kernel has no BTF (/sys/kernel/btf/vmlinux)"
	command -v ip >/dev/null || ts_skip "iproute2 (ip) is not installed"
}

ts_tmpdir() {
	TS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tcpsubnet-test.XXXXXX")
}

# ts_netns NAME ADDR...: a namespace with lo up and the addresses on lo.
ts_netns() {
	local ns=$1 a
	shift
	ip netns add "$ns" || ts_skip "cannot create network namespace $ns"
	TS_NETNS="$TS_NETNS $ns"
	ip -n "$ns" link set lo up
	for a in "$@"; do
		case $a in
		*:*) ip -n "$ns" addr add "$a/128" dev lo nodad ;;
		*) ip -n "$ns" addr add "$a/32" dev lo ;;
		esac
	done
}

# ts_expect_add FILE SERVER_SUBNET CLIENT_SUBNET TRAFFIC_LINE
# The server-side subnet sends s2c and receives c2s as seen from the client's socket:
# the client's socket has the server as peer (tx=c2s, rx=s2c), the server's socket has
# the client as peer (rx=c2s, tx=s2c). Appends "subnet rx tx" rows.
ts_expect_add() {
	local file=$1 ssub=$2 csub=$3 line=$4 c2s s2c
	c2s=$(echo "$line" | sed -n 's/.*c2s=\([0-9]*\).*/\1/p')
	s2c=$(echo "$line" | sed -n 's/.*s2c=\([0-9]*\).*/\1/p')
	[ -n "$c2s" ] && [ -n "$s2c" ] || { ts_fail "bad traffic output: $line"; return; }
	echo "$ssub $s2c $c2s" >>"$file"
	echo "$csub $c2s $s2c" >>"$file"
}

# ts_sum FILE: sums rows "subnet rx tx" per subnet, sorted.
ts_sum() {
	awk '{ rx[$1] += $2; tx[$1] += $3 } END { for (s in rx) printf "%s %.0f %.0f\n", s, rx[s], tx[s] }' "$1" |
		sort
}

# ts_acct_conf CONF: CONF, or with TS_ACCOUNTING set (tests/bpf-socket.sh runs other
# tests so) a copy of it that adds Accounting "$TS_ACCOUNTING"; prints the path. The
# probe helpers below pass TS_PROBE_ARGS (e.g. --read-every 5) to ts-probe.
ts_acct_conf() {
	[ -n "${TS_ACCOUNTING:-}" ] || { echo "$1"; return; }
	{ cat "$1"; echo "Accounting \"$TS_ACCOUNTING\""; } >"$1.acct"
	echo "$1.acct"
}

# ts_probe_flows WHAT CONF FLOWS NS: runs ts-probe with CONF around every flow of FLOWS
# (lines "server-subnet client-subnet ts-traffic-args...") inside namespace NS (with
# TS_FLOW_TOOL, another tool that prints "c2s=N s2c=M"). Leaves the plugin's figures in
# $TS_TMP/got, the expected ones in $TS_TMP/expect and the loader's stderr in
# $TS_TMP/err. Returns ts-probe's exit status.
ts_probe_flows() {
	local what=$1 conf=$2 flows=$3 ns=$4 rc=0 ssub csub line
	cat >"$TS_TMP/run-flows" <<RUN
#!/bin/sh
while read -r ssub csub args; do
	out=\$(ip netns exec $ns "${TS_FLOW_TOOL:-$TS_TRAFFIC}" \$args) || { echo "traffic failed: \$args" >&2; exit 1; }
	echo "\$ssub \$csub \$out"
done <"$flows" >"$TS_TMP/moved"
RUN
	chmod +x "$TS_TMP/run-flows"
	: >"$TS_TMP/expect"
	: >"$TS_TMP/moved"
	conf=$(ts_acct_conf "$conf")
	# shellcheck disable=SC2086 # TS_PROBE_ARGS: words on purpose
	"$TS_PROBE" "$conf" ${TS_PROBE_ARGS:-} -- "$TS_TMP/run-flows" >"$TS_TMP/got" 2>"$TS_TMP/err" || rc=$?
	while read -r ssub csub line; do
		ts_expect_add "$TS_TMP/expect" "$ssub" "$csub" "$line"
	done <"$TS_TMP/moved"
	return $rc
}

# ts_check_exact WHAT SUBNET...: the plugin's rx/tx equal the expected ones exactly.
ts_check_exact() {
	local what=$1 s want got
	shift
	for s in "$@"; do
		want=$(ts_sum "$TS_TMP/expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
		got=$(awk -v s="$s" '$1 == s && $2 == "if_octets" { print $3, $4 }' "$TS_TMP/got")
		[ -n "$want" ] || want="0 0"
		if [ "$want" = "$got" ]; then
			ts_pass "$what: $s rx tx = $got"
		else
			ts_fail "$what: $s: want rx tx '$want', got '$got'"
		fi
	done
	ts_check_lost "$what"
}

# ts_lost_only_rtt LOG...: the plugin's warnings in LOG (ts-probe's stderr, collectd's
# log) say that every skipped run so far was an RTT program's (an RTT sample not taken:
# the kernel skips a tcp_probe program nested into its own run, which no arrangement of
# programs avoids; docs/DESIGN.md, "What is exact where"), and none cost bytes or
# connections. Prints the warning's count and programs when so.
ts_lost_only_rtt() {
	grep -q 'tcpsubnet plugin: RTT samples are incomplete' "$@" 2>/dev/null &&
		! grep -q 'tcpsubnet plugin: the figures are incomplete' "$@" 2>/dev/null &&
		grep -h -m 1 -o 'skipped [0-9]* runs\? of the RTT program ([^)]*)' "$@"
}

# ts_check_lost WHAT: the plugin says it missed nothing: lost-events (and stash-full)
# are present and 0 in ts-probe's output ($TS_TMP/got); or stash-full is 0 and every
# lost event was a skipped RTT sample, which ts-probe's stderr ($TS_TMP/err) says (the
# byte and connection checks stay exact).
ts_check_lost() {
	local what=$1 got rtt
	got=$(awk '$1 == "-" && ($2 == "derive-lost-events" || $2 == "derive-stash-full") {
		printf "%s=%s ", $2, $3 }' "$TS_TMP/got")
	case $got in
	*lost-events=0\ *stash-full=0\ * | *stash-full=0\ *lost-events=0\ *)
		ts_pass "$what: ${got% }"
		return ;;
	*lost-events=[1-9]*stash-full=0\ * | *stash-full=0\ *lost-events=[1-9]*)
		if rtt=$(ts_lost_only_rtt "$TS_TMP/err"); then
			ts_pass "$what: ${got% }, RTT samples only: $rtt"
			return
		fi ;;
	esac
	ts_fail "$what: the plugin reports missed events or none at all: '${got% }'" \
		"$(grep -h -m 1 -o 'skipped [0-9]* runs.*' "$TS_TMP"/*err* 2>/dev/null | head -n 1)"
}

# ts_check_at_least WHAT SUBNET: other host traffic may add to it meanwhile.
ts_check_at_least() {
	local what=$1 s=$2 want got
	want=$(ts_sum "$TS_TMP/expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
	got=$(awk -v s="$s" '$1 == s && $2 == "if_octets" { print $3, $4 }' "$TS_TMP/got")
	if echo "${want:-0 0} ${got:-x x}" | awk '{ exit !($3 >= $1 && $4 >= $2) }'; then
		ts_pass "$what: $s rx tx = $got (>= $want moved by the test)"
	else
		ts_fail "$what: $s: want at least '$want', got '$got'"
	fi
}

# ts_kernel_has TYPE NAME: the running kernel's BTF has it (e.g. FUNC tcp_sendpage).
ts_kernel_has() {
	bpftool btf dump file /sys/kernel/btf/vmlinux format raw 2>/dev/null |
		grep -q "] $1 '$2'"
}

# ---- a real collectd daemon in a temporary folder ----

# ts_collectd_conf DIR PLUGIN-BLOCK-FILE: writes DIR/collectd.conf (Hostname
# $TS_HOSTNAME, default tstest) with logfile, csv (absolute DERIVE values) and load (a
# bystander plugin that must keep working), plus tcpsubnet with the given
# <Plugin tcpsubnet> contents. Plugins are copied into DIR because collectd refuses
# symlinks.
ts_collectd_conf() {
	local dir=$1 block=$2 p
	mkdir -p "$dir/plugins" "$dir/csv"
	for p in csv logfile load; do
		cp "/usr/lib/collectd/$p.so" "$dir/plugins/" || ts_skip "collectd plugin $p.so missing"
	done
	cp "$top_builddir/.libs/tcpsubnet.so" "$dir/plugins/" || ts_fail "plugin not built"
	cat >"$dir/collectd.conf" <<CONF
Hostname "${TS_HOSTNAME:-tstest}"
FQDNLookup false
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
PluginDir "$dir/plugins"
TypesDB "/usr/share/collectd/types.db"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/csv"
  StoreRates false
</Plugin>
LoadPlugin load
LoadPlugin tcpsubnet
<Plugin tcpsubnet>
$(cat "$block")
</Plugin>
CONF
}

# ts_collectd_start DIR: runs collectd -f in the background (killed at exit).
ts_collectd_start() {
	[ -x "$COLLECTD" ] || ts_skip "collectd is not installed ($COLLECTD)"
	timeout 120 "$COLLECTD" -f -C "$1/collectd.conf" >"$1/stdout" 2>&1 &
	TS_COLLECTD_PID=$!
	TS_NETNS_PIDS="${TS_NETNS_PIDS:-} $TS_COLLECTD_PID" # killed by ts_cleanup
}

ts_collectd_stop() {
	kill "$TS_COLLECTD_PID" 2>/dev/null
	wait "$TS_COLLECTD_PID" 2>/dev/null
	return 0
}

# ts_wait_file GLOB SECONDS: waits until a file matching GLOB exists.
ts_wait_file() {
	local i=0
	while [ $i -lt $(($2 * 10)) ]; do
		# shellcheck disable=SC2086
		ls $1 >/dev/null 2>&1 && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# ts_csv_last DIR INSTANCE: "epoch rx tx" of the newest value of tcpsubnet-INSTANCE.
ts_csv_last() {
	local inst
	inst=$(echo "$2" | tr / _)
	cat "$1"/csv/tstest/tcpsubnet-"$inst"/if_octets-* 2>/dev/null | tail -n 1 | tr , ' '
}

# ts_csv_wait_cycle DIR INSTANCE: waits until INSTANCE's CSV has a reading from a read
# cycle that started after now, then 1.2 s more (the cycle's other values, a flush).
ts_csv_wait_cycle() {
	local at i last
	at=$(date +%s)
	for i in $(seq 1 100); do
		last=$(ts_csv_last "$1" "$2" | cut -d' ' -f1 | cut -d. -f1)
		[ -n "$last" ] && [ "$last" -gt "$at" ] && break
		sleep 0.1
	done
	sleep 1.2
}

# ts_delay_link NAME NS_A ADDR4_A ADDR6_A NS_B ADDR4_B ADDR6_B DELAY_MS [ts-delay opts]:
# two namespaces joined by tests/ts-delay (a tun relay holding each packet DELAY_MS),
# so TCP between ADDR_A and ADDR_B sees an RTT of about 2 x DELAY_MS. The relay is
# stopped and the namespaces deleted at exit.
ts_delay_link() {
	local name=$1 na=$2 a4=$3 a6=$4 nb=$5 b4=$6 b6=$7 ms=$8 i
	shift 8
	ip netns add "$na" && ip netns add "$nb" || ts_skip "cannot create network namespaces"
	TS_NETNS="$TS_NETNS $na $nb"
	"$top_builddir/tests/ts-delay" --tun "${name}a" --tun "${name}b" --delay-ms "$ms" "$@" \
		>"$TS_TMP/$name.ready" 2>"$TS_TMP/$name.log" &
	TS_NETNS_PIDS="${TS_NETNS_PIDS:-} $!"
	# Real-time priority: on a loaded host a relay that waits for the CPU adds its wait
	# to every RTT and the known delay is lost.
	chrt -a -f -p 10 $! >/dev/null 2>&1 || true
	for i in $(seq 1 50); do
		grep -q ready "$TS_TMP/$name.ready" 2>/dev/null && break
		sleep 0.1
	done
	grep -q ready "$TS_TMP/$name.ready" ||
		ts_skip "tun devices unavailable: $(cat "$TS_TMP/$name.log")"
	ip link set "${name}a" netns "$na" && ip link set "${name}b" netns "$nb"
	for i in "$na ${name}a $a4 $a6 $b4 $b6" "$nb ${name}b $b4 $b6 $a4 $a6"; do
		# shellcheck disable=SC2086
		set -- $i
		ip -n "$1" link set lo up
		# A long device queue: a local transmit failure would make TCP_INFO count a
		# retransmission attempt that never left the host.
		ip -n "$1" link set "$2" txqueuelen 10000 up
		ip -n "$1" addr add "$3/32" dev "$2"
		ip -n "$1" addr add "$4/128" dev "$2" nodad
		ip -n "$1" route add "$5/32" dev "$2"
		ip -n "$1" route add "$6/128" dev "$2"
	done
}

# ts_field LINE KEY: the value of KEY=... in a ts-traffic output line.
ts_field() {
	echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

# ts_value INSTANCE TYPE-INSTANCE: a value from ts-probe's output in $TS_TMP/got.
ts_value() {
	awk -v i="$1" -v t="$2" '$1 == i && $2 == t { print $3 }' "$TS_TMP/got"
}

# ts_memo_pad IN OUT: the configuration IN plus a subnet of 40 prefixes that no test
# traffic uses (100.64.0.0/18), so the trie is large enough for the typed programs'
# per-socket memo (more than 32 prefixes, see plugin/tsbpf.c). The same exact figures
# must come out with and without it.
ts_memo_pad() {
	{
		cat "$1"
		echo '<Subnet "memo-pad">'
		for i in $(seq 0 39); do echo "  Prefix \"100.64.$i.0/24\""; done
		echo '</Subnet>'
	} >"$2"
}

# ts_probe_run CONF FLOWS [LAUNCHER...]: ts-probe with CONF around one run of every flow
# of FLOWS (ts-traffic argument lines), each as `LAUNCHER ts-traffic ARGS`; the traffic
# lines go to $TS_TMP/moved (ts_moved N), the values to $TS_TMP/got. Failures name $label.
ts_probe_run() {
	local conf=$1 flows=$2 args w pre=""
	shift 2
	for w in "$@"; do pre="$pre \"$w\""; done
	printf '#!/bin/sh\nset -e\n' >"$TS_TMP/run"
	while read -r args; do
		echo "$pre \"$TS_TRAFFIC\" $args" >>"$TS_TMP/run"
	done <"$flows"
	chmod +x "$TS_TMP/run"
	conf=$(ts_acct_conf "$conf")
	# shellcheck disable=SC2086 # TS_PROBE_ARGS: words on purpose
	"$TS_PROBE" "$conf" ${TS_PROBE_ARGS:-} -- "$TS_TMP/run" >"$TS_TMP/out" 2>"$TS_TMP/err" ||
		{ ts_fail "$label: ts-probe: $(cat "$TS_TMP/err")"; return 1; }
	grep "^c2s=" "$TS_TMP/out" >"$TS_TMP/moved"
	grep -v "^c2s=" "$TS_TMP/out" >"$TS_TMP/got"
}
ts_moved() { sed -n "${1}p" "$TS_TMP/moved"; }
ts_add() { echo "$@" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }'; }

# ts_expect INSTANCE TYPE WANT: the value(s) of INSTANCE TYPE in $TS_TMP/got are WANT.
ts_expect() {
	local inst=$1 what=$2 want=$3 got
	got=$(awk -v i="$inst" -v t="$what" '$1 == i && $2 == t { $1 = ""; $2 = ""; print substr($0, 3) }' \
		"$TS_TMP/got")
	[ "$got" = "$want" ] && ts_pass "$label: $inst $what = $got" ||
		ts_fail "$label: $inst $what: want '$want', got '$got'"
}

# ---- real cgroups (cgroup v2) ----

# ts_cgroup_tree NAME: creates <cgroup2 root>/tcpsubnet-test-NAME (removed at exit) and
# sets TS_CGROOT (the cgroup2 mount, from mountinfo like the plugin) and TS_CGDIR.
# Writing a PID into DIR/cgroup.procs moves a process; `ip netns exec` hides cgroupfs,
# so test processes enter namespaces with ts-traffic --server-netns/--client-netns.
ts_cgroup_tree() {
	TS_CGROOT=$(awk '{ for (i = 1; i < NF; i++) if ($i == "-") { if ($(i + 1) == "cgroup2") { print $5; exit } break } }' \
		/proc/self/mountinfo)
	[ -n "$TS_CGROOT" ] || ts_skip "no cgroup2 filesystem in /proc/self/mountinfo"
	TS_CGDIR=$TS_CGROOT/tcpsubnet-test-$1
	mkdir "$TS_CGDIR" || ts_skip "cannot create cgroup $TS_CGDIR"
}

# ts_cgroup_remove DIR: ends the processes left in DIR and below, removes the cgroups.
ts_cgroup_remove() {
	[ -d "$1" ] || return 0
	find "$1" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill 2>/dev/null
	sleep 0.2
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
	[ -d "$1" ] && sleep 1 && find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
	return 0
}
