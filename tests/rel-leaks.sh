#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# No leaks, two ways:
#  1. collectd with the plugin starts, reads once and stops (collectd -T) 200 times,
#     plus 20 times with a failing subnet-map fill; afterwards bpftool's lists of BPF
#     programs, maps and links are exactly what they were before.
#  2. one long-running collectd reads every 10 ms; after a warm-up its open file
#     descriptors, the BPF objects it holds and its resident memory are sampled, and
#     again 1000 reads later: descriptors and BPF objects identical, resident memory
#     grown by less than 256 KiB. The plugin allocates nothing per read (docs/DESIGN.md),
#     so a leak of even 256 bytes per read would exceed that; the margin is for
#     collectd's own allocator settling (malloc arenas of its read and write threads).
#     Negative controls run the same measurement with a deliberate leak of 4 KiB and of
#     one descriptor per read (tests/ts-fault.c) and must see it.
# Durations: TS_REL_CYCLES (200), TS_REL_READS (1000); make distcheck: 20 and 300.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
ts_require_bpf
command -v bpftool >/dev/null || ts_skip "bpftool is not installed"
ts_tmpdir
rel_plugins
cycles=$(rel_seconds TS_REL_CYCLES 200 20)
reads=$(rel_seconds TS_REL_READS 1000 300)
RSS_LIMIT_KB=256

cat >"$TS_TMP/good" <<'CONF'
<Subnet "srv">
  Prefix "198.19.140.0/24"
  Prefix "2001:db8:8140::/48"
</Subnet>
Subnet "198.19.141.0/24"
ReportUnmatched true
CONF

