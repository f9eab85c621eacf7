#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The Debian package, end to end on this machine, as a user would meet it:
# - dpkg-buildpackage builds it from the distributed sources without warnings, and
#   lintian reports no error or warning;
# - dpkg -i installs the plugin, the commented conffile, the man page (documenting every
#   option the plugin accepts) and the systemd drop-in example;
# - installed as shipped it enables nothing: a collectd with Debian's stock include of
#   /etc/collectd/collectd.conf.d loads no tcpsubnet plugin;
# - uncommented, the example runs in the real /usr/sbin/collectd with the packaged
#   plugin, and with its prefixes pointed at a test namespace the CSV values equal the
#   bytes moved, exactly, as root and as an unprivileged user holding only the
#   capabilities of the shipped systemd drop-in; without them, one line names the
#   missing capability;
# - dpkg --purge leaves nothing behind.
# The machine is left as found, also on failure. Addresses: 198.19.64.0/20 and
# 2001:db8:4000::/36 only.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
for t in dpkg-buildpackage dh lintian setpriv systemd-analyze; do
	command -v "$t" >/dev/null || ts_skip "$t is not installed (scripts/deps --test installs it)"
done
[ -x "$TS_TRAFFIC" ] || ts_skip "tests/ts-traffic is not built"

PKG=collectd-tcpsubnet
CONFFILE=/etc/collectd/collectd.conf.d/tcpsubnet.conf
DROPIN_DOC=/usr/share/doc/$PKG/examples/systemd-nonroot.conf
STOCK_CONF=/usr/share/doc/collectd-core/examples/collectd.conf
status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null)
case ${status:-not-installed} in
not-installed) ;;
*) ts_skip "$PKG is already on this machine ($status); the test would replace it and" \
	"its configuration: dpkg --purge $PKG first" ;;
esac
[ -e "$CONFFILE" ] && ts_skip "$CONFFILE exists but belongs to no package; move it away first"

ts_tmpdir
chmod 711 "$TS_TMP" # the unprivileged collectd reaches its own folder below
installed=no

# dpkg refuses to run while another dpkg or apt holds its lock: wait for it a while.
deb_dpkg() {
	local i=0
	while :; do
		dpkg "$@" >"$TS_TMP/dpkg.out" 2>&1 && return 0
		grep -q "lock" "$TS_TMP/dpkg.out" && [ $i -lt 120 ] || break
		sleep 1
		i=$((i + 1))
	done
	cat "$TS_TMP/dpkg.out"
	return 1
}

deb_cleanup() {
	ts_cleanup_pids
	if [ "$installed" = yes ]; then
		deb_dpkg --purge "$PKG" >/dev/null 2>&1 ||
			echo "cleanup: dpkg --purge $PKG failed: $(cat "$TS_TMP/dpkg.out")"
	fi
	ts_cleanup
}
# ts_cleanup removes $TS_TMP (dpkg's messages live there), so it runs last.
ts_cleanup_pids() {
	[ -n "${TS_NETNS_PIDS:-}" ] && kill $TS_NETNS_PIDS 2>/dev/null
	for p in ${TS_NETNS_PIDS:-}; do wait "$p" 2>/dev/null; done
	TS_NETNS_PIDS=""
	return 0
}
trap deb_cleanup EXIT

# ---- build from the distributed sources (no .git needed: works in make distcheck) ----
mkdir "$TS_TMP/pkg"
make -s -C "$top_builddir" distdir distdir="$TS_TMP/pkg/src" >"$TS_TMP/distdir.log" 2>&1 ||
	{ ts_fail "make distdir: $(tail -n 20 "$TS_TMP/distdir.log")"; exit 1; }
chmod -R u+w "$TS_TMP/pkg/src" # make distcheck hands out a read-only tree
start=$(date +%s)
# A clean environment: nothing of the surrounding make (MAKEFLAGS, TESTS=...) or of this
# test leaks into the package build.
if (cd "$TS_TMP/pkg/src" && env -i PATH="$PATH" HOME="$TS_TMP" LC_ALL=C.UTF-8 \
	DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc) \
	>"$TS_TMP/build.log" 2>&1; then
	ts_pass "dpkg-buildpackage -us -uc: $(cd "$TS_TMP/pkg" && ls ./*.deb | tr '\n' ' ')in $(($(date +%s) - start)) s"
