#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# valgrind memcheck (leak check full): the unit tests of the normal build, in process
# (CK_FORK=no), and a real collectd with the plugin (collectd -T: init, one read,
# shutdown) through the plugin's main paths: a working configuration, configuration
# errors, every forced attach mode (working or failing) and a failing trie fill. Zero
# errors and no definitely, indirectly or possibly lost blocks. Negative controls show
# that valgrind reports a deliberate leak and an uninitialised read here.
# valgrind's incomplete model of bpf() is suppressed by tests/valgrind.supp.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/rel-lib.sh"
ts_tmpdir
: "${VALGRIND:=valgrind}"
command -v "$VALGRIND" >/dev/null || { rel_fail "valgrind is not installed"; exit 1; }
B=$top_builddir/tests
VG="$VALGRIND --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect,possible
 --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --num-callers=40
 --suppressions=$top_srcdir/tests/valgrind.supp"
export CK_FORK=no

# vg_summary LOG: "E errors, D+I+P bytes lost (definite/indirect/possible)"
vg_summary() {
	awk '/ERROR SUMMARY:/ { e = $4 }
		/definitely lost:/ { d = $4 } /indirectly lost:/ { i = $4 } /possibly lost:/ { p = $4 }
		END { printf "%s errors; lost: definitely %s, indirectly %s, possibly %s bytes",
			e, d == "" ? 0 : d, i == "" ? 0 : i, p == "" ? 0 : p }' "$1"
}

control() {
	local mode=$1 pattern=$2 rc=0
	# shellcheck disable=SC2086
	$VG --log-file="$TS_TMP/control.$mode" "$B/san-control" "$mode" >/dev/null 2>&1 || rc=$?
	if [ "$rc" = 99 ] && grep -q "$pattern" "$TS_TMP/control.$mode"; then
		rel_pass "control $mode caught: $(grep -m1 "$pattern" "$TS_TMP/control.$mode" | sed 's/^==[0-9]*== //')"
	else
		rel_fail "control $mode: valgrind did not report it (exit $rc)"
	fi
}
control leak "definitely lost in"
control uninit "Conditional jump or move depends on uninitialised value"

# The 300,001-subnet case of check_tsconf would take minutes under memcheck; it runs in
# the plain and ASan builds.
for t in check_tsconf check_tshist check_badconf check_tscgroup; do
	rc=0
	# shellcheck disable=SC2086
	TS_UNIT_SKIP_LARGE=1 $VG --log-file="$TS_TMP/$t.vg" "$B/$t" >"$TS_TMP/$t.out" 2>&1 || rc=$?
	checks=$(grep -o '[0-9]*%: Checks: [0-9]*, Failures: [0-9]*, Errors: [0-9]*' "$TS_TMP/$t.out")
	if [ "$rc" = 0 ] && echo "$checks" | grep -q "^100%"; then
		rel_pass "$t under memcheck: $checks; $(vg_summary "$TS_TMP/$t.vg")"
	else
		rel_fail "$t under memcheck: exit $rc: $(vg_summary "$TS_TMP/$t.vg"): $(grep -A12 'ERROR SUMMARY\|lost in\|Invalid\|uninitialised' "$TS_TMP/$t.vg" | head -60)"
	fi
done

# ---- collectd with the plugin ----
ts_require_bpf
[ -x "$COLLECTD" ] || ts_skip "collectd is not installed ($COLLECTD)"
# vg_collectd WHAT BLOCK-FILE WANT-LOG-LINE [ENV...]: collectd -T under memcheck.
n_vg=0
vg_collectd() {
	local what=$1 block=$2 want=$3 d rc=0
	n_vg=$((n_vg + 1))
	d=$TS_TMP/vg$n_vg
	shift 3
	# No writer: collectd itself leaks the name of a configured chain (cf_read), and
	# the csv setup of rel_conf has one; the plugin's paths are the same without it.
	rel_conf "$d" "$block" 1 "" none
	# shellcheck disable=SC2086
	env "$@" $VG --log-file="$d/vg.log" "$COLLECTD" -T -f -C "$d/collectd.conf" \
		>"$d/stdout" 2>&1 || rc=$?
	if [ "$rc" = 99 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$d/vg.log"; then
		rel_fail "collectd $what under memcheck: $(vg_summary "$d/vg.log"): $(grep -B3 -A25 'lost in\|Invalid\|uninitialised\|Syscall param' "$d/vg.log" | head -80)"
	elif ! grep -q "$want" "$d/collectd.log"; then
		rel_fail "collectd $what: no '$want' in the log: $(cat "$d/collectd.log")"
	else
		rel_pass "collectd $what under memcheck: $(vg_summary "$d/vg.log"); log: $(grep -m1 "$want" "$d/collectd.log" | sed 's/^\[[^]]*\] //')"
	fi
}
cat >"$TS_TMP/good" <<'CONF'
<Subnet "a">
  Prefix "198.19.136.0/24"
  Prefix "2001:db8:8888::/48"
</Subnet>
Subnet "198.19.137.0/24"
CONF
vg_collectd "working config" "$TS_TMP/good" "tcpsubnet plugin: attach mode "
printf 'Subnet "198.19.136.1/24"\nAttachMode "warp"\nFoo 1\n<Subnet "b">\n Prefix 3\n</Subnet>\n' \
	>"$TS_TMP/bad"
vg_collectd "config errors" "$TS_TMP/bad" "tcpsubnet plugin: not started because"
# Forced modes: auto's own choice ran above; the others take the load-or-attach failure
# and cleanup paths on most kernels. (Under make distcheck only the first two runs.)
modes="fentry kprobe tracepoint"
[ "${TS_REL_SHORT:-0}" = 1 ] && modes=""
for mode in $modes; do
	grep -q "attach mode $mode (auto" "$TS_TMP/vg1/collectd.log" && continue
	{ cat "$TS_TMP/good"; echo "AttachMode \"$mode\""; } >"$TS_TMP/mode.$mode"
	vg_collectd "AttachMode $mode" "$TS_TMP/mode.$mode" \
		"tcpsubnet plugin: attach mode $mode\|tcpsubnet plugin: AttachMode \"$mode\" does not work"
done
vg_collectd "trie fill failure" "$TS_TMP/good" "tcpsubnet plugin: no attach method works\|filling the subnets map failed" \
	LD_PRELOAD="$TS_FAULT_LIB" TS_FAULT_LPM_FAIL_AT=2
rel_done "valgrind memcheck finds no errors and no leaks"
