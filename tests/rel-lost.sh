#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Nothing lost. Two full-duplex TCP streams, one pinned to each CPU (IPv4 on CPU 0,
# IPv6 on CPU 1), move as much as they can for TS_REL_SECONDS (60; make distcheck 8;
# scripts/soak an hour) while collectd reads every 50 ms and its csv writer stores the
# absolute counters (StoreRates false). Then, for every subnet and direction:
#   - the counters never go backwards from one read to the next;
#   - the sum of the per-interval deltas equals the bytes the streams moved (ts-stream
#     checks that every byte sent was received), exactly; the first read is before
#     the traffic, so that sum is also the last cumulative value;
#   - reads kept happening during the traffic (figures printed), and both CPUs' counter
#     slots in the kernel hold bytes (bpftool dumps the per-CPU map).
# A read during heavy traffic does not block the datapath: the same streams run once
# with collectd reading every 5 ms and once with it reading once, for
# TS_REL_TPUT_SECONDS (10; distcheck 3) each; the throughput ratio is printed. Reads
# take no lock the datapath waits on (per-CPU slots, lock-free array lookup), so the
# only cost is the CPU time the reader uses on this 2-CPU machine; the test asserts
# only a generous sanity bound (ratio > 0.5), never a timing.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
ts_require_bpf
command -v taskset >/dev/null || ts_skip "taskset (util-linux) is not installed"
ts_tmpdir
rel_plugins
secs=$(rel_seconds TS_REL_SECONDS 60 8)
tput_secs=$(rel_seconds TS_REL_TPUT_SECONDS 10 3)
ncpu=$(nproc)
cpu_a=0
cpu_b=$((ncpu > 1 ? 1 : 0))

ns=tslost$$
ts_netns "$ns" 198.19.132.1 198.19.133.1 2001:db8:8132::1 2001:db8:8133::1
cat >"$TS_TMP/block" <<'CONF'
Subnet "198.19.132.0/24"
Subnet "198.19.133.0/24"
<Subnet "v6-srv">
  Prefix "2001:db8:8132::/48"
</Subnet>
<Subnet "v6-cli">
  Prefix "2001:db8:8133::/48"
</Subnet>
ReportUnmatched false
CONF

# streams SECONDS: both streams at once, one per CPU; leaves their output in
# $TS_TMP/a.out and $TS_TMP/b.out.
streams() {
	ip netns exec "$ns" taskset -c "$cpu_a" "$TS_STREAM" --listen 198.19.132.1 \
		--connect 198.19.132.1 --bind 198.19.133.1 --seconds "$1" >"$TS_TMP/a.out" &
	pa=$!
	ip netns exec "$ns" taskset -c "$cpu_b" "$TS_STREAM" --listen 2001:db8:8132::1 \
		--connect 2001:db8:8132::1 --bind 2001:db8:8133::1 --seconds "$1" >"$TS_TMP/b.out" &
	pb=$!
	wait $pa || rel_fail "IPv4 stream failed"
	wait $pb || rel_fail "IPv6 stream failed"
}
field() {
	sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2"
}

# ---- exact sums over a long concurrent run ----
d=$TS_TMP/lost
rel_conf "$d" "$TS_TMP/block" 0.05
rel_start "$d"
glob_a="$d/csv/tstest/tcpsubnet-198.19.132.0_24/if_octets-*"
rel_wait_rows "$glob_a" 2 20 && rel_pid "$d" || { rel_fail "no values: $(cat "$d/collectd.log")"; exit 1; }
t_start=$(date +%s.%N)
streams "$secs"
t_end=$(date +%s.%N)
# One read after the traffic ended, so the last value holds everything.
i=0
while [ $i -lt 200 ]; do
	last=$(cat $glob_a | tail -n 1 | cut -d, -f1)
	awk -v a="$last" -v b="$t_end" 'BEGIN { exit !(a > b + 0.1) }' && break
	sleep 0.05
	i=$((i + 1))
done
# Both CPUs' slots of the counters map, while collectd still holds it.
percpu=""
for id in $(sed -n 's/^map_id:[[:space:]]*//p' /proc/"$REL_PID"/fdinfo/* 2>/dev/null | sort -u); do
	bpftool map show id "$id" 2>/dev/null | grep -q "name counters " || continue
	percpu=$(bpftool -j map dump id "$id" 2>/dev/null | tr '{' '\n' |
		sed -n 's/^"cpu":\([0-9]*\),"value":$/\1/p; s/^"rx_bytes":\([0-9]*\),"tx_bytes":\([0-9]*\)[,}].*/\1 \2/p' |
		awk 'NF == 1 { cpu = $1; next } { rx[cpu] += $1; tx[cpu] += $2 }
			END { for (c in rx) printf "CPU %s rx=%.0f tx=%.0f\n", c, rx[c], tx[c] }' |
		sort | paste -sd ';' -)
