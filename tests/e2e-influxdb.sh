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
mkdir -p "$x"
http=$(tb_free_port tcp)
rpc=$(tb_free_port tcp)
cd_split=$(tb_free_port udp)
cd_join=$(tb_free_port udp)
lp_udp=$(tb_free_port udp)
lp_raw=$(tb_free_port udp)
# Everything on loopback, on ports picked now (a system influxd may hold the defaults);
# no usage reporting, no self-monitoring database. Inputs flush their batches after
# 100 ms (the 10 s default would outlast the test).
cat >"$x/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc"
[meta]
  dir = "$x/meta"
[data]
  dir = "$x/data"
  wal-dir = "$x/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:$http"
  log-enabled = false
[continuous_queries]
  enabled = false
[[collectd]]
  enabled = true
  bind-address = "127.0.0.1:$cd_split"
  database = "collectd"
  typesdb = "/usr/share/collectd/types.db"
  security-level = "none"
  parse-multivalue-plugin = "split"
  batch-size = 100
  batch-timeout = "100ms"
[[collectd]]
  enabled = true
  bind-address = "127.0.0.1:$cd_join"
  database = "collectd_join"
  typesdb = "/usr/share/collectd/types.db"
  security-level = "none"
  parse-multivalue-plugin = "join"
  batch-size = 100
  batch-timeout = "100ms"
[[udp]]
  enabled = true
  bind-address = "127.0.0.1:$lp_udp"
  database = "udp"
  precision = "ms"
  batch-size = 100
  batch-timeout = "100ms"
[[udp]]
  enabled = true
  bind-address = "127.0.0.1:$lp_raw"
  database = "udp_raw"
  precision = "ms"
  batch-size = 100
  batch-timeout = "100ms"
CONF
tb_start_server influxd "$x/influxd.pid" influxd -config "$x/influxdb.conf" -pidfile "$x/influxd.pid"
tb_wait_tcp "$http" 30 || { ts_fail "influxd does not listen on $http: $(cat "$TS_TMP/influxd.out")"; exit 1; }
for db in collectd collectd_join udp udp_raw; do
	"$TB_PYTHON" "$TB_PY" influx-query "$http" "" "CREATE DATABASE $db" >/dev/null ||
		{ ts_fail "CREATE DATABASE $db: $(tail -n 5 "$TS_TMP/influxd.out")"; exit 1; }
done

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
