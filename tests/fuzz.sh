#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Runs the libFuzzer targets (tests/fuzz/) for a bounded time each, built with ASan,
# LeakSanitizer and UBSan: zero crashes, leaks, undefined behaviour, timeouts or broken
# invariants. Each run starts from the committed corpus (tests/fuzz/corpus/TARGET) and
# writes what it discovers into a scratch folder, never into the source tree.
# TS_FUZZ_SECONDS per target: 20 by default, 5 under make distcheck; make fuzz runs
# longer (FUZZ_SECONDS=...). A failure leaves the reproducer's bytes in the log:
#   tests/fuzz/fuzz-TARGET REPRODUCER-FILE
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
ts_tmpdir
secs=$(rel_seconds TS_FUZZ_SECONDS 20 5)
for target in config names; do
	bin=$top_builddir/tests/fuzz/fuzz-$target
	work=$TS_TMP/$target
	mkdir -p "$work/new" "$work/artifacts"
	dict=""
	[ -f "$top_srcdir/tests/fuzz/$target.dict" ] && dict="-dict=$top_srcdir/tests/fuzz/$target.dict"
	seeds=$(ls "$top_srcdir/tests/fuzz/corpus/$target" | wc -l)
	rc=0
	# -timeout: one input taking 10 s is a hang; -rss_limit_mb: runaway memory is a bug.
	# shellcheck disable=SC2086
	ASAN_OPTIONS=detect_leaks=1 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$work/artifacts/" $dict \
		"$work/new" "$top_srcdir/tests/fuzz/corpus/$target" >"$work/log" 2>&1 || rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -n 1)
	found=$(ls "$work/artifacts" | wc -l)
	if [ "$rc" = 0 ] && [ "$found" = 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
		rel_pass "fuzz-$target: $runs inputs in $secs s ($speed/s, $cov edges, $seeds seeds): 0 crashes, leaks, UB or timeouts"
	else
		rel_fail "fuzz-$target: exit $rc, $found artifacts after ${runs:-0} inputs:
$(grep -B2 -A30 'ERROR\|invariant broken\|runtime error' "$work/log" | head -60)"
		for a in "$work/artifacts"/*; do
			[ -f "$a" ] && echo "reproducer $(basename "$a") (base64): $(base64 -w0 "$a")"
		done
	fi
done
rel_done "fuzzing found nothing"
