#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# RTTBuckets and RTTBucketWidth in a real collectd: three daemons (the plugin and the
# csv writer each) count the same traffic over a tun relay with a known RTT, one with
# the default buckets, one with "RTTBuckets false", one with "RTTBucketWidth 3".
# - the bucket files are exactly the documented ones: the 27 log2 slots, none, and the
#   9 merged buckets named rtt-<lo>_<hi>; percentiles, averages and rtt-samples are
#   there in all three;
# - in each daemon and each interval the buckets hold exactly the interval's RTT
#   samples (rtt-samples' change), and their rates x the interval add up to them;
# - over the run, every coarse bucket holds exactly the samples of the fine slots it
#   merges, and all three counted the same samples; the relay's RTT (about 10 ms) and
#   loopback's (tens of microseconds, a connection inside one namespace) fill buckets
#   far apart.
# Run time: about 15 s.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
ts_require_bpf
ts_tmpdir
[ -c /dev/net/tun ] || ts_skip "/dev/net/tun is missing"
[ -x /usr/bin/python3 ] || ts_skip "python3 is missing"

# Clients 198.18.208.1 / 2001:db8:208:1::1, servers 198.18.209.1 / 2001:db8:208:2::1,
# 5 ms each way.
nc=tsbc$$
nsv=tsbs$$
ts_delay_link tsbd$$ "$nc" 198.18.208.1 2001:db8:208:1::1 "$nsv" 198.18.209.1 \
	2001:db8:208:2::1 5
# Both ends of a loopback connection in "servers": RTTs of microseconds.
nl=tsbl$$
ts_netns "$nl" 198.18.209.5 198.18.209.6
for v in default off width3; do
	cat >"$TS_TMP/block.$v" <<'CONF'
  Subnet "198.18.208.0/24"
  <Subnet "servers">
    Prefix "198.18.209.0/24"
    Prefix "2001:db8:208:2::/64"
  </Subnet>
CONF
done
echo '  RTTBuckets false' >>"$TS_TMP/block.off"
echo '  RTTBucketWidth 3' >>"$TS_TMP/block.width3"

pids=""
for v in default off width3; do
	ts_collectd_conf "$TS_TMP/$v" "$TS_TMP/block.$v"
	ts_collectd_start "$TS_TMP/$v"
	pids="$pids $TS_COLLECTD_PID"
done
for v in default off width3; do
	ts_wait_file "$TS_TMP/$v/csv/tstest/tcpsubnet-servers/if_octets-*" 20 ||
		{ ts_fail "$v: no tcpsubnet values after 20 s: $(cat "$TS_TMP/$v/collectd.log")"; exit 1; }
done
sleep 1.2
for f in "198.18.209.1 600011 200003" "2001:db8:208:2::1 400009 100019"; do
	# shellcheck disable=SC2086
	set -- $f
	line=$("$TS_TRAFFIC" --server-netns "$nsv" --client-netns "$nc" --listen "$1" \
		--connect "$1" --bytes "$2" --reply-bytes "$3") || { ts_fail "traffic to $1 failed"; exit 1; }
	echo "moved: $1 $line"
	sleep 1.1
done
line=$(ip netns exec "$nl" "$TS_TRAFFIC" --listen 198.18.209.5 --connect 198.18.209.5 \
	--bind 198.18.209.6 --bytes 3000017 --reply-bytes 1000003) || ts_fail "loopback traffic failed"
echo "moved: loopback $line"
# Every daemon reads once more after the traffic, then stops.
sleep 2.2
for p in $pids; do
	TS_COLLECTD_PID=$p
	ts_collectd_stop
done
for v in default off width3; do
	if grep -qi "error\|failed" "$TS_TMP/$v/collectd.log"; then
		ts_fail "$v: errors in collectd's log: $(grep -i "error\|failed" "$TS_TMP/$v/collectd.log" | head -n 3)"
	fi
done

/usr/bin/python3 - "$TS_TMP" <<'PY' || TS_FAILS=$((TS_FAILS + 1))
import glob, math, os, re, sys

top = sys.argv[1]
fails = 0


def check(cond, msg):
    global fails
    print(("ok: " if cond else "FAIL: ") + msg)
    fails += 0 if cond else 1


def rows(path):
    out = []
    for p in sorted(glob.glob(path + "-2*")):
        for line in open(p):
            if not line.startswith("epoch"):
                f = line.strip().split(",")
                out.append((float(f[0]), [float(x) for x in f[1:]]))
    return sorted(out)


def files(v, inst, prefix):
    d = os.path.join(top, v, "csv", "tstest", "tcpsubnet-" + inst)
    return sorted({re.sub(r"-\d{4}-\d\d-\d\d$", "", os.path.basename(p))[len(prefix):]
                   for p in glob.glob(os.path.join(d, prefix + "*"))})