else
	ts_fail "dpkg-buildpackage failed: $(tail -n 40 "$TS_TMP/build.log")"
	exit 1
fi
# The package build runs the unit tests, all of them, and only them (debian/rules).
want=$(cd "$top_srcdir" && ls tests/check_*.c | sed 's/^/PASS: /; s/\.c$//' | sort)
got=$(grep "^[A-Z]*: tests/" "$TS_TMP/build.log" | sort)
if [ -n "$want" ] && [ "$want" = "$got" ]; then
	ts_pass "package build ran the unit tests: $(echo "$got" | tr '\n' ' ')"
else
	ts_fail "package build: want '$want', ran '$got'"
fi
# libtool's "--finish" reminder is about ldconfig for libraries on the linker path, which
# a dlopened plugin is not. Every other warning (compiler, dpkg-*) is an error.
warnings=$(grep -i "warning:" "$TS_TMP/build.log" |
	grep -v "libtool: warning: remember to run 'libtool --finish /usr/lib/collectd'")
[ -z "$warnings" ] && ts_pass "package build has no warnings" ||
	ts_fail "package build warnings: $warnings"

deb=$(ls "$TS_TMP"/pkg/${PKG}_*_*.deb)
changes=$(ls "$TS_TMP"/pkg/${PKG}_*.changes)
lintian --fail-on error,warning -I --pedantic --show-overrides "$changes" \
	>"$TS_TMP/lintian.out" 2>&1
rc=$?
grep -v "running with root privileges is not recommended" "$TS_TMP/lintian.out" \
	>"$TS_TMP/lintian.tags"
if [ $rc = 0 ]; then
	ts_pass "lintian (source and binaries, pedantic): $(wc -l <"$TS_TMP/lintian.tags") tags$(
		sed 's/^/ | /' "$TS_TMP/lintian.tags" | tr -d '\n')"
else
	ts_fail "lintian: $(cat "$TS_TMP/lintian.out")"
fi

# The ABI range comes from the collectd-dev the build used (debian/rules).
dev=$(dpkg-query -W -f='${Version}' collectd-dev | sed -E 's/^([0-9]+:)?([0-9]+)\.([0-9]+).*/\1\2.\3/')
next=$(echo "$dev" | awk -F. '{ print $1 "." $2 + 1 }')
depends=$(dpkg-deb -f "$deb" Depends)
case $depends in
*"collectd-core (>= $dev), collectd-core (<< $next~)"*libbpf1*)
	ts_pass "Depends: $depends" ;;
*) ts_fail "Depends: want collectd-core (>= $dev), collectd-core (<< $next~) and libbpf1: $depends" ;;
esac

# ---- install ----
# What the package would create, and what of it this machine already has.
dpkg-deb -c "$deb" | awk '{ print $NF }' | sed -e 's|^\./|/|' -e 's|/$||' | grep -v '^$' |
	sort >"$TS_TMP/paths"
: >"$TS_TMP/preexisting"
while read -r p; do
	[ -e "$p" ] && echo "$p" >>"$TS_TMP/preexisting"
done <"$TS_TMP/paths"
deb_dpkg -i "$deb" || { ts_fail "dpkg -i: $(cat "$TS_TMP/dpkg.out")"; exit 1; }
installed=yes
dpkg -L "$PKG" | grep -v '^/\.$' | sort >"$TS_TMP/listed"
if cmp -s "$TS_TMP/paths" "$TS_TMP/listed"; then
	ts_pass "dpkg -i: $(wc -l <"$TS_TMP/listed") paths installed"
else
	ts_fail "dpkg -L differs from the .deb: $(diff "$TS_TMP/paths" "$TS_TMP/listed")"
fi
for f in /usr/lib/collectd/tcpsubnet.so "$CONFFILE" /usr/share/man/man5/collectd-tcpsubnet.5.gz \
	"$DROPIN_DOC" /usr/share/doc/$PKG/copyright; do
	[ -f "$f" ] && ts_pass "installed $f" || ts_fail "not installed: $f"