done
rel_stop "$d"
[ "$REL_DIED" = no ] || rel_fail "collectd did not stop normally"
[ -z "$(rel_errors "$d")" ] || rel_fail "errors: $(rel_errors "$d")"

c2s_a=$(field c2s "$TS_TMP/a.out") s2c_a=$(field s2c "$TS_TMP/a.out")
c2s_b=$(field c2s "$TS_TMP/b.out") s2c_b=$(field s2c "$TS_TMP/b.out")
moved=$(awk -v a="$c2s_a" -v b="$s2c_a" -v c="$c2s_b" -v e="$s2c_b" 'BEGIN { printf "%.0f", a + b + c + e }')
rel_pass "streams: IPv4 on CPU $cpu_a c2s=$c2s_a s2c=$s2c_a, IPv6 on CPU $cpu_b c2s=$c2s_b s2c=$s2c_b in $(field seconds "$TS_TMP/a.out") s ($(awk -v m="$moved" -v s="$secs" 'BEGIN { printf "%.0f MB/s", m / s / 1e6 }') in total)"

# check SUBNET WANT-RX WANT-TX
check() {
	local inst=$1 want_rx=$2 want_tx=$3 res
	res=$(cat "$d/csv/tstest/tcpsubnet-$(echo "$inst" | tr / _)"/if_octets-* | grep -v '^epoch' |
		sort -t, -k1,1n | awk -F, -v t0="$t_start" -v t1="$t_end" '
		!/^[0-9]+(\.[0-9]+)?,[0-9]+,[0-9]+$/ { bad++; next }
		++n == 1 { first_rx = $2; first_tx = $3; prx = $2; ptx = $3; pt = $1; next }
		{
			drx = $2 - prx; dtx = $3 - ptx
			if (drx < 0 || dtx < 0) back++
			srx += drx; stx += dtx
			if (drx > 0 || dtx > 0) moving++
			if ($1 >= t0 && $1 <= t1) during++
			if ($1 - pt > gap) gap = $1 - pt
			prx = $2; ptx = $3; pt = $1
		}
		END { printf "%d %d %.0f %.0f %.0f %.0f %.0f %.0f %d %.3f %d", n, back + 0,
			first_rx, first_tx, srx, stx, prx, ptx, during + 0, gap, bad + 0 }')
	# shellcheck disable=SC2086
	set -- $res
	local reads=$1 back=$2 frx=$3 ftx=$4 srx=$5 stx=$6 lrx=$7 ltx=$8 during=$9 gap=${10} bad=${11}
	if [ "$bad" != 0 ]; then
		rel_fail "$inst: $bad malformed csv rows"
	elif [ "$back" != 0 ]; then
		rel_fail "$inst: the counters went backwards $back times"
	elif [ "$frx $ftx" != "0 0" ]; then
		rel_fail "$inst: the first read was not before the traffic ($frx $ftx)"
	elif [ "$srx $stx" != "$want_rx $want_tx" ] || [ "$lrx $ltx" != "$want_rx $want_tx" ]; then
		rel_fail "$inst: sum of deltas rx tx $srx $stx, last $lrx $ltx, bytes moved $want_rx $want_tx"
	else
		rel_pass "$inst: $reads reads ($during during the traffic, longest gap $gap s), never backwards; sum of deltas rx=$srx tx=$stx = bytes moved, exactly"
	fi
	[ "$during" -ge $((secs * 5)) ] ||
		rel_fail "$inst: only $during reads during $secs s of traffic (want 5 per second at least)"
}
# The server's subnet sent s2c and received c2s as seen by the client's socket, and
# the other way round for the client's subnet; see ts_expect_add in tests/lib.sh.
check 198.19.132.0/24 "$s2c_a" "$c2s_a"
check 198.19.133.0/24 "$c2s_a" "$s2c_a"
check v6-srv "$s2c_b" "$c2s_b"
check v6-cli "$c2s_b" "$s2c_b"
# The plugin's own count of what it missed: present every cycle and 0 at the end.
lost=$(tail -n 1 "$d"/csv/tstest/tcpsubnet/derive-lost-events-* 2>/dev/null | cut -d, -f2)
case $lost in
0 | 0.*) rel_pass "lost-events $lost at the end" ;;
[1-9]*) if rtt=$(ts_lost_only_rtt "$d/collectd.log"); then
		rel_pass "lost-events $lost at the end, RTT samples only (bytes exact above): $rtt"
	else
		rel_fail "lost-events $lost: the plugin missed events: $(grep -m 1 -o 'skipped [0-9]* runs.*' "$d/collectd.log")"
	fi ;;