def g(x):
    return "%g" % x


def bounds(lo_slot, end_slot):
    lo = 0.0 if lo_slot == 0 else 2.0 ** lo_slot * 1e-6
    hi = "inf" if end_slot >= 27 else g(2.0 ** end_slot * 1e-6)
    return "rtt-%s_%s" % (g(lo), hi)


# The documented names (README, man page): slot i = [2^i, 2^(i+1)) us, slot 0 from 0,
# top slot open; RTTBucketWidth w merges slots [j w, (j + 1) w).
fine = [bounds(i, i + 1) for i in range(27)]
coarse = [bounds(3 * j, 3 * j + 3) for j in range(9)]
want = {"default": fine, "off": [], "width3": coarse}
samples = {}
totals = {}
for v in ("default", "off", "width3"):
    for inst in ("servers", "198.18.208.0_24"):
        d = os.path.join(top, v, "csv", "tstest", "tcpsubnet-" + inst)
        names = files(v, inst, "bucket-")
        check(sorted(names) == sorted(want[v]), "%s %s: %d bucket files %s" % (
            v, inst, len(names), " ".join(names[:3]) + (" ..." if len(names) > 3 else "")))
        lat = files(v, inst, "latency-")
        check(lat == ["rtt-average", "rtt-percentile-50", "rtt-percentile-90",
                      "rtt-percentile-99"], "%s %s: latency files %s" % (v, inst, lat))
        srows = rows(os.path.join(d, "derive-rtt-samples"))
        check(srows and srows[-1][1][0] > 0, "%s %s: %d RTT samples" % (
            v, inst, srows[-1][1][0] if srows else 0))
        samples[(v, inst)] = srows[-1][1][0] if srows else None
        if not names:
            continue
        # Per interval: the buckets' shares are exact (one elapsed time divides them
        # all), so count = rate / sum(rates) x the interval's samples is an integer,
        # and rate x interval must add up to those samples.
        brows = {b: dict((t, x[0]) for t, x in rows(os.path.join(d, "bucket-" + b)))
                 for b in names}
        prev_t, prev_n, bad, tot = None, 0.0, [], {b: 0 for b in names}
        for t, x in srows:
            dn = x[0] - prev_n
            rates = {b: brows[b].get(t) for b in names}
            if None in rates.values():
                bad.append((t, "a bucket value is missing"))
            else:
                s = sum(rates.values())
                for b, r in rates.items():
                    c = r / s * dn if s > 0 else 0.0
                    if abs(c - round(c)) > 1e-3:
                        bad.append((t, b, c))
                    tot[b] += int(round(c))
                if dn > 0 and (s == 0 or abs(s * (t - prev_t) - dn) > 0.01 * dn + 0.5):
                    bad.append((t, "rate x interval", s * (t - prev_t), dn))
            prev_t, prev_n = t, x[0]
        check(not bad and sum(tot.values()) == samples[(v, inst)],
              "%s %s: in each of %d intervals the buckets hold the interval's samples "
              "(%d in all)%s" % (v, inst, len(srows), sum(tot.values()),
                                 "" if not bad else "; not: %s" % bad[:3]))
        totals[(v, inst)] = tot

for inst in ("servers", "198.18.208.0_24"):
    n = {v: samples[(v, inst)] for v in ("default", "off", "width3")}
    check(len(set(n.values())) == 1, "%s: the three daemons counted the same RTT samples %s"
          % (inst, n))
    f, c = totals.get(("default", inst)), totals.get(("width3", inst))
    if f is None or c is None:
        check(False, "%s: no bucket totals" % inst)
        continue
    merged = {coarse[j]: sum(f[fine[i]] for i in range(3 * j, 3 * j + 3)) for j in range(9)}
    check(merged == c, "%s: each of the 9 coarse buckets holds exactly its 3 slots' samples "
          "%s" % (inst, {b: n for b, n in c.items() if n}))
    # 5 ms each way: RTT samples at 8.192 ms or more, in the merged bucket
    # [4.096, 32.768) ms; "servers" also has loopback's, below 512 us.
    relay = sum(n for b, n in f.items() if float(b.split("_")[0][4:]) >= 0.008192)
    fast = sum(n for b, n in c.items() if b.split("_")[1] != "inf" and
               float(b.split("_")[1]) <= 0.000512)
    check(relay >= 100 and c["rtt-0.004096_0.032768"] >= relay and
          (inst != "servers" or fast >= 20),
          "%s: %d samples at the relay's RTT (fine), %d in rtt-0.004096_0.032768, %d below "
          "512 us (coarse)" % (inst, relay, c["rtt-0.004096_0.032768"], fast))
sys.exit(1 if fails else 0)
PY

[ "$TS_FAILS" = 0 ] || exit 1
echo "PASS: RTT bucket values on, off and merged, exactly the samples counted"
