#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Nothing generated is committed: `git ls-files` holds no autotools output (configure,
# its backup configure~, Makefile.in, aclocal.m4, the config header templates,
# autom4te.cache, build-aux, libtool's m4 files), no build product (objects, libraries,
# BPF skeletons, test binaries, dist tarballs, .deb files) and no dpkg-buildpackage
# leftovers. A negative control shows that the matcher catches each kind.
#
# It checks the git checkout the sources are in; in a tree without .git (the tarball of
# make distcheck, an unpacked release) there is nothing to check and it passes saying
# so: there the tarball's contents are fixed by Makefile.am's EXTRA_DIST and dist rules.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

# generated: reads paths, prints those that are generated files.
generated() {
	grep -E '(^|/)(configure|configure~|config\.status|config\.log|libtool|aclocal\.m4|stamp-h[0-9]*|Makefile|Makefile\.in|ts-config\.h|ts-config\.h\.in~?|config\.h|config\.h\.in~?)$|(^|/)(autom4te\.cache|build-aux|\.libs|\.deps|_build)/|^m4/(libtool|ltoptions|ltsugar|ltversion|lt~obsolete)\.m4$|\.(o|lo|la|a|so|skel\.h|trs|log|deb|changes|buildinfo|tar\.gz|tar\.xz)$|~$|^debian/(collectd-tcpsubnet|\.debhelper|tmp)/|^debian/(files|debhelper-build-stamp|.*\.substvars|.*\.debhelper\.log)$|^tests/(check_[a-z]+|ts-[a-z]+|san-control|.*-san)$|(^|/)__pycache__/|\.py[co]$|^tests/fuzz/fuzz-(config|names)$|^bench/ts-bench$'
}

# The matcher itself: every kind of generated file is caught, no source file is.
cat >"${TMPDIR:-/tmp}/tree-clean.$$" <<'EOF'
configure
configure~
Makefile.in
aclocal.m4
ts-config.h.in
autom4te.cache/output.0
build-aux/install-sh
m4/libtool.m4
plugin/tsconf.o
tcpsubnet.so
bpf/tcpsubnet.skel.h
tests/check_tsconf
tests/fuzz/fuzz-config
collectd-tcpsubnet-0.1.0.tar.gz
debian/files
debian/collectd-tcpsubnet/DEBIAN/control
tests/__pycache__/tb-check.cpython-311.pyc
EOF
want=$(wc -l <"${TMPDIR:-/tmp}/tree-clean.$$")
got=$(generated <"${TMPDIR:-/tmp}/tree-clean.$$" | wc -l)
rm -f "${TMPDIR:-/tmp}/tree-clean.$$"
[ "$got" = "$want" ] && ts_pass "control: the matcher catches all $want kinds of generated file" ||
	ts_fail "control: the matcher caught $got of $want generated files"

top=$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null || true)
if [ -z "$top" ] || [ "$(cd "$top" && pwd -P)" != "$(cd "$top_srcdir" && pwd -P)" ]; then
	echo "note: $top_srcdir is not a git checkout (make distcheck, a tarball): no git ls-files to check"
	[ "$TS_FAILS" = 0 ] || exit 1
	exit 0
fi
files=$(git -C "$top_srcdir" ls-files)
n=$(echo "$files" | wc -l)
bad=$(echo "$files" | generated)
if [ -z "$bad" ]; then
	ts_pass "git ls-files: $n files, none generated"
else
	ts_fail "generated files are tracked (git rm them, .gitignore lists them): $(echo "$bad" | tr '\n' ' ')"
fi
[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: nothing generated in the tree"
