#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Real BPF: LocalPort/RemotePort filters and LocalSubnet pairs.
# - traffic outside the port filter is counted nowhere (no subnet, not "other");
# - with LocalSubnet blocks every value lands in "<local>-to-<remote>", exactly.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir

ns=tsfilt$$
ts_netns "$ns" 198.18.160.1 198.18.161.1 198.18.170.1 198.18.170.2 198.18.171.1 \
	198.18.171.2 198.18.172.1

# ---- LocalPort: only the server sockets (local port 8080 / 9443) count ----
label=LocalPort
cat >"$TS_TMP/conf" <<'CONF'
<Subnet "svc">
  Prefix "198.18.160.0/24"
</Subnet>
<Subnet "cli">
  Prefix "198.18.161.0/24"
</Subnet>
LocalPort "8000-8099" 9443
CONF
cat >"$TS_TMP/flows" <<'FLOWS'
--listen 198.18.160.1 --port 8080 --connect 198.18.160.1 --bind 198.18.161.1 --bytes 300007 --reply-bytes 100003
--listen dual --port 9443 --connect 198.18.160.1 --bind 198.18.161.1 --bytes 200003 --reply-bytes 50021
--listen 198.18.160.1 --port 9000 --connect 198.18.160.1 --bind 198.18.161.1 --bytes 400009 --reply-bytes 90001
FLOWS
if ts_probe_run "$TS_TMP/conf" "$TS_TMP/flows" ip netns exec "$ns"; then
	c2s=$(ts_add "$(ts_field "$(ts_moved 1)" c2s)" "$(ts_field "$(ts_moved 2)" c2s)")
	s2c=$(ts_add "$(ts_field "$(ts_moved 1)" s2c)" "$(ts_field "$(ts_moved 2)" s2c)")
	ts_expect cli if_octets "$c2s $s2c"
	ts_expect cli connections-opened-passive 2
	ts_expect cli connections-closed 2
	ts_expect svc if_octets "0 0"
	ts_expect svc connections-opened-active 0
	ts_expect svc derive-rtt-samples 0
	ts_expect other if_octets "0 0"
fi

# ---- RemotePort: only the client sockets (remote port 8080) count ----
label=RemotePort
sed 's/^LocalPort.*/RemotePort 8080/' "$TS_TMP/conf" >"$TS_TMP/conf.r"
cat >"$TS_TMP/flows" <<'FLOWS'
--listen 198.18.160.1 --port 8080 --connect 198.18.160.1 --bind 198.18.161.1 --bytes 300007 --reply-bytes 100003
--listen 198.18.160.1 --port 8081 --connect 198.18.160.1 --bind 198.18.161.1 --bytes 200003 --reply-bytes 50021
FLOWS
if ts_probe_run "$TS_TMP/conf.r" "$TS_TMP/flows" ip netns exec "$ns"; then
	ts_expect svc if_octets "$(ts_field "$(ts_moved 1)" s2c) $(ts_field "$(ts_moved 1)" c2s)"
	ts_expect svc connections-opened-active 1
	ts_expect svc connections-closed 1
	ts_expect cli if_octets "0 0"
	ts_expect cli connections-opened-passive 0
	ts_expect other if_octets "0 0"
fi

# ---- LocalSubnet pairs ----
label=pairs
cat >"$TS_TMP/conf.p" <<'CONF'
<LocalSubnet "la">
  Prefix "198.18.170.0/24"
</LocalSubnet>
LocalSubnet "198.18.171.0/24"
<Subnet "ra">
  Prefix "198.18.170.0/24"
</Subnet>
<Subnet "rb">
  Prefix "198.18.171.0/24"
</Subnet>
CONF
cat >"$TS_TMP/flows" <<'FLOWS'
--listen 198.18.171.1 --connect 198.18.171.1 --bind 198.18.170.1 --bytes 300007 --reply-bytes 100003
--listen 198.18.171.1 --connect 198.18.171.1 --bind 198.18.172.1 --bytes 200003 --reply-bytes 50021
--listen dual --connect 198.18.170.2 --bind 198.18.171.2 --bytes 250007 --reply-bytes 70001
FLOWS
# The same with a trie large enough for the per-socket memo (local addresses included),
# and with every flow on one CPU: flows 1 and 2 have the same remote address and
# different local ones, and their events then meet in that CPU's last classifications
# (tcpsubnet.bpf.c, cls_cache), which must tell them apart by the local address too.
ts_memo_pad "$TS_TMP/conf.p" "$TS_TMP/conf.p.memo"
for conf in conf.p conf.p.memo conf.p.cpu0; do
	pin=""
	[ "$conf" = conf.p.memo ] && label="pairs, memo"
	[ "$conf" = conf.p.cpu0 ] && label="pairs, one CPU" conf=conf.p pin="taskset -c 0"
	# shellcheck disable=SC2086 # pin: words on purpose
	if ts_probe_run "$TS_TMP/$conf" "$TS_TMP/flows" ip netns exec "$ns" $pin; then
		c1=$(ts_field "$(ts_moved 1)" c2s) s1=$(ts_field "$(ts_moved 1)" s2c)
		c2=$(ts_field "$(ts_moved 2)" c2s) s2=$(ts_field "$(ts_moved 2)" s2c)
		c3=$(ts_field "$(ts_moved 3)" c2s) s3=$(ts_field "$(ts_moved 3)" s2c)
		# flow 1: client la -> server rb; flow 3 (dual-stack server in la, client in
		# 198.18.171.0/24): the server socket is la-to-rb, the client socket the reverse.
		ts_expect la-to-rb if_octets "$(ts_add "$s1" "$c3") $(ts_add "$c1" "$s3")"
		ts_expect 198.18.171.0/24-to-ra if_octets "$(ts_add "$c1" "$s3") $(ts_add "$s1" "$c3")"
		ts_expect other-to-rb if_octets "$s2 $c2"
		ts_expect 198.18.171.0/24-to-other if_octets "$c2 $s2"
		ts_expect la-to-rb connections-opened-active 1
		ts_expect la-to-rb connections-opened-passive 1
		ts_expect la-to-ra if_octets "0 0"
		ts_expect la-to-other if_octets "0 0"
		ts_expect 198.18.171.0/24-to-rb if_octets "0 0"
		grep -q "^dc-east \|^ra \|^rb " "$TS_TMP/got" && ts_fail "$label: plain subnet instances reported"
		# "-": the health values' empty instance, not a pair.
		n=$(awk '$1 != "-" { print $1 }' "$TS_TMP/got" | sort -u | wc -l)
		want=9
		[ "$conf" = conf.p.memo ] && want=12 # memo-pad is a fourth remote subnet
		[ "$n" = $want ] && ts_pass "$label: $want instances" || ts_fail "$label: $n instances"
	fi
done

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: port filters and subnet pairs"
