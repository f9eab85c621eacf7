#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Real BPF, real cgroups: every value lands in "<cgroup>~<subnet>", exactly.
# - a client in a child cgroup of one Cgroup block talking to a server in another block:
#   the client's socket counts in the client's block, the accepted socket in the
#   listener's block (IPv4 and IPv6);
# - nested blocks: the deepest configured path wins ('*' matching one component);
# - a process moved to another cgroup after creating its socket: the socket stays in
#   the cgroup it was created in;
# - LocalSubnet pairs get the cgroup too;
# - ReportUnmatchedCgroup false: sockets of no configured cgroup count nowhere;
# - no cgroup2 mounted: the loader refuses with one line.
# Each with and without the per-socket memo.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
ts_cgroup_tree "bpf$$"
T=${TS_CGDIR#"$TS_CGROOT"}
mkdir -p "$TS_CGDIR/a/child" "$TS_CGDIR/b" "$TS_CGDIR/n/deep/x" "$TS_CGDIR/loose"

ns=tscg$$
# ts-traffic enters the namespace itself: this mount namespace keeps cgroupfs visible.
NS="--server-netns $ns --client-netns $ns"
ts_netns "$ns" 198.18.232.1 198.18.233.1 2001:db8:232::1 2001:db8:232:1::1

subnets='<Subnet "srv">
  Prefix "198.18.232.0/24"
  Prefix "2001:db8:232::/64"
</Subnet>
<Subnet "cli">
  Prefix "198.18.233.0/24"
  Prefix "2001:db8:232:1::/64"
</Subnet>'

# ---- client in a child of block "ca", server in block "b" (shorthand) ----
cat >"$TS_TMP/conf.1" <<CONF
$subnets
<Cgroup "ca">
  Path "$T/a"
</Cgroup>
Cgroup "$T/b"
CONF
cat >"$TS_TMP/flows.1" <<FLOWS
$NS --listen 198.18.232.1 --connect 198.18.232.1 --bind 198.18.233.1 --server-cgroup $TS_CGDIR/b --client-cgroup $TS_CGDIR/a/child --bytes 300007 --reply-bytes 100003
$NS --listen 2001:db8:232::1 --connect 2001:db8:232::1 --bind 2001:db8:232:1::1 --server-cgroup $TS_CGDIR/b --client-cgroup $TS_CGDIR/a/child --bytes 200003 --reply-bytes 70001
FLOWS
ts_memo_pad "$TS_TMP/conf.1" "$TS_TMP/conf.1.memo"
for conf in conf.1 conf.1.memo; do
	label="two blocks${conf#conf.1}"
	ts_probe_run "$TS_TMP/$conf" "$TS_TMP/flows.1" || continue
	c=$(ts_add "$(ts_field "$(ts_moved 1)" c2s)" "$(ts_field "$(ts_moved 2)" c2s)")
	s=$(ts_add "$(ts_field "$(ts_moved 1)" s2c)" "$(ts_field "$(ts_moved 2)" s2c)")
	ts_expect "ca~srv" if_octets "$s $c"
	ts_expect "b~cli" if_octets "$c $s"
	ts_expect "ca~srv" connections-opened-active 2
	ts_expect "b~cli" connections-opened-passive 2
	ts_expect "ca~cli" if_octets "0 0"
	ts_expect "b~srv" if_octets "0 0"
	ts_expect "other~srv" if_octets "0 0"
	ts_expect "other~cli" if_octets "0 0"
	ts_expect "other~srv" derive-rtt-samples 0
	n=$(awk '$1 == "ca~srv" && $2 == "derive-rtt-samples" { print $3 }' "$TS_TMP/got")
	[ "${n:-0}" -gt 0 ] && ts_pass "$label: ca~srv rtt-samples = $n" || ts_fail "$label: no RTT samples in ca~srv"
	grep -q '^srv \|^cli ' "$TS_TMP/got" && ts_fail "$label: instances without a cgroup"
	n=$(awk '$1 != "-" { print $1 }' "$TS_TMP/got" | sort -u | wc -l)
	want=9
	[ "$conf" = conf.1.memo ] && want=12 # memo-pad is a third subnet
	[ "$n" = $want ] && ts_pass "$label: $want instances" || ts_fail "$label: $n instances"
	ts_check_lost "$label"
done

# ---- nested: the deepest configured path wins ----
cat >"$TS_TMP/conf.2" <<CONF
$subnets
<Cgroup "outer">
  Path "$T/n"
</Cgroup>
<Cgroup "inner">
  Path "$T/*/deep"
</Cgroup>
CONF
cat >"$TS_TMP/flows.2" <<FLOWS
$NS --listen 198.18.232.1 --connect 198.18.232.1 --bind 198.18.233.1 --server-cgroup $TS_CGDIR/n --client-cgroup $TS_CGDIR/n/deep/x --bytes 250007 --reply-bytes 90001
FLOWS
ts_memo_pad "$TS_TMP/conf.2" "$TS_TMP/conf.2.memo"
for conf in conf.2 conf.2.memo; do
	label="nested${conf#conf.2}"
	ts_probe_run "$TS_TMP/$conf" "$TS_TMP/flows.2" || continue
	c=$(ts_field "$(ts_moved 1)" c2s) s=$(ts_field "$(ts_moved 1)" s2c)
	ts_expect "inner~srv" if_octets "$s $c"
	ts_expect "outer~cli" if_octets "$c $s"
	ts_expect "outer~srv" if_octets "0 0"
	ts_expect "inner~cli" if_octets "0 0"
	ts_expect "other~srv" if_octets "0 0"
	ts_check_lost "$label"
done

# ---- moved after creating its socket: the socket stays where it was created ----
cat >"$TS_TMP/flows.3" <<FLOWS
$NS --listen 198.18.232.1 --connect 198.18.232.1 --bind 198.18.233.1 --server-cgroup $TS_CGDIR/b --client-cgroup $TS_CGDIR/a --move-cgroup $TS_CGDIR/b --bytes 150001 --reply-bytes 60007
FLOWS
for conf in conf.1 conf.1.memo; do
	label="moved${conf#conf.1}"
	ts_probe_run "$TS_TMP/$conf" "$TS_TMP/flows.3" || continue
	c=$(ts_field "$(ts_moved 1)" c2s) s=$(ts_field "$(ts_moved 1)" s2c)
	ts_expect "ca~srv" if_octets "$s $c"
	ts_expect "b~srv" if_octets "0 0"
	ts_expect "b~cli" if_octets "$c $s"
	ts_check_lost "$label"
done

# ---- with LocalSubnet pairs: "<cgroup>~<local>-to-<remote>" ----
{ cat "$TS_TMP/conf.1"; printf '<LocalSubnet "cl">\n  Prefix "198.18.233.0/24"\n</LocalSubnet>\n'; } \
	>"$TS_TMP/conf.5"
label="pairs"
if ts_probe_run "$TS_TMP/conf.5" "$TS_TMP/flows.3"; then
	c=$(ts_field "$(ts_moved 1)" c2s) s=$(ts_field "$(ts_moved 1)" s2c)
	ts_expect "ca~cl-to-srv" if_octets "$s $c"
	ts_expect "b~other-to-cli" if_octets "$c $s"
	ts_expect "ca~other-to-srv" if_octets "0 0"
	ts_expect "b~cl-to-cli" if_octets "0 0"
fi

# ---- ReportUnmatchedCgroup false: no "other~", nothing counted for loose cgroups ----
{ cat "$TS_TMP/conf.1"; echo "ReportUnmatchedCgroup false"; } >"$TS_TMP/conf.4"
cat >"$TS_TMP/flows.4" <<FLOWS
$NS --listen 198.18.232.1 --connect 198.18.232.1 --bind 198.18.233.1 --server-cgroup $TS_CGDIR/loose --client-cgroup $TS_CGDIR/a --bytes 120001 --reply-bytes 40009
FLOWS
label="no other"
if ts_probe_run "$TS_TMP/conf.4" "$TS_TMP/flows.4"; then
	c=$(ts_field "$(ts_moved 1)" c2s) s=$(ts_field "$(ts_moved 1)" s2c)
	ts_expect "ca~srv" if_octets "$s $c"
	ts_expect "b~cli" if_octets "0 0"
	grep -q '^other~' "$TS_TMP/got" && ts_fail "$label: other~ instances dispatched" ||
		ts_pass "$label: no other~ instance"
fi

# ---- no cgroup2 mounted (a mount namespace of its own without it): one line, no start ----
label="no cgroup2"
if command -v unshare >/dev/null; then
	rc=0
	unshare --mount --propagation private sh -c \
		"umount -l '$TS_CGROOT' && exec '$TS_PROBE' '$TS_TMP/conf.1'" >"$TS_TMP/out" \
		2>"$TS_TMP/err" || rc=$?
	want="tcpsubnet plugin: Cgroup options need the cgroup2 filesystem, and /proc/self/mountinfo shows none; mount it (mount -t cgroup2 none /sys/fs/cgroup) or remove the Cgroup and CgroupEach options"
	if [ $rc = 3 ] && grep -qxF "$want" "$TS_TMP/err"; then
		ts_pass "$label: $want"
	else
		ts_fail "$label: exit $rc: $(cat "$TS_TMP/err")"
	fi
else
	ts_fail "$label: unshare (util-linux) is missing"
fi

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: values per cgroup"
