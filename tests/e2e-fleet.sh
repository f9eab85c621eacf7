#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# A fleet the collectd way: three agent collectds (Hostname agent1..agent3, the plugin
# in each, each counting its own slice of the test's addresses under the same subnet
# names) send with the network plugin, SecurityLevel Encrypt, to a central collectd
# (an AuthFile with their users) that writes to a real InfluxDB (network plugin ->
# influxd's collectd input) and a real Graphite (write_graphite -> carbon-cache). A
# fourth agent with a wrong password sends too. Against the traffic moved:
# - per host and subnet, InfluxDB and Graphite (StoreRates false) hold exactly the bytes,
#   connections and retransmits moved; the agents' csv writers agree;
# - the intruder's values reach the central collectd, which refuses them: no series of
#   that host anywhere;
# - every fleet query of docs/backends.md (per host, summed over hosts, top hosts per
#   subnet) gives the ground truth's answer in both stores;
# - the dashboards' host variables list the three agents; their per-host panels give
#   each host's totals, the fleet panels the sums over hosts and the top hosts.
# Also prints what the central collectd and the stores used (CPU, RSS, disk, points).
# For docs/backends.md's sizing figures, a bigger fleet: TS_FLEET_AGENTS=N (2 to 16,
# default 3) agents, TS_FLEET_PAD=M more subnets per agent (one /32 each in
# 198.18.214.0/23, no traffic: values like any other, default 0), TS_FLEET_SECONDS=S
# more seconds of running before the agents stop (default 0, at most 90: every daemon
# runs under a 120 s timeout).
# Run time: about 20 s (30 s on a loaded machine).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/backends.sh"
ts_require_bpf
ts_tmpdir
command -v influxd >/dev/null || ts_skip "influxdb is not installed (scripts/deps)"
command -v carbon-cache >/dev/null || ts_skip "graphite-carbon is not installed (scripts/deps)"
"$TB_PYTHON" -c "import whisper, django, graphite" 2>/dev/null ||
	ts_skip "python3-whisper or graphite-web is not installed (scripts/deps)"
[ -r /usr/share/collectd/types.db ] || ts_skip "collectd's types.db is missing"
for p in network write_graphite; do
	[ -r "/usr/lib/collectd/$p.so" ] || ts_skip "collectd plugin $p.so missing"
done

n_agents=${TS_FLEET_AGENTS:-3}
[ "$n_agents" -ge 2 ] && [ "$n_agents" -le 16 ] && [ "${TS_FLEET_SECONDS:-0}" -le 90 ] ||
	{ ts_fail "TS_FLEET_AGENTS must be 2 to 16, TS_FLEET_SECONDS at most 90"; exit 1; }
AGENTS=$(seq -f "agent%g" 1 "$n_agents" | tr '\n' ' ')
# Addresses: servers 198.18.212.0/24 and clients 198.18.213.0/24, one /28 of each per
# agent (agentK: .16(K-1)/28, its hosts .16(K-1)+1), all on lo of one namespace.
ns=tsfl$$
ts_netns "$ns" $(for k in $(seq 1 "$n_agents"); do
	echo "198.18.212.$((16 * k - 15)) 198.18.213.$((16 * k - 15))"
done)

# ---- the stores ----
cd_port=$(tb_free_port udp)
tb_collectd_input "$cd_port" collectd >"$TS_TMP/inputs"
tb_start_influxd "$TS_TMP/influxdb" "$TS_TMP/inputs" collectd
tb_start_carbon "$TS_TMP/graphite"

# ---- the central collectd: receives (encrypted, AuthFile), forwards, writes ----
central=$TS_TMP/central
mkdir -p "$central/plugins"
for p in logfile network write_graphite; do cp "/usr/lib/collectd/$p.so" "$central/plugins/"; done
listen=$(tb_free_port udp)
: >"$central/passwd"
for a in $AGENTS; do echo "$a: secret-of-$a" >>"$central/passwd"; done
echo "intruder: secret-of-intruder" >>"$central/passwd"
cat >"$central/collectd.conf" <<CONF
Hostname "central"
FQDNLookup false
BaseDir "$central"
PIDFile "$central/collectd.pid"
PluginDir "$central/plugins"
TypesDB "/usr/share/collectd/types.db"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$central/collectd.log"
</Plugin>
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  <Listen "127.0.0.1" "$listen">
    SecurityLevel Encrypt
    AuthFile "$central/passwd"
  </Listen>
  # to InfluxDB's collectd input (loopback, no security there)
  Server "127.0.0.1" "$cd_port"
  # values received are sent on to the Server above
  Forward true
