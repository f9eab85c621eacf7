#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# End to end into a real Prometheus: Debian's prometheus server (2.42; on loopback, its
# TSDB in the test's folder, scrape interval 1 s) scraping a real collectd's
# write_prometheus twice, once with honor_labels: true and once with Prometheus'
# default labelling. Queried with PromQL over Prometheus' HTTP API, against the traffic
# moved:
# - write_prometheus' text has exactly the series and metric types docs/backends.md
#   lists, and Prometheus stores exactly the documented series of each job;
# - instant queries give the bytes, connections and retransmitted segments moved,
#   exactly (DERIVE values are counters); every stored sample of every series is one of
#   collectd's readings, value and millisecond time (its csv writer is the witness);
# - each RTT percentile is the one its interval's buckets give, the whole run's median
#   lies within the documented factor of 2 of TCP_INFO's RTT, none below the relay's
#   10 ms;
# - every variable and panel query of dashboards/prometheus.json returns series with
#   values, every point of its rate panels is rate() of the stored counters, its
#   heatmap has the 27 slots;
# - "StoreRates true", an option write_prometheus does not have, is ignored with one
#   line: the same metrics, and the counters still the bytes moved.
# Addresses: 198.18.200.0/22 and 2001:db8:200::/48 only (the Graphite and InfluxDB tests
# use tests/backends.sh's own range and may run at the same time).
TB_C4=198.18.200.1 TB_C4_NET=198.18.200.0/24
TB_C6=2001:db8:200:1::1 TB_C6_NET=2001:db8:200:1::/64
TB_S4=198.18.201.1 TB_S4_NET=198.18.201.0/24
TB_S6=2001:db8:200:2::1 TB_S6_NET=2001:db8:200:2::/64
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/backends.sh"
tb_require
command -v prometheus >/dev/null || ts_skip "prometheus is not installed (scripts/deps --test)"
WP=/usr/lib/collectd/write_prometheus.so
[ -r "$WP" ] || ts_skip "collectd's write_prometheus.so is missing"
# collectd-core only suggests the libraries write_prometheus links to.
if ldd "$WP" | grep -q "not found"; then
	ts_skip "write_prometheus.so: $(ldd "$WP" | grep "not found" | tr -d '\t' | tr '\n' ' ')" \
		"(apt-get install libmicrohttpd12 libprotobuf-c1; scripts/deps --test)"
fi

p=$TS_TMP/prometheus
mkdir -p "$p/data"
wp=$(tb_free_port tcp)
http=$(tb_free_port tcp)
# Both jobs scrape the same write_prometheus every second. write_prometheus exposes each
# value with collectd's own time (milliseconds), which Prometheus keeps (its default
# honor_timestamps: true).
cat >"$p/prometheus.yml" <<CONF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1m
scrape_configs:
  - job_name: collectd
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$wp"]
  - job_name: collectd-default
    static_configs:
      - targets: ["127.0.0.1:$wp"]
CONF
start=$(date +%s)
tb_start_server prometheus - prometheus --config.file="$p/prometheus.yml" \
	--storage.tsdb.path="$p/data" --web.listen-address="127.0.0.1:$http"
tb_wait_tcp "$http" 30 ||
	{ ts_fail "prometheus does not listen on $http: $(tail -n 20 "$TS_TMP/prometheus.out")"; exit 1; }

cat >"$TS_TMP/writers" <<CONF
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "$wp"
</Plugin>
CONF