done
grep -q '\.la$' "$TS_TMP/listed" && ts_fail "a libtool archive is installed: $(grep '\.la$' "$TS_TMP/listed")"
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q " $CONFFILE " &&
	ts_pass "$CONFFILE is a conffile" || ts_fail "$CONFFILE is not a conffile"

# The man page renders without warnings and has an entry for every option the plugin
# accepts (the plugin's own list, from its "unknown option" message).
man_txt=$TS_TMP/man.txt
LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -E UTF-8 -l /usr/share/man/man5/collectd-tcpsubnet.5.gz \
	>"$man_txt" 2>"$TS_TMP/man.err"
[ -s "$man_txt" ] && [ ! -s "$TS_TMP/man.err" ] && ts_pass "man page renders without warnings" ||
	ts_fail "man page: $(cat "$TS_TMP/man.err")"
options=$(strings /usr/lib/collectd/tcpsubnet.so | sed -n 's/.*valid options are \(.*\)$/\1/p' |
	sed 's/ and /, /; s/,/ /g')
[ -n "$options" ] || ts_fail "cannot find the plugin's list of options in tcpsubnet.so"
sed -n '/^OPTIONS/,/^[A-Z]/p' "$man_txt" >"$TS_TMP/man.options"
for opt in $options; do
	if grep -Eq "^ {7}<?$opt( |>|$)" "$TS_TMP/man.options"; then
		ts_pass "man page OPTIONS documents $opt"
	else
		ts_fail "man page OPTIONS has no entry for $opt"
	fi
done
for section in OPTIONS VALUES "ATTACH MODES" "KERNEL REQUIREMENTS" PRIVILEGES \
	TROUBLESHOOTING FILES "SEE ALSO"; do
	grep -q "^$section\$" "$man_txt" || ts_fail "man page has no $section section"
done

# The shipped drop-in is valid for the stock collectd.service.
mkdir -p "$TS_TMP/units/collectd.service.d"
cp /lib/systemd/system/collectd.service "$TS_TMP/units/"
cp "$DROPIN_DOC" "$TS_TMP/units/collectd.service.d/nonroot.conf"
# The trailing ":" adds the system's unit folders (for the targets collectd.service
# names); whatever they say about other units is not about this one.
SYSTEMD_UNIT_PATH="$TS_TMP/units:" systemd-analyze verify "$TS_TMP/units/collectd.service" \
	>"$TS_TMP/verify.all" 2>&1
rc=$?
grep -e "collectd\.service" -e "$TS_TMP/units" "$TS_TMP/verify.all" >"$TS_TMP/verify.out"
if [ $rc = 0 ] && ! grep -q . "$TS_TMP/verify.out"; then
	ts_pass "systemd-analyze verify accepts collectd.service with the drop-in"
else
	ts_fail "systemd-analyze verify (exit $rc): $(cat "$TS_TMP/verify.all")"
fi

