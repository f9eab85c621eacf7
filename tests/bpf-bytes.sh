#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Real BPF: per-subnet rx/tx equal the bytes a test program moved, exactly, over IPv4,
# native IPv6 and IPv4-mapped IPv6 (dual-stack listener and dual-stack client), with
# every send and receive syscall, nested prefixes and unmatched peers, in a network
# namespace other than the loader's.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir

# Address plan (198.18.0.0/15 and 2001:db8::/32 are reserved for tests/docs); which
# subnet each address belongs to is the ground truth, written down in the flows below.
ns=tsbytes$$
ts_netns "$ns" 198.18.64.1 198.18.64.2 198.18.1.1 198.19.5.1 198.19.5.2 \
	198.19.200.1 203.0.113.7 2001:db8:1::1 2001:db8:1:5::1 2001:db8:1:5::2 2001:db8:77::1

cat >"$TS_TMP/conf" <<'CONF'
<Subnet "wide">
  Prefix "198.18.0.0/16"
</Subnet>
<Subnet "dc-east">
  Prefix "198.18.64.0/18"
  Prefix "2001:db8:1::/48"
</Subnet>
Subnet "198.19.5.0/24"
<Subnet "v6-deep">
  Prefix "2001:db8:1:5::/64"
</Subnet>
<Subnet "mapped">
  Prefix "::ffff:198.19.200.0/120"
</Subnet>
CONF

# server-subnet client-subnet ts-traffic arguments
cat >"$TS_TMP/flows" <<'FLOWS'
dc-east 198.19.5.0/24 --listen 198.18.64.1 --connect 198.18.64.1 --bind 198.19.5.1 --bytes 700001 --reply-bytes 300007
wide other --listen 198.18.1.1 --connect 198.18.1.1 --bind 203.0.113.7 --bytes 500003 --reply-bytes 90001
dc-east v6-deep --listen 2001:db8:1::1 --connect 2001:db8:1::1 --bind 2001:db8:1:5::1 --bytes 600011 --reply-bytes 200003
other v6-deep --listen 2001:db8:77::1 --connect 2001:db8:77::1 --bind 2001:db8:1:5::2 --bytes 400009 --reply-bytes 50021
mapped dc-east --listen dual --connect 198.19.200.1 --bind 198.18.64.2 --bytes 800017 --reply-bytes 210017
wide 198.19.5.0/24 --listen dual --connect ::ffff:198.18.1.1 --bind ::ffff:198.19.5.2 --bytes 450001 --reply-bytes 70001
FLOWS

subnets="wide dc-east 198.19.5.0/24 v6-deep mapped"

if ts_probe_flows auto "$TS_TMP/conf" "$TS_TMP/flows" "$ns"; then
	ts_check_exact "ReportUnmatched true" $subnets
	ts_check_at_least "ReportUnmatched true" other
	grep -q "attach mode " "$TS_TMP/err" || ts_fail "no attach mode line: $(cat "$TS_TMP/err")"
else
	ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
fi

{ cat "$TS_TMP/conf"; echo "ReportUnmatched false"; } >"$TS_TMP/conf.off"
# A large trie turns on the per-socket memo of the classification: same figures.
ts_memo_pad "$TS_TMP/conf" "$TS_TMP/conf.memo"
ts_memo_pad "$TS_TMP/conf.off" "$TS_TMP/conf.off.memo"
for variant in off off.memo; do
	what="ReportUnmatched false"
	[ "$variant" = off.memo ] && what="$what, memo"
	if ts_probe_flows auto "$TS_TMP/conf.$variant" "$TS_TMP/flows" "$ns"; then
		ts_check_exact "$what" $subnets
		if grep -q "^other " "$TS_TMP/got"; then
			ts_fail "$what still reports other"
		else
			ts_pass "$what: no other"
		fi
	else
		ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
	fi
done

if ts_probe_flows auto "$TS_TMP/conf.memo" "$TS_TMP/flows" "$ns"; then
	ts_check_exact "ReportUnmatched true, memo" $subnets
	ts_check_at_least "ReportUnmatched true, memo" other
else
	ts_fail "ts-probe failed: $(cat "$TS_TMP/err")"
fi

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: all byte counts exact"
