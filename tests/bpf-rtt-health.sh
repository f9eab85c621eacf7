#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Real BPF, RTT and TCP health per subnet against the kernel's own figures:
# - two known delays an order of magnitude apart (a tun relay between namespaces, as
#   this kernel has no netem): the sending sockets' RTT p50 lies within 15 % of their
#   TCP_INFO tcpi_rtt (polled while they send), and the two land an order of magnitude
#   apart;
# - one RTT sample per new measurement: at most one per ACK the senders received, one
#   per connection for receivers whose srtt is stale;
# - connections opened (active/passive) and closed equal the connections the test made;
# - retransmitted segments equal TCP_INFO tcpi_total_retrans when the relay drops data;
# - with RTT/Connections/Retransmits off nothing of that family is reported.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
[ -c /dev/net/tun ] || ts_skip "/dev/net/tun is missing"

# Client side A, server side B, for each delay.
ts_delay_link tsd1$$ tsr1a$$ 198.18.140.1 2001:db8:40::1 tsr1b$$ 198.18.141.1 2001:db8:41::1 0.5
ts_delay_link tsd10$$ tsr10a$$ 198.18.150.1 2001:db8:50::1 tsr10b$$ 198.18.151.1 2001:db8:51::1 5 \
	--drop-every 40 --drop-max 6

cat >"$TS_TMP/conf" <<'CONF'
<Subnet "fast-client">
  Prefix "198.18.140.0/24"
  Prefix "2001:db8:40::/48"
</Subnet>
<Subnet "fast-server">
  Prefix "198.18.141.0/24"
  Prefix "2001:db8:41::/48"
</Subnet>
<Subnet "slow-client">
  Prefix "198.18.150.0/24"
  Prefix "2001:db8:50::/48"
</Subnet>
<Subnet "slow-server">
  Prefix "198.18.151.0/24"
  Prefix "2001:db8:51::/48"
</Subnet>
RTTPercentile 50 90
CONF

cat >"$TS_TMP/run" <<RUN
#!/bin/sh
set -e
t="$TS_TRAFFIC"
f="--server-netns tsr1b$$ --client-netns tsr1a$$"
s="--server-netns tsr10b$$ --client-netns tsr10a$$"
\$t \$f --listen 198.18.141.1 --connect 198.18.141.1 --bytes 3000000 --reply-bytes 500000
\$t \$f --listen 2001:db8:41::1 --connect 2001:db8:41::1 --bytes 2000000 --reply-bytes 300000
\$t \$f --listen dual --connect 198.18.141.1 --bytes 1000000 --reply-bytes 100000
\$t \$s --listen 198.18.151.1 --connect 198.18.151.1 --bytes 3000000 --reply-bytes 500000
\$t \$s --listen 2001:db8:51::1 --connect 2001:db8:51::1 --bytes 1500000 --reply-bytes 300000
RUN
chmod +x "$TS_TMP/run"

# $1: environment of ts-probe (VAR=value), or nothing.
run_traffic() {
	env ${1:-} "$TS_PROBE" "$TS_TMP/conf" -- "$TS_TMP/run" >"$TS_TMP/out" 2>"$TS_TMP/err" ||
		{ ts_fail "ts-probe: $(cat "$TS_TMP/err")"; exit 1; }
	grep "^c2s=" "$TS_TMP/out" >"$TS_TMP/moved"
	grep -v "^c2s=" "$TS_TMP/out" >"$TS_TMP/got"
	[ "$(wc -l <"$TS_TMP/moved")" = 5 ] || { ts_fail "traffic runs: $(cat "$TS_TMP/out")"; exit 1; }
}
# The RTT program's build (tsbpf.c): the kfunc cast where the kernel's BTF has
# bpf_rdonly_cast (6.2+), else the helper; both are checked below.
check_build() {
	if grep -q "RTT program: the socket's tcp_sock $1" "$TS_TMP/err"; then
		ts_pass "RTT program build: $1"
	else
		ts_fail "RTT program build: want '$1', log: $(grep 'RTT program' "$TS_TMP/err")"
	fi
}
if bpftool btf dump file /sys/kernel/btf/vmlinux 2>/dev/null | grep -q "FUNC 'bpf_rdonly_cast'"; then
	default_build="through the bpf_rdonly_cast kfunc"
