# SPDX-License-Identifier: GPL-2.0-only
# Shared part of the end-to-end backend tests (tests/e2e-graphite.sh,
# tests/e2e-influxdb.sh), sourced after tests/lib.sh: known traffic with a known RTT
# and forced retransmissions, the ground truth it yields, and real servers started from
# Debian's packages on loopback, in the test's temporary folder, stopped by their own
# PID at exit (also on failure).
#
# Addresses: 198.19.32.0/20 and 2001:db8:3000::/36 only (other tests check other ranges
# exactly, and the "other" subnet sees the whole host, so nothing here checks it). A test
# that may run at the same time as these sets its own range before sourcing this file:
# TB_C4 and TB_C6 (client addresses, inside the prefixes TB_C4_NET and TB_C6_NET of the
# subnet "clients"), TB_S4 and TB_S6 (servers, the shorthand subnets TB_S4_NET and
# TB_S6_NET).
: "${TB_C4:=198.19.34.1}" "${TB_C4_NET:=198.19.34.0/24}"
: "${TB_C6:=2001:db8:3401::1}" "${TB_C6_NET:=2001:db8:3401::/48}"
: "${TB_S4:=198.19.35.1}" "${TB_S4_NET:=198.19.35.0/24}"
: "${TB_S6:=2001:db8:3501::1}" "${TB_S6_NET:=2001:db8:3501::/48}"
# The servers' plugin instances: collectd writes '/' as '_'.
TB_S4_INST=$(echo "$TB_S4_NET" | tr / _)
TB_S6_INST=$(echo "$TB_S6_NET" | tr / _)

# Debian's interpreter: the whisper and graphite modules are Debian packages, and a
# python3 earlier in PATH (pyenv, a venv) would not see them.
TB_PYTHON=/usr/bin/python3
TB_PY=$top_srcdir/tests/tb-check.py
export PYTHONDONTWRITEBYTECODE=1 # nothing written next to the sources (distcheck)
TB_SERVER_PIDS="" # "own-pid:wrapper-pid" of every server, stopped at exit
TB_TIMEOUT=300    # hard bound on every server's life, should the test itself be killed

tb_cleanup() {
	local s
	for s in $TB_SERVER_PIDS; do
		tb_stop_server "$s"
	done
	ts_cleanup
}
trap tb_cleanup EXIT

# tb_require: what every backend test needs (BPF, the tun relay) and its folder.
tb_require() {
	ts_require_bpf
	ts_tmpdir
	[ -c /dev/net/tun ] || ts_skip "/dev/net/tun is missing"
}

# tb_free_port tcp|udp: a port on 127.0.0.1 that nothing listens on now. The servers
# get ports picked at run time: fixed ports would collide with a system carbon or
# influxd (the packages' defaults) or with a second run of the same test.
tb_free_port() {
	"$TB_PYTHON" -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' "$1"
}

# tb_wait_tcp PORT SECONDS: waits until something accepts TCP connections on PORT.
tb_wait_tcp() {
	"$TB_PYTHON" -c 'import socket, sys, time
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)' "$1" "$2"
}

# tb_start_server NAME PIDFILE COMMAND...: runs a server in the background under a
# timeout and records both PIDs once the server has written its own PID file. PIDFILE
# "-": a server that writes none (prometheus): its PID is that of the wrapper's child.
tb_start_server() {
	local name=$1 pidfile=$2 wrapper own i
	shift 2
	timeout "$TB_TIMEOUT" "$@" >"$TS_TMP/$name.out" 2>&1 &
	wrapper=$!
	for i in $(seq 1 100); do
		if [ "$pidfile" = - ]; then
			own=$(ps -o pid= --ppid "$wrapper" | tr -d ' ')
		else
			own=$(cat "$pidfile" 2>/dev/null)
		fi
		[ -n "$own" ] && break
		kill -0 "$wrapper" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$own" ]; then
		TB_SERVER_PIDS="$TB_SERVER_PIDS x:$wrapper"
		ts_fail "$name did not start: $(tail -n 20 "$TS_TMP/$name.out")"
		exit 1
	fi
	TB_SERVER_PIDS="$TB_SERVER_PIDS $own:$wrapper"
	echo "$name: pid $own"
}

