# SPDX-License-Identifier: GPL-2.0-only
# Helpers of the reliability tests (issue #8), sourced after tests/lib.sh: a real
# collectd daemon per case, log lines by severity, BPF object inventories, process
# figures. Kept apart from lib.sh so the two can evolve independently.
#
# Addresses: these tests use only 198.19.128.0/20 and 2001:db8:8000::/36, so they can
# run while other tests with exact byte checks run elsewhere on the machine.
#
# Durations: TS_REL_SHORT=1 (set by make distcheck) shortens the long tests to a
# packaging check; scripts/soak lengthens them through the TS_REL_* variables each test
# documents.

# lib.sh's ts_pass/ts_fail use echo, which in dash turns "\n" in a message into a
# newline; these print the message as it is.
rel_pass() {
	printf 'ok: %s\n' "$*"
}
rel_fail() {
	printf 'FAIL: %s\n' "$*"
	TS_FAILS=$((TS_FAILS + 1))
}

REL_T0=$(date +%s)

# rel_done MESSAGE: the closing line, with the test's wall time; exit 1 on any failure.
rel_done() {
	local secs=$(($(date +%s) - REL_T0))
	if [ "$TS_FAILS" != 0 ]; then
		echo "FAILED: $TS_FAILS checks ($secs s)"
		exit 1
	fi
	echo "PASS: $* ($secs s)"
}

TS_FAULT_LIB=$top_builddir/tests/.libs/libtsfault.so
TS_STREAM=$top_builddir/tests/ts-stream
REL_PLUGINS=""