</Plugin>
LoadPlugin write_graphite
<Plugin write_graphite>
  <Node "rates">
    Host "127.0.0.1"
    Port "$TB_CARBON_PORT"
  </Node>
  <Node "raw">
    Host "127.0.0.1"
    Port "$TB_CARBON_PORT"
    Prefix "raw."
    StoreRates false
  </Node>
</Plugin>
CONF
timeout 120 "$COLLECTD" -f -C "$central/collectd.conf" >"$central/stdout" 2>&1 &
central_pid=$!
start_at=$(date +%s)
TS_NETNS_PIDS="${TS_NETNS_PIDS:-} $central_pid"
# write_graphite's StoreRates takes each rate from collectd's value cache when its write
# thread gets to the value: a central collectd held off the CPU for a second wrote the
# next reading's rate (0) for a burst's (seen once on a loaded host). Real-time
# priority, as tb_collectd_run gives the agents' collectd in the backend tests.
sleep 0.5
tb_realtime "$(ps -o pid= --ppid "$central_pid" | tr -d ' ')" "central collectd"

# ---- the agents: the plugin, csv (ground truth's witness), network to the central ----
k=0
agent_pids=""
for a in $AGENTS intruder; do
	[ "$a" = intruder ] && base=0 || { base=$((16 * k)); k=$((k + 1)); }
	# Named blocks: the same names on every host, each its own /26.
	cat >"$TS_TMP/block.$a" <<CONF
  <Subnet "servers">
    Prefix "198.18.212.$base/28"
  </Subnet>
  <Subnet "clients">
    Prefix "198.18.213.$base/28"
  </Subnet>
CONF
	for i in $(seq 1 "${TS_FLEET_PAD:-0}"); do
		echo "  Subnet \"198.18.$((214 + i / 256)).$((i % 256))/32\"" >>"$TS_TMP/block.$a"
	done
	password=secret-of-$a
	[ "$a" = intruder ] && password=not-the-password
	cat >"$TS_TMP/writers.$a" <<CONF
<LoadPlugin network>
  FlushInterval 1
</LoadPlugin>
<Plugin network>
  <Server "127.0.0.1" "$listen">
    SecurityLevel Encrypt
    Username "$a"
    Password "$password"
  </Server>
  # the network plugin's own counters (bytes and values sent): the sizing figures
  ReportStats true
</Plugin>
CONF
	TS_HOSTNAME=$a tb_collectd_conf "$TS_TMP/$a" "$TS_TMP/writers.$a" "$TS_TMP/block.$a"
	ts_collectd_start "$TS_TMP/$a"
	agent_pids="$agent_pids $TS_COLLECTD_PID"
done
for a in $AGENTS intruder; do
	ts_wait_file "$TS_TMP/$a/csv/$a/tcpsubnet-servers/if_octets-*" 20 ||
		{ ts_fail "$a: no tcpsubnet values after 20 s: $(cat "$TS_TMP/$a/collectd.log")"; exit 1; }
done
for p in $agent_pids; do tb_realtime "$(ps -o pid= --ppid "$p" | tr -d ' ')" "agent collectd"; done
sleep 2.2

# ---- traffic: agentK's client talks to agentK's server, two connections; the lower K,
# the more bytes (so "top hosts" has one right answer) ----
: >"$TS_TMP/moved"
for k in $(seq 1 "$n_agents"); do
	m=$((n_agents + 1 - k))
	for f in "$((1000003 * m)) $((300007 * m))" "$((400009 * m)) $((100003 + k))"; do
		# shellcheck disable=SC2086
		set -- $f
		line=$(ip netns exec "$ns" "$TS_TRAFFIC" --listen "198.18.212.$((16 * k - 15))" \
			--connect "198.18.212.$((16 * k - 15))" --bind "198.18.213.$((16 * k - 15))" \
			--bytes "$1" --reply-bytes "$2") || { ts_fail "traffic of agent$k failed"; exit 1; }
		echo "agent$k $line" >>"$TS_TMP/moved"
		echo "moved: agent$k $line"
	done
	sleep 0.3
