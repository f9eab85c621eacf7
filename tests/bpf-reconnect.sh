#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A socket connected again elsewhere is classified anew, with and without the per-socket
# memo (a trie above 32 prefixes turns it on): one client socket alternates between
# servers in two subnets (tests/ts-reconnect.py), and each subnet must show exactly the
# bytes sent to it. The memo is immutable and replaced on reconnection (struct ts_memo in
# bpf/tcpsubnet.bpf.c); the race the old in-place rewrite had (a stale index paired with
# fresh addresses while another CPU refilled it) needs two CPUs to hit one socket within
# a few instructions and is argued there, not reproduced here.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
command -v python3 >/dev/null || ts_skip "python3 is not installed"

ns=tsrec$$
ts_netns "$ns" 198.18.244.1 198.18.245.1 198.18.246.1

cat >"$TS_TMP/conf" <<'CONF'
Subnet "198.18.244.0/24"
Subnet "198.18.245.0/24"
<Subnet "cli">
  Prefix "198.18.246.0/24"
</Subnet>
ReportUnmatched false
CONF
ts_memo_pad "$TS_TMP/conf" "$TS_TMP/conf.memo"
rounds=40 bytes=30011
for variant in conf conf.memo; do
	cat >"$TS_TMP/run" <<RUN
#!/bin/sh
ip netns exec $ns python3 "$top_srcdir/tests/ts-reconnect.py" 198.18.246.1 198.18.244.1 \
	198.18.245.1 $rounds $bytes >"$TS_TMP/moved"
RUN
	chmod +x "$TS_TMP/run"
	if ! "$TS_PROBE" "$TS_TMP/$variant" -- "$TS_TMP/run" >"$TS_TMP/got" 2>"$TS_TMP/err"; then
		ts_fail "$variant: ts-probe failed: $(cat "$TS_TMP/err")"
		continue
	fi
	line=$(cat "$TS_TMP/moved")
	a=$(ts_field "$line" a_tx) b=$(ts_field "$line" b_tx) r=$(ts_field "$line" receipts)
	[ "$r" = $((2 * rounds)) ] || ts_fail "$variant: the client read $r receipts, want $((2 * rounds))"
	# The client's socket: to each server its bytes, from each one receipt per round.
	# The accepted sockets (remote: the client's address): all bytes in, receipts out.
	printf '198.18.244.0/24 %s %s\n198.18.245.0/24 %s %s\ncli %s %s\n' \
		"$rounds" "$a" "$rounds" "$b" "$((a + b))" "$((2 * rounds))" >"$TS_TMP/expect"
	ts_check_exact "$variant: one socket, $((2 * rounds)) connections" \
		198.18.244.0/24 198.18.245.0/24 cli
done
[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: reconnected sockets are classified anew"
