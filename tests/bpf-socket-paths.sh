#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Real BPF: every byte path of tests/ts-paths (write, send, sendto, sendmsg, writev,
# sendfile, splice pipe -> socket and socket -> pipe, io_uring send and receive, the
# receive syscalls, a reset with unsent data, a connection opened before the plugin
# started, a connection open across many read cycles) over IPv4, IPv6 and IPv4-mapped
# IPv6, under ts-probe, once per accounting:
#   Accounting "socket"   every subnet's rx/tx exact, lost-events 0 (or RTT samples only)
#   Accounting "syscall"  exact too, except the known gaps it documents: splice from a
#                         socket is not counted, a reset counts the bytes the client
#                         wrote (also those never sent). A change of either shows here.
# io_uring needs liburing at build time: without it that path is reported as not built
# (a failure under TS_STRICT=1, since CI installs liburing-dev).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/paths-lib.sh"
ts_require_bpf
ts_tmpdir
paths_names
if [ -n "$PATHS_MISSING" ]; then
	[ "${TS_STRICT:-0}" = 1 ] && ts_fail "paths not built (no liburing-dev at configure time): $PATHS_MISSING"
	echo "SKIP (part): paths not built: $PATHS_MISSING"
fi
ns=tssockx$$
paths_netns "$ns"

for acct in syscall socket; do
	# syscall is the default: no option line, so this half also runs on a plugin without it.
	opt=""
	[ $acct = socket ] && opt="Accounting \"socket\""
	paths_conf "$TS_TMP/$acct.conf" "$opt"
	if paths_run "$TS_TMP/$acct.conf" "$ns"; then
		paths_check "Accounting $acct" "$acct"
	elif [ $acct = socket ] && grep -q 'unknown option "Accounting"\|Accounting' "$TS_TMP/err" &&
		! grep -q 'attach mode' "$TS_TMP/err"; then
		# The option has not landed: that is a skip, which TS_STRICT turns into a failure.
		[ "$TS_FAILS" = 0 ] || exit 1
		ts_skip "the plugin refuses Accounting \"socket\": $(head -n 1 "$TS_TMP/err")"
	else
		ts_fail "Accounting $acct: ts-probe failed: $(cat "$TS_TMP/err")"
	fi
done

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: every path exact in socket accounting; syscall accounting's known gaps unchanged"