done
# The client's socket has a server as peer (servers: tx = c2s, rx = s2c, active opens,
# the client's retransmits); the server's socket has the client as peer. Expect lines:
# "HOST INSTANCE KEY VALUE".
awk '{
	for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
	h = $1
	rx[h " servers"] += v["s2c"]; tx[h " servers"] += v["c2s"]; act[h " servers"]++
	cl[h " servers"]++; re[h " servers"] += v["retrans_client"]
	rx[h " clients"] += v["c2s"]; tx[h " clients"] += v["s2c"]; pas[h " clients"]++
	cl[h " clients"]++; re[h " clients"] += v["retrans_server"]
} END {
	for (s in rx) {
		printf "%s rx %d\n%s tx %d\n", s, rx[s], s, tx[s]
		printf "%s opened-active %d\n%s opened-passive %d\n", s, act[s], s, pas[s]
		printf "%s closed %d\n%s retransmit-segments %d\n", s, cl[s], s, re[s]
	}
}' "$TS_TMP/moved" | sort >"$TS_TMP/expect"
# Every agent reads once more after the traffic and sends; then the agents stop (and
# flush their network buffers), then the central collectd (and flushes its writers).
sleep "$((3 + ${TS_FLEET_SECONDS:-0}))"
for p in $agent_pids; do
	TS_COLLECTD_PID=$p
	ts_collectd_stop
done
sleep 2
# What the central collectd and the stores used over the run, before they stop.
echo "usage: $n_agents agents x $(grep -c '^ *<\?Subnet "' "$TS_TMP/block.agent1") subnets + other, \
$(($(date +%s) - start_at)) s since the central collectd started"
"$TB_PYTHON" "$TB_PY" proc-usage "$(ps -o pid= --ppid "$central_pid" | tr -d ' ')" central-collectd
for s in $TB_SERVER_PIDS; do
	"$TB_PYTHON" "$TB_PY" proc-usage "${s%%:*}" "$(ps -o comm= -p "${s%%:*}")"
done
kill "$central_pid" 2>/dev/null
wait "$central_pid" 2>/dev/null
"$TB_PYTHON" "$TB_PY" whisper-settle "$TS_TMP/graphite/whisper" 30 || ts_fail "carbon kept writing for 30 s"
cat "$TS_TMP/expect"

for a in $AGENTS intruder; do
	if grep -qi "error\|failed" "$TS_TMP/$a/collectd.log"; then
		ts_fail "$a: errors in collectd's log: $(grep -i "error\|failed" "$TS_TMP/$a/collectd.log" | head -n 3)"
	fi
done
# The intruder had values and sent them; the central collectd refused every packet.
if grep -q "intruder" "$central/collectd.log"; then
	ts_pass "central collectd: $(grep -m1 "intruder" "$central/collectd.log" | sed 's/^\[[^]]*\] //')"
else
	ts_fail "central collectd logged nothing about the intruder: $(tail -n 5 "$central/collectd.log")"
fi
# The agents' csv files, the plugins' own view, hold the ground truth too.
mkdir -p "$TS_TMP/csv"
for a in $AGENTS intruder; do ln -s "$TS_TMP/$a/csv/$a" "$TS_TMP/csv/$a"; done

mkdir -p "$TS_TMP/graphite-web-fleet" "$TS_TMP/graphite-web"
"$TB_PYTHON" "$TB_PY" fleet "$TB_INFLUX_HTTP" "$TS_TMP/graphite/whisper" "$TS_TMP/csv" \
	"$TS_TMP/expect" "$top_srcdir/docs/backends.md" "$TS_TMP/graphite-web-fleet" ||
	ts_fail "fleet figures (above)"
"$TB_PYTHON" "$TB_PY" influx-dashboard "$top_srcdir/dashboards/influxdb.json" \
	"$TB_INFLUX_HTTP" "$TS_TMP/expect" || ts_fail "dashboards/influxdb.json (above)"
"$TB_PYTHON" "$TB_PY" graphite-dashboard "$top_srcdir/dashboards/graphite.json" \
	"$TS_TMP/graphite/whisper" "$TS_TMP/graphite-web" "$TS_TMP/csv" "$TS_TMP/expect" ||
	ts_fail "dashboards/graphite.json (above)"
"$TB_PYTHON" "$TB_PY" store-usage "$TB_INFLUX_HTTP" "$TS_TMP/influxdb" "$TS_TMP/graphite/whisper"
"$TB_PYTHON" "$TB_PY" agent-usage "$TS_TMP/csv/agent1"
for s in $TB_SERVER_PIDS; do tb_stop_server "$s"; done

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: a fleet of agents reaches InfluxDB and Graphite through a central collectd"
