#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Real BPF, Accounting "socket": per-subnet rx/tx come from the kernel's per-socket
# totals and equal the payload the test programs moved, exactly:
# - IPv4, IPv6, IPv4-mapped, nested and unmatched prefixes, with a read cycle every
#   10 ms while the traffic runs (the walk and the closes interleave);
# - long-lived connections across many read cycles (the sum of the deltas);
# - a connection opened before ts-probe started counts only what moved after;
# - an open connection counts up to the last read; a reset with unsent data counts what
#   was acknowledged and delivered;
# - one socket disconnected and connected again, 60 times;
# - many short connections in parallel with a read cycle every millisecond: totals
#   exact, connections opened/closed exact, nothing lost;
# - LocalSubnet pairs and port filters (tests/bpf-filters-pairs.sh in socket mode);
# - every AttachMode, whatever the kernel offers the per-event programs;
# - a real collectd (csv writer): a connection open throughout, exact at each read.
# Addresses: 198.18.160.0/21 and 2001:db8:a160::/48 only.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir

ns=tssock$$
ts_netns "$ns" 198.18.160.1 198.18.160.2 198.18.161.1 198.18.161.2 198.18.163.1 \
	198.18.164.1 198.18.164.2 198.18.165.1 198.18.165.2 198.18.166.1 \
	2001:db8:a160:1::1 2001:db8:a160:1:5::1 2001:db8:a160:1:5::2 2001:db8:a160:ff::1

cat >"$TS_TMP/conf" <<'CONF'
Accounting "socket"
<Subnet "a">
  Prefix "198.18.160.0/24"
  Prefix "2001:db8:a160:1::/64"
</Subnet>
Subnet "198.18.161.0/24"
<Subnet "wide">
  Prefix "198.18.164.0/22"
</Subnet>
<Subnet "deep">
  Prefix "198.18.165.0/24"
</Subnet>
<Subnet "v6-deep">
  Prefix "2001:db8:a160:1:5::/80"
</Subnet>
<Subnet "mapped">
  Prefix "::ffff:198.18.166.0/120"
</Subnet>
CONF
b=198.18.161.0/24
subnets="a $b wide deep v6-deep mapped"

# Socket accounting needs 5.12+; say so rather than fail on older kernels.
if ! "$TS_PROBE" "$TS_TMP/conf" >/dev/null 2>"$TS_TMP/err"; then
	grep -q 'Accounting "socket"' "$TS_TMP/err" && ts_skip "$(cat "$TS_TMP/err")"
	ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
	exit 1
fi

# ---- every syscall flavour, every address form, read cycles during the traffic ----
cat >"$TS_TMP/flows" <<'FLOWS'
a 198.18.161.0/24 --listen 198.18.160.1 --connect 198.18.160.1 --bind 198.18.161.1 --bytes 700001 --reply-bytes 300007
deep other --listen 198.18.165.1 --connect 198.18.165.1 --bind 198.18.163.1 --bytes 500003 --reply-bytes 90001
wide a --listen 198.18.164.1 --connect 198.18.164.1 --bind 198.18.160.2 --bytes 600011 --reply-bytes 200003
v6-deep a --listen 2001:db8:a160:1:5::1 --connect 2001:db8:a160:1:5::1 --bind 2001:db8:a160:1::1 --bytes 400009 --reply-bytes 50021
other v6-deep --listen 2001:db8:a160:ff::1 --connect 2001:db8:a160:ff::1 --bind 2001:db8:a160:1:5::2 --bytes 300017 --reply-bytes 70001
mapped 198.18.161.0/24 --listen dual --connect 198.18.166.1 --bind 198.18.161.2 --bytes 800017 --reply-bytes 210017
wide deep --listen dual --connect ::ffff:198.18.164.2 --bind ::ffff:198.18.165.2 --bytes 450001 --reply-bytes 70001
FLOWS
for unmatched in true false; do
	what="syscall flavours, ReportUnmatched $unmatched"
	{ cat "$TS_TMP/conf"; echo "ReportUnmatched $unmatched"; } >"$TS_TMP/conf.u"
	if TS_PROBE_ARGS="--read-every 10" ts_probe_flows x "$TS_TMP/conf.u" "$TS_TMP/flows" "$ns"; then
		ts_check_exact "$what" $subnets
		if [ $unmatched = true ]; then
			ts_check_at_least "$what" other
		elif grep -q "^other " "$TS_TMP/got"; then
			ts_fail "$what: still reports other"
		else
			ts_pass "$what: no other"
		fi
		grep -q 'Accounting "socket"' "$TS_TMP/err" ||
			ts_fail "$what: no socket accounting line: $(cat "$TS_TMP/err")"
	else
		ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
	fi
