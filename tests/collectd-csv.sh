#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A real collectd daemon (collectd -f, the plugin and the csv writer) in the root
# namespace counts traffic moved inside a test namespace: the CSV files hold exactly
# the bytes moved, per subnet, as if_octets rx/tx. A broken tcpsubnet setup (bad
# config, impossible AttachMode) logs one line and collectd keeps running its other
# plugins.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir

ns=tscsv$$
ts_netns "$ns" 198.18.96.1 198.18.97.1 198.18.98.1 2001:db8:96::1 2001:db8:97::1
cat >"$TS_TMP/block" <<'CONF'
  <Subnet "web">
    Prefix "198.18.96.0/24"
    Prefix "2001:db8:96::/48"
  </Subnet>
  <Subnet "db">
    Prefix "198.18.97.0/24"
    Prefix "2001:db8:97::/48"
  </Subnet>
  Subnet "198.18.98.0/24"
  ReportUnmatched true
  AttachMode "auto"
CONF
cat >"$TS_TMP/flows" <<'FLOWS'
web db --listen 198.18.96.1 --connect 198.18.96.1 --bind 198.18.97.1 --bytes 400009 --reply-bytes 120011
web db --listen 2001:db8:96::1 --connect 2001:db8:96::1 --bind 2001:db8:97::1 --bytes 300007 --reply-bytes 80021
198.18.98.0/24 web --listen dual --connect 198.18.98.1 --bind 198.18.96.1 --bytes 350003 --reply-bytes 60013
FLOWS

d=$TS_TMP/run1
ts_collectd_conf "$d" "$TS_TMP/block"
ts_collectd_start "$d"
# Traffic starts once the plugin has dispatched (and so has its programs attached).
ts_wait_file "$d/csv/tstest/tcpsubnet-web/if_octets-*" 20 ||
	{ ts_fail "no tcpsubnet values after 20 s: $(cat "$d/collectd.log")"; exit 1; }
: >"$TS_TMP/expect"
while read -r ssub csub args; do
	# shellcheck disable=SC2086
	line=$(ip netns exec "$ns" "$TS_TRAFFIC" $args) || ts_fail "traffic failed: $args"
	ts_expect_add "$TS_TMP/expect" "$ssub" "$csub" "$line"
done <"$TS_TMP/flows"
done_at=$(date +%s)
# Wait for a read cycle that started after the traffic ended.
for i in $(seq 1 100); do
	last=$(ts_csv_last "$d" web | cut -d' ' -f1 | cut -d. -f1)
	[ -n "$last" ] && [ "$last" -gt "$done_at" ] && break
	sleep 0.1
done
sleep 1.2
ts_collectd_stop