else
	default_build="through the bpf_skc_to_tcp_sock() helper"
fi
run_traffic
check_build "$default_build"

# ---- RTT: p50 vs TCP_INFO, per delay ----
# Every flow is a bulk transfer client -> server, then a reply after the client's
# half-close (the server socket is in CLOSE_WAIT then, outside tcp_rcv_established, so
# the reply is not sampled). The client's sockets sample RTT towards the server subnet
# once per ACK of new data: their p50 lies within 15 % of the mean tcpi_rtt of the same
# sockets (the relay's delay is steady): each flow's median of tcpi_rtt polled every 2 ms
# while it sends (ts-traffic), as its last tcpi_rtt alone moves with a burst of load at
# the end of the flow.
sum_field() {
	sed -n "$2,$3p" "$TS_TMP/moved" | while read -r l; do ts_field "$l" "$1"; done |
		awk '{ s += $1 } END { print s + 0 }'
}
check_rtt() {
	local inst=$1 field=$2 first=$3 last=$4 ref p50 avg n
	ref=$(sed -n "${first},${last}p" "$TS_TMP/moved" | while read -r l; do ts_field "$l" "$field"; done |
		awk '{ s += $1; n++ } END { printf "%.6f", s / n / 1e6 }')
	p50=$(ts_value "$inst" latency-rtt-percentile-50)
	avg=$(ts_value "$inst" latency-rtt-average)
	n=$(ts_value "$inst" derive-rtt-samples)
	if [ -n "$p50" ] && awk -v p="$p50" -v r="$ref" 'BEGIN { exit !(p >= r * 0.85 && p <= r * 1.15) }'; then
		ts_pass "$inst: p50 $p50 s within 15 % of TCP_INFO rtt $ref s (average $avg s, $n samples)"
	else
		ts_fail "$inst: p50 '$p50' s not within 15 % of TCP_INFO rtt $ref s (average $avg s, $n samples)"
	fi
	echo "$p50" >"$TS_TMP/p50.$inst"
}
# Sampling: at most one sample per ACK the sending sockets received (tcpi_segs_in counts
# every segment they got), and the receiving sockets, whose srtt is stale (the handshake's:
# they send no data to measure with), one sample per connection, however many segments
# they received; bcc tcprtt's per-segment sampling gave them most of the samples.
check_sampling() {
	local snd=$1 rcv=$2 first=$3 last=$4 conns=$5 ns nr acks segs
	ns=$(ts_value "$snd" derive-rtt-samples)
	nr=$(ts_value "$rcv" derive-rtt-samples)
	acks=$(sum_field segs_in_client "$first" "$last")
	segs=$(sum_field segs_in_server "$first" "$last")
	if [ "${ns:-0}" -gt 0 ] && [ "$ns" -le "$acks" ]; then
		ts_pass "$snd: $ns samples for $acks segments into the sending sockets"
	else
		ts_fail "$snd: '$ns' samples, want 1 .. $acks (segments into the sending sockets)"
	fi
	if [ "$nr" = "$conns" ]; then
		ts_pass "$rcv: $nr samples for $conns receiving sockets that got $segs segments"
	else
		ts_fail "$rcv: '$nr' samples, want one per receiving socket ($conns; $segs segments)"
	fi
}
check_rtt fast-server rtt_client_median_us 1 3
check_rtt slow-server rtt_client_median_us 4 5
check_sampling fast-server fast-client 1 3 3
check_sampling slow-server slow-client 4 5 2
fast=$(cat "$TS_TMP/p50.fast-server")
slow=$(cat "$TS_TMP/p50.slow-server")
# 10x apart in delay, 2 x delay + ~0.3 ms in RTT: at least 3x apart even when a loaded
# host adds to the short one (each is also checked against TCP_INFO above).
if awk -v f="$fast" -v s="$slow" 'BEGIN { exit !(f > 0 && s / f >= 3) }'; then
	ts_pass "0.5 ms vs 5 ms delay: p50 $fast s vs $slow s"
else
	ts_fail "p50 of the two delays not an order of magnitude apart: $fast vs $slow"