# ---- 1. start/stop cycles ----
# settle_inventory FILE: waits (10 s at most) until the BPF inventory equals FILE; the
# kernel frees objects slightly after the last descriptor closes.
settle_inventory() {
	local i=0
	while [ $i -lt 50 ]; do
		rel_bpf_inventory "$TS_TMP/inv.after"
		cmp -s "$1" "$TS_TMP/inv.after" && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
count() {
	awk -v k="$2" '$1 == k { n++ } END { print n + 0 }' "$1"
}

d=$TS_TMP/cycles
rel_conf "$d" "$TS_TMP/good" 1
rel_bpf_inventory "$TS_TMP/inv.before"
start=$(date +%s.%N)
ok=0 bad=0 failed_ok=0
i=0
while [ $i -lt "$cycles" ]; do
	# Exit status 0: init and the read succeeded. (The csv file is no proof either way:
	# collectd -T may stop its write threads before they wrote anything.)
	: >"$d/collectd.log"
	if "$COLLECTD" -T -f -C "$d/collectd.conf" >"$d/stdout" 2>&1 &&
		grep -q "tcpsubnet plugin: attach mode" "$d/collectd.log"; then
		ok=$((ok + 1))
	else
		bad=$((bad + 1))
		[ $bad -le 3 ] && rel_fail "cycle $i: collectd -T failed: $(tail -n 5 "$d/collectd.log")"
	fi
	i=$((i + 1))
done
# The failure path too: init loads the programs, then the trie fill fails.
i=0
while [ $i -lt $((cycles / 10)) ]; do
	: >"$d/collectd.log"
	if ! env LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_LPM_FAIL_AT=1 \
		"$COLLECTD" -T -f -C "$d/collectd.conf" >"$d/stdout" 2>&1 &&
		grep -q "filling the subnets map failed" "$d/collectd.log"; then
		failed_ok=$((failed_ok + 1))
	fi
	i=$((i + 1))
done
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$ok" = "$cycles" ] && [ "$failed_ok" = $((cycles / 10)) ] &&
	rel_pass "$cycles start/read/stop cycles and $failed_ok with a failing map fill in $secs s" ||
	rel_fail "cycles: $ok of $cycles worked, $failed_ok of $((cycles / 10)) failed as planned"
if settle_inventory "$TS_TMP/inv.before"; then
	rel_pass "bpftool lists exactly what it listed before: $(count "$TS_TMP/inv.before" prog) programs, $(count "$TS_TMP/inv.before" map) maps, $(count "$TS_TMP/inv.before" link) links"
else
	# Another test on this machine loads BPF meanwhile. What no live process holds is
	# what we leaked: every collectd of ours has exited. Objects of processes that
	# exit while we look disappear within moments, hence the retries.
	i=0
	while :; do
		rel_bpf_inventory "$TS_TMP/inv.after"
		rel_bpf_holders "$TS_TMP/held"
		comm -13 "$TS_TMP/inv.before" "$TS_TMP/inv.after" >"$TS_TMP/new"
		leaked=$(awk '{ print $1, $2 }' "$TS_TMP/new" | grep -vxF -f "$TS_TMP/held" || true)
		[ -z "$leaked" ] || [ $i -ge 10 ] && break
		sleep 0.5
		i=$((i + 1))
	done
	gone=$(comm -23 "$TS_TMP/inv.before" "$TS_TMP/inv.after" | wc -l)
	if [ -z "$leaked" ]; then
		rel_pass "no BPF object left behind: bpftool lists changed only by other processes meanwhile ($(wc -l <"$TS_TMP/new") objects added and held by them, $gone removed)"
	else
		rel_fail "BPF objects left behind: $leaked"
	fi
fi

# ---- 2. a long-running collectd: descriptors, BPF objects, memory ----
# sample PID: "fds bpf-object-ids rss"
sample() {
	local ids
	ids=$(cat /proc/"$1"/fdinfo/* 2>/dev/null | sed -n 's/^\(prog\|map\|link\)_id:[[:space:]]*/\1:/p' |
		sort -u | tr '\n' ,)
	echo "$(rel_fds "$1") ${ids:-none} $(rel_rss "$1")"
}
# measure WHAT N [ENV...]: one daemon at Interval 0.01; warm-up 200 reads, then N reads.
# Sets M_FD0 M_FD1 M_IDS0 M_IDS1 M_RSS0 M_RSS1 M_READS M_SECS.
measure() {
	local what=$1 n=$2 d=$TS_TMP/m$(echo "$1" | tr -c 'a-z0-9' _) glob s0 s1 r0 t0
	shift 2
	rel_conf "$d" "$TS_TMP/good" 0.01
	glob="$d/csv/tstest/tcpsubnet-srv/if_octets-*"
	rel_start "$d" env "$@"
	M_READS=0
	if ! rel_wait_rows "$glob" 200 60 || ! rel_pid "$d"; then
		rel_stop "$d"
		rel_fail "$what: collectd did not reach 200 reads: $(tail -n 5 "$d/collectd.log")"
		return 1
	fi
	s0=$(sample "$REL_PID")
	r0=$(rel_rows "$glob")
	t0=$(date +%s.%N)
	rel_wait_rows "$glob" $((r0 + n)) $((n / 10 + 60)) || rel_fail "$what: fewer than $n reads"
	s1=$(sample "$REL_PID")
	M_READS=$(($(rel_rows "$glob") - r0))
	M_SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	rel_stop "$d"
	# shellcheck disable=SC2086
	set -- $s0 $s1
	M_FD0=$1 M_IDS0=$2 M_RSS0=$3 M_FD1=$4 M_IDS1=$5 M_RSS1=$6
	[ "$REL_DIED" = no ] || rel_fail "$what: collectd did not stop normally"
	[ -z "$(rel_errors "$d")" ] || rel_fail "$what: errors: $(rel_errors "$d")"
}
# judge: 0 when descriptors, BPF objects and memory are steady; prints the figures.
judge() {
	local growth=$((M_RSS1 - M_RSS0))
	JUDGE="$M_READS reads in $M_SECS s: fds $M_FD0 -> $M_FD1, BPF objects held $(echo "$M_IDS0" | tr -cd , | wc -c) -> $(echo "$M_IDS1" | tr -cd , | wc -c) ($([ "$M_IDS0" = "$M_IDS1" ] && echo same ids || echo DIFFERENT ids)), RSS $M_RSS0 -> $M_RSS1 KiB ($growth KiB)"
	[ "$M_FD0" = "$M_FD1" ] && [ "$M_IDS0" = "$M_IDS1" ] && [ "$growth" -lt "$RSS_LIMIT_KB" ]
}

if measure "steady" "$reads"; then
	if judge; then
		rel_pass "long run: $JUDGE"
	else
		rel_fail "long run: $JUDGE"
	fi
fi
ctl=$((reads < 300 ? reads : 300))
if measure "control-memory" "$ctl" LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_LEAK_BYTES=4096; then
	judge && rel_fail "control (4 KiB leaked per read) not detected: $JUDGE" ||
		rel_pass "control, 4 KiB leaked per read, detected: $JUDGE"
fi
if measure "control-fd" "$ctl" LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_LEAK_FD=1; then
	judge && rel_fail "control (one fd leaked per read) not detected: $JUDGE" ||
		rel_pass "control, one descriptor leaked per read, detected: $JUDGE"
fi

rel_done "no BPF objects, descriptors or memory leak"