done

# ---- every AttachMode loads the same socket accounting programs ----
# (on this project's 6.18 host kprobes and fentry are unavailable in syscall mode)
head -2 "$TS_TMP/flows" >"$TS_TMP/flows.2"
for mode in tracepoint fentry kprobe families-off; do
	if [ $mode = families-off ]; then
		# Bytes alone: no RTT, connection or retransmission values.
		{ cat "$TS_TMP/conf"; printf 'RTT false\nConnections false\nRetransmits false\n'; } \
			>"$TS_TMP/conf.m"
	else
		{ cat "$TS_TMP/conf"; echo "AttachMode \"$mode\""; } >"$TS_TMP/conf.m"
	fi
	if TS_PROBE_ARGS="--read-every 10" ts_probe_flows x "$TS_TMP/conf.m" "$TS_TMP/flows.2" "$ns"; then
		ts_check_exact "$mode" a "$b" deep
	else
		ts_fail "$mode: ts-probe failed: $(cat "$TS_TMP/err")"
	fi
done
grep -q "^a connections\|^a latency\|^a derive-retransmit" "$TS_TMP/got" &&
	ts_fail "families-off: still reports them: $(cat "$TS_TMP/got")" ||
	ts_pass "families-off: only bytes and health values"

# ---- long-lived connections across many read cycles ----
cat >"$TS_TMP/flows.stream" <<'FLOWS'
a 198.18.161.0/24 --listen 198.18.160.1 --connect 198.18.160.1 --bind 198.18.161.1 --seconds 2
v6-deep a --listen 2001:db8:a160:1:5::1 --connect 2001:db8:a160:1:5::1 --bind 2001:db8:a160:1::1 --seconds 2
FLOWS
what="long-lived connections"
if TS_FLOW_TOOL=$top_builddir/tests/ts-stream TS_PROBE_ARGS="--read-every 5" \
	ts_probe_flows x "$TS_TMP/conf" "$TS_TMP/flows.stream" "$ns"; then
	ts_check_exact "$what" a "$b" v6-deep
	# How many fit depends on the machine's load; several must have run.
	cycles=$(sed -n 's/.*ts-probe: \([0-9]*\) read cycles.*/\1/p' "$TS_TMP/err")
	[ "${cycles:-0}" -ge 5 ] && ts_pass "$what: $cycles read cycles during the traffic" ||
		ts_fail "$what: only '${cycles:-}' read cycles during the traffic"
else
	ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
fi

# ---- held connections: opened before ts-probe, open at the last read, reset ----
# hold_start NAME FD SERVER CLIENT PORT: a ts-hold.py connection in $ns, commands on FD.
hold_start() {
	mkfifo "$TS_TMP/$1.in"
	ip netns exec "$ns" python3 "$top_srcdir/tests/ts-hold.py" "$3" "$4" "$5" \
		<"$TS_TMP/$1.in" >"$TS_TMP/$1.out" 2>&1 &
	TS_NETNS_PIDS="${TS_NETNS_PIDS:-} $!"
}
cat >"$TS_TMP/hold.sh" <<HOLD
# hold_wait NAME N: waits (30 s at most) for answer N of ts-hold NAME; prints it.
hold_wait() {
	i=0
	until grep -qs "^\$2 " "$TS_TMP/\$1.out"; do
		i=\$((i + 1))
		[ \$i -lt 3000 ] || { echo "ts-hold \$1: no answer \$2: \$(cat "$TS_TMP/\$1.out")" >&2; exit 1; }
		sleep 0.01
	done
	grep "^\$2 " "$TS_TMP/\$1.out"
}
HOLD
. "$TS_TMP/hold.sh"
hold_start A 4 198.18.160.1 198.18.161.1 7101
hold_start B 5 2001:db8:a160:1:5::1 2001:db8:a160:ff::1 7102
exec 4>"$TS_TMP/A.in" 5>"$TS_TMP/B.in"
hold_wait A 0 >/dev/null && hold_wait B 0 >/dev/null || exit 1
echo "move 5003 6007" >&4
hold_wait A 1 >/dev/null || exit 1
cat >"$TS_TMP/held" <<HELD
#!/bin/sh
. "$TS_TMP/hold.sh"
set -e
echo "move 30011 40013" >&4; hold_wait A 2 >/dev/null
echo "move 111 222" >&5; hold_wait B 1 >/dev/null
echo "move 70001 3" >&4; hold_wait A 3 >/dev/null
echo close >&4; hold_wait A 4 >/dev/null
ip netns exec $ns python3 "$top_srcdir/tests/ts-hold.py" 198.18.164.1 198.18.165.1 7103 \
	<"$TS_TMP/reset.cmd" >"$TS_TMP/C.out"