# ---- a collectd configured like Debian's stock collectd.conf ----
# deb_conf DIR: global options, logfile, csv (absolute DERIVE values), load (a bystander
# that shows read cycles happen) and the stock config's Include of collectd.conf.d,
# taken verbatim from the collectd-core example that becomes /etc/collectd/collectd.conf.
include=$(sed -n '/^<Include "\/etc\/collectd\/collectd.conf.d">/,/^<\/Include>/p' "$STOCK_CONF")
[ -n "$include" ] || { ts_fail "no conf.d Include in $STOCK_CONF"; exit 1; }
others=""
for f in /etc/collectd/collectd.conf.d/*.conf; do
	[ -e "$f" ] && [ "$f" != "$CONFFILE" ] && others="$others $f"
done
if [ -n "$others" ]; then
	# Other snippets on this machine are not this test's business.
	echo "note:$others also in collectd.conf.d: including tcpsubnet.conf only"
	include=$(echo "$include" | sed 's/Filter "\*\.conf"/Filter "tcpsubnet.conf"/')
fi
deb_conf() {
	local dir=$1
	mkdir -p "$dir/csv"
	chown --reference="$dir" "$dir/csv" # the unprivileged runs write there
	cat >"$dir/collectd.conf" <<CONF
Hostname "tstest"
FQDNLookup false
BaseDir "$dir"
PIDFile "$dir/collectd.pid"
PluginDir "/usr/lib/collectd"
TypesDB "/usr/share/collectd/types.db"
Interval 1
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "$dir/collectd.log"
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "$dir/csv"
  StoreRates false
</Plugin>
LoadPlugin load
$include
CONF
}

# deb_collectd DIR [setpriv args...]: collectd -f in the background (killed at exit).
deb_collectd() {
	local dir=$1
	shift
	if [ $# -gt 0 ]; then
		timeout 120 setpriv "$@" /usr/sbin/collectd -f -C "$dir/collectd.conf" \
			>"$dir/stdout" 2>&1 &
	else
		timeout 120 /usr/sbin/collectd -f -C "$dir/collectd.conf" >"$dir/stdout" 2>&1 &
	fi
	TS_COLLECTD_PID=$!
	TS_NETNS_PIDS="${TS_NETNS_PIDS:-} $TS_COLLECTD_PID"
}

# deb_cycles DIR: waits until the bystander has written two read cycles.
deb_cycles() {
	local i=0
	while [ $i -lt 200 ]; do
		[ "$(cat "$1"/csv/tstest/load/load-* 2>/dev/null | grep -vc epoch)" -ge 2 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# ---- as shipped: nothing enabled ----
d=$TS_TMP/shipped
deb_conf "$d"
deb_collectd "$d"
deb_cycles "$d" || ts_fail "shipped: collectd wrote no values: $(cat "$d/collectd.log" "$d/stdout")"
ts_collectd_stop
if grep -q 'plugin "load" successfully loaded' "$d/collectd.log" &&
	! grep -qi "tcpsubnet" "$d/collectd.log" && [ ! -e "$d/csv/tstest/tcpsubnet-other" ]; then
	ts_pass "installed as shipped: collectd loads no tcpsubnet plugin"
else
	ts_fail "installed as shipped: $(cat "$d/collectd.log")"
fi

# ---- uncommented as shipped: a valid configuration ----
sed -i '/^#LoadPlugin tcpsubnet/,/^#<\/Plugin>/s/^#//' "$CONFFILE"
grep -q '^LoadPlugin tcpsubnet$' "$CONFFILE" && grep -q '^<Plugin tcpsubnet>$' "$CONFFILE" ||
	ts_fail "uncommenting $CONFFILE gave: $(cat "$CONFFILE")"
# What the example configures, counted from its text: the plugin must report the same.
n_sub=$(grep -Ec '^[[:space:]]*<?Subnet "' "$CONFFILE")
n_pre=$(grep -Ec '^[[:space:]]*(Prefix|Subnet) "[^"]*/[0-9]+"' "$CONFFILE")
d=$TS_TMP/example
deb_conf "$d"
if /usr/sbin/collectd -T -f -C "$d/collectd.conf" >"$d/stdout" 2>&1 &&
	grep -q "tcpsubnet plugin: attach mode .*; counting $n_sub subnets, $n_pre prefixes" \
		"$d/collectd.log"; then
	ts_pass "uncommented example: $(grep -o 'tcpsubnet plugin: attach mode.*' "$d/collectd.log")"
else
	ts_fail "uncommented example (want $n_sub subnets, $n_pre prefixes): $(cat "$d/collectd.log" "$d/stdout")"
fi

# ---- the example pointed at the test namespace: exact bytes ----
# Each of the example's prefixes is replaced by a test prefix; the names stay.
for pair in "10.169.0.0/16 198.19.64.0/24" "2001:db8:1::/48 2001:db8:4001::/48" \
	"10.170.0.0/16 198.19.65.0/24"; do
	set -- $pair
	grep -qF "\"$1\"" "$CONFFILE" ||
		{ ts_fail "the example no longer has \"$1\": update this test"; exit 1; }
	sed -i "s|\"$1\"|\"$2\"|" "$CONFFILE"
