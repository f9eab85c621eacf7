# SPDX-License-Identifier: GPL-2.0-only
# The byte paths of tests/ts-paths under ts-probe, shared by tests/bpf-socket-paths.sh
# (host) and the qemu guest's socket column (sourced after tests/lib.sh).
#
# Address plan (only 198.18.168.0/21 and 2001:db8:a168::/48): path number i (1..N in
# ts-paths --list order, then "long", a ts-stream connection across many read cycles)
# has a server and a client address in every family, and every (path, family, end) is
# a subnet of its own, "PATH-FAMILY-s" (server) or "PATH-FAMILY-c" (client):
#   4  IPv4:               server 198.18.168.i, client 198.18.169.i
#   6  IPv6:               server 2001:db8:a168::i, client 2001:db8:a168:1::i
#   m  IPv4-mapped IPv6 on both ends (dual-stack client to ::ffff:198.18.170.i, from
#      ::ffff:198.18.171.i; dual-stack listener)
#   d  IPv4 client 198.18.173.i to a dual-stack listener (its socket: mapped) at
#      198.18.172.i
# Environment: TS_PATHS_BYTES (per direction, default 400009), TS_PATHS_FAMILIES
# (default "4 6 m d"), TS_PATHS_LONG (seconds of the long connection, default 2).
TS_PATHS=$top_builddir/tests/ts-paths
TS_STREAM=$top_builddir/tests/ts-stream
: "${TS_PATHS_BYTES:=400009}" "${TS_PATHS_FAMILIES:=4 6 m d}" "${TS_PATHS_LONG:=2}"

# paths_names: the paths this build has, then "long"; sets PATHS_MISSING to the ones
# built without their library (io_uring without liburing).
paths_names() {
	PATHS_MISSING=$("$TS_PATHS" --list | awk '$2 == "not-built" { printf "%s ", $1 }')
	PATHS=$("$TS_PATHS" --list | awk '$2 != "not-built" { printf "%s ", $1 }')long
}

# paths_index NAME: its number i in the address plan (built or not, so addresses stay put).
paths_index() {
	{ "$TS_PATHS" --list | awk '{ print $1 }'; echo long; } | awk -v p="$1" '$1 == p { print NR; exit }'
}

# paths_netns NS: the namespace with every address of the plan on lo (one `ip -batch`:
# a process per address costs minutes under TCG).
paths_netns() {
	local i n o
	n=$({ "$TS_PATHS" --list; echo long; } | wc -l)
	ts_netns "$1"
	for i in $(seq 1 "$n"); do
		for o in 168 169 170 171 172 173; do
			echo "addr add 198.18.$o.$i/32 dev lo"
		done
		echo "addr add 2001:db8:a168::$i/128 dev lo nodad"
		echo "addr add 2001:db8:a168:1::$i/128 dev lo nodad"
	done >"$TS_TMP/paths-addrs"
	/usr/bin/ip -n "$1" -batch "$TS_TMP/paths-addrs" || ts_skip "cannot add the addresses to $1"
}

# paths_conf OUT LINES...: the subnets of the plan, then each extra line (Accounting,
# AttachMode); unmatched peers are not reported (every address of the plan is matched).
paths_conf() {
	local out=$1 p i end
	shift
	: >"$out"
	for p in $PATHS $PATHS_MISSING; do
		i=$(paths_index "$p")
		for end in "4-s 198.18.168.$i/32" "4-c 198.18.169.$i/32" "6-s 2001:db8:a168::$i/128" \
			"6-c 2001:db8:a168:1::$i/128" "m-s ::ffff:198.18.170.$i/128" \
			"m-c ::ffff:198.18.171.$i/128" "d-s 198.18.172.$i/32" "d-c 198.18.173.$i/32"; do
			printf '<Subnet "%s-%s">\n  Prefix "%s"\n</Subnet>\n' "$p" "${end% *}" "${end#* }" >>"$out"
		done
	done
	echo "ReportUnmatched false" >>"$out"
	for p in "$@"; do echo "$p" >>"$out"; done
}

# paths_args PATH FAMILY: the address arguments of ts-paths/ts-stream for one connection.
paths_args() {
	local i
	i=$(paths_index "$1")
	case $2 in
	4) echo "--listen 198.18.168.$i --connect 198.18.168.$i --bind 198.18.169.$i" ;;
	6) echo "--listen 2001:db8:a168::$i --connect 2001:db8:a168::$i --bind 2001:db8:a168:1::$i" ;;
	m) [ "$1" = long ] && echo "--listen ::ffff:198.18.170.$i --connect ::ffff:198.18.170.$i --bind ::ffff:198.18.171.$i" ||
		echo "--listen dual --connect ::ffff:198.18.170.$i --bind ::ffff:198.18.171.$i" ;;
	d) [ "$1" = long ] && echo "--listen ::ffff:198.18.172.$i --connect 198.18.172.$i --bind 198.18.173.$i" ||
		echo "--listen dual --connect 198.18.172.$i --bind 198.18.173.$i" ;;
	esac
}