HELD
echo reset >"$TS_TMP/reset.cmd"
chmod +x "$TS_TMP/held"
label="held connections"
"$TS_PROBE" "$TS_TMP/conf" --read-every 50 -- "$TS_TMP/held" >"$TS_TMP/got" 2>"$TS_TMP/err" ||
	ts_fail "$label: ts-probe: $(cat "$TS_TMP/err")"
echo close >&5
hold_wait B 2 >/dev/null
exec 4>&- 5>&-
# A (before ts-probe: 5003/6007, not counted): client 198.18.161.1 -> server 'a'.
ts_expect a if_octets "$((40013 + 3)) $((30011 + 70001))"
ts_expect "$b" if_octets "$((30011 + 70001)) $((40013 + 3))"
# B is still open at the last read: counted up to it.
ts_expect v6-deep if_octets "222 111"
# RTT: one sample per read cycle (the ones during the command, then the last) of B,
# the only connection of v6-deep; A was open before: only its close counts.
cycles=$(sed -n 's/.*ts-probe: \([0-9]*\) read cycles.*/\1/p' "$TS_TMP/err")
ts_expect v6-deep derive-rtt-samples "$((cycles + 1))"
ts_expect a connections-opened-active 0
ts_expect a connections-closed 1
# C: the client's socket saw its data acknowledged, the server's received it.
line=$(grep "^1 reset" "$TS_TMP/C.out")
acked=$(ts_field "$line" acked)
delivered=$(ts_field "$line" delivered)
sent=$(ts_field "$line" sent)
if [ -n "$acked" ] && [ "$acked" -gt 0 ] && [ "$sent" -gt "$acked" ]; then
	ts_pass "$label: reset with $((sent - acked)) bytes unsent"
else
	ts_fail "$label: the reset left nothing unsent: $line"
fi
ts_expect wide if_octets "0 $acked"
ts_expect deep if_octets "$delivered 0"
ts_check_lost "$label"

# ---- many short connections closing while read cycles walk the sockets ----
: >"$TS_TMP/flows.churn"
for i in 1 2 3 4 5 6 7 8; do
	echo "a $b --listen 198.18.160.1 --bind 198.18.161.1 --pairs 16 --bytes 200003 --reply-bytes 100019 --write-size 1000 --read-size 997" >>"$TS_TMP/flows.churn"
done
what="short connections, a read cycle every ms"
if TS_FLOW_TOOL=$top_builddir/tests/ts-stress TS_PROBE_ARGS="--read-every 1" \
	ts_probe_flows x "$TS_TMP/conf" "$TS_TMP/flows.churn" "$ns"; then
	ts_check_exact "$what" a "$b"
	label=$what
	ts_expect a connections-opened-active 128
	ts_expect "$b" connections-opened-passive 128
	ts_expect a connections-closed 128
	ts_expect "$b" connections-closed 128
	ts_expect - derive-storage-failures 0
else
	ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
fi

# ---- one socket disconnected (tcp_disconnect() zeroes its totals) and reconnected ----
rounds=30 bytes=30011
cat >"$TS_TMP/run.rec" <<RUN
#!/bin/sh
ip netns exec $ns python3 "$top_srcdir/tests/ts-reconnect.py" 198.18.161.2 198.18.164.1 \
	198.18.165.1 $rounds $bytes >"$TS_TMP/moved"
