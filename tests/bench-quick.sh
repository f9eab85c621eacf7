#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# bench/run --quick keeps working: it completes, writes valid JSON with every phase and a
# markdown report with every section. Timings are not judged here (a shared CI machine
# says nothing about them); docs/PERFORMANCE.md comes from the full run.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
for tool in iperf3 iptables iptables-restore python3; do
	command -v "$tool" >/dev/null || ts_skip "$tool is not installed (scripts/deps --test installs it)"
done

if TS_BUILDDIR=$top_builddir "$top_srcdir/bench/run" --quick --out "$TS_TMP/out" \
	>"$TS_TMP/stdout" 2>"$TS_TMP/stderr"; then
	ts_pass "bench/run --quick completed: $(tail -n 1 "$TS_TMP/stderr")"
else
	ts_fail "bench/run --quick failed: $(tail -n 20 "$TS_TMP/stderr")"
fi

# Every phase produced records, and every ns/event run counted events on the bytes path.
if python3 - "$TS_TMP/out/bench.json" <<'PY'
import json, sys
raw = json.load(open(sys.argv[1]))
for phase in ("nsevent", "throughput", "read", "collectd"):
    assert raw[phase], "no %s records" % phase
for r in raw["nsevent"]:
    send = [p for p in r["progs"] if p["name"].endswith("_send")]
    assert send and send[0]["run_cnt"] > 0, "%s N=%d: no send events" % (r["impl"], r["prefixes"])
for t in raw["throughput"]:
    assert len(t["a_bps"]) == len(t["b_bps"]) > 0 and all(x > 0 for x in t["a_bps"] + t["b_bps"])
for r in raw["read"]:
    assert r["values_per_cycle"] > 0 and r["map_memlock"] > 0
assert raw["meta"]["kernel"] and raw["meta"]["cpu"]
# Socket accounting: measured next to syscall accounting, and no program per segment.
assert any(t["kind"] == "socket" for t in raw["throughput"]), "no socket-accounting throughput"
accts = {r["accounting"] for r in raw["socket_runs"]}
assert accts == {"syscall", "socket"}, "socket_runs: %s" % accts
for r in raw["socket_runs"]:
    assert r["segments"] > 0 and r["runs"] > 0, r
    if r["accounting"] == "syscall":
        assert r["runs"] >= r["segments"] / 10, "syscall accounting ran too rarely: %s" % r
reads = [r for r in raw["socket_read"] if r["connections"] > 0]
assert reads and all(r["socket"]["read_ms"] and r["bytes_per_socket"] for r in reads), reads
PY
then
	ts_pass "bench.json: every phase has records"
else
	ts_fail "bench.json is incomplete"
fi

for section in "## Targets" "## Cost per event" "## Throughput" "## Read cycle and memory" \
	"## Init time" "## Socket accounting"; do
	grep -q "^$section" "$TS_TMP/out/bench.md" && ts_pass "bench.md has $section" ||
		ts_fail "bench.md lacks $section"
done
cmp -s "$TS_TMP/out/bench.md" "$TS_TMP/stdout" || ts_fail "stdout is not the report"
# The bench's namespace is gone.
netns=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["meta"]["netns"])' \
	"$TS_TMP/out/bench.json")
ip netns list | grep -q "^$netns\b" && ts_fail "the bench left its namespace $netns behind"

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: bench/run --quick works"