# paths_run CONF NS: ts-probe with CONF (read cycles every 100 ms) around every path in
# every family inside namespace NS; the "preopen" connections are opened and used before
# ts-probe starts. Leaves "FAMILY PATH ts-paths-output" lines in $TS_TMP/moved, the
# plugin's values in $TS_TMP/got, its stderr in $TS_TMP/err. Returns ts-probe's status.
paths_run() {
	local conf=$1 ns=$2 f p rc=0 i pids=""
	: >"$TS_TMP/moved"
	rm -f "$TS_TMP/go" "$TS_TMP/failed"
	for f in $TS_PATHS_FAMILIES; do
		# shellcheck disable=SC2046
		/usr/bin/ip netns exec "$ns" "$TS_PATHS" --path preopen $(paths_args preopen $f) \
			--bytes "$TS_PATHS_BYTES" --reply-bytes "$TS_PATHS_BYTES" --go-file "$TS_TMP/go" \
			>"$TS_TMP/preopen.$f" 2>&1 &
		pids="$pids $!"
	done
	for i in $(seq 1 300); do
		[ "$(cat "$TS_TMP"/preopen.* 2>/dev/null | grep -c '^ready$')" = "$(echo $TS_PATHS_FAMILIES | wc -w)" ] &&
			break
		sleep 0.1
	done
	# The families run at the same time (concurrent connections, and less time in a
	# guest); each moves its paths one after the other.
	{
		echo '#!/bin/sh'
		echo "touch '$TS_TMP/go'"
		for f in $TS_PATHS_FAMILIES; do
			echo "("
			for p in $PATHS; do
				case $p in preopen) continue ;; esac
				if [ $p = long ]; then
					echo "out=\$(/usr/bin/ip netns exec $ns '$TS_STREAM' $(paths_args $p $f) --seconds $TS_PATHS_LONG) || exit 1"
				else
					echo "out=\$(/usr/bin/ip netns exec $ns '$TS_PATHS' --path $p $(paths_args $p $f) --bytes $TS_PATHS_BYTES --reply-bytes $((TS_PATHS_BYTES / 3))) || exit 1"
				fi
				echo "echo \"$f $p \$out\" >>'$TS_TMP/moved'"
			done
			echo ") || echo $f >>'$TS_TMP/failed' &"
		done
		echo "wait"
		echo "[ -s '$TS_TMP/failed' ] && exit 1"
		echo "wait_s=0"
		echo "while [ \$(grep -c '^path=preopen' $TS_TMP/preopen.*  | awk -F: '{ n += \$NF } END { print n }') -lt $(echo $TS_PATHS_FAMILIES | wc -w) ] && [ \$wait_s -lt 600 ]; do sleep 0.1; wait_s=\$((wait_s + 1)); done"
	} >"$TS_TMP/run-paths"
	chmod +x "$TS_TMP/run-paths"
	"$TS_PROBE" "$conf" --read-every 100 -- "$TS_TMP/run-paths" >"$TS_TMP/got" 2>"$TS_TMP/err" ||
		rc=$?
	touch "$TS_TMP/go" # ts-probe failed early: release the preopen connections
	# Only these: the qemu guest has other children (relays) that never end.
	# shellcheck disable=SC2086
	wait $pids
	for f in $TS_PATHS_FAMILIES; do
		grep "^path=preopen" "$TS_TMP/preopen.$f" | sed "s/^/$f preopen /" >>"$TS_TMP/moved" ||
			echo "preopen $f: $(cat "$TS_TMP/preopen.$f")" >>"$TS_TMP/err"
	done
	return $rc
}

# paths_check WHAT ACCOUNTING: every subnet's rx/tx against the ground truth in
# $TS_TMP/moved; lost-events 0 (or RTT samples only: ts_check_lost). PATHS_BAD gets "PATH-FAMILY" of every mismatch.
# Socket accounting: rx/tx are what the peers' applications read and wrote, whatever
# moved them; after the reset: what the server's kernel received and the client's
# acknowledged (= what the server read, also after the RST). Syscall accounting, the
# known behaviour: splice from a socket is no receive call and is not counted (rx 0 on
# both ends), the reset counts what the client wrote, unsent bytes included.
paths_check() {
	local what=$1 acct=$2 f p out c2s s2c srx stx crx ctx got end
	PATHS_BAD=""
	while read -r f p out; do
		c2s=$(ts_field "$out" c2s) s2c=$(ts_field "$out" s2c)
		# The client's socket counts against the server's subnet and the other way round.
		srx=$s2c stx=$c2s crx=$c2s ctx=$s2c
		if [ "$acct" = syscall ]; then
			case $p in
			splice-in) srx=0 crx=0 ;;
			reset) stx=$(ts_field "$out" written) crx=$(ts_field "$out" read) ;;
			esac
		fi
		[ -n "$c2s" ] && [ -n "$s2c" ] || { ts_fail "$what: $p $f: bad output '$out'"; continue; }
		for end in "s $srx $stx" "c $crx $ctx"; do
			set -- $end
			got=$(awk -v s="$p-$f-$1" '$1 == s && $2 == "if_octets" { print $3, $4 }' "$TS_TMP/got")
			if [ "$got" = "$2 $3" ]; then
				ts_pass "$what: $p $f ($1) rx tx = $got"
			else
				ts_fail "$what: $p $f ($1): want rx tx '$2 $3', got '$got'"
				PATHS_BAD="$PATHS_BAD $p-$f"
			fi
		done
	done <"$TS_TMP/moved"
	for f in $TS_PATHS_FAMILIES; do
		for p in $PATHS; do
			grep -q "^$f $p " "$TS_TMP/moved" ||
				{ ts_fail "$what: $p $f did not run"; PATHS_BAD="$PATHS_BAD $p-$f"; }
		done
	done
	ts_check_lost "$what"
}
