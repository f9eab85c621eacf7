#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The cgroup dimension in real backends: one collectd with a Cgroup block and a
# CgroupEach pattern writes to Debian's carbon-cache (write_graphite), influxd's collectd
# input (network) and write_prometheus' endpoint at once, while a client in a CgroupEach
# cgroup named "app.service" talks to a server in the Cgroup block "web". The names the
# README and collectd-tcpsubnet(5) state for "<cgroup>~<instance>" must be the ones the
# backends hold, with the exact bytes moved:
#   Graphite  tstest.tcpsubnet-app_service~srv.if_octets.rx (write_graphite: '.' -> '_')
#   InfluxDB  measurement tcpsubnet_rx, tags instance=app.service~srv, type=if_octets
#   Prometheus collectd_tcpsubnet_if_octets_rx_total{tcpsubnet="app.service~srv",...}
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/backends.sh"
ts_require_bpf
ts_tmpdir
command -v carbon-cache >/dev/null || ts_skip "graphite-carbon is not installed (scripts/deps --test)"
command -v whisper-fetch >/dev/null || ts_skip "python3-whisper is not installed (scripts/deps --test)"
command -v influxd >/dev/null || ts_skip "influxdb is not installed (scripts/deps --test)"
[ -f /usr/lib/collectd/write_prometheus.so ] || ts_skip "write_prometheus.so is missing"
ldd /usr/lib/collectd/write_prometheus.so | grep -q "not found" &&
	ts_skip "write_prometheus needs libmicrohttpd12 and libprotobuf-c1 (scripts/deps --test)"
