#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A real collectd (csv writer) with Cgroup options while cgroups come and go:
# - a Cgroup Path missing at start: one warning, dispatched (zeros), counted once the
#   cgroup exists;
# - CgroupEach: cgroups created after start become instances within a read cycle,
#   bounded by MaxCgroups (one more: a warning, it counts as "other");
# - exact bytes per "<cgroup>~<subnet>" in the CSV files;
# - a removed cgroup stops being dispatched; its slot, given to a new cgroup, starts
#   from zero.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
ts_cgroup_tree "csv$$"
T=${TS_CGDIR#"$TS_CGROOT"}
mkdir "$TS_CGDIR/pods"

ns=tscgc$$
ts_netns "$ns" 198.18.236.1 198.18.237.1 2001:db8:232:236::1 2001:db8:232:237::1
cat >"$TS_TMP/block" <<CONF
  <Subnet "srv">
    Prefix "198.18.236.0/24"
    Prefix "2001:db8:232:236::/64"
  </Subnet>
  <Subnet "cli">
    Prefix "198.18.237.0/24"
    Prefix "2001:db8:232:237::/64"
  </Subnet>
  ReportUnmatched false
  Cgroup "$T/web"
  CgroupEach "$T/pods/*"
  MaxCgroups 2
CONF

d=$TS_TMP/run
ts_collectd_conf "$d" "$TS_TMP/block"
ts_collectd_start "$d"
csvdir() { echo "$d/csv/tstest/tcpsubnet-$1"; }
ts_wait_file "$(csvdir "other~srv")/if_octets-*" 20 ||
	{ ts_fail "no tcpsubnet values after 20 s: $(cat "$d/collectd.log")"; exit 1; }
grep -q "Cgroup \"web\" matches no cgroup under $TS_CGROOT yet" "$d/collectd.log" &&
	ts_pass "missing path: $(grep -m1 'matches no cgroup' "$d/collectd.log" | cut -d' ' -f3-)" ||
	ts_fail "no warning about the missing path: $(grep tcpsubnet "$d/collectd.log")"
# A Cgroup block is dispatched from the start (zeros while its path is missing): in the
# read cycle that wrote other~srv, whose file collectd's write thread may have created
# a moment before web~srv's (seen once on a busy machine), so within the next cycle.
ts_wait_file "$(csvdir "web~srv")/if_octets-*" 2 && ts_pass "web dispatched while missing" ||
	ts_fail "web~srv not dispatched within a read cycle of other~srv"

# appeared: the number of seconds (1 s read cycles) until INSTANCE's CSV exists.
appeared() {
	local i=0
	while [ $i -lt 100 ]; do
		ls "$(csvdir "$1")"/if_octets-* >/dev/null 2>&1 && { echo $((i / 10)); return 0; }
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}
mkdir "$TS_CGDIR/web" "$TS_CGDIR/pods/p1" "$TS_CGDIR/pods/p2"
for i in p1 p2; do
	if t=$(appeared "$i~srv"); then
		ts_pass "$i: dispatched ${t} s after the cgroup was created"
	else
		ts_fail "$i: not dispatched 10 s after the cgroup was created"
	fi
done
mkdir "$TS_CGDIR/pods/p3"
for i in $(seq 1 50); do grep -q "MaxCgroups 2 reached" "$d/collectd.log" && break; sleep 0.1; done
grep -q "MaxCgroups 2 reached: cgroup \"$T/pods/p3\"" "$d/collectd.log" &&
	ts_pass "p3: $(grep -m1 'MaxCgroups 2 reached' "$d/collectd.log" | cut -d' ' -f3-)" ||
	ts_fail "p3: no MaxCgroups warning"

# traffic CLIENT-CGROUP SERVER-CGROUP ARGS: one connection, the output line on stdout.
traffic() {
	local c=$1 s=$2
	shift 2
	"$TS_TRAFFIC" --server-netns "$ns" --client-netns "$ns" --client-cgroup "$TS_CGDIR/$c" \
		--server-cgroup "$TS_CGDIR/$s" "$@"
}
wait_cycle() { ts_csv_wait_cycle "$d" "other~srv"; }
check() { # INSTANCE "RX TX"
	local got
	got=$(ts_csv_last "$d" "$1" | cut -d' ' -f2-)
	[ "$got" = "$2" ] && ts_pass "csv $1 rx tx = $got" || ts_fail "csv $1: want '$2', got '$got'"
}

l1=$(traffic pods/p1 web --listen 198.18.236.1 --connect 198.18.236.1 --bind 198.18.237.1 \
	--bytes 300007 --reply-bytes 100003) || ts_fail "traffic 1"
l2=$(traffic pods/p2 pods/p3 --listen 2001:db8:232:236::1 --connect 2001:db8:232:236::1 \
	--bind 2001:db8:232:237::1 --bytes 200003 --reply-bytes 70001) || ts_fail "traffic 2"
wait_cycle
c1=$(ts_field "$l1" c2s) s1=$(ts_field "$l1" s2c) c2=$(ts_field "$l2" c2s) s2=$(ts_field "$l2" s2c)
check "p1~srv" "$s1 $c1"
check "web~cli" "$c1 $s1"
check "p2~srv" "$s2 $c2"
check "other~cli" "$c2 $s2" # p3 has no slot of its own
check "web~srv" "0 0"
check "p1~cli" "0 0"
[ -d "$(csvdir "p3~srv")" ] && ts_fail "p3 dispatched beyond MaxCgroups" || ts_pass "p3 not dispatched"
[ -d "$(csvdir "web~other")" ] && ts_fail "unmatched subnet dispatched (ReportUnmatched false)"

# Removed: p1 (and p3) go; p4 takes the freed slot from zero.
rmdir "$TS_CGDIR/pods/p1" "$TS_CGDIR/pods/p3"
gone_at=$(date +%s)
wait_cycle
wait_cycle
mkdir "$TS_CGDIR/pods/p4"
t=$(appeared "p4~srv") && ts_pass "p4: dispatched ${t} s after the cgroup was created" ||
	ts_fail "p4: not dispatched"
l4=$(traffic pods/p4 web --listen 198.18.236.1 --connect 198.18.236.1 --bind 198.18.237.1 \
	--bytes 150001 --reply-bytes 50021) || ts_fail "traffic 4"
wait_cycle
c4=$(ts_field "$l4" c2s) s4=$(ts_field "$l4" s2c)
check "p4~srv" "$s4 $c4"
check "web~cli" "$(echo "$c1 $c4" | awk '{ print $1 + $2 }') $(echo "$s1 $s4" | awk '{ print $1 + $2 }')"
last=$(ts_csv_last "$d" "p1~srv" | cut -d' ' -f1 | cut -d. -f1)
now=$(date +%s)
[ -n "$last" ] && [ "$last" -le $((gone_at + 1)) ] &&
	ts_pass "p1: last dispatched at $last, removed at $gone_at (now $now)" ||
	ts_fail "p1: still dispatched after removal (last $last, removed at $gone_at)"
ts_collectd_stop
if grep -q "tcpsubnet.*rror\|tcpsubnet.*failed" "$d/collectd.log"; then
	ts_fail "errors in the log: $(grep tcpsubnet "$d/collectd.log")"
fi

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: collectd follows cgroups as they come and go"