done
grep -q '^[[:space:]]*<Subnet "dc-east">' "$CONFFILE" ||
	{ ts_fail "the example no longer has Subnet dc-east: update this test"; exit 1; }
ns=tsdeb$$
ts_netns "$ns" 198.19.64.1 198.19.65.1 198.19.66.1 198.19.66.2 2001:db8:4001::1 2001:db8:4001::2
cat >"$TS_TMP/flows" <<'FLOWS'
dc-east 198.19.65.0/24 --listen 198.19.64.1 --connect 198.19.64.1 --bind 198.19.65.1 --bytes 400009 --reply-bytes 120011
dc-east dc-east --listen 2001:db8:4001::1 --connect 2001:db8:4001::1 --bind 2001:db8:4001::2 --bytes 300007 --reply-bytes 80021
198.19.65.0/24 dc-east --listen dual --connect 198.19.65.1 --bind 198.19.64.1 --bytes 350003 --reply-bytes 60013
other other --listen 198.19.66.1 --connect 198.19.66.1 --bind 198.19.66.2 --bytes 100003 --reply-bytes 20011
FLOWS

# deb_exact WHAT DIR [setpriv args...]: collectd with the packaged snippet counts the
# flows exactly.
deb_exact() {
	local what=$1 dir=$2 line s want got last done_at i
	shift 2
	deb_conf "$dir"
	deb_collectd "$dir" "$@"
	# Traffic starts once the plugin has dispatched, so its programs are attached.
	ts_wait_file "$dir/csv/tstest/tcpsubnet-dc-east/if_octets-*" 20 ||
		{ ts_fail "$what: no tcpsubnet values after 20 s: $(cat "$dir/collectd.log")"; return; }
	: >"$TS_TMP/expect"
	while read -r ssub csub args; do
		line=$(ip netns exec "$ns" "$TS_TRAFFIC" $args) || ts_fail "traffic failed: $args"
		ts_expect_add "$TS_TMP/expect" "$ssub" "$csub" "$line"
	done <"$TS_TMP/flows"
	done_at=$(date +%s)
	# A read cycle that started after the traffic ended.
	for i in $(seq 1 100); do
		last=$(ts_csv_last "$dir" dc-east | cut -d' ' -f1 | cut -d. -f1)
		[ -n "$last" ] && [ "$last" -gt "$done_at" ] && break
		sleep 0.1
	done
	sleep 1.2
	ts_collectd_stop
	for s in dc-east 198.19.65.0/24; do
		want=$(ts_sum "$TS_TMP/expect" | awk -v s="$s" '$1 == s { print $2, $3 }')
		got=$(ts_csv_last "$dir" "$s" | cut -d' ' -f2-)
		[ "$want" = "$got" ] && ts_pass "$what: csv $s rx tx = $got" ||
			ts_fail "$what: csv $s: want rx tx '$want', got '$got'"
	done
	# "other" is every unmatched TCP byte of the host, the test's own included.
	want=$(ts_sum "$TS_TMP/expect" | awk '$1 == "other" { print $2, $3 }')
	got=$(ts_csv_last "$dir" other | cut -d' ' -f2-)
	if echo "$want ${got:-x x}" | awk '{ exit !($3 >= $1 && $4 >= $2) }'; then
		ts_pass "$what: csv other rx tx = $got (>= $want moved by the test)"
	else
		ts_fail "$what: csv other: want at least '$want', got '$got'"
	fi
	grep -e "\[error\] tcpsubnet" -e "\[warning\] tcpsubnet" "$dir/collectd.log" |
		sed "s/^/$what: /" | grep . && ts_fail "$what: errors or warnings above"
}

deb_exact "root" "$TS_TMP/root"

# ---- without root: the capabilities of the shipped systemd drop-in ----
caps_of() { # caps_of KEY: "+bpf,+perfmon" from KEY=CAP_BPF CAP_PERFMON in the drop-in
	sed -n "s/^$1=//p" "$DROPIN_DOC" | tr ' ' '\n' | grep . | tr 'A-Z' 'a-z' |
		sed 's/^cap_/+/' | paste -sd, -
}
ambient=$(caps_of AmbientCapabilities)
bounding=$(caps_of CapabilityBoundingSet)
[ -n "$ambient" ] && [ -n "$bounding" ] ||
	ts_fail "no AmbientCapabilities/CapabilityBoundingSet in $DROPIN_DOC"
