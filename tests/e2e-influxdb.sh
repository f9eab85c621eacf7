#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# End to end into a real InfluxDB: Debian's influxd 1.x (on loopback, data in the test's
# folder) with its collectd input (the stock types.db) fed by a real collectd's network
# plugin, a second collectd input in "join" mode, and its UDP line-protocol input fed by
# write_influxdb_udp. Queried over InfluxDB's HTTP API, against the traffic moved:
# - collectd input: every reading of the DERIVE series is collectd's, the last the
#   bytes, connections and retransmitted segments moved, exactly; each RTT percentile
#   is the one its interval's buckets give, the whole run's median lies within the
#   documented factor of 2 of TCP_INFO's RTT, none below the relay's 10 ms; the RTT
#   buckets add up to the RTT samples; "join" holds the same bytes;
# - write_influxdb_udp (StoreRates true): rate x interval adds up to what moved; with
#   its default StoreRates false InfluxDB drops every GAUGE point (field type conflict);
# - the measurements, tags and field types each route produces are exactly the ones
#   docs/backends.md lists;
# - every query and variable query of dashboards/influxdb.json returns series with
#   values, and its rate panels add up to what moved.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/backends.sh"
tb_require
command -v influxd >/dev/null || ts_skip "influxdb is not installed (scripts/deps --test)"
[ -r /usr/share/collectd/types.db ] || ts_skip "collectd's types.db is missing"

x=$TS_TMP/influxdb
cd_split=$(tb_free_port udp)
cd_join=$(tb_free_port udp)
lp_udp=$(tb_free_port udp)
lp_raw=$(tb_free_port udp)
# Two collectd inputs ("split" and "join") and two line-protocol UDP inputs.
{
	tb_collectd_input "$cd_split" collectd
	tb_collectd_input "$cd_join" collectd_join join
	for i in "$lp_udp udp" "$lp_raw udp_raw"; do
		# shellcheck disable=SC2086
		set -- $i
		cat <<CONF
[[udp]]
  enabled = true
  bind-address = "127.0.0.1:$1"
  database = "$2"
  precision = "ms"
  batch-size = 100
  batch-timeout = "100ms"
CONF
	done
} >"$TS_TMP/inputs"
tb_start_influxd "$x" "$TS_TMP/inputs" collectd collectd_join udp udp_raw
http=$TB_INFLUX_HTTP

# collectd's network plugin sends a packet when its buffer is full; FlushInterval 1
# also sends what is buffered every second, so values arrive while the test runs.
# write_influxdb_udp with StoreRates true, as docs/backends.md tells (see the end).
cat >"$TS_TMP/writers" <<CONF
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  Server "127.0.0.1" "$cd_split"
  Server "127.0.0.1" "$cd_join"
</Plugin>
LoadPlugin write_influxdb_udp
<Plugin write_influxdb_udp>
  Server "127.0.0.1" "$lp_udp"
  StoreRates true
</Plugin>
CONF

tb_link
tb_collectd_run "$TS_TMP/collectd" "$TS_TMP/writers"
cat "$TS_TMP/expect"
# collectd flushed its network buffer when it stopped; influxd writes each batch after
# 100 ms.
"$TB_PYTHON" "$TB_PY" influx-wait "$http" "$TS_TMP/expect" 20 ||
	ts_fail "the collectd input does not have the final byte counts after 20 s"

"$TB_PYTHON" "$TB_PY" influx "$http" "$TS_TMP/collectd/csv" "$TS_TMP/expect" \
	"$top_srcdir/docs/backends.md" || ts_fail "InfluxDB figures (above)"
"$TB_PYTHON" "$TB_PY" influx-dashboard "$top_srcdir/dashboards/influxdb.json" "$http" \
	"$TS_TMP/expect" || ts_fail "dashboards/influxdb.json (above)"
if grep -q "field type conflict" "$TS_TMP/influxd.out"; then
	ts_fail "influxd rejected points: $(grep -m1 "field type conflict" "$TS_TMP/influxd.out")"
fi

# write_influxdb_udp with its default StoreRates false writes DERIVE values as integers
# and GAUGE values as floats into the same field "value" of the one measurement
# "tcpsubnet": InfluxDB keeps the type that came first and drops the others, which is
# why docs/backends.md asks for StoreRates true. A few idle read cycles show it.
cat >"$TS_TMP/writers.raw" <<CONF
LoadPlugin write_influxdb_udp
<Plugin write_influxdb_udp>
  Server "127.0.0.1" "$lp_raw"
</Plugin>
CONF
tb_collectd_conf "$TS_TMP/collectd-raw" "$TS_TMP/writers.raw"
ts_collectd_start "$TS_TMP/collectd-raw"
"$TB_PYTHON" "$TB_PY" influx-wait-rows "$http" udp_raw \
	"SELECT \"rx\" FROM \"tcpsubnet\" WHERE \"instance\" = 'clients'" 3 20 ||
	ts_fail "write_influxdb_udp, StoreRates false: no 3 readings after 20 s"
ts_collectd_stop
"$TB_PYTHON" "$TB_PY" influx-storerates-false "$http" ||
	ts_fail "write_influxdb_udp, StoreRates false: not as docs/backends.md says (above)"
if grep -q 'field type conflict: input field \\"value\\" on measurement \\"tcpsubnet\\"' \
	"$TS_TMP/influxd.out"; then
	ts_pass "influxd: $(grep -o 'partial write: field type conflict.*dropped=[0-9]*' \
		"$TS_TMP/influxd.out" | head -n 1)"
else
	ts_fail "influxd logged no field type conflict for tcpsubnet.value"
fi
for s in $TB_SERVER_PIDS; do tb_stop_server "$s"; done

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: per-subnet figures arrive in InfluxDB as moved"