ts_cgroup_tree "e2e$$"
T=${TS_CGDIR#"$TS_CGROOT"}
mkdir -p "$TS_CGDIR/web" "$TS_CGDIR/pods/app.service"
ns=tscge$$
ts_netns "$ns" 198.18.238.1 198.18.239.1

g=$TS_TMP/graphite
tb_start_carbon "$g"
cd_port=$(tb_free_port udp)
tb_collectd_input "$cd_port" collectd >"$TS_TMP/inputs"
tb_start_influxd "$TS_TMP/influx" "$TS_TMP/inputs" collectd
prom=$(tb_free_port tcp)

cat >"$TS_TMP/block" <<CONF
  <Subnet "srv">
    Prefix "198.18.238.0/24"
  </Subnet>
  <Subnet "cli">
    Prefix "198.18.239.0/24"
  </Subnet>
  RTT false
  Cgroup "$T/web"
  CgroupEach "$T/pods/*"
  MaxCgroups 4
CONF
cat >"$TS_TMP/writers" <<CONF
LoadPlugin write_graphite
<Plugin write_graphite>
  <Node "raw">
    Host "127.0.0.1"
    Port "$TB_CARBON_PORT"
    StoreRates false
  </Node>
</Plugin>
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  Server "127.0.0.1" "$cd_port"
</Plugin>
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Port "$prom"
</Plugin>
CONF
d=$TS_TMP/collectd
tb_collectd_conf "$d" "$TS_TMP/writers" "$TS_TMP/block"
ts_collectd_start "$d"
ts_wait_file "$d/csv/tstest/tcpsubnet-app.service~srv/if_octets-*" 20 ||
	{ ts_fail "no values for app.service~srv after 20 s: $(cat "$d/collectd.log")"; exit 1; }
line=$("$TS_TRAFFIC" --server-netns "$ns" --client-netns "$ns" --listen 198.18.238.1 \
	--connect 198.18.238.1 --bind 198.18.239.1 --server-cgroup "$TS_CGDIR/web" \
	--client-cgroup "$TS_CGDIR/pods/app.service" --bytes 300007 --reply-bytes 100003) ||
	{ ts_fail "traffic failed"; exit 1; }
c=$(ts_field "$line" c2s) s=$(ts_field "$line" s2c)
ts_csv_wait_cycle "$d" "app.service~srv"

# Prometheus: scraped while collectd runs.
"$TB_PYTHON" -c 'import sys, urllib.request
sys.stdout.write(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode())' \
	"$prom" >"$TS_TMP/metrics" || ts_fail "no /metrics on port $prom"
prom_value() { # METRIC LABEL-VALUE: the sample of that metric with tcpsubnet="LABEL-VALUE"
	awk -v m="$1" -v l="tcpsubnet=\"$2\"" 'index($0, m "{") == 1 && index($0, l) { print $2 + 0 }' \
		"$TS_TMP/metrics"
}
for row in "collectd_tcpsubnet_if_octets_rx_total app.service~srv $s" \
	"collectd_tcpsubnet_if_octets_tx_total app.service~srv $c" \
	"collectd_tcpsubnet_if_octets_rx_total web~cli $c"; do
	set -- $row
	got=$(prom_value "$1" "$2")
	[ "$got" = "$3" ] && ts_pass "prometheus $1{tcpsubnet=\"$2\"} = $got" ||
		ts_fail "prometheus $1{tcpsubnet=\"$2\"}: want $3, got '$got' ($(grep -c tcpsubnet "$TS_TMP/metrics") tcpsubnet lines)"
done
grep -q 'collectd_tcpsubnet_if_octets_rx_total{tcpsubnet="app.service~srv",instance="tstest"}' \
	"$TS_TMP/metrics" && ts_pass "prometheus labels: tcpsubnet=\"app.service~srv\",instance=\"tstest\"" ||
	ts_fail "prometheus labels: $(grep -m1 'app.service~srv' "$TS_TMP/metrics")"
ts_collectd_stop

# Graphite: the last reading of the whisper files (StoreRates false: the counters).
"$TB_PYTHON" "$TB_PY" whisper-settle "$g/whisper" 30 || ts_fail "carbon kept writing for 30 s"
whisper_last() { # GRAPHITE-PATH
	whisper-fetch --from=0 "$g/whisper/$(echo "$1" | tr . /).wsp" 2>/dev/null |
		awk '$2 != "None" { v = $2 } END { if (v != "") print v + 0 }'
}
for row in "tstest.tcpsubnet-app_service~srv.if_octets.rx $s" \
	"tstest.tcpsubnet-app_service~srv.if_octets.tx $c" "tstest.tcpsubnet-web~cli.if_octets.rx $c"; do
	set -- $row
	got=$(whisper_last "$1")
	[ "$got" = "$2" ] && ts_pass "graphite $1 = $got" ||
		ts_fail "graphite $1: want $2, got '$got' (tree: $(ls "$g/whisper/tstest" 2>/dev/null | tr '\n' ' '))"
done

# InfluxDB: the collectd input's tags.
"$TB_PYTHON" "$TB_PY" influx-wait-rows "$TB_INFLUX_HTTP" collectd \
	"SELECT last(value) FROM tcpsubnet_rx WHERE instance = 'app.service~srv' AND type = 'if_octets'" \
	1 20 >/dev/null || ts_fail "InfluxDB has no tcpsubnet_rx for instance app.service~srv"
for row in "rx app.service~srv $s" "tx app.service~srv $c" "rx web~cli $c"; do
	set -- $row
	got=$("$TB_PYTHON" "$TB_PY" influx-query "$TB_INFLUX_HTTP" collectd \
		"SELECT last(value) FROM tcpsubnet_$1 WHERE instance = '$2' AND type = 'if_octets'" |
		"$TB_PYTHON" -c 'import json, sys
r = json.load(sys.stdin)["results"][0].get("series", [])
print(int(r[0]["values"][0][1]) if r else "")')
	[ "$got" = "$3" ] && ts_pass "influxdb tcpsubnet_$1 instance=$2 type=if_octets = $got" ||
		ts_fail "influxdb tcpsubnet_$1 instance=$2: want $3, got '$got'"
done

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: cgroup instances in Graphite, InfluxDB and Prometheus"