RUN
chmod +x "$TS_TMP/run.rec"
label="reconnected socket"
if "$TS_PROBE" "$TS_TMP/conf" --read-every 2 -- "$TS_TMP/run.rec" >"$TS_TMP/got" 2>"$TS_TMP/err"; then
	line=$(cat "$TS_TMP/moved")
	ra=$(ts_field "$line" a_tx) rb=$(ts_field "$line" b_tx)
	# The client's socket: its bytes acknowledged, one receipt from each server per round.
	ts_expect wide if_octets "$rounds $ra"
	ts_expect deep if_octets "$rounds $rb"
	# The servers' sockets received every byte; their receipts count once acknowledged,
	# and the client resets each connection right after reading its receipt.
	got=$(awk -v s="$b" '$1 == s && $2 == "if_octets" { print $3, $4 }' "$TS_TMP/got")
	if [ "${got% *}" = $((ra + rb)) ] && [ "${got#* }" -le $((2 * rounds)) ]; then
		ts_pass "$label: $b rx tx = $got (receipts acknowledged before the reset)"
	else
		ts_fail "$label: $b: want rx $((ra + rb)), tx at most $((2 * rounds)), got '$got'"
	fi
	ts_expect wide connections-closed "$rounds"
	ts_check_lost "$label"
else
	ts_fail "$label: ts-probe failed: $(cat "$TS_TMP/err")"
fi

# ---- the real daemon: collectd with the csv writer, a connection open throughout ----
label="collectd"
hold_start D 6 198.18.160.1 198.18.161.1 7111
exec 6>"$TS_TMP/D.in"
hold_wait D 0 >/dev/null || exit 1
echo "move 1009 2003" >&6 # before collectd: not counted
hold_wait D 1 >/dev/null || exit 1
d=$TS_TMP/collectd
ts_collectd_conf "$d" "$TS_TMP/conf"
ts_collectd_start "$d"
ts_wait_file "$d/csv/tstest/tcpsubnet-a/if_octets-*" 20 ||
	{ ts_fail "$label: no tcpsubnet values after 20 s: $(cat "$d/collectd.log")"; exit 1; }
n=1
for m in "30011 40013" "5 7" "900001 3"; do
	n=$((n + 1))
	echo "move $m" >&6
	hold_wait D $n >/dev/null || exit 1
	ts_csv_wait_cycle "$d" a
done
got_open=$(ts_csv_last "$d" a | cut -d' ' -f2-)
echo close >&6
hold_wait D $((n + 1)) >/dev/null || exit 1
exec 6>&-
ts_csv_wait_cycle "$d" a
ts_collectd_stop
want="$((40013 + 7 + 3)) $((30011 + 5 + 900001))"
[ "$got_open" = "$want" ] && ts_pass "$label: open connection: csv a rx tx = $got_open" ||
	ts_fail "$label: open connection: csv a: want rx tx '$want', got '$got_open'"
got=$(ts_csv_last "$d" a | cut -d' ' -f2-)
[ "$got" = "$want" ] && ts_pass "$label: after its close: csv a rx tx = $got" ||
	ts_fail "$label: after its close: csv a: want rx tx '$want', got '$got'"
grep -q 'Accounting "socket"' "$d/collectd.log" && ts_pass "$label: logs the accounting" ||
	ts_fail "$label: no Accounting line in the log: $(cat "$d/collectd.log")"

# ---- LocalSubnet pairs and port filters, as in syscall mode ----
if TS_ACCOUNTING=socket TS_PROBE_ARGS="--read-every 10" sh "$top_srcdir/tests/bpf-filters-pairs.sh" \
	>"$TS_TMP/pairs" 2>&1; then
	ts_pass "LocalSubnet pairs and port filters: $(grep -c '^ok:' "$TS_TMP/pairs") checks"
else
	ts_fail "LocalSubnet pairs and port filters in socket mode: $(grep -v '^ok:' "$TS_TMP/pairs")"
fi

[ "$TS_FAILS" = 0 ] || exit 1