# Prometheus hands a new target to its scrapers after up to 5 s: the traffic starts
# once both jobs have scraped.
# write_prometheus' own text is read all along (the RTT gauges come and go), by a
# reader that the cleanup stops too.
pm_scraper=""
pm_cleanup() {
	[ -z "$pm_scraper" ] || kill "$pm_scraper" 2>/dev/null
	tb_cleanup
}
trap pm_cleanup EXIT
pm_before_traffic() {
	"$TB_PYTHON" "$TB_PY" prom-wait-up "$http" 30 collectd collectd-default ||
		{ ts_fail "prometheus has not scraped write_prometheus after 30 s:" \
			"$(tail -n 5 "$TS_TMP/prometheus.out")"; exit 1; }
	"$TB_PYTHON" "$TB_PY" prom-scrape-until "$wp" "$TS_TMP/exposition" "$TS_TMP/scraped" &
	pm_scraper=$!
}
# Before collectd stops: its exposition as it is now, and both jobs have scraped the
# final counts (write_prometheus forgets everything when collectd stops).
pm_before_stop() {
	touch "$TS_TMP/scraped"
	wait "$pm_scraper"
	pm_scraper=""
	[ -s "$TS_TMP/exposition" ] || ts_fail "cannot read write_prometheus on 127.0.0.1:$wp"
	"$TB_PYTHON" "$TB_PY" prom-wait "$http" "$TS_TMP/expect" 20 collectd collectd-default ||
		ts_fail "prometheus does not have the final byte counts after 20 s"
}
TB_BEFORE_TRAFFIC=pm_before_traffic TB_BEFORE_STOP=pm_before_stop
tb_link
tb_collectd_run "$TS_TMP/collectd" "$TS_TMP/writers"
TB_BEFORE_TRAFFIC= TB_BEFORE_STOP=
cat "$TS_TMP/expect"
grep "write_prometheus" "$TS_TMP/collectd/collectd.log"

"$TB_PYTHON" "$TB_PY" prom "$http" "$TS_TMP/collectd/csv" "$TS_TMP/expect" \
	"$top_srcdir/docs/backends.md" "$TS_TMP/exposition" "127.0.0.1:$wp" ||
	ts_fail "Prometheus figures (above)"
"$TB_PYTHON" "$TB_PY" prom-dashboard "$top_srcdir/dashboards/prometheus.json" "$http" \
	"$TS_TMP/expect" "$start" || ts_fail "dashboards/prometheus.json (above)"
if grep -q 'level=error' "$TS_TMP/prometheus.out"; then
	ts_fail "prometheus logged errors: $(grep -m3 'level=error' "$TS_TMP/prometheus.out")"
fi
for s in $TB_SERVER_PIDS; do tb_stop_server "$s"; done

# StoreRates, which write_graphite and write_influxdb_udp have, is not an option of
# write_prometheus (5.12: Host, Port, StalenessDelta): set anyway, it is ignored with
# one line and the counters stay counters. One known connection on another port.
wp2=$(tb_free_port tcp)
cat >"$TS_TMP/writers.rates" <<CONF
LoadPlugin write_prometheus
<Plugin write_prometheus>
  Host "127.0.0.1"
  Port "$wp2"
  StoreRates true
</Plugin>
CONF
d=$TS_TMP/collectd-rates
tb_collectd_conf "$d" "$TS_TMP/writers.rates"
ts_collectd_start "$d"
ts_wait_file "$d/csv/tstest/tcpsubnet-clients/if_octets-*" 20 ||
	{ ts_fail "StoreRates true: no values after 20 s: $(cat "$d/collectd.log")"; exit 1; }
"$TS_TRAFFIC" --server-netns "$TB_NS_S" --client-netns "$TB_NS_C" --listen "$TB_S4" \
	--connect "$TB_S4" --bytes 100003 --reply-bytes 50001 >"$TS_TMP/moved.rates" ||
	ts_fail "traffic to $TB_S4 failed"
moved=$(cat "$TS_TMP/moved.rates")
echo "moved: $TB_S4 $moved"
c2s=$(ts_field "$moved" c2s)
s2c=$(ts_field "$moved" s2c)
for i in $(seq 1 50); do
	[ "$(ts_csv_last "$d" "$TB_S4_INST" | cut -d' ' -f2-)" = "$s2c $c2s" ] && break
	sleep 0.1
done
"$TB_PYTHON" "$TB_PY" prom-scrape "$wp2" "$TS_TMP/exposition.rates" ||
	ts_fail "cannot read write_prometheus on 127.0.0.1:$wp2"
ts_collectd_stop
line=$(grep 'write_prometheus plugin: Ignoring unknown configuration option "StoreRates"' \
	"$d/collectd.log")
[ -n "$line" ] && ts_pass "StoreRates true: collectd logs '${line#*] }'" ||
	ts_fail "StoreRates true: no 'Ignoring unknown configuration option' line: $(cat "$d/collectd.log")"
"$TB_PYTHON" "$TB_PY" prom-storerates "$TS_TMP/exposition.rates" "$TS_TMP/exposition" \
	"$TB_S4_INST" "$c2s" "$s2c" || ts_fail "write_prometheus with StoreRates true (above)"

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: per-subnet figures arrive in Prometheus as moved"