fi
p90=$(ts_value slow-server latency-rtt-percentile-90)
awk -v a="$slow" -v b="$p90" 'BEGIN { exit !(b >= a) }' && ts_pass "p90 >= p50 ($p90)" ||
	ts_fail "p90 $p90 below p50 $slow"
[ -z "$(ts_value slow-server latency-rtt-percentile-99)" ] && ts_pass "only the configured percentiles" ||
	ts_fail "rtt-percentile-99 reported although RTTPercentile is 50 90"
# Buckets: samples per second; their sum x the interval is the sample count.
buckets=$(awk '$1 == "slow-server" && $2 ~ /^bucket-rtt-/ { n++ } END { print n }' "$TS_TMP/got")
[ "$buckets" = 27 ] && ts_pass "27 buckets per subnet" || ts_fail "$buckets buckets"
# %g, as collectd's tail plugin formats bucket bounds: 2^26 us = 67.1089 s.
grep -q "^slow-server bucket-rtt-67.1089_inf " "$TS_TMP/got" && ts_pass "open top bucket rtt-67.1089_inf" ||
	ts_fail "no open top bucket"
[ -z "$(ts_value other latency-rtt-average)" ] || [ "$(ts_value other derive-rtt-samples)" != 0 ] &&
	ts_pass "no average without samples (other)" || ts_fail "other has an average without samples"

# ---- connections: 3 + 2 connections, each opened and closed once per side ----
expect_eq() {
	local inst=$1 what=$2 want=$3 got
	got=$(ts_value "$inst" "$what")
	[ "$got" = "$want" ] && ts_pass "$inst $what = $got" || ts_fail "$inst $what: want $want, got '$got'"
}
expect_eq fast-server connections-opened-active 3
expect_eq fast-server connections-opened-passive 0
expect_eq fast-client connections-opened-passive 3
expect_eq fast-client connections-opened-active 0
expect_eq fast-server connections-closed 3
expect_eq fast-client connections-closed 3
expect_eq slow-server connections-opened-active 2
expect_eq slow-client connections-opened-passive 2
expect_eq slow-server connections-closed 2
expect_eq slow-client connections-closed 2

# ---- retransmissions: the relay dropped client data on the slow link ----
rc=$(sum_field retrans_client 4 5)
rs=$(sum_field retrans_server 4 5)
[ "$rc" -gt 0 ] || ts_fail "the relay caused no retransmission (TCP_INFO says $rc)"
expect_eq slow-server derive-retransmit-segments "$rc"
expect_eq slow-client derive-retransmit-segments "$rs"
expect_eq fast-server derive-retransmit-segments "$(sum_field retrans_client 1 3)"
grep "dropped" "$TS_TMP"/tsd10$$.log >/dev/null 2>&1 || true

# ---- the helper build of the RTT program, where the kernel would take the kfunc ----
# (on kernels without the kfunc both runs load the helper build).
cp "$TS_TMP/got" "$TS_TMP/got.default"
cp "$TS_TMP/moved" "$TS_TMP/moved.default"
run_traffic TS_PROBE_HELPER_CAST=1
check_build "through the bpf_skc_to_tcp_sock() helper"
check_rtt fast-server rtt_client_median_us 1 3
check_rtt slow-server rtt_client_median_us 4 5
check_sampling fast-server fast-client 1 3 3
check_sampling slow-server slow-client 4 5 2

# ---- concurrent flows to both delays: every sample in its own subnet ----
# Three connections per delay at once (IPv4 both, and one IPv6), so consecutive RTT samples on one CPU alternate
# between the subnets (tp_rtt keeps the last classifications per CPU: tcpsubnet.bpf.c,
# cls_cache). RTT through the 0.5 ms relay is about 1.2 ms, through the 5 ms one at
# least 10 ms: a sample of one subnet counted in the other would show in a log2 bucket
# the other's RTT never reaches (8.192 ms and up for the fast subnet, below for the slow).
cat >"$TS_TMP/run.par" <<RUN
#!/bin/sh
t="$TS_TRAFFIC"
f="--server-netns tsr1b$$ --client-netns tsr1a$$"
s="--server-netns tsr10b$$ --client-netns tsr10a$$"
for i in 1 2 3; do
	\$t \$f --listen 198.18.141.1 --connect 198.18.141.1 --bytes 2000000 &