for s in web db 198.18.98.0/24; do
	want=$(ts_sum "$TS_TMP/expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
	got=$(ts_csv_last "$d" "$s" | cut -d' ' -f2-)
	[ "$want" = "$got" ] && ts_pass "csv $s rx tx = $got" ||
		ts_fail "csv $s: want rx tx '$want', got '$got'"
done
[ -n "$(ts_csv_last "$d" other)" ] && ts_pass "csv other is written" || ts_fail "no csv for other"
# The health values: empty plugin instance (directory tcpsubnet), one file each, 0 here.
for h in lost-events stash-stale stash-full storage-failures; do
	got=$(cat "$d"/csv/tstest/tcpsubnet/derive-$h-* 2>/dev/null | tail -n 1 | cut -d, -f2)
	[ "$got" = 0 ] && ts_pass "csv tcpsubnet/derive-$h = 0" ||
		ts_fail "csv tcpsubnet/derive-$h: want 0, got '${got:-no file}'"
done

# Connections and RTT through the real daemon: web served 2 connections (db clients)
# and was the client of 1; every connection closed on both ends.
csv_value() { # INSTANCE FILE-PREFIX: the newest value
	cat "$d"/csv/tstest/tcpsubnet-"$(echo "$1" | tr / _)"/"$2"-2* 2>/dev/null |
		tail -n 1 | cut -d, -f2
}
for row in "web connections-opened-active 2" "web connections-opened-passive 1" \
	"web connections-closed 3" "db connections-opened-passive 2" "db connections-closed 2" \
	"198.18.98.0/24 connections-opened-active 1" "db derive-retransmit-segments 0"; do
	set -- $row
	got=$(csv_value "$1" "$2")
	[ "$got" = "$3" ] && ts_pass "csv $1 $2 = $got" || ts_fail "csv $1 $2: want $3, got '$got'"
done
samples=$(csv_value web derive-rtt-samples)
[ "${samples:-0}" -gt 0 ] && ts_pass "csv web rtt-samples = $samples" || ts_fail "no RTT samples for web"
# Percentiles exist only for intervals that had samples, and loopback RTT is < 10 ms.
p50=$(grep -hv epoch "$d"/csv/tstest/tcpsubnet-web/latency-rtt-percentile-50-* 2>/dev/null | head -n 1 |
	cut -d, -f2)
if [ -n "$p50" ] && awk -v p="$p50" 'BEGIN { exit !(p > 0 && p < 0.01) }'; then
	ts_pass "csv web rtt-percentile-50 = $p50 s"
else
	ts_fail "csv web rtt-percentile-50: '$p50'"
fi
ls "$d"/csv/tstest/tcpsubnet-web/bucket-rtt-67.1089_inf-* >/dev/null 2>&1 &&
	ts_pass "csv bucket files, open top rtt-67.1089_inf" || ts_fail "no bucket-rtt-67.1089_inf file"
rows=$(grep -vc epoch "$d"/csv/tstest/tcpsubnet-db/latency-rtt-average-* 2>/dev/null)
all=$(grep -vc epoch "$d"/csv/tstest/tcpsubnet-db/derive-rtt-samples-* 2>/dev/null)
[ "${rows:-0}" -lt "${all:-0}" ] && ts_pass "db: rtt-average in $rows of $all cycles (none without samples)" ||
	ts_fail "db: rtt-average in $rows of $all cycles"
n=$(grep -c "tcpsubnet plugin: attach mode " "$d/collectd.log")
[ "$n" = 1 ] && ts_pass "one attach mode line: $(grep "attach mode" "$d/collectd.log")" ||
	ts_fail "want one attach mode line in the log, got $n"
# Every cycle dispatches every subnet, zero included: "db" has a value in each file row.
rows=$(cat "$d"/csv/tstest/tcpsubnet-db/if_octets-* | grep -vc epoch)
[ "$rows" -ge 3 ] && ts_pass "db dispatched every cycle ($rows rows)" || ts_fail "db: $rows rows"
if grep -q "tcpsubnet.*rror\|tcpsubnet.*failed" "$d/collectd.log"; then
	ts_fail "errors in the log: $(grep tcpsubnet "$d/collectd.log")"
fi

# ---- a broken setup costs only this plugin ----
broken() {
	local what=$1 want=$2 dir=$TS_TMP/$3
	ts_collectd_conf "$dir" "$TS_TMP/block.bad"
	ts_collectd_start "$dir"
	if ts_wait_file "$dir/csv/tstest/load/load-*" 20 && sleep 1.5 && kill -0 "$TS_COLLECTD_PID"; then
		ts_pass "$what: collectd keeps running its other plugins"
	else
		ts_fail "$what: collectd did not keep running: $(cat "$dir/collectd.log" "$dir/stdout")"
	fi
	ts_collectd_stop
	if grep -q "$want" "$dir/collectd.log"; then
		ts_pass "$what: $(grep -m1 "$want" "$dir/collectd.log" | cut -d' ' -f3-)"
	else
		ts_fail "$what: no '$want' in: $(cat "$dir/collectd.log")"
	fi
	[ -d "$dir/csv/tstest/tcpsubnet-web" ] && ts_fail "$what: values dispatched anyway"
}
{ cat "$TS_TMP/block"; printf '  <Subnet "dup">\n    Prefix "198.18.96.0/24"\n  </Subnet>\n'; } \
	>"$TS_TMP/block.bad"
broken "duplicate prefix" \
	'tcpsubnet plugin: Prefix "198.18.96.0/24" in Subnet "dup" is already in Subnet "web"' bad1
grep -v AttachMode "$TS_TMP/block" >"$TS_TMP/block.bad"
echo '  AttachMode "warp"' >>"$TS_TMP/block.bad"
broken "bad AttachMode" 'tcpsubnet plugin: AttachMode "warp" is not a known mode' bad2
grep -v AttachMode "$TS_TMP/block" >"$TS_TMP/block.bad"
echo '  KernelBTF "/nonexistent/btf"' >>"$TS_TMP/block.bad"
broken "missing BTF" 'tcpsubnet plugin: KernelBTF "/nonexistent/btf" is not usable' bad3

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: collectd writes exact per-subnet bytes"
