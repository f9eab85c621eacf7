#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The bad-configuration table (tests/bad-configs.txt) against a real collectd daemon,
# one daemon start per case. What each class must do:
#   syntax  collectd's own config reader rejects the file: collectd prints its error
#           line and does not start (collectd's rule; no plugin can change it);
#   config  the plugin's parser rejects it: exactly the expected error lines, then
#           "not started because of the configuration errors above", in collectd's log;
#           collectd keeps running its other plugins (the load plugin keeps writing)
#           and stops normally on SIGTERM; the plugin dispatches nothing;
#   init    the configuration is valid but init cannot work: exactly the expected
#           line, and collectd goes on as for "config".
# TS_REL_PRINT=1 prints what collectd logged for each case instead (to write the table).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
[ -x "$COLLECTD" ] || ts_skip "collectd is not installed ($COLLECTD)"
# The "init" cases reach the kernel side, which checks capabilities first: root needed.
ts_require_bpf
ts_tmpdir
table=$top_srcdir/tests/bad-configs.txt
cases=$TS_TMP/cases
mkdir -p "$cases"

# Split the table: cases/N.name, .class, .where, .expect (one line each), .conf
awk -v dir="$cases" '
	/^=== / { n++; part = "head"; f = dir "/" n; print substr($0, 5) > (f ".name");
		printf "" > (f ".expect"); printf "" > (f ".conf"); next }
	n == 0 { next }
	part == "head" && /^---$/ { part = "conf"; next }
	part == "head" && /^class: / { print substr($0, 8) > (f ".class"); next }
	part == "head" && /^where: / { print substr($0, 8) > (f ".where"); next }
	part == "head" && /^expect: / { print substr($0, 9) > (f ".expect"); next }
	part == "head" { next }
	{ print > (f ".conf") }
' "$table"
total=$(ls "$cases"/*.name | wc -l)
[ "$total" -ge 30 ] || rel_fail "the table has $total cases, fewer than 30"

not_started="tcpsubnet plugin: not started because of the configuration errors above; fix them and restart collectd"
valid=$TS_TMP/valid.block
echo 'Subnet "198.19.143.0/24"' >"$valid"
n_syntax=0 n_config=0 n_init=0
start=$(date +%s)
i=1
while [ $i -le "$total" ]; do
	f=$cases/$i
	name=$(cat "$f.name")
	class=$(cat "$f.class")
	where=$(cat "$f.where" 2>/dev/null || echo block)
	d=$TS_TMP/run$i
	# Trailing blank lines of a snippet are layout, not part of the case.
	sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$f.conf" >"$f.snip"
	if [ "$where" = top ]; then
		rel_conf "$d" "$valid" 0.1 "$f.snip"
		base=$REL_TOP_LINE
	else
		rel_conf "$d" "$f.snip" 0.1
		base=$REL_BLOCK_LINE
	fi
	# @CONF@ is the config file, @Lk@ the file line of the snippet's line k.
	sed -e "s|@CONF@|$d/collectd.conf|g" "$f.expect" |
		awk -v b="$base" '{ while (match($0, /@L[0-9]+@/)) {
			k = substr($0, RSTART + 2, RLENGTH - 3) + b
			$0 = substr($0, 1, RSTART - 1) k substr($0, RSTART + RLENGTH) } print }' \
			>"$f.want"
	[ "$class" = config ] && echo "$not_started" >>"$f.want"
	rel_start "$d"
	what="[$i] $name ($class)"

	if [ "$class" = syntax ]; then
		n_syntax=$((n_syntax + 1))
		# collectd exits by itself; give it 10 s at most.
		j=0
		while kill -0 "$REL_JOB" 2>/dev/null && [ $j -lt 200 ]; do sleep 0.05; j=$((j + 1)); done
		if kill -0 "$REL_JOB" 2>/dev/null; then
			rel_fail "$what: collectd started although its config reader should refuse the file"
			rel_stop "$d"
			i=$((i + 1))
			continue
		fi
		rc=0
		wait "$REL_JOB" || rc=$?
		if [ "${TS_REL_PRINT:-0}" = 1 ]; then
			echo "=== $i $name: rc=$rc"
			cat "$d/stdout" "$d/collectd.log" 2>/dev/null
			i=$((i + 1))
			continue
		fi
		want=$(cat "$f.want")
		# Before the logfile plugin is configured collectd writes to stderr, after it
		# to the log: the line may be in either.
		{ cat "$d/stdout"; sed 's/^\[[^]]*\] \[[a-z]*\] //' "$d/collectd.log" 2>/dev/null; } \
			>"$f.got"
		if [ "$rc" != 0 ] && grep -qxF "$want" "$f.got" && [ ! -d "$d/csv/tstest" ]; then
			rel_pass "$what: collectd refuses to start (exit $rc): $(cat "$f.expect")"
		else
			rel_fail "$what: want exit != 0 and the line '$want', got exit $rc: $(cat "$f.got")"
		fi
		i=$((i + 1))
		continue
	fi

	# config / init: collectd runs; the bystander must keep writing (3 rows at 0.1 s
	# intervals: the read loop goes on after the plugin was unloaded).
	running=no
	rel_wait_rows "$d/csv/tstest/load/load-*" 3 15 && rel_pid "$d" && running=yes
	# init ran before the first read, so the log is complete now.
	rel_stop "$d"
	rel_errors "$d" >"$f.got"
	if [ "${TS_REL_PRINT:-0}" = 1 ]; then
		echo "=== $i $name: running=$running"
		cat "$f.got"
		i=$((i + 1))
		continue
	fi
	eval "n_$class=\$((n_$class + 1))"
	if ! cmp -s "$f.want" "$f.got"; then
		rel_fail "$what: error lines differ from the table:
--- want
$(cat "$f.want")
--- got
$(cat "$f.got")"
	elif [ "$running" != yes ]; then
		rel_fail "$what: collectd did not keep running its other plugins: $(cat "$d/stdout")"
	elif [ "$REL_DIED" = yes ]; then
		rel_fail "$what: collectd did not stop normally (status $REL_RC)"
	elif ls "$d/csv/tstest" | grep -q tcpsubnet; then
		rel_fail "$what: the plugin dispatched values although init failed"
	else
		more=$(($(wc -l <"$f.expect") - 1))
		rel_pass "$what: $(head -n 1 "$f.want")$([ "$more" -gt 0 ] && echo " (+$more more)")$(
			[ "$class" = config ] && echo "; not started"); collectd kept running"
	fi
	i=$((i + 1))
done
echo "bad-config table: $total cases ($n_syntax syntax, $n_config config, $n_init init)" \
	"in $(($(date +%s) - start)) s"
rel_done "every bad configuration gives its exact error lines; collectd survives"