# rel_plugins: one folder with copies of the plugins every daemon of this test loads
# (collectd refuses symlinks), world-readable for the unprivileged-user cases.
rel_plugins() {
	local p
	[ -n "$REL_PLUGINS" ] && return 0
	[ -x "$COLLECTD" ] || ts_skip "collectd is not installed ($COLLECTD)"
	REL_PLUGINS=$TS_TMP/plugins
	mkdir -p "$REL_PLUGINS"
	for p in csv logfile load match_regex; do
		cp "/usr/lib/collectd/$p.so" "$REL_PLUGINS/" || ts_skip "collectd plugin $p.so missing"
	done
	cp "$top_builddir/.libs/tcpsubnet.so" "$REL_PLUGINS/" || { ts_fail "plugin not built"; exit 1; }
	chmod 755 "$TS_TMP" "$REL_PLUGINS"
	chmod 644 "$REL_PLUGINS"/*.so
}

# rel_conf DIR BLOCK-FILE [INTERVAL [TOP-FILE [WRITER]]]: DIR/collectd.conf with the
# logfile (severity shown, so error lines can be told apart), csv (absolute DERIVE
# values) and load (the bystander that must keep working) plugins, tcpsubnet with the
# given block, and TOP-FILE's lines after the block at the top level. WRITER=none
# leaves csv out (throughput runs). Sets REL_BLOCK_LINE: the file line just before the
# block's first line (and REL_TOP_LINE likewise for TOP-FILE).
rel_conf() {
	local dir=$1 block=$2 interval=${3:-1} top=${4:-} writer=${5:-csv}
	rel_plugins
	mkdir -p "$dir/csv"
	chmod 777 "$dir" "$dir/csv"
	{
		cat <<CONF
Hostname "tstest"
FQDNLookup false
BaseDir "$dir"
PluginDir "$REL_PLUGINS"
TypesDB "/usr/share/collectd/types.db"
Interval $interval
# One write thread: with several, collectd's csv writer races with itself when it
# creates a file (stat, then fopen "w" while another thread appends) and can garble
# the first row.
WriteThreads 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  PrintSeverity true
</Plugin>
CONF
		if [ "$writer" = csv ]; then
			printf 'LoadPlugin csv\n<Plugin csv>\n  DataDir "%s/csv"\n  StoreRates false\n</Plugin>\n' "$dir"
			# Only byte counters, lost-events and the bystander reach the writer: the RTT
			# buckets, percentiles and connection counts are still dispatched
			# (and cached), but tens of csv files per read cycle at 100 reads a
			# second would swamp collectd's write thread and its memory.
			cat <<'CHAIN'
LoadPlugin match_regex
PostCacheChain "TsWrite"
<Chain "TsWrite">
  <Rule "bytes-and-load">
    <Match "regex">
      Type "^(if_octets|load)$"
    </Match>
    Target "write"
    Target "stop"
  </Rule>
  <Rule "lost-events">
    <Match "regex">
      Type "^derive$"
      TypeInstance "^lost-events$"
    </Match>
    Target "write"
    Target "stop"
  </Rule>
  Target "stop"
</Chain>
CHAIN
		fi
		printf 'LoadPlugin load\nLoadPlugin tcpsubnet\n<Plugin tcpsubnet>\n'
	} >"$dir/collectd.conf"
	REL_BLOCK_LINE=$(wc -l <"$dir/collectd.conf")
	cat "$block" >>"$dir/collectd.conf"
	echo "</Plugin>" >>"$dir/collectd.conf"
	REL_TOP_LINE=$(wc -l <"$dir/collectd.conf")
	[ -n "$top" ] && cat "$top" >>"$dir/collectd.conf"
	return 0
}

# rel_start DIR [WRAPPER...]: collectd -f in the background under an optional wrapper
# that ends by executing its arguments (setpriv ..., unshare ..., env ..., or capsh's
# "capsh --drop=... -- -c 'exec "$@"' capsh"). collectd -f writes no PID file, so a
# shell records its own PID and execs collectd: REL_PID is collectd's PID.
rel_start() {
	local dir=$1
	shift
	rm -f "$dir/pid"
	"$@" /bin/sh -c 'echo $$ >"$1/pid"; exec "$2" -f -C "$1/collectd.conf"' sh "$dir" \
		"$COLLECTD" >"$dir/stdout" 2>&1 &
	REL_JOB=$!
	TS_NETNS_PIDS="${TS_NETNS_PIDS:-} $REL_JOB" # killed by ts_cleanup
	REL_PID=""
}

# rel_pid DIR: waits for REL_PID (5 s at most).
rel_pid() {
	local i=0
	while [ $i -lt 100 ]; do
		REL_PID=$(cat "$1/pid" 2>/dev/null)
		[ -n "$REL_PID" ] && kill -0 "$REL_PID" 2>/dev/null && return 0
		sleep 0.05
		i=$((i + 1))
	done
	REL_PID=""
	return 1
}

# rel_stop DIR: SIGTERM; REL_RC is collectd's exit status (through timeout), REL_DIED
# says whether it died of a signal other than our SIGTERM (a crash).
rel_stop() {
	[ -n "$REL_PID" ] || REL_PID=$(cat "$1/pid" 2>/dev/null)
	kill "${REL_PID:-$REL_JOB}" 2>/dev/null
	REL_RC=0
	wait "$REL_JOB" 2>/dev/null || REL_RC=$?
	REL_DIED=no
	[ "$REL_RC" -gt 128 ] && [ "$REL_RC" != 143 ] && REL_DIED=yes
	grep -q "Exiting normally" "$1/collectd.log" 2>/dev/null || REL_DIED=yes
	return 0
}

# rel_rows FILE-GLOB: data rows (without the header) of a csv value.
rel_rows() {
	# shellcheck disable=SC2086
	cat $1 2>/dev/null | grep -vc '^epoch' || true
}

# rel_wait_rows GLOB N SECONDS: waits until the csv value has N rows.
rel_wait_rows() {
	local i=0
	while [ $i -lt $(($3 * 20)) ]; do
		[ "$(rel_rows "$1")" -ge "$2" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# rel_errors DIR: the plugin's error lines, without timestamp and severity. A log entry
# that spans several lines (a newline inside the message) is joined with a visible
# "\n", so the tests see it as the one broken entry it is.
rel_errors() {
	awk '/^\[[^]]*\] \[/ { if (e != "") print e; e = ""
			if (match($0, /^\[[^]]*\] \[error\] tcpsubnet plugin: /))
				e = substr($0, index($0, "tcpsubnet plugin: "))
			next }
		e != "" { e = e "\\n" $0 }
		END { if (e != "") print e }' "$1/collectd.log" 2>/dev/null
}

# rel_bpf_fds PID: how many BPF objects (programs, maps, links, BTF) PID holds.
rel_bpf_fds() {
	ls -l "/proc/$1/fd" 2>/dev/null | grep -c 'anon_inode:\(bpf\|\[bpf\)' || true
}

# rel_fds PID / rel_rss PID: open descriptors, resident set in KiB.
rel_fds() {
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}
rel_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null
}

# rel_bpf_inventory FILE: "kind id name" of every BPF program, map and link on the
# machine, sorted; what bpftool lists.
rel_bpf_inventory() {
	local kind
	for kind in prog map link; do
		bpftool -j "$kind" show 2>/dev/null |
			tr '{' '\n' | sed -n 's/^"id":\([0-9]*\),.*"name":"\([^"]*\)".*/\1 \2/p; s/^"id":\([0-9]*\),.*/\1 -/p' |
			awk -v k="$kind" '!seen[$1]++ { print k, $1, $2 }'
	done | sort >"$1"
}

# rel_bpf_holders FILE: "kind id" of every BPF object some live process holds an fd of.
rel_bpf_holders() {
	cat /proc/[0-9]*/fdinfo/* 2>/dev/null |
		sed -n 's/^prog_id:[[:space:]]*\([0-9]*\)/prog \1/p; s/^map_id:[[:space:]]*\([0-9]*\)/map \1/p; s/^link_id:[[:space:]]*\([0-9]*\)/link \1/p' |
		sort -u >"$1"
}

# rel_netns NAME ADDR...: ts_netns for this test's address plan.
rel_netns() {
	ts_netns "$@"
}

# rel_seconds NAME CI SHORT: a duration: $NAME from the environment (scripts/soak),
# else SHORT under make distcheck, else CI.
rel_seconds() {
	local v
	eval "v=\${$1:-}"
	if [ -n "$v" ]; then
		echo "$v"
	elif [ "${TS_REL_SHORT:-0}" = 1 ]; then
		echo "$3"
	else
		echo "$2"
	fi
}
