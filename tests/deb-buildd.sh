#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The package builds the way Debian's buildds build it: a clean bookworm chroot made by
# `mmdebstrap --variant=buildd` (essential packages, apt, build-essential, nothing
# else), `apt-get build-dep` of the distributed sources (so Build-Depends must name
# everything the build needs), then `dpkg-buildpackage -us -uc -b` as an unprivileged
# user (Rules-Requires-Root: no). The build must succeed, run the unit tests, and its
# configure must have found no test-only tool (sanitizer runtime, valgrind) — they are
# not in Build-Depends and must not be needed.
#
# It needs the Debian mirror this machine's apt uses (deb.debian.org) and root
# (mmdebstrap's root mode); 53 s on the idle development machine, 251 s on a busy one.
# Also runs alone after scripts/build:
#   top_srcdir=$PWD top_builddir=$PWD/_build sh tests/deb-buildd.sh
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
[ "$(id -u)" = 0 ] || ts_skip "mmdebstrap's root mode needs root"
command -v mmdebstrap >/dev/null || ts_skip "mmdebstrap is not installed (scripts/deps --test)"
ts_tmpdir

start=$(date +%s)
make -s -C "$top_builddir" distdir distdir="$TS_TMP/src" >"$TS_TMP/distdir.log" 2>&1 ||
	{ ts_fail "make distdir: $(tail -n 20 "$TS_TMP/distdir.log")"; exit 1; }
chmod -R u+w "$TS_TMP/src" # make distcheck hands out a read-only tree
mkdir "$TS_TMP/out"

# The chroot exists only while mmdebstrap runs (target /dev/null: format null); its
# hooks copy the sources in, build them and copy the results out. mmdebstrap mounts
# /proc, /sys and /dev for the hooks and removes everything, also on failure.
# shellcheck disable=SC2016 # $1 is the chroot, expanded by mmdebstrap's hook shell
mmdebstrap --variant=buildd --mode=root --format=null \
	--customize-hook='mkdir -p "$1/build"' \
	--customize-hook="copy-in $TS_TMP/src /build" \
	--customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get -y -q \
		--no-install-recommends build-dep /build/src' \
	--customize-hook='chroot "$1" chown -R 65534:65534 /build' \
	--customize-hook='chroot "$1" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env -i PATH=/usr/bin:/bin HOME=/build LC_ALL=C.UTF-8 \
		DEB_BUILD_OPTIONS="parallel=$(nproc)" \
		sh -c "cd /build/src && dpkg-buildpackage -us -uc -b" >"$1/build/build.log" 2>&1 ||
		{ tail -n 60 "$1/build/build.log"; exit 1; }' \
	--customize-hook="sync-out /build $TS_TMP/out" \
	bookworm /dev/null \
	"deb http://deb.debian.org/debian bookworm main" \
	"deb http://deb.debian.org/debian bookworm-updates main" \
	"deb http://deb.debian.org/debian-security bookworm-security main" \
	>"$TS_TMP/mmdebstrap.log" 2>&1
rc=$?
secs=$(($(date +%s) - start))
if [ $rc != 0 ]; then
	ts_fail "mmdebstrap --variant=buildd + build-dep + dpkg-buildpackage failed (exit $rc," \
		"$secs s): $(tail -n 60 "$TS_TMP/mmdebstrap.log")"
	exit 1
fi
log=$TS_TMP/out/build.log
deb=$(cd "$TS_TMP/out" && ls collectd-tcpsubnet_*_amd64.deb 2>/dev/null)
[ -n "$deb" ] && ts_pass "clean buildd chroot: build-dep + dpkg-buildpackage -b built $deb in $secs s" ||
	ts_fail "no .deb in $(ls "$TS_TMP/out")"
# configure's summary: a buildd has none of the test-only tools, and the build did not
# need them.
for t in "sanitizer tests (ASan, UBSan): no" "fuzz targets (libFuzzer):      no" \
	"valgrind tests:                no"; do
	grep -qF "$t" "$log" && ts_pass "configure: $t" ||
		ts_fail "configure summary lacks '$t': $(grep -A4 "test-only tools" "$log")"
done
want=$(cd "$top_srcdir" && ls tests/check_*.c | sed 's/^/PASS: /; s/\.c$//' | sort)
got=$(grep "^[A-Z]*: tests/" "$log" | sort)
[ -n "$want" ] && [ "$want" = "$got" ] &&
	ts_pass "the package build ran the unit tests: $(echo "$got" | tr '\n' ' ')" ||
	ts_fail "unit tests in the package build: want '$want', ran '$got'"
[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: a clean bookworm buildd chroot builds the package from Build-Depends alone"
