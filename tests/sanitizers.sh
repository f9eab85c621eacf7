#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The unit tests (tests/check_tsconf, check_tshist, check_badconf, check_tscgroup) built with AddressSanitizer
# (including LeakSanitizer) and UndefinedBehaviorSanitizer, every check in this process
# (CK_FORK=no, so leaks of a test body are seen at exit): zero reports. Negative
# controls first: a deliberate leak, overflow and signed overflow must each be caught,
# or a silently disabled sanitizer would make the real runs meaningless.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
ts_tmpdir
B=$top_builddir/tests
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=23
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export CK_FORK=no

control() {
	local mode=$1 pattern=$2
	if "$B/san-control-san" "$mode" >"$TS_TMP/control.$mode" 2>&1; then
		rel_fail "control $mode: the sanitizers did not notice"
	elif grep -q "$pattern" "$TS_TMP/control.$mode"; then
		rel_pass "control $mode caught: $(grep -m1 "$pattern" "$TS_TMP/control.$mode" | sed 's/^==[0-9]*==//')"
	else
		rel_fail "control $mode: failed without the expected report: $(head -5 "$TS_TMP/control.$mode")"
	fi
}
"$B/san-control-san" ok >/dev/null 2>&1 || rel_fail "control ok: a clean run failed"
control leak "ERROR: LeakSanitizer: detected memory leaks"
control overflow "ERROR: AddressSanitizer: heap-buffer-overflow"
control ubsan "runtime error: signed integer overflow"

for t in check_tsconf-san check_tshist-san check_badconf-san check_tscgroup-san; do
	start=$(date +%s.%N)
	rc=0
	"$B/$t" >"$TS_TMP/$t.log" 2>&1 || rc=$?
	secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	checks=$(grep -o '[0-9]*%: Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' "$TS_TMP/$t.log")
	reports=$(grep -c 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$TS_TMP/$t.log")
	if [ "$rc" = 0 ] && [ "$reports" = 0 ] && echo "$checks" | grep -q "^100%"; then
		rel_pass "$t under ASan+UBSan: $checks; 0 sanitizer reports ($secs s)"
	else
		rel_fail "$t under ASan+UBSan: exit $rc, $reports reports: $(tail -n 30 "$TS_TMP/$t.log")"
	fi
done
rel_done "unit tests clean under AddressSanitizer, LeakSanitizer and UBSan"
