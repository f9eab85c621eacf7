#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Only TCP stream sockets count. A raw socket opened with IPPROTO_TCP has sk_protocol TCP
# and the send/receive tracepoints fire for it; connected to the server's address, its
# packet copies would land in the server's subnet. It reads while a known TCP flow runs
# in the same namespace: the subnets must show exactly the flow's bytes (before the fix
# the raw reads were added as received TCP payload), and lost-events must be 0.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
command -v python3 >/dev/null || ts_skip "python3 is not installed"

ns=tsraw$$
ts_netns "$ns" 198.18.240.1 198.18.241.1

cat >"$TS_TMP/conf" <<'CONF'
Subnet "198.18.240.0/24"
<Subnet "cli">
  Prefix "198.18.241.0/24"
</Subnet>
ReportUnmatched false
AttachMode "auto"
CONF

cat >"$TS_TMP/run" <<RUN
#!/bin/sh
ip netns exec $ns python3 "$top_srcdir/tests/ts-rawsock.py" 198.18.241.1 198.18.240.1 6 "$TS_TMP/raw.ready" >"$TS_TMP/raw.bytes" &
raw=\$!
i=0
while [ ! -e "$TS_TMP/raw.ready" ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
out=\$(ip netns exec $ns "$TS_TRAFFIC" --listen 198.18.240.1 --connect 198.18.240.1 \
	--bind 198.18.241.1 --bytes 2000003 --reply-bytes 500009) || exit 1
echo "198.18.240.0/24 cli \$out" >"$TS_TMP/moved"
wait \$raw
RUN
chmod +x "$TS_TMP/run"
: >"$TS_TMP/expect"
if "$TS_PROBE" "$TS_TMP/conf" -- "$TS_TMP/run" >"$TS_TMP/got" 2>"$TS_TMP/err"; then
	while read -r ssub csub line; do
		ts_expect_add "$TS_TMP/expect" "$ssub" "$csub" "$line"
	done <"$TS_TMP/moved"
	raw=$(cat "$TS_TMP/raw.bytes")
	[ "${raw:-0}" -gt 100000 ] && ts_pass "the raw socket read $raw bytes of packet copies" ||
		ts_fail "the raw socket read only '${raw}' bytes: the test proves nothing"
	ts_check_exact "TCP flow next to a raw IPPROTO_TCP socket" 198.18.240.0/24 cli
else
	ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
fi
[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: raw sockets add nothing"