done
\$t \$s --listen 198.18.151.1 --connect 198.18.151.1 --bytes 1000000 &
\$t \$s --listen 198.18.151.1 --connect 198.18.151.1 --bytes 1000000 &
\$t \$s --listen 2001:db8:51::1 --connect 2001:db8:51::1 --bytes 1000000 &
wait
RUN
chmod +x "$TS_TMP/run.par"
"$TS_PROBE" "$TS_TMP/conf" -- "$TS_TMP/run.par" >"$TS_TMP/out" 2>"$TS_TMP/err" ||
	ts_fail "ts-probe, concurrent flows: $(cat "$TS_TMP/err")"
grep -v "^c2s=" "$TS_TMP/out" >"$TS_TMP/got"
[ "$(grep -c "^c2s=" "$TS_TMP/out")" = 6 ] || ts_fail "concurrent flows: $(grep -c "^c2s=" "$TS_TMP/out") of 6 ran"
# $1 subnet, $2 "above" or "below" 8.192 ms: the buckets there must all be 0.
check_range() {
	local stray n
	n=$(ts_value "$1" derive-rtt-samples)
	stray=$(awk -v inst="$1" -v side="$2" '$1 == inst && $2 ~ /^bucket-rtt-/ {
		b = $2; sub(/^bucket-rtt-/, "", b); split(b, lh, "_")
		out = side == "above" ? lh[1] + 0 >= 0.008192 : (lh[2] != "inf" && lh[2] + 0 <= 0.008192)
		if (out && $3 + 0 != 0) print $2 "=" $3 }' "$TS_TMP/got" | tr '\n' ' ')
	if [ "${n:-0}" -gt 0 ] && [ -z "$stray" ]; then
		ts_pass "concurrent flows: $1: $n samples, none $2 8.192 ms"
	else
		ts_fail "concurrent flows: $1 ('$n' samples) has samples outside its RTT: $stray"
	fi
}
check_range fast-server above
check_range slow-server below
# Every connection's sending socket samples at least once, every receiving one once.
for want in fast-server:at_least fast-client:exactly slow-server:at_least slow-client:exactly; do
	inst=${want%%:*}
	n=$(ts_value "$inst" derive-rtt-samples)
	case $want in
	*exactly) [ "$n" = 3 ] ;;
	*) [ "${n:-0}" -ge 3 ] ;;
	esac && ts_pass "concurrent flows: $inst $n samples (3 connections)" ||
		ts_fail "concurrent flows: $inst '$n' samples, want $(echo "${want##*:}" | tr _ " ") 3 (3 connections)"
done

# ---- families off: not reported, programs not attached ----
{ cat "$TS_TMP/conf"; printf 'RTT false\nConnections false\nRetransmits false\n'; } >"$TS_TMP/conf.off"
"$TS_PROBE" "$TS_TMP/conf.off" -- "$TS_TRAFFIC" --server-netns tsr1b$$ --client-netns tsr1a$$ \
	--listen 198.18.141.1 --connect 198.18.141.1 --bytes 100000 >"$TS_TMP/out" 2>"$TS_TMP/err" ||
	ts_fail "ts-probe with families off: $(cat "$TS_TMP/err")"
grep -v "^c2s=" "$TS_TMP/out" >"$TS_TMP/got"
if grep -q "rtt\|connections\|retransmit" "$TS_TMP/got"; then
	ts_fail "families off still reported: $(grep "rtt\|connections\|retransmit" "$TS_TMP/got" | head -3)"
else
	ts_pass "RTT, Connections, Retransmits false: only if_octets reported"
fi
TS_DEBUG=1 "$TS_PROBE" "$TS_TMP/conf.off" >/dev/null 2>"$TS_TMP/err"
if grep -q "prog '\(tp_rtt\|tp_state\|tp_retrans\|tp_retrans_err\)': skipped loading" "$TS_TMP/err" &&
	! grep -q "prog 'tp_rtt': failed\|loading tp_rtt" "$TS_TMP/err"; then
	ts_pass "their programs are not loaded"
else
	ts_fail "programs of disabled families were loaded"
fi

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: RTT and TCP health per subnet"