user_dir() {
	mkdir -p "$1"
	chown 65534:65534 "$1"
}
user_dir "$TS_TMP/user"
nonroot="--reuid=65534 --regid=65534 --clear-groups"
# shellcheck disable=SC2086
deb_exact "user 65534 with $ambient" "$TS_TMP/user" $nonroot --inh-caps="$ambient" \
	--ambient-caps="$ambient" --bounding-set="-all,$bounding"
owner=$(stat -c %u "$TS_TMP"/user/csv/tstest/tcpsubnet-dc-east/if_octets-* | sort -u)
[ "$owner" = 65534 ] && ts_pass "values written by uid 65534, not root" ||
	ts_fail "csv files owned by uid '$owner'"

# missing WHAT WANT CAPS: as user 65534 with CAPS only, the plugin does not start, says
# which capability is missing in one error line, and collectd keeps running its other
# plugins.
missing() {
	local what=$1 want=$2 caps=$3 dir=$TS_TMP/missing-$4
	user_dir "$dir"
	deb_conf "$dir"
	if [ -n "$caps" ]; then
		# shellcheck disable=SC2086
		deb_collectd "$dir" $nonroot --inh-caps="$caps" --ambient-caps="$caps" \
			--bounding-set="-all,$caps"
	else
		# shellcheck disable=SC2086
		deb_collectd "$dir" $nonroot --bounding-set=-all
	fi
	deb_cycles "$dir" && kill -0 "$TS_COLLECTD_PID" 2>/dev/null ||
		ts_fail "$what: collectd did not keep running: $(cat "$dir/collectd.log" "$dir/stdout")"
	ts_collectd_stop
	if grep -qF "[error] tcpsubnet plugin: $want" "$dir/collectd.log" &&
		[ "$(grep -c "\[error\] tcpsubnet plugin:" "$dir/collectd.log")" = 1 ] &&
		[ ! -e "$dir/csv/tstest/tcpsubnet-dc-east" ]; then
		ts_pass "$what: $(grep -o "tcpsubnet plugin: .*" "$dir/collectd.log")"
	else
		ts_fail "$what: want one line 'tcpsubnet plugin: $want', got: $(cat "$dir/collectd.log")"
	fi
}
fix="run collectd as root or grant it CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN on kernels before 5.8)"
missing "no capabilities" "missing capability CAP_BPF and CAP_PERFMON: $fix" "" none
missing "CAP_BPF only" "missing capability CAP_PERFMON: $fix" "+bpf" bpf
missing "CAP_PERFMON only" "missing capability CAP_BPF: $fix" "+perfmon" perfmon

# ---- purge: nothing left ----
ts_cleanup_pids
deb_dpkg --purge "$PKG" || { ts_fail "dpkg --purge: $(cat "$TS_TMP/dpkg.out")"; exit 1; }
installed=no
left=""
while read -r p; do
	if grep -qxF "$p" "$TS_TMP/preexisting"; then
		[ -e "$p" ] || ts_fail "purge removed $p, which was there before the install"
	elif [ -e "$p" ] || [ -L "$p" ]; then
		left="$left $p"
	fi
done <"$TS_TMP/paths"
status=$(dpkg-query -W -f='${db:Status-Status}' "$PKG" 2>/dev/null)
leftinfo=$(ls /var/lib/dpkg/info/$PKG.* 2>/dev/null)
if [ -z "$left" ] && [ -z "$leftinfo" ] && [ "${status:-not-installed}" = not-installed ] &&
	[ ! -e "$CONFFILE" ]; then
	ts_pass "dpkg --purge: all $(wc -l <"$TS_TMP/paths") paths gone but the \
$(wc -l <"$TS_TMP/preexisting") that were there before (the modified conffile too)"
else
	ts_fail "after purge: left:$left $leftinfo; status '$status'"
fi

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: the Debian package builds, installs, counts exactly and purges cleanly"