*) rel_fail "lost-events '${lost:-missing}': the plugin missed events or did not say" ;;
esac
if [ "$ncpu" -gt 1 ]; then
	n_busy=$(echo "$percpu" | tr ';' '\n' | grep -c 'rx=[1-9]')
	[ "$n_busy" -ge 2 ] && rel_pass "per-CPU counter slots in the kernel: $percpu" ||
		rel_fail "want bytes in the slots of 2 CPUs, got: ${percpu:-no dump}"
fi

# ---- reads do not stall the datapath ----
# tput INTERVAL: bytes per second of both streams with collectd reading every INTERVAL
# and no writer; reads are counted by the preloaded shim.
tput() {
	local d=$TS_TMP/tput$1 reads
	rel_conf "$d" "$TS_TMP/block" "$1" "" none
	rel_start "$d" env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_COUNT_FILE="$d/reads"
	# init has run once the log says which attach mode it took.
	i=0
	while ! grep -q "attach mode" "$d/collectd.log" 2>/dev/null && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	rel_pid "$d"
	streams "$tput_secs"
	# collectd's CPU time (user + system clock ticks): what the reads cost.
	TPUT_TICKS=$(awk '{ print $14 + $15 }' /proc/"$REL_PID"/stat 2>/dev/null || echo 0)
	rel_stop "$d"
	reads=$(sed -n 's/^reads //p' "$d/reads" 2>/dev/null)
	TPUT_READS=${reads:-0}
	TPUT=$(awk -v a="$(field c2s "$TS_TMP/a.out")" -v b="$(field s2c "$TS_TMP/a.out")" \
		-v c="$(field c2s "$TS_TMP/b.out")" -v e="$(field s2c "$TS_TMP/b.out")" \
		-v s="$(field seconds "$TS_TMP/a.out")" 'BEGIN { printf "%.0f", (a + b + c + e) / s }')
}
# Alternating halves, so a drift in the machine's load hits both alike.
half=$(awk -v s="$tput_secs" 'BEGIN { printf "%g", s / 2 }')
tput_secs_full=$tput_secs
tput_secs=$half
fast=0 slow=0 fast_reads=0 slow_reads=0 fast_ticks=0
for round in 1 2; do
	tput 0.005
	fast=$((fast + TPUT)) fast_reads=$((fast_reads + TPUT_READS)) fast_ticks=$((fast_ticks + TPUT_TICKS))
	tput 1000
	slow=$((slow + TPUT)) slow_reads=$((slow_reads + TPUT_READS))
done
tput_secs=$tput_secs_full
fast=$((fast / 2)) slow=$((slow / 2))
ratio=$(awk -v f="$fast" -v s="$slow" 'BEGIN { printf "%.3f", f / s }')
hz=$(getconf CLK_TCK)
cost=$(awk -v t="$fast_ticks" -v hz="$hz" -v n="$fast_reads" \
	'BEGIN { printf "collectd used %.2f s of CPU, %.0f us per read cycle", t / hz, n ? t / hz / n * 1e6 : 0 }')
msg="$cost; throughput with reads every 5 ms ($fast_reads reads in $tput_secs s): $(awk -v f="$fast" 'BEGIN { printf "%.0f MB/s", f / 1e6 }'); with $slow_reads reads in $tput_secs s: $(awk -v s="$slow" 'BEGIN { printf "%.0f MB/s", s / 1e6 }'); ratio $ratio"
if awk -v r="$ratio" 'BEGIN { exit !(r > 0.5) }' && [ "$fast_reads" -gt "$((tput_secs * 100))" ]; then
	rel_pass "$msg"
else
	rel_fail "$msg (want ratio > 0.5 and more than 100 reads per second)"
fi

rel_done "nothing lost, counters monotonic, reads do not stall traffic"
