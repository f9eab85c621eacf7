#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# End to end into a real Graphite: Debian's carbon-cache (on loopback, whisper files in
# the test's folder) fed by a real collectd with the plugin and write_graphite, five
# writer nodes with different options into the same carbon. Against the traffic moved:
# - StoreRates false: the whisper files hold collectd's readings, the last one the
#   bytes, connections and retransmitted segments moved, exactly;
# - StoreRates true (default): rate x interval adds up to the same totals; each RTT
#   percentile is the one its interval's buckets give, the whole run's median lies
#   within the documented factor of 2 of TCP_INFO's RTT, none below the relay's 10 ms;
#   the RTT buckets add up to the RTT samples;
# - the metric paths of every node are exactly the ones docs/backends.md lists, and the
#   option nodes carry the default node's values;
# - every target and variable query of dashboards/graphite.json, evaluated by Debian's
#   graphite-web (the render and find code Grafana calls) against these whisper files,
#   returns series with values, and its rate panels add up to what moved.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/backends.sh"
tb_require
command -v carbon-cache >/dev/null || ts_skip "graphite-carbon is not installed (scripts/deps --test)"
"$TB_PYTHON" -c "import whisper" 2>/dev/null || ts_skip "python3-whisper is not installed (scripts/deps --test)"
"$TB_PYTHON" -c "import django, graphite" 2>/dev/null ||
	ts_skip "graphite-web is not installed (scripts/deps --test)"

g=$TS_TMP/graphite
tb_start_carbon "$g"
port=$TB_CARBON_PORT

# Node "default" has every option at its default; the others each change one, with a
# prefix of their own so their trees stay apart.
cat >"$TS_TMP/writers" <<CONF
LoadPlugin write_graphite
<Plugin write_graphite>
  <Node "default">
    Host "127.0.0.1"
    Port "$port"
  </Node>
  <Node "raw">
    Host "127.0.0.1"
    Port "$port"
    Prefix "raw."
    StoreRates false
  </Node>
  <Node "sep">
    Host "127.0.0.1"
    Port "$port"
    Prefix "sep."
    SeparateInstances true
  </Node>
  <Node "esc">
    Host "127.0.0.1"
    Port "$port"
    Prefix "esc."
    EscapeCharacter "-"
  </Node>
  <Node "ds">
    Host "127.0.0.1"
    Port "$port"
    Prefix "ds."
    AlwaysAppendDS true
  </Node>
</Plugin>
CONF

tb_link
tb_collectd_run "$TS_TMP/collectd" "$TS_TMP/writers"
cat "$TS_TMP/expect"

# carbon writes its cache out in the background (a pass, then a 1 s nap): wait until
# the whisper tree stops changing.
"$TB_PYTHON" "$TB_PY" whisper-settle "$g/whisper" 30 || ts_fail "carbon kept writing for 30 s"
for s in $TB_SERVER_PIDS; do tb_stop_server "$s"; done # carbon's part is done
echo "carbon wrote $(find "$g/whisper" -name '*.wsp' | wc -l) whisper files"

"$TB_PYTHON" "$TB_PY" graphite "$g/whisper" "$TS_TMP/collectd/csv" "$TS_TMP/expect" \
	"$top_srcdir/docs/backends.md" || ts_fail "Graphite figures (above)"

# Grafana sends a dashboard's targets to graphite-web's render and find APIs: run them
# through Debian's graphite-web (inside tb-check.py, with Django's test client) on the
# whisper files above.
mkdir -p "$TS_TMP/graphite-web"
"$TB_PYTHON" "$TB_PY" graphite-dashboard "$top_srcdir/dashboards/graphite.json" \
	"$g/whisper" "$TS_TMP/graphite-web" "$TS_TMP/collectd/csv" "$TS_TMP/expect" ||
	ts_fail "dashboards/graphite.json (above)"

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: per-subnet figures arrive in Graphite as moved"