# tb_stop_server OWN:WRAPPER: SIGTERM to the server's own PID, waits until it is gone
# (KILL after 15 s), then reaps its timeout wrapper, which ends with it.
tb_stop_server() {
	local own=${1%%:*} wrapper=${1##*:} i
	if [ "$own" != x ]; then
		kill "$own" 2>/dev/null
		for i in $(seq 1 150); do
			kill -0 "$own" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$own" 2>/dev/null
	else
		kill "$wrapper" 2>/dev/null
	fi
	wait "$wrapper" 2>/dev/null
	kill -0 "$own" 2>/dev/null || echo "server pid $own stopped"
	TB_SERVER_PIDS=$(echo "$TB_SERVER_PIDS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
	return 0
}

# ---- the servers ----

# tb_start_carbon DIR: Debian's carbon-cache with its whisper tree in DIR/whisper, one
# point a second kept 15 minutes; sets TB_CARBON_PORT (its line receiver).
tb_start_carbon() {
	local g=$1
	mkdir -p "$g/whisper" "$g/log"
	TB_CARBON_PORT=$(tb_free_port tcp)
	# Every receiver on loopback; pickle and cache-query ports 0 (any free port):
	# nothing here uses them, and their defaults may belong to a system carbon.
	# Unlimited creates and updates: carbon's defaults (50 creates a minute) would drop
	# most of the new metrics, silently. No tag database (it would call a graphite-web
	# over HTTP) and no self-metrics.
	cat >"$g/carbon.conf" <<CONF
[cache]
STORAGE_DIR = $g/
LOCAL_DATA_DIR = $g/whisper/
CONF_DIR = $g/
LOG_DIR = $g/log/
PID_DIR = $g/
USER =
DATABASE = whisper
ENABLE_TAGS = False
CARBON_METRIC_INTERVAL = 0
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = $TB_CARBON_PORT
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = 0
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = 0
LOG_UPDATES = False
LOG_CREATES = False
LOG_CACHE_HITS = False
LOG_LISTENER_CONN_SUCCESS = False
CONF
	# One point a second (collectd's Interval 1), kept 15 minutes; no aggregation.
	cat >"$g/storage-schemas.conf" <<'CONF'
[all]
pattern = .*
retentions = 1s:15m
CONF
	tb_start_server carbon-cache "$g/carbon-cache-a.pid" \
		carbon-cache --config="$g/carbon.conf" --pidfile="$g/carbon-cache-a.pid" --nodaemon start
	tb_wait_tcp "$TB_CARBON_PORT" 30 ||
		{ ts_fail "carbon does not listen on $TB_CARBON_PORT: $(cat "$TS_TMP/carbon-cache.out")"; exit 1; }
}

# tb_collectd_input PORT DATABASE [MULTIVALUE]: an influxd [[collectd]] input section on
# 127.0.0.1:PORT with the stock types.db, flushing its batches after 100 ms (the 10 s
# default would outlast the test).
tb_collectd_input() {
	cat <<CONF
[[collectd]]
  enabled = true
  bind-address = "127.0.0.1:$1"
  database = "$2"
  typesdb = "/usr/share/collectd/types.db"
  security-level = "none"
  parse-multivalue-plugin = "${3:-split}"
  batch-size = 100
  batch-timeout = "100ms"
CONF
}

# tb_start_influxd DIR INPUTS-FILE DATABASE...: Debian's influxd with its data in DIR and
# the input sections of INPUTS-FILE, the databases created; sets TB_INFLUX_HTTP.
tb_start_influxd() {
	local x=$1 inputs=$2 rpc db
	shift 2
	mkdir -p "$x"
	TB_INFLUX_HTTP=$(tb_free_port tcp)
	rpc=$(tb_free_port tcp)
	# Everything on loopback, on ports picked now (a system influxd may hold the
	# defaults); no usage reporting, no self-monitoring database.
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
  bind-address = "127.0.0.1:$TB_INFLUX_HTTP"
  log-enabled = false
[continuous_queries]
  enabled = false
$(cat "$inputs")
CONF
	tb_start_server influxd "$x/influxd.pid" influxd -config "$x/influxdb.conf" -pidfile "$x/influxd.pid"
	tb_wait_tcp "$TB_INFLUX_HTTP" 30 ||
		{ ts_fail "influxd does not listen on $TB_INFLUX_HTTP: $(cat "$TS_TMP/influxd.out")"; exit 1; }
	for db in "$@"; do
		"$TB_PYTHON" "$TB_PY" influx-query "$TB_INFLUX_HTTP" "" "CREATE DATABASE $db" >/dev/null ||
			{ ts_fail "CREATE DATABASE $db: $(tail -n 5 "$TS_TMP/influxd.out")"; exit 1; }
	done
}

# ---- known traffic ----

# The plugin block both tests use: a named subnet with an IPv4 and an IPv6 prefix, and
# two shorthand subnets whose names hold '.', '/' and ':' (the characters collectd and
# the writers rewrite, so their paths are documented from a real run).
tb_plugin_block() {
	cat <<CONF
  <Subnet "clients">
    Prefix "$TB_C4_NET"
    Prefix "$TB_C6_NET"
  </Subnet>
  Subnet "$TB_S4_NET"
  Subnet "$TB_S6_NET"
  RTTPercentile 50 90 99
CONF
}

# tb_link: clients (namespace A, $TB_C4, $TB_C6) and servers (namespace B, $TB_S4,
# $TB_S6) joined by the tun relay with 5 ms each way (RTT
# about 10.3 ms), dropping every 40th client data segment (at most 6) so that both
# retransmit counters and RTT have something to show.
tb_link() {
	TB_NS_C=tbc$$
	TB_NS_S=tbs$$
	ts_delay_link tbd$$ "$TB_NS_C" "$TB_C4" "$TB_C6" \
		"$TB_NS_S" "$TB_S4" "$TB_S6" 5 --drop-every 40 --drop-max 6
	# The relay is a user-space process on the RTT's path (ts_delay_link started it
	# last).
	tb_realtime "$(echo "$TS_NETNS_PIDS" | awk '{ print $NF }')" relay
}

# tb_realtime PID NAME: every thread of PID at real-time priority. On a busy host
# (other tests' VMs, fuzzers, benchmarks) the relay and collectd's read thread were
# held for up to a second: RTT samples grew that much, and collectd, which keeps its
# read schedule, then read twice within one second, a second Graphite stores once. Both
# sleep between packets and readings, so this costs the host nothing.
tb_realtime() {
	[ -n "$1" ] && chrt -a -f -p 10 "$1" >/dev/null 2>&1 ||
		echo "note: $2 runs without real-time priority"
}

# tb_traffic: three connections client -> server over the delay link, a pause between
# them so the figures spread over several read cycles. Writes $TS_TMP/expect, lines
# "INSTANCE KEY VALUE" with the instance as collectd names it (after its '/' -> '_'):
# rx, tx, opened-active, opened-passive, closed, retransmit-segments (exact); rtt,
# rtt-min, rtt-max: the mean, least and largest TCP_INFO tcpi_rtt (seconds) of the
# sockets that sample that subnet, at the end of their connections.
tb_traffic() {
	local out="$TS_TMP/moved" f line
	: >"$out"
	for f in "$TB_S4 2000003 500009" "$TB_S6 1000003 300007" "$TB_S4 1500001 200003"; do
		# shellcheck disable=SC2086
		set -- $f
		line=$("$TS_TRAFFIC" --server-netns "$TB_NS_S" --client-netns "$TB_NS_C" \
			--listen "$1" --connect "$1" --bytes "$2" --reply-bytes "$3") ||
			{ ts_fail "traffic to $1 failed"; exit 1; }
		echo "$1 $line" >>"$out"
		echo "moved: $1 $line"
		sleep 1.5
	done
	# The client's socket has the server as peer (server subnets: tx = c2s, rx = s2c,
	# active opens, its retransmits and RTT); the server's socket has the client as
	# peer (clients: rx = c2s, tx = s2c, passive opens).
	awk -v s4="$TB_S4_INST" -v s6="$TB_S6_INST" 'function rtt(s, us) {
		sum[s] += us; n[s]++
		if (!(s in lo) || us < lo[s]) lo[s] = us
		if (us > hi[s]) hi[s] = us
	} {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		s = ($1 ~ /:/) ? s6 : s4
		rx[s] += v["s2c"]; tx[s] += v["c2s"]; act[s]++; cl[s]++
		re[s] += v["retrans_client"]; rtt(s, v["rtt_client_us"])
		c = "clients"
		rx[c] += v["c2s"]; tx[c] += v["s2c"]; pas[c]++; cl[c]++
		re[c] += v["retrans_server"]; rtt(c, v["rtt_server_us"])
	} END {
		for (s in n) {
			printf "%s rx %d\n%s tx %d\n", s, rx[s], s, tx[s]
			printf "%s opened-active %d\n%s opened-passive %d\n", s, act[s], s, pas[s]
			printf "%s closed %d\n%s retransmit-segments %d\n", s, cl[s], s, re[s]
			printf "%s rtt %.6f\n", s, sum[s] / n[s] / 1e6
			printf "%s rtt-min %.6f\n%s rtt-max %.6f\n", s, lo[s] / 1e6, s, hi[s] / 1e6
		}
	}' "$out" | sort >"$TS_TMP/expect"
	awk '$2 == "retransmit-segments" { s += $3 } END { exit !(s > 0) }' "$TS_TMP/expect" ||
		ts_fail "the relay caused no retransmission: the retransmit figures prove nothing"
}

# tb_collectd_conf DIR WRITER-CONF-FILE [BLOCK-FILE]: lib.sh's collectd configuration
# (csv with absolute values, Interval 1) with the plugin block above (or BLOCK-FILE),
# plus the writers in WRITER-CONF-FILE (their plugins copied next to the others).
tb_collectd_conf() {
	local d=$1 p block=${3:-$TS_TMP/block}
	[ -n "${3:-}" ] || tb_plugin_block >"$block"
	ts_collectd_conf "$d" "$block"
	for p in $(sed -n 's/^ *<*LoadPlugin *"*\([a-z_0-9]*\).*/\1/p' "$2"); do
		cp "/usr/lib/collectd/$p.so" "$d/plugins/" || ts_skip "collectd plugin $p.so missing"
	done
	cat "$2" >>"$d/collectd.conf"
}

# tb_collectd_run DIR WRITER-CONF-FILE: a real collectd as tb_collectd_conf sets it up;
# moves the traffic once the plugin dispatches, waits for a read cycle after it, then
# stops collectd (which flushes its writers). A server that fetches from collectd sets
# TB_BEFORE_TRAFFIC (wait until it fetches) and TB_BEFORE_STOP (until it has it all).
tb_collectd_run() {
	local d=$1 done_at last i
	tb_collectd_conf "$d" "$2"
	ts_collectd_start "$d"
	ts_wait_file "$d/csv/tstest/tcpsubnet-clients/if_octets-*" 20 ||
		{ ts_fail "no tcpsubnet values after 20 s: $(cat "$d/collectd.log")"; exit 1; }
	tb_realtime "$(ps -o pid= --ppid "$TS_COLLECTD_PID" | tr -d ' ')" collectd
	# Traffic from the third reading on: the first interval is short (the first read
	# comes at init), so the first two readings may share one second, and a panel
	# showing the rate of a counter per second shows the changes after its first second.
	for i in $(seq 1 50); do
		[ "$(cat "$d"/csv/tstest/tcpsubnet-clients/if_octets-* | grep -vc epoch)" -ge 2 ] &&
			break
		sleep 0.1
	done
	[ -z "${TB_BEFORE_TRAFFIC:-}" ] || $TB_BEFORE_TRAFFIC
	tb_traffic
	done_at=$(date +%s)
	for i in $(seq 1 100); do
		last=$(ts_csv_last "$d" clients | cut -d' ' -f1 | cut -d. -f1)
		[ -n "$last" ] && [ "$last" -gt "$done_at" ] && break
		sleep 0.1
	done
	sleep 1.2
	[ -z "${TB_BEFORE_STOP:-}" ] || $TB_BEFORE_STOP
	ts_collectd_stop
	if grep -qi "error\|failed" "$d/collectd.log"; then
		ts_fail "errors in collectd's log: $(grep -i "error\|failed" "$d/collectd.log" | head -n 5)"
	fi
	# The csv writer is a third witness: its final values are the expected ones.
	for i in clients "$TB_S4_INST" "$TB_S6_INST"; do
		want="$(awk -v s="$i" '$1 == s && $2 == "rx" { r = $3 } $1 == s && $2 == "tx" { t = $3 }
			END { print r, t }' "$TS_TMP/expect")"
		got=$(ts_csv_last "$d" "$i" | cut -d' ' -f2-)
		[ "$want" = "$got" ] || ts_fail "csv $i: want rx tx '$want', got '$got'"
	done
}
