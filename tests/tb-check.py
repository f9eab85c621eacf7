# SPDX-License-Identifier: GPL-2.0-only
"""Checks of the end-to-end backend tests against the traffic they moved.

Called by tests/e2e-graphite.sh, tests/e2e-influxdb.sh and tests/e2e-prometheus.sh
(Debian's /usr/bin/python3, which sees Debian's whisper and graphite-web modules):

  tb-check.py whisper-settle WHISPER-DIR SECONDS
  tb-check.py graphite WHISPER-DIR CSV-DIR EXPECT DOCS
  tb-check.py graphite-dashboard DASHBOARD WHISPER-DIR WORK-DIR CSV-DIR EXPECT
  tb-check.py influx-query PORT DB STATEMENT
  tb-check.py influx-wait PORT EXPECT SECONDS
  tb-check.py influx-wait-rows PORT DB QUERY ROWS SECONDS
  tb-check.py influx-storerates-false PORT
  tb-check.py influx PORT CSV-DIR EXPECT DOCS
  tb-check.py influx-dashboard DASHBOARD PORT EXPECT
  tb-check.py prom-scrape PORT FILE
  tb-check.py prom-scrape-until PORT FILE STOPFILE
  tb-check.py prom-wait-up PORT SECONDS JOB...
  tb-check.py prom-wait PORT EXPECT SECONDS JOB...
  tb-check.py prom PORT CSV-DIR EXPECT DOCS EXPOSITION TARGET
  tb-check.py prom-dashboard DASHBOARD PORT EXPECT START
  tb-check.py prom-storerates EXPOSITION-RATES EXPOSITION INSTANCE TX RX
  tb-check.py fleet PORT WHISPER-DIR CSV-DIR EXPECT DOCS WORK-DIR
  tb-check.py proc-usage PID NAME
  tb-check.py store-usage PORT INFLUX-DIR WHISPER-DIR
  tb-check.py agent-usage CSV-HOST-DIR

EXPECT holds "INSTANCE KEY VALUE" lines (tests/backends.sh: tb_traffic): the bytes,
connections and retransmitted segments moved per subnet, exactly, and "rtt", "rtt-min",
"rtt-max": the mean, least and largest TCP_INFO RTT in seconds of the sockets that
sampled the subnet. A fleet's EXPECT (tests/e2e-fleet.sh) has "HOST INSTANCE KEY VALUE"
lines instead, the counters only; the dashboard checks take either. CSV-DIR is the folder
collectd's csv writer filled in the same run (absolute values, millisecond times): it
gives the exact time of every reading, which Graphite's one-second slots round off.

Every check prints "ok: ..." or "FAIL: ..."; the exit status is 1 if any failed.
"""
import glob
import json
import math
import os
import re
import sys
import time
import urllib.parse
import urllib.request

HOST = "tstest"
FAILS = 0

# Keys of EXPECT that are cumulative counters in collectd (DERIVE), with the collectd
# type and type instance that carry them.
COUNTERS = {
    "rx": ("if_octets", ""),
    "tx": ("if_octets", ""),
    "opened-active": ("connections", "opened-active"),
    "opened-passive": ("connections", "opened-passive"),
    "closed": ("connections", "closed"),
    "retransmit-segments": ("derive", "retransmit-segments"),
}
PERCENTILES = (50, 90, 99)
RTT_KEYS = ["rtt-average"] + ["rtt-percentile-%d" % p for p in PERCENTILES]


def ok(msg):
    print("ok: " + msg)


def fail(msg):
    global FAILS
    FAILS += 1
    print("FAIL: " + msg)


def check(cond, msg):
    if cond:
        ok(msg)
    else:
        fail(msg)
    return cond


def close(got, want, rel, absolute=0.0):
    return got is not None and abs(got - want) <= rel * abs(want) + absolute


def read_expect_hosts(path):
    """{host: {instance: {key: value}}} of a fleet's EXPECT, or of a one-host EXPECT
    (three columns: the host is HOST)."""
    exp = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            host, inst, key, val = parts if len(parts) == 4 else [HOST] + parts
            exp.setdefault(host, {}).setdefault(inst, {})[key] = float(val)
    return exp


def fleet_sum(by_host):
    """{instance: {key: sum over hosts}}."""
    out = {}
    for exp in by_host.values():
        for inst, keys in exp.items():
            for k, v in keys.items():
                out.setdefault(inst, {})[k] = out.get(inst, {}).get(k, 0.0) + v
    return out


def top_hosts(by_host, inst, key, n):
    """The n hosts with the most of key in inst, most first (the ground truth)."""
    return sorted(by_host, key=lambda h: -by_host[h].get(inst, {}).get(key, 0.0))[:n]


# Grafana variable $top of the dashboards: what the checks set it to.
TOP = 2


def read_expect(path):
    exp = {}
    with open(path) as f:
        for line in f:
            inst, key, val = line.split()
            exp.setdefault(inst, {})[key] = float(val)
    return exp


# ---- collectd's csv files: exact reading times ----

def csv_rows(csv_dir, inst, name):
    """[(time, [values...])] of csv file(s) INSTANCE/NAME-DATE, oldest first."""
    rows = []
    pattern = os.path.join(csv_dir, HOST, "tcpsubnet-" + inst, name + "-2*")
    for path in sorted(glob.glob(pattern)):
        with open(path) as f:
            for line in f:
                if line.startswith("epoch"):
                    continue
                parts = line.strip().split(",")
                rows.append((float(parts[0]), [float(x) for x in parts[1:]]))
    rows.sort()
    return rows


def cycle_starts(csv_dir):
    """Times of the read cycles: each cycle dispatches "other" first (index 0), right
    after the plugin took its time, and then the subnets' values, each stamped by
    collectd as it is dispatched: on a busy host tens of ms later. The gauges (RTT
    buckets: samples per second) were divided by the plugin's interval, which these
    times follow best."""
    return csv_rows(csv_dir, "other", "if_octets")


def csv_name(ctype, tinst):
    return ctype + ("-" + tinst if tinst else "")


def bucket_names(csv_dir, inst):
    """The bucket type instances the plugin dispatched (rtt-LO_HI), from csv files."""
    names = set()
    for path in glob.glob(os.path.join(csv_dir, HOST, "tcpsubnet-" + inst, "bucket-rtt-*")):
        names.add(re.sub(r"^bucket-(.*)-\d{4}-\d\d-\d\d$", r"\1", os.path.basename(path)))
    return sorted(names)


def bucket_bounds(name):
    """(lo, hi) in seconds of a bucket type instance rtt-LO_HI (HI may be inf). The name
    has the bounds as %g, six digits (rtt-0.524288_1.04858); the slots are powers of two
    in microseconds (README), so they are snapped back to the exact value."""
    def exact(x):
        if x == 0 or math.isinf(x):
            return x
        return 2.0 ** round(math.log2(x * 1e6)) / 1e6
    lo, hi = name[len("rtt-"):].split("_")
    return exact(float(lo)), exact(float(hi))


def percentile_from_buckets(rates, pct):
    """The plugin's interpolated percentile (plugin/tshist.c) recomputed from one
    interval's bucket values {rtt-LO_HI: samples/s}: the rank's share of its slot does
    not depend on the interval's length, so rates do as well as counts."""
    slots = sorted((bucket_bounds(b), n) for b, n in rates.items())
    total = sum(n for _b, n in slots)
    if total <= 0:
        return None
    rank, below = pct / 100.0 * total, 0.0
    for (lo, hi), n in slots:
        if n == 0:
            continue
        if below + n < rank * (1 - 1e-12):
            below += n
            continue
        return lo if math.isinf(hi) else lo + (hi - lo) * min(1.0, (rank - below) / n)
    return None


# The relay holds every packet 5 ms each way (tests/backends.sh: tb_link), so no RTT
# sample can be below 10 ms: every sample must lie in the slot [8.192, 16.384) ms or
# above.
RTT_FLOOR = 0.008192


def check_rtt(where, exp, per_key, buckets_at, dt_at, at):
    """per_key: {rtt-...: {time: value}} of one subnet; buckets_at(t): candidates (most
    likely first) for {bucket: rate} of the interval of the reading at t; dt_at(t) that
    interval's length in seconds; at(series, t) a series' value in that interval.
    - every percentile is the one its interval's buckets give (what the heatmap shows:
      the documented interpolation, exactly), p50 <= p90 <= p99, and every average lies
      within its interval's non-empty buckets;
    - no sample below the relay's 10 ms;
    - over the whole run the median lies within the documented factor of 2 of the
      sockets' TCP_INFO RTT (least / 2 .. largest x 2 of the connections). Single
      intervals can be far off: a burst fills the relay's queue and the RTT really grows
      for a while, which the end-of-connection TCP_INFO figures need not show."""
    def matching(t, p, v):
        for cand in buckets_at(t):
            want = percentile_from_buckets(cand, p)
            if want is not None and close(v, want, 1e-6):
                return cand
        return None

    n, bad, skipped = 0, [], 0
    for p in PERCENTILES:
        for t, v in sorted(per_key["rtt-percentile-%d" % p].items()):
            if not buckets_at(t):
                skipped += 1  # that interval's buckets were overwritten
                continue
            n += 1
            if matching(t, p, v) is None:
                bad.append((p, t, v, percentile_from_buckets(buckets_at(t)[0], p)))
    check(n and not bad, "%s: all %d percentiles (p50 %s, p99 %s s) are those of their "
          "interval's buckets%s%s" % (where, n, fmt_range(per_key["rtt-percentile-50"]),
                                      fmt_range(per_key["rtt-percentile-99"]),
                                      " (%d not comparable)" % skipped if skipped else "",
                                      "" if not bad else "; not: %s" % bad[:3]))
    p50, p90, p99 = (per_key["rtt-percentile-%d" % p] for p in PERCENTILES)
    order = [t for t in p50 if not p50[t] <= (at(p90, t) or 0) <= (at(p99, t) or 0)]
    check(p50 and not order, "%s: p50 <= p90 <= p99 in each of %d intervals" % (where, len(p50)))
    counts, odd = {}, []
    for t, v in p50.items():
        if not buckets_at(t):
            continue
        b_t = matching(t, 50, v) or buckets_at(t)[0]
        for b, rate in b_t.items():
            counts[b] = counts.get(b, 0.0) + rate * dt_at(t)
        used = [bucket_bounds(b) for b, rate in b_t.items() if rate > 0]
        avg = at(per_key["rtt-average"], t)
        if avg is None or not used or not (min(used)[0] <= avg <= max(u[1] for u in used)):
            odd.append((t, avg))
    check(not odd, "%s: every interval's average (%s s) lies within its buckets%s"
          % (where, fmt_range(per_key["rtt-average"]), "" if not odd else "; not: %s" % odd[:3]))
    low = sum(c for b, c in counts.items() if bucket_bounds(b)[1] <= RTT_FLOOR)
    check(counts and low == 0, "%s: %.0f samples, none below the relay's 10 ms" %
          (where, sum(counts.values())))
    run_p50 = percentile_from_buckets(counts, 50)
    lo, hi = exp["rtt-min"], exp["rtt-max"]
    check(run_p50 and lo / 2 <= run_p50 <= hi * 2,
          "%s: whole run p50 %s s; TCP_INFO rtt of its sockets %.6f .. %.6f s"
          % (where, run_p50 and "%.6f" % run_p50, lo, hi))


def fmt_range(series):
    vals = sorted(series.values())
    return "%.6f..%.6f" % (vals[0], vals[-1]) if vals else "none"


# ---- docs/backends.md: the documented names, expanded for this run ----

def docs_block(docs, tag):
    """Lines of the fenced block that follows '<!-- check: TAG -->' in the docs."""
    text = open(docs).read()
    m = re.search(r"<!-- check: " + re.escape(tag) + r" -->\s*```[a-z]*\n(.*?)```", text, re.S)
    if not m:
        fail("docs: no block '<!-- check: %s -->' in %s" % (tag, docs))
        return []
    return [ln.strip() for ln in m.group(1).splitlines() if ln.strip()]


def docs_table(docs, tag):
    """Rows (lists of cells, backticks removed) of the table after '<!-- check: TAG -->'."""
    text = open(docs).read()
    m = re.search(r"<!-- check: " + re.escape(tag) + r" -->\s*\n((?:\|.*\n)+)", text)
    if not m:
        fail("docs: no table '<!-- check: %s -->' in %s" % (tag, docs))
        return []
    rows = []
    for line in m.group(1).splitlines()[2:]:
        rows.append([c.strip().strip("`") for c in line.strip().strip("|").split("|")])
    return rows


def expand(templates, subst):
    """Expands <host>, <subnet>, <N> and <lo>_<hi> in every template line."""
    out = set()
    for t in templates:
        variants = [t.replace("<host>", HOST).replace("<subnet>", subst["subnet"])]
        if "<N>" in t:
            variants = [v.replace("<N>", str(p)) for v in variants for p in PERCENTILES]
        if "<lo>_<hi>" in t:
            variants = [v.replace("<lo>_<hi>", b) for v in variants for b in subst["buckets"]]
        out.update(variants)
    return out


# ---- Graphite ----

GRAPHITE_FORBIDDEN = " \t\"\\:!,/()\n\r"


def graphite_escape(s, esc):
    """What write_graphite makes of one identifier part (format_graphite.c, 5.12):
    '.' becomes the escape character, and so does every character Graphite forbids."""
    return "".join(esc if (c == "." or c in GRAPHITE_FORBIDDEN or c.isspace()) else c
                   for c in s)


# The write_graphite nodes of tests/e2e-graphite.sh: name -> (Prefix, EscapeCharacter,
# SeparateInstances, AlwaysAppendDS). "raw" has StoreRates false, the others the default.
NODES = {
    "default": ("", "_", False, False),
    "raw": ("raw.", "_", False, False),
    "sep": ("sep.", "_", True, False),
    "esc": ("esc.", "-", False, False),
    "ds": ("ds.", "_", False, True),
}


def graphite_path(node, inst, ctype, tinst, ds=None):
    prefix, esc, separate, always_ds = NODES[node]
    glue = "." if separate else "-"
    plugin = "tcpsubnet" + glue + graphite_escape(inst, esc)
    typ = ctype + (glue + graphite_escape(tinst, esc) if tinst else "")
    path = prefix + HOST + "." + plugin + "." + typ
    if ds is None and always_ds:
        ds = "value"
    return path + ("." + ds if ds else "")


class Whisper:
    def __init__(self, top):
        import whisper
        self.whisper = whisper
        self.top = top

    def paths(self):
        out = set()
        for root, _dirs, files in os.walk(self.top):
            for f in files:
                if f.endswith(".wsp"):
                    rel = os.path.relpath(os.path.join(root, f[:-4]), self.top)
                    out.add(rel.replace(os.sep, "."))
        return out

    def series(self, path):
        """{second: value} of the non-empty slots of a metric (None if no file)."""
        f = os.path.join(self.top, *path.split(".")) + ".wsp"
        if not os.path.exists(f):
            return None
        (start, _end, step), vals = self.whisper.fetch(f, 0)
        return {start + i * step: v for i, v in enumerate(vals)
                if v is not None and not math.isnan(v)}


def slot_of(t):
    """The whisper slot of a reading: write_graphite sends CDTIME_T_TO_TIME_T(time),
    which rounds to the nearest second."""
    return int(math.floor(t + 0.5))


def rate_integral(rates, rows, col, gauge=False):
    """Sum of rate x interval over the readings of a csv file, with the rates Graphite
    kept (one a second) and each reading's exact interval from the csv time. Normally
    there is one point per reading (none for the first DERIVE reading, whose rate is
    nan): they pair in order. Otherwise two readings fell into one second (collectd's
    timer phase near x.5 s, where write_graphite's rounding to the second splits them)
    and pairing goes by second; a reading whose slot a later one overwrote counts with
    its own csv difference. Returns (sum, points used, overwritten readings)."""
    pts = [rates[t] for t in sorted(rates)]
    off = 0 if gauge else 1
    if len(pts) == len(rows) - off:
        return (sum(pts[i - off] * (rows[i][0] - rows[i - 1][0]) for i in range(1, len(rows))),
                len(rows) - 1, 0)
    total, used, collisions = 0.0, 0, 0
    for i in range(1, len(rows)):
        t, v = rows[i]
        dt = t - rows[i - 1][0]
        slot = slot_of(t)
        if i + 1 < len(rows) and slot_of(rows[i + 1][0]) == slot:
            if not gauge:
                total += v[col] - rows[i - 1][1][col]
            collisions += 1
            continue
        if slot in rates:
            total += rates[slot] * dt
            used += 1
    return total, used, collisions


def graphite_check(wdir, csv_dir, expect_file, docs):
    w = Whisper(wdir)
    exp = read_expect(expect_file)
    insts = sorted(exp)
    have = w.paths()
    buckets = bucket_names(csv_dir, "clients")
    check(len(buckets) == 27, "27 RTT buckets dispatched: %s ... %s" % (buckets[0], buckets[-1]))
    cycles = cycle_starts(csv_dir)
    dt_of = {slot_of(cycles[i][0]): cycles[i][0] - cycles[i - 1][0]
             for i in range(1, len(cycles))}
    # Seconds that two read cycles shared (collectd keeps its schedule, so a late read
    # is followed by one within the same second): Graphite kept only the later one.
    shared = {slot_of(cycles[i][0]) for i in range(len(cycles) - 1)
              if slot_of(cycles[i][0]) == slot_of(cycles[i + 1][0])}
    if shared:
        print("note: %d seconds held two read cycles; Graphite kept one of each" % len(shared))

    # -- the documented names --
    for row in docs_table(docs, "names"):
        name, inst, g_default, g_dash, influx = row[:5]
        check(inst in exp, "docs names: Subnet %s is plugin_instance %s" % (name, inst))
        for node, want in (("default", g_default), ("esc", g_dash)):
            p = "%s%s.tcpsubnet-%s.if_octets.rx" % (NODES[node][0], HOST, want)
            check(p in have, "docs names: %s -> Graphite %s (%s)" % (name, want, p))
    for node, (prefix, esc, _sep, _ds) in NODES.items():
        templates = docs_block(docs, "graphite " + node)
        for inst in insts:
            s = {"subnet": graphite_escape(inst, esc),
                 "buckets": [graphite_escape(b[len("rtt-"):], esc) for b in buckets]}
            want = {prefix + p for p in expand(templates, s)}
            plugin = prefix + HOST + ".tcpsubnet" + ("." if _sep else "-") + s["subnet"] + "."
            got = {p for p in have if p.startswith(plugin)}
            if want == got:
                ok("node %s, %s: the %d documented paths, no others (e.g. %s)"
                   % (node, inst, len(got), sorted(got)[len(got) // 2]))
            else:
                fail("node %s, %s: documented but missing %s; present but undocumented %s"
                     % (node, inst, sorted(want - got)[:5], sorted(got - want)[:5]))

    # -- StoreRates false: every reading as collectd had it, the last = what moved --
    for inst in insts:
        for key, (ctype, tinst) in COUNTERS.items():
            col = 1 if key == "tx" else 0
            ds = key if ctype == "if_octets" else None
            raw = w.series(graphite_path("raw", inst, ctype, tinst, ds)) or {}
            got = [raw[t] for t in sorted(raw)]
            csv = [v[col] for _t, v in csv_rows(csv_dir, inst, csv_name(ctype, tinst))]
            # In order, the same values; fewer only where two readings shared a second
            # (then the later one is kept: got must be a subsequence ending the same).
            it = iter(csv)
            subseq = all(any(g == c for c in it) for g in got)
            want = exp[inst][key]
            check(got and got[-1] == want and csv[-1] == want and subseq
                  and len(got) >= len(csv) - len(shared) - 1,
                  "StoreRates false: %s %s = %s (moved %d); %d of %d readings as in the csv"
                  % (inst, key, got[-1] if got else None, want, len(got), len(csv)))

    # -- StoreRates true: rate x interval adds up to what moved --
    for inst in insts:
        for key, (ctype, tinst) in COUNTERS.items():
            col = 1 if key == "tx" else 0
            ds = key if ctype == "if_octets" else None
            rates = w.series(graphite_path("default", inst, ctype, tinst, ds)) or {}
            rows = csv_rows(csv_dir, inst, csv_name(ctype, tinst))
            total, used, coll = rate_integral(rates, rows, col)
            want = exp[inst][key]
            check(close(total, want, 0.01, 0.05) and used >= len(rows) - 1 - coll,
                  "StoreRates true: %s %s: sum of rate x interval %.2f over %d readings "
                  "(%d shared a second), moved %d" % (inst, key, total, used, coll, want))

    # -- RTT: percentiles, average, buckets --
    for inst in insts:
        per_key = {k: w.series(graphite_path("default", inst, "latency", k)) or {}
                   for k in RTT_KEYS}
        per_bucket = {b: w.series(graphite_path("default", inst, "bucket", b)) or {}
                      for b in buckets}
        check_rtt(inst, exp[inst], per_key,
                  # One cycle's values are dispatched over a ms or so, each stamped
                  # with its own time: rarely they straddle a second (a neighbour slot).
                  lambda t, pb=per_bucket: [] if t in shared else [
                      {b: s.get(u, 0.0) for b, s in pb.items()} for u in (t, t - 1, t + 1)],
                  lambda t: dt_of.get(t, 1.0), lambda series, t: series.get(t))
        # Samples per second x the cycle's interval adds up to the samples counted
        # (over the cycles Graphite kept).
        rows = csv_rows(csv_dir, inst, "derive-rtt-samples")
        samples = rows[-1][1][0] if rows else 0
        if not shared:
            got = sum(rate_integral(s, cycles, 0, gauge=True)[0]
                      for s in per_bucket.values() if s)
        else:
            got, samples = 0.0, 0
            for i in range(1, min(len(cycles), len(rows))):
                slot = slot_of(cycles[i][0])
                if slot in shared and slot_of(cycles[i - 1][0]) != slot:
                    continue  # overwritten by the next cycle
                got += sum(s.get(slot, 0.0) for s in per_bucket.values()) * dt_of[slot]
                samples += rows[i][1][0] - rows[i - 1][1][0]
        check(samples > 0 and close(got, samples, 0.005, 1),
              "%s buckets: %.1f samples (rate x interval), rtt-samples %d"
              % (inst, got, samples))

    # -- the option nodes carry the same values as the default node --
    for node in ("sep", "esc", "ds"):
        diffs, n = [], 0
        for inst in insts:
            for ctype, tinst, ds in ([("if_octets", "", "rx"), ("if_octets", "", "tx")]
                                     + [(COUNTERS[k][0], COUNTERS[k][1], None)
                                        for k in COUNTERS if k not in ("rx", "tx")]
                                     + [("latency", k, None) for k in RTT_KEYS]
                                     + [("bucket", b, None) for b in buckets]):
                a = w.series(graphite_path("default", inst, ctype, tinst, ds))
                b = w.series(graphite_path(node, inst, ctype, tinst, ds))
                n += 1
                if a != b:
                    diffs.append(graphite_path(node, inst, ctype, tinst, ds))
        check(not diffs, "node %s: %d series equal to the default node's%s"
              % (node, n, "" if not diffs else ", not: %s" % diffs[:3]))


# ---- Grafana dashboards ----

def dashboard_panels(dash):
    """Every panel with targets, rows' collapsed panels included."""
    out = []
    for p in dash.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return [p for p in out if p.get("targets")]


def panel_renames(panel):
    """A panel's "Rename by regex" transformations as (regex, replacement)."""
    return [(re.compile(x["options"]["regex"]),
             re.sub(r"\$(\d)", r"\\\1", x["options"]["renamePattern"]))
            for x in panel.get("transformations", []) if x["id"] == "renameByRegex"]


def renamed(label, renames):
    for rx, pat in renames:
        label = rx.sub(pat, label)
    return label


def dashboard_queries(dash, field, hosts, subnets, ctx, totals, run):
    """Runs every target of every panel as Grafana would: per-host panels once for each
    host, panels with $hosts (the fleet row) once for all hosts; with each subnet alone
    and, unless the panel repeats per subnet, with all. run(panel, target, host, subnets,
    fleet) returns the query's [(name, points)], or None when it failed. totals[host]
    (totals["*"] for the fleet) collects the one-subnet results. Returns the number of
    queries run."""
    n = 0
    for panel in dashboard_panels(dash):
        fleet = any("$hosts" in t[field] for t in panel["targets"])
        choices = [[s] for s in subnets]
        if not panel.get("repeat"):
            choices.append(subnets)
        for h in ["*"] if fleet else hosts:
            for choice in choices:
                for t in panel["targets"]:
                    if t.get("hide"):
                        continue
                    res = run(panel, t, hosts[0] if fleet else h, choice, fleet)
                    if res is None:
                        continue
                    n += 1
                    where = "panel '%s' %s (host %s, subnet %s)" % (
                        panel["title"], t["refId"], "(all)" if fleet else h, ",".join(choice))
                    check_panel_results(where, panel, res, ctx,
                                        totals[h] if len(choice) == 1 else {})
    return n


def substitute(text, values):
    for k in sorted(values, key=len, reverse=True):
        text = text.replace("${%s}" % k, values[k]).replace("$" + k, values[k])
    return text


def series_figures(panel, name, points, ctx):
    """Checks one series of a panel against the ground truth, by its display name:
    "SUBNET KEY" of a counter (its rate, summed over time, is what moved), "SUBNET rtt-..."
    (exactly values the backend holds for that subnet and figure: checked against
    TCP_INFO and the buckets above) or a number (a heatmap row)."""
    vals = [(t, v) for t, v in points if v is not None]
    if panel.get("type") == "heatmap":
        try:
            float(name)
            return True, None
        except ValueError:
            return False, "heatmap row '%s' is not a number" % name
    parts = name.split(" ")
    host = None
    if len(parts) == 3 and parts[0] in ctx.get("hosts", ()):
        host, parts = parts[0], parts[1:]  # a top-hosts panel: "HOST SUBNET KEY"
    if len(parts) != 2 or parts[0] not in ctx["inst_of"]:
        return False, "series '%s' is not named 'SUBNET WHAT'" % name
    inst, key = ctx["inst_of"][parts[0]], parts[1]
    if key in COUNTERS:
        # A host's own series: its own reading intervals where the backend has them.
        step = ctx.get("host_steps", {}).get(host, ctx["step_of"])
        total = sum(v * step(vals, i) for i, (t, v) in enumerate(vals))
        return None, ((host, inst) if host else inst, key, total)
    if key in RTT_KEYS:
        held = ctx["stored"](inst, key)
        odd = [v for _t, v in vals if not any(close(v, h, 1e-9) for h in held)]
        return (vals and not odd), "%s %s: values %s are not the backend's %s" % (
            inst, key, odd[:3], sorted(held)[:3])
    return False, "series '%s': unknown figure '%s'" % (name, key)


def check_panel_results(where, panel, results, ctx, totals):
    """results: [(name, [(t, v)])] of one query. Non-empty, values, right figures."""
    nonnull = [(n, p) for n, p in results if any(v is not None for _t, v in p)]
    if not check(nonnull, "%s: %d series with values" % (where, len(nonnull))):
        return
    names = []
    tops = {}
    for name, points in nonnull:
        good, info = series_figures(panel, name, points, ctx)
        names.append(name)
        if good is None:
            inst, key, total = info
            if isinstance(inst, tuple):  # top hosts: per host, and which hosts
                tops.setdefault((inst[1], key), []).append(inst[0])
                ctx["top_totals"].setdefault((inst[0], inst[1], key), total)
            else:
                totals.setdefault((inst, key), total)
        elif not good:
            fail("%s: %s" % (where, info))
    for (inst, key), hosts in sorted(tops.items()):
        want = top_hosts(ctx["by_host"], inst, key, TOP)
        check(sorted(hosts) == sorted(want), "%s: top %d hosts by %s of %s: %s (the ground "
              "truth's: %s)" % (where, TOP, key, inst, sorted(hosts), want))
    if panel.get("type") == "heatmap":
        numeric = [x for x in names if re.match(r"^[0-9.e+-]+$", x)]
        check(len(set(numeric)) == 27, "%s: 27 numeric rows %s .. %s"
              % (where, min(numeric, key=float, default=None),
                 max(numeric, key=float, default=None)))


def check_dashboard_totals(what, totals, top_totals, by_host, tol, fleet_tol):
    """totals: {host: {(inst, key): total}} of the per-host panels, "*" the fleet row's;
    top_totals: {(host, inst, key): total} of the top-hosts panels."""
    for h in sorted(by_host):
        check_totals("%s, host %s" % (what, h), totals[h], by_host[h], tol)
    check_totals("%s, fleet (%d hosts)" % (what, len(by_host)), totals["*"],
                 fleet_sum(by_host), fleet_tol, ("rx", "tx"))
    for (host, inst, key), total in sorted(top_totals.items()):
        want = by_host[host][inst][key]
        check(close(total, want, tol, 0.05), "%s: top hosts: %s %s %s adds up to %.2f over "
              "time; moved %d" % (what, host, inst, key, total, want))
    check(top_totals, "%s: a top-hosts panel has series" % what)


def check_totals(what, totals, exp, tol, keys=COUNTERS):
    for (inst, key), total in sorted(totals.items()):
        want = exp[inst][key]
        check(close(total, want, tol, 0.05),
              "%s: %s %s adds up to %.2f over time; moved %d" % (what, inst, key, total, want))
    missing = [(i, k) for i in exp for k in keys if (i, k) not in totals]
    check(not missing, "%s: every subnet's bytes, connections, retransmits are on a panel%s"
          % (what, "" if not missing else " (missing %s)" % missing[:4]))


def graphite_web(wdir, work):
    """Debian's graphite-web in this process (Django's test client: no server, no port),
    reading the test's whisper files: the render and find code Grafana calls."""
    with open(os.path.join(work, "tb_graphite_settings.py"), "w") as f:
        f.write("SECRET_KEY = 'tcpsubnet-test'\n"
                "GRAPHITE_ROOT = '/usr/share/graphite-web'\n"
                "CONF_DIR = STORAGE_DIR = LOG_DIR = %r\n"
                "INDEX_FILE = %r\n"
                "WHISPER_DIR = %r\n"
                "STANDARD_DIRS = [WHISPER_DIR]\n"
                "CARBONLINK_HOSTS = []\n"
                "ALLOWED_HOSTS = ['*']\n"
                "DATABASES = {'default': {'NAME': %r, "
                "'ENGINE': 'django.db.backends.sqlite3'}}\n"
                % (work, os.path.join(work, "index"), wdir, os.path.join(work, "graphite.db")))
    sys.path.insert(0, work)
    os.environ["GRAPHITE_SETTINGS_MODULE"] = "tb_graphite_settings"
    os.environ["DJANGO_SETTINGS_MODULE"] = "graphite.settings"
    import warnings
    warnings.simplefilter("ignore")
    import django
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    call_command("migrate", verbosity=0, interactive=False)  # graphite-web's user tables
    return Client()


def graphite_dashboard(dash_file, wdir, work, csv_dir, expect_file):
    """Every variable and target of the Graphite dashboard through graphite-web. Per-host
    panels run for each host of EXPECT and must show that host's totals; panels with
    $hosts (the fleet row) run with all of them and show the sums over hosts, and the
    top-hosts panels the right hosts with their totals."""
    global HOST
    by_host = read_expect_hosts(expect_file)
    hosts = sorted(by_host)
    dash = json.load(open(dash_file))
    client = graphite_web(wdir, work)
    insts = sorted({i for e in by_host.values() for i in e})
    inst_of = {graphite_escape(i, "_"): i for i in insts}
    subnets = sorted(inst_of)
    glob_of = lambda xs: xs[0] if len(xs) == 1 else "{%s}" % ",".join(xs)
    values = {"prefix": "", "host": hosts[0], "hosts": glob_of(hosts), "top": str(TOP)}

    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        q = substitute(var["query"], values)
        r = client.get("/metrics/find", {"query": q})
        found = [n["text"] for n in json.loads(r.content)] if r.status_code == 200 else []
        if var.get("regex"):
            rx = re.compile(var["regex"].strip("/"))
            found = [rx.match(t).group(1) for t in found if rx.match(t)]
        want = hosts if var["name"] in ("host", "hosts") else subnets
        check(r.status_code == 200 and set(want) <= set(found),
              "graphite variable %s (%s): %s" % (var["name"], q, sorted(found)))

    # Graphite returns one point a second (retention 1s); the reading behind each point
    # of a host covered the interval its csv writer shows (the first after start is
    # short). Sums over hosts add readings of different hosts in one second: 1 s each.
    dt_of = {}
    for h in hosts:
        HOST = h
        rows = csv_rows(csv_dir, insts[0], "if_octets")
        dt_of[h] = {slot_of(rows[i][0]): rows[i][0] - rows[i - 1][0]
                    for i in range(1, len(rows))}

    w = Whisper(wdir)
    ctx = {"inst_of": inst_of, "hosts": hosts, "by_host": by_host, "top_totals": {},
           "host_steps": {h: (lambda vals, i, d=dt_of[h]: d.get(vals[i][0], 1.0))
                          for h in hosts},
           "stored": lambda inst, key: set(
               (w.series(graphite_path("default", inst, "latency", key)) or {}).values())}

    def run(panel, t, h, choice, fleet):
        global HOST
        HOST = values["host"] = h
        ctx["step_of"] = (lambda vals, i: 1.0) if fleet else ctx["host_steps"][h]
        values["subnet"] = glob_of(choice)
        target = substitute(t["target"], values)
        r = client.get("/render", {"target": target, "format": "json",
                                   "from": "-15min", "until": "now"})
        if r.status_code != 200:
            fail("panel '%s': graphite-web answers %d to %s"
                 % (panel["title"], r.status_code, target))
            return None
        return [(s["target"], [(p[1], p[0]) for p in s["datapoints"]])
                for s in json.loads(r.content)]

    totals = {h: {} for h in hosts + ["*"]}
    n = dashboard_queries(dash, "target", hosts, subnets, ctx, totals, run)
    check(n >= 10, "%d Graphite queries evaluated" % n)
    # Sums of other hosts' rates in one-second slots: a reading late by a few ms counts
    # in the next slot, so the sum drifts a little further than one host's rate.
    check_dashboard_totals("graphite dashboard", totals, ctx["top_totals"], by_host, 0.01,
                           0.03)


# ---- InfluxDB ----

def influx_query(port, db, q):
    """One InfluxQL statement over the HTTP API; the decoded JSON answer."""
    params = {"q": q, "epoch": "ns"}
    if db:
        params["db"] = db
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request("http://127.0.0.1:%s/query" % port, data=data)
    with urllib.request.urlopen(req, timeout=30) as r:
        ans = json.load(r)
    for res in ans.get("results", []):
        if "error" in res:
            raise RuntimeError("%s: %s" % (q, res["error"]))
    return ans


def influx_series(port, db, q):
    """[(name, tags, columns, rows)] of one query."""
    out = []
    for res in influx_query(port, db, q)["results"]:
        for s in res.get("series", []):
            out.append((s.get("name"), s.get("tags", {}), s["columns"], s["values"]))
    return out


def influx_last(port, db, meas, field, inst, extra=""):
    q = ('SELECT last("%s") FROM "%s" WHERE "instance" = \'%s\'%s'
         % (field, meas, inst, extra))
    s = influx_series(port, db, q)
    return s[0][3][0][1] if s else None


def nearest(times, t):
    """Index of the time in sorted TIMES (ns) nearest to t, if within half a second.
    The plugin leaves each value's time to collectd, which stamps every value list when
    it is dispatched: the values of one read cycle are microseconds apart in InfluxDB
    (which keeps collectd's nanoseconds), so one cycle's values are matched this way."""
    if not times:
        return None
    i = min(range(len(times)), key=lambda j: abs(times[j] - t))
    return i if abs(times[i] - t) < 0.5e9 else None


def influx_wait(port, expect_file, seconds):
    """Waits until the collectd input has the final byte counts (UDP, then a batch)."""
    exp = read_expect(expect_file)
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            if all(influx_last(port, "collectd", "tcpsubnet_rx", "value", i) == exp[i]["rx"]
                   for i in exp):
                return 0
        except (OSError, RuntimeError):
            pass
        time.sleep(0.25)
    return 1


def influx_check(port, csv_dir, expect_file, docs):
    exp = read_expect(expect_file)
    insts = sorted(exp)
    buckets = bucket_names(csv_dir, "clients")

    # -- the documented series and fields of each route --
    for db, tag in (("collectd", "influxdb collectd"), ("collectd_join", "influxdb join"),
                    ("udp", "influxdb write_influxdb_udp")):
        templates = docs_block(docs, tag)
        keys = set()
        for _n, _t, _c, rows in influx_series(port, db, "SHOW SERIES"):
            keys.update(r[0] for r in rows)
        for inst in insts:
            want = expand(templates, {"subnet": inst, "buckets": [b[4:] for b in buckets]})
            got = {k for k in keys if ",instance=%s," % inst in k and k.startswith("tcpsubnet")}
            if want == got:
                ok("%s, %s: the %d documented series, no others (e.g. %s)"
                   % (db, inst, len(got), sorted(got)[len(got) // 2]))
            else:
                fail("%s, %s: documented but missing %s; present but undocumented %s"
                     % (db, inst, sorted(want - got)[:4], sorted(got - want)[:4]))
        want = set(docs_block(docs, tag + " fields"))
        got = set()
        for name, _t, _c, rows in influx_series(port, db, "SHOW FIELD KEYS"):
            if name.startswith("tcpsubnet"):
                got.update("%s %s %s" % (name, r[0], r[1]) for r in rows)
        check(want == got, "%s: fields %s" % (db, sorted(got)))

    for row in docs_table(docs, "names"):
        s = influx_series(port, "collectd", 'SELECT last("value") FROM "tcpsubnet_rx" WHERE '
                          "\"instance\" = '%s'" % row[4])
        check(s, "docs names: Subnet %s -> InfluxDB instance %s" % (row[0], row[4]))

    # -- collectd input: every reading as collectd had it; the last = what moved --
    for inst in insts:
        for key, (ctype, tinst) in COUNTERS.items():
            col = 1 if key == "tx" else 0
            meas = "tcpsubnet_" + (key if ctype == "if_octets" else "value")
            cond = " AND \"type\" = '%s'" % ctype
            if tinst:
                cond += " AND \"type_instance\" = '%s'" % tinst
            s = influx_series(port, "collectd", 'SELECT "value" FROM "%s" WHERE "instance" = '
                              "'%s'%s" % (meas, inst, cond))
            got = [r[1] for r in s[0][3]] if s else []
            rows = [v[col] for _t, v in csv_rows(csv_dir, inst, csv_name(ctype, tinst))]
            check(got and got[-1] == exp[inst][key] and got == rows,
                  "collectd input: %s %s = %s (moved %d), all %d readings as in the csv"
                  % (inst, meas + "/" + (tinst or ctype), got[-1] if got else None,
                     exp[inst][key], len(got)))

    # -- RTT: percentiles, average, buckets --
    r = influx_series(port, "collectd", 'SELECT "value" FROM "tcpsubnet_rx" WHERE '
                      "\"instance\" = 'other'")
    times = [row[0] for row in r[0][3]] if r else []  # cycle starts: see cycle_starts()
    for inst in insts:
        per_key = {}
        for key in RTT_KEYS:
            r = influx_series(port, "collectd", 'SELECT "value" FROM "tcpsubnet_value" WHERE '
                              "\"instance\" = '%s' AND \"type\" = 'latency' AND "
                              "\"type_instance\" = '%s'" % (inst, key))
            per_key[key] = {row[0]: row[1] for row in r[0][3]} if r else {}
        r = influx_series(port, "collectd", 'SELECT "value" FROM "tcpsubnet_value" WHERE '
                          "\"instance\" = '%s' AND \"type\" = 'bucket' GROUP BY "
                          '"type_instance"' % inst)
        rows_of = {tags["type_instance"]: rows for _n, tags, _c, rows in r}

        def buckets_at(t, rows_of=rows_of):
            out = {}
            for b, rows in rows_of.items():
                i = nearest([row[0] for row in rows], t)
                out[b] = rows[i][1] if i is not None else 0.0
            return [out]

        def dt_at(t):
            i = nearest(times, t)
            return (times[i] - times[i - 1]) / 1e9 if i else 1.0

        def at(series, t):
            ts = sorted(series)
            i = nearest(ts, t)
            return series[ts[i]] if i is not None else None
        check_rtt("collectd input: " + inst, exp[inst], per_key, buckets_at, dt_at, at)

        # Samples per second x the cycle's interval adds up to the samples counted;
        # and no reading is missing.
        got, lost = 0.0, 0
        for rows in rows_of.values():
            lost += len(times) - len(rows)
            for t, v in rows:
                got += v * dt_at(t)
        samples = influx_last(port, "collectd", "tcpsubnet_value", "value", inst,
                              " AND \"type_instance\" = 'rtt-samples'")
        check(len(rows_of) == 27 and not lost and samples and close(got, samples, 0.005, 1),
              "collectd input: %s buckets: %.1f samples (rate x interval), rtt-samples %s; "
              "%d bucket readings missing" % (inst, got, samples, lost))

    # -- join: one measurement, the data sources as fields --
    for inst in insts:
        for key in ("rx", "tx"):
            got = influx_last(port, "collectd_join", "tcpsubnet", key, inst)
            check(got == exp[inst][key], "collectd input, join: %s tcpsubnet.%s = %s (moved %d)"
                  % (inst, key, got, exp[inst][key]))

    # -- write_influxdb_udp, StoreRates true: rate x interval adds up to what moved --
    for inst in insts:
        for key, (ctype, tinst) in COUNTERS.items():
            field = key if ctype == "if_octets" else "value"
            cond = "\"type\" = '%s'" % ctype
            if tinst:
                cond += " AND \"type_instance\" = '%s'" % tinst
            s = influx_series(port, "udp", 'SELECT "%s" FROM "tcpsubnet" WHERE "instance" = '
                              "'%s' AND %s" % (field, inst, cond))
            rows = s[0][3] if s else []
            # The first reading after start has no rate and is not sent: each point's
            # interval comes from collectd's csv (same reading, millisecond times).
            ctimes = [t * 1e9 for t, _v in csv_rows(csv_dir, inst, csv_name(ctype, tinst))]
            total = 0.0
            for t, v in rows:
                i = nearest(ctimes, t)
                if i and v is not None:
                    total += v * (ctimes[i] - ctimes[i - 1]) / 1e9
            check(close(total, exp[inst][key], 0.01, 0.05),
                  "write_influxdb_udp: %s %s: sum of rate x interval %.2f over %d readings, "
                  "moved %d" % (inst, key, total, len(rows), exp[inst][key]))


def influx_wait_rows(port, db, q, n, seconds):
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            s = influx_series(port, db, q)
            if s and len(s[0][3]) >= int(n):
                return 0
        except (OSError, RuntimeError):
            pass
        time.sleep(0.25)
    return 1


def influx_storerates_false(port):
    """write_influxdb_udp, StoreRates false: the integers (DERIVE) came first each cycle,
    so "value" is an integer field and every GAUGE point (bucket, latency) is gone."""
    fields = set()
    for name, _t, _c, rows in influx_series(port, "udp_raw", "SHOW FIELD KEYS"):
        fields.update("%s %s %s" % (name, r[0], r[1]) for r in rows if name == "tcpsubnet")
    check(fields == {"tcpsubnet rx integer", "tcpsubnet tx integer",
                     "tcpsubnet value integer"},
          "write_influxdb_udp, StoreRates false: fields %s" % sorted(fields))
    # Points per type (SHOW SERIES would list the rejected ones too: influxd indexes a
    # point's series before it finds the field type conflict).
    kinds = {}
    for _n, tags, _c, rows in influx_series(port, "udp_raw", 'SELECT count("value") FROM '
                                            '"tcpsubnet" GROUP BY "type"'):
        kinds[tags["type"]] = rows[0][1]
    check(kinds.get("connections") and kinds.get("derive") and not kinds.get("bucket")
          and not kinds.get("latency"),
          "write_influxdb_udp, StoreRates false: points per type %s: no GAUGE value kept"
          % sorted(kinds.items()))


def influx_regex(values):
    """A Grafana multi-value variable in an InfluxQL regex: (a|b), regex-escaped."""
    esc = [re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", v) for v in values]
    return esc[0] if len(esc) == 1 else "(%s)" % "|".join(esc)


def influx_dashboard(dash_file, port, expect_file):
    """Every variable and query of the InfluxDB dashboard over the HTTP API, per host and
    for the fleet as graphite_dashboard does it."""
    by_host = read_expect_hosts(expect_file)
    hosts = sorted(by_host)
    dash = json.load(open(dash_file))
    insts = sorted({i for e in by_host.values() for i in e})
    inst_of = {i: i for i in insts}
    subnets = insts

    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        q = substitute(var["query"], {"host": influx_regex(hosts[:1]),
                                      "hosts": influx_regex(hosts)})
        found = []
        for _n, _t, _c, rows in influx_series(port, "collectd", q):
            found += [r[1] for r in rows]
        want = hosts if var["name"] in ("host", "hosts") else subnets
        check(set(want) <= set(found), "influxdb variable %s (%s): %s"
              % (var["name"], q, sorted(found)))

    def step_of(vals, i):
        # non_negative_derivative(..., 1s) per GROUP BY time(1s) bucket: the change
        # divided by the gap to the previous non-empty bucket, so it counts gap times.
        return (vals[i][0] - vals[i - 1][0]) / 1e9 if i else 1.0

    def stored(inst, key):
        r = influx_series(port, "collectd", 'SELECT "value" FROM "tcpsubnet_value" WHERE '
                          "\"instance\" = '%s' AND \"type_instance\" = '%s'" % (inst, key))
        return {row[1] for row in r[0][3]} if r else set()

    ctx = {"inst_of": inst_of, "stored": stored, "hosts": hosts, "by_host": by_host,
           "top_totals": {}}

    def run(panel, t, h, choice, fleet):
        renames = panel_renames(panel)
        sub = {"host": influx_regex([h]), "hosts": influx_regex(hosts),
               "subnet": influx_regex(choice), "top": str(TOP),
               "timeFilter": "time > now() - 15m", "__interval": "1s", "__interval_ms": "1000"}
        q = substitute(t["query"], sub)
        # Bytes per bucket scaled to per second ($__interval_ms) and table totals: each
        # point stands for one bucket, not for the gap to the previous one.
        ctx["step_of"] = (lambda vals, i: 1.0) if "__interval_ms" in t["query"] \
            or t.get("resultFormat") == "table" else step_of
        try:
            s = influx_series(port, "collectd", q)
        except (OSError, RuntimeError) as e:
            fail("panel '%s': %s" % (panel["title"], e))
            return None
        res = []
        for name, tags, cols, rows in s:
            if t.get("resultFormat") == "table" and "host" in cols:
                # top(): one row per host, named as the time series are
                key = re.search(r'FROM "tcpsubnet_(rx|tx)"', q).group(1)
                hi = cols.index("host")
                for r in rows:
                    res.append(("%s %s %s" % (r[hi], tags.get("instance", ""), key),
                                [(r[0], r[1])]))
                continue
            label = t.get("alias") or name
            for k, v in tags.items():
                label = label.replace("$tag_" + k, v)
            res.append((renamed(label, renames), [(r[0], r[1]) for r in rows]))
        return res

    totals = {h: {} for h in hosts + ["*"]}
    n = dashboard_queries(dash, "query", hosts, subnets, ctx, totals, run)
    check(n >= 10, "%d InfluxQL queries evaluated" % n)
    check_dashboard_totals("influxdb dashboard", totals, ctx["top_totals"], by_host, 1e-6,
                           1e-6)


# ---- fleets (tests/e2e-fleet.sh) ----

def fleet_wait(port, by_host, seconds):
    """Until InfluxDB has every host's final byte counts (UDP, then a batch)."""
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            if all(influx_last(port, "collectd", "tcpsubnet_rx", "value", i,
                               " AND \"host\" = '%s'" % h) == by_host[h][i]["rx"]
                   for h in by_host for i in by_host[h]):
                return True
        except (OSError, RuntimeError):
            pass
        time.sleep(0.25)
    return False


def fleet_check(port, wdir, csv_dir, expect_file, docs, work):
    """Per host exact counters in both stores and the csv files, nobody else's series,
    and every fleet query of docs/backends.md against the ground truth."""
    global HOST
    by_host = read_expect_hosts(expect_file)
    hosts = sorted(by_host)
    check(fleet_wait(port, by_host, 20), "InfluxDB has every host's final rx within 20 s")
    w = Whisper(wdir)
    for h in hosts:
        HOST = h
        for inst in sorted(by_host[h]):
            for key, (ctype, tinst) in COUNTERS.items():
                want = by_host[h][inst][key]
                field = "value"
                meas = "tcpsubnet_" + key if ctype == "if_octets" else "tcpsubnet_value"
                extra = " AND \"host\" = '%s'" % h
                if tinst:
                    extra += " AND \"type_instance\" = '%s'" % tinst
                got_i = influx_last(port, "collectd", meas, field, inst, extra)
                raw = w.series(graphite_path("raw", inst, ctype, tinst,
                                             key if ctype == "if_octets" else None)) or {}
                got_g = raw[max(raw)] if raw else None
                rows = csv_rows(csv_dir, inst, csv_name(ctype, tinst))
                got_c = rows[-1][1][1 if key == "tx" else 0] if rows else None
                check(got_i == want and got_g == want and got_c == want,
                      "%s %s %s: InfluxDB %s, Graphite (StoreRates false) %s, csv %s; moved %d"
                      % (h, inst, key, got_i, got_g, got_c, want))

    # Nobody else: the intruder (wrong password) and the central collectd itself.
    tagged = set()
    for _n, _t, _c, rows in influx_series(port, "collectd",
                                          'SHOW TAG VALUES WITH KEY = "host"'):
        tagged.update(r[1] for r in rows)
    check(tagged == set(hosts), "InfluxDB: hosts %s, exactly the agents" % sorted(tagged))
    tops = {d for d in os.listdir(wdir)}
    raws = set(os.listdir(os.path.join(wdir, "raw"))) if "raw" in tops else set()
    check(tops == set(hosts) | {"raw"} and raws == set(hosts),
          "Graphite: hosts %s and raw.%s, exactly the agents" % (sorted(tops - {"raw"}),
                                                                 sorted(raws)))

    # The documented fleet queries, for every subnet (and host), against the truth.
    client = graphite_web(wdir, work)
    rows = docs_table(docs, "fleet")
    check(len(rows) >= 3, "docs: %d fleet queries" % len(rows))
    total = fleet_sum(by_host)
    for question, influxql, graphite in (r[:3] for r in rows):
        kind = "top" if "top" in question else "sum" if "all hosts" in question else "host"
        for inst in sorted(total):
            for h in hosts if kind == "host" else [None]:
                sub = lambda q: q.replace("<subnet>", inst).replace("<host>", h or "") \
                    .replace("<N>", str(TOP))
                key = "rx" if "received from" in question else "tx"
                if kind == "host":
                    want = [by_host[h][inst][key]]
                elif kind == "sum":
                    want = [total[inst][key]]
                else:
                    want = [(x, by_host[x][inst][key]) for x in
                            top_hosts(by_host, inst, key, TOP)]
                # InfluxQL
                got = []
                for _n, tags, cols, rs in influx_series(port, "collectd", sub(influxql)):
                    if kind == "top":
                        hi = cols.index("host")
                        got += [(r[hi], r[1]) for r in rs]
                    else:
                        got += [r[1] for r in rs]
                got.sort(key=lambda x: -x[1] if isinstance(x, tuple) else 0)
                check(got == want, "docs, %s (%s%s): InfluxQL gives %s, the truth %s"
                      % (question, inst, " " + h if h else "", got, want))
                # Graphite, through graphite-web's render code
                r = client.get("/render", {"target": sub(graphite), "format": "json",
                                           "from": "-15min", "until": "now"})
                series = json.loads(r.content) if r.status_code == 200 else []
                lasts = []
                for srs in series:
                    pts = [p[0] for p in srs["datapoints"] if p[0] is not None]
                    lasts.append((srs["target"].split(".")[1], pts[-1] if pts else None))
                if kind == "top":
                    got = sorted(lasts, key=lambda x: -(x[1] or 0))
                else:
                    got = [v for _t, v in lasts]
                check(got == want, "docs, %s (%s%s): Graphite gives %s, the truth %s"
                      % (question, inst, " " + h if h else "", got, want))


def proc_usage(pid, name):
    """CPU seconds and memory of a running process, for the sizing figures."""
    with open("/proc/%s/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    mem = {}
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                mem[line.split(":")[0]] = int(line.split()[1])
    print("usage: %s: %.2f CPU seconds, RSS %d KiB (peak %d KiB)"
          % (name, cpu, mem.get("VmRSS", 0), mem.get("VmHWM", 0)))
    return 0


def du(top):
    n = 0
    for root, _dirs, files in os.walk(top):
        for f in files:
            n += os.path.getsize(os.path.join(root, f))
    return n


def store_usage(port, influx_dir, wdir):
    """Points, series and bytes on disk of both stores, for the sizing figures."""
    points = 0
    for _n, _t, cols, rows in influx_series(port, "collectd", 'SELECT count("value") FROM '
                                            '/^tcpsubnet_/'):
        points += sum(r[1] for r in rows)
    series = 0
    for _n, _t, _c, rows in influx_series(port, "collectd", "SHOW SERIES"):
        series += len(rows)
    print("usage: InfluxDB: %d series, %d points, %d bytes on disk (data %d, wal %d)"
          % (series, points, du(influx_dir), du(os.path.join(influx_dir, "data")),
             du(os.path.join(influx_dir, "wal"))))
    files = sum(len([f for f in fs if f.endswith(".wsp")]) for _r, _d, fs in os.walk(wdir))
    print("usage: Graphite: %d whisper files, %d bytes" % (files, du(wdir)))
    return 0


def agent_usage(host_dir):
    """Values per interval of one agent (its csv files: one per identifier) and what its
    network plugin sent (ReportStats: bytes, values)."""
    ids = {re.sub(r"-\d{4}-\d\d-\d\d$", "", os.path.relpath(p, host_dir))
           for p in glob.glob(os.path.join(host_dir, "*", "*"))}
    plugin = sum(1 for i in ids if i.startswith("tcpsubnet"))

    def last(name, col):
        rows = [ln.strip().split(",") for p in sorted(glob.glob(os.path.join(
            host_dir, "network", name + "-2*"))) for ln in open(p) if not ln.startswith("e")]
        return float(rows[-1][col]) if rows else 0.0
    sent = last("if_octets", 2)
    values = last("total_values-send-accepted", 1)
    print("usage: agent %s: %d tcpsubnet values per interval (%d identifiers in all); "
          "network plugin sent %d bytes for %d values (%.1f bytes per value)"
          % (os.path.basename(host_dir), plugin, len(ids), sent, values,
             sent / values if values else 0))
    return 0


# ---- Prometheus (write_prometheus, scraped by a prometheus server) ----

# The scrape jobs of tests/e2e-prometheus.sh: both scrape the same write_prometheus.
PROM_JOBS = {"collectd": "honor_labels", "collectd-default": "default"}


def prom_api(port, path, params):
    """GET /api/v1/PATH over Prometheus' HTTP API; the "data" of its JSON answer."""
    url = "http://127.0.0.1:%s/api/v1/%s?%s" % (port, path, urllib.parse.urlencode(params, True))
    with urllib.request.urlopen(url, timeout=30) as r:
        ans = json.load(r)
    if ans.get("status") != "success":
        raise RuntimeError("%s: %s" % (params, ans.get("error")))
    return ans["data"]


def prom_query(port, q):
    """An instant PromQL query: [(labels, value)]."""
    data = prom_api(port, "query", {"query": q})
    return [(r["metric"], float(r["value"][1])) for r in data["result"]]


def prom_samples(port, selector, minutes=30):
    """The raw samples of every series a selector matches: [(labels, [(t, v)])] (a
    range vector, queried as it is: no function, no step, what the TSDB holds)."""
    data = prom_api(port, "query", {"query": "%s[%dm]" % (selector, minutes)})
    return [(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
            for r in data["result"]]


def prom_key(labels):
    """name{a="1",b="2"}: a series as Prometheus stores it (labels sorted)."""
    rest = ",".join('%s="%s"' % (k, labels[k]) for k in sorted(labels) if k != "__name__")
    return "%s{%s}" % (labels["__name__"], rest)


EXPO_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)(?: (-?\d+))?$')
EXPO_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def exposition(path):
    """write_prometheus' text: ({series as written: (value, ms)}, {name: TYPE})."""
    series, types = {}, {}
    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("# TYPE "):
            _h, _t, name, kind = line.split(" ")
            types[name] = kind
            continue
        m = EXPO_LINE.match(line)
        if m:
            series["%s{%s}" % (m.group(1), m.group(2))] = (float(m.group(3)), m.group(4))
    return series, types


def expo_labels(key):
    return dict(EXPO_LABEL.findall(key[key.index("{"):]))


def prom_csv(labels):
    """(csv file name, column) of the collectd value a tcpsubnet series carries."""
    name, typ = labels["__name__"], labels.get("type", "")
    fixed = {"collectd_tcpsubnet_if_octets_rx_total": ("if_octets", 0),
             "collectd_tcpsubnet_if_octets_tx_total": ("if_octets", 1)}
    if name in fixed:
        return fixed[name]
    m = re.match(r"^collectd_tcpsubnet_(connections|derive|latency|bucket)(?:_total)?$", name)
    return (csv_name(m.group(1), typ), 0) if m else (None, 0)


def prom_series_name(key):
    """The series of an EXPECT key: (metric name, type label or None)."""
    ctype, tinst = COUNTERS[key]
    if ctype == "if_octets":
        return "collectd_tcpsubnet_if_octets_%s_total" % key, None
    return "collectd_tcpsubnet_%s_total" % ctype, tinst


def prom_scrape(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=30) as r:
        text = r.read().decode()
    with open(path, "w") as f:
        f.write(text)
    return 0


def prom_scrape_until(port, path, stopfile):
    """Reads write_prometheus' text every 0.2 s until STOPFILE exists (at most 300 s)
    and writes every series and TYPE line seen into PATH, the latest value of each: the
    RTT gauges are there only while their intervals have samples (collectd reports a
    value not updated for Timeout x Interval as missing, and write_prometheus drops
    it)."""
    lines, end = {}, time.time() + 300
    while time.time() < end:
        last = os.path.exists(stopfile)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5) as r:
                for line in r.read().decode().splitlines():
                    if line.startswith("# TYPE "):
                        lines[line] = line
                    elif not line.startswith("#") and "{" in line:
                        lines[line[:line.index("}") + 1]] = line
        except OSError:
            pass
        if last:
            break
        time.sleep(0.2)
    with open(path, "w") as f:
        f.write("".join(v + "\n" for v in lines.values()))
    return 0


def prom_wait(port, expect_file, seconds, *jobs):
    """Waits until every job's latest scrape has the final byte counts."""
    exp = read_expect(expect_file)
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            good = True
            for key in ("rx", "tx"):
                got = {(m["job"], m["tcpsubnet"]): v for m, v in prom_query(
                    port, 'collectd_tcpsubnet_if_octets_%s_total' % key)}
                good = good and all(got.get((j, i)) == exp[i][key] for j in jobs for i in exp)
            if good:
                return 0
        except (OSError, RuntimeError, KeyError):
            pass
        time.sleep(0.25)
    return 1


def prom_wait_up(port, seconds, *jobs):
    """Waits until every job has scraped tcpsubnet values (Prometheus hands new targets
    to its scrapers after up to 5 s)."""
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            got = {m["job"] for m, _v in prom_query(port, "collectd_tcpsubnet_if_octets_rx_total")}
            if set(jobs) <= got:
                return 0
        except (OSError, RuntimeError, KeyError):
            pass
        time.sleep(0.25)
    return 1


def prom_check(port, csv_dir, expect_file, docs, expo_file, target):
    exp = read_expect(expect_file)
    insts = sorted(exp)
    buckets = bucket_names(csv_dir, "clients")
    subst_of = {i: {"subnet": i, "buckets": [b[len("rtt-"):] for b in buckets]} for i in insts}

    # -- write_prometheus' own text: the documented series and types, no others --
    series, types = exposition(expo_file)
    templates = docs_block(docs, "prometheus exposition")
    for inst in insts:
        want = expand(templates, subst_of[inst])
        got = {k for k in series if expo_labels(k).get("tcpsubnet") == inst}
        if want == got:
            ok("write_prometheus, %s: the %d documented series, no others (e.g. %s)"
               % (inst, len(got), sorted(got)[len(got) // 2]))
        else:
            fail("write_prometheus, %s: documented but missing %s; present but undocumented %s"
                 % (inst, sorted(want - got)[:4], sorted(got - want)[:4]))
    # The plugin's health values (derive, empty plugin instance): write_prometheus puts
    # their type instance into the plugin's label and writes no "type" label.
    want = expand(docs_block(docs, "prometheus health"), {"subnet": "", "buckets": []})
    got = {k for k in series if k.startswith("collectd_tcpsubnet_derive_total{") and
           "type" not in expo_labels(k)}
    check(want == got, "write_prometheus: health values %s" % sorted(got))
    want = set(docs_block(docs, "prometheus types"))
    got = {"%s %s" % (n, t) for n, t in types.items() if n.startswith("collectd_tcpsubnet_")}
    check(want == got, "write_prometheus: metric types %s" % sorted(got))

    # -- what the server stored, for each scrape job's labelling --
    stored = prom_api(port, "series", {"match[]": '{__name__=~"collectd_tcpsubnet_.+"}'})
    for job, tag in PROM_JOBS.items():
        templates = [t.replace("<job>", job).replace("<target>", target)
                     for t in docs_block(docs, "prometheus " + tag)]
        for inst in insts:
            want = expand(templates, subst_of[inst])
            got = {prom_key(m) for m in stored if m.get("job") == job and
                   m.get("tcpsubnet") == inst}
            if want == got:
                ok("prometheus, job %s, %s: the %d documented series, no others (e.g. %s)"
                   % (job, inst, len(got), sorted(got)[len(got) // 2]))
            else:
                fail("prometheus, job %s, %s: documented but missing %s; present but "
                     "undocumented %s" % (job, inst, sorted(want - got)[:4],
                                          sorted(got - want)[:4]))

    want = {t.replace("<job>", "collectd") for t in
            expand(docs_block(docs, "prometheus health honor_labels"), {"subnet": "",
                                                                        "buckets": []})}
    got = {prom_key(m) for m in stored if m.get("job") == "collectd" and "type" not in m and
           m["__name__"] == "collectd_tcpsubnet_derive_total"}
    check(want == got, "prometheus, job collectd: health values %s" % sorted(got))

    # -- PromQL: the totals moved, exactly, from an instant query --
    for job in PROM_JOBS:
        host = "instance" if PROM_JOBS[job] == "honor_labels" else "exported_instance"
        for inst in insts:
            for key in COUNTERS:
                name, typ = prom_series_name(key)
                q = '%s{job="%s",%s="%s",tcpsubnet="%s"%s}' % (
                    name, job, host, HOST, inst, ',type="%s"' % typ if typ else "")
                r = prom_query(port, q)
                got = r[0][1] if len(r) == 1 else None
                check(got == exp[inst][key], "PromQL %s = %s (moved %d)"
                      % (q, got, exp[inst][key]))

    # -- every stored sample is a reading of collectd's, value and millisecond time --
    # (counters exactly; the csv writer prints gauges with six decimals)
    cache = {}
    for job in PROM_JOBS:
        n, nser, bad, kept = 0, 0, [], []
        for labels, samples in prom_samples(port, '{__name__=~"collectd_tcpsubnet_.+",job="%s"}'
                                            % job):
            inst = labels.get("tcpsubnet")
            if inst not in exp:
                continue
            fname, col = prom_csv(labels)
            rows = cache.setdefault((inst, fname), csv_rows(csv_dir, inst, fname))
            by_ms = {int(round(t * 1000)): v[col] for t, v in rows}
            tol = 0.0 if labels["__name__"].endswith("_total") else 5.1e-7
            nser += 1
            for t, v in samples:
                ms = int(round(t * 1000))
                n += 1
                if not any(abs(by_ms.get(ms + d, math.inf) - v) <= tol for d in (0, -1, 1)):
                    bad.append((prom_key(labels), t, v))
            kept.append(len(samples) / max(1, len(rows)))
        check(n and not bad and min(kept) >= 0.5,
              "job %s: all %d samples of %d series are collectd's readings (value and time, "
              "as its csv writer has them); %.0f%% .. %.0f%% of each series' readings scraped%s"
              % (job, n, nser, 100 * min(kept or [0]), 100 * max(kept or [0]),
                 "" if not bad else "; not: %s" % bad[:3]))

    # -- RTT: the percentiles Prometheus holds against their intervals' buckets --
    cycles = cycle_starts(csv_dir)
    ctimes = [t for t, _v in cycles]
    for inst in insts:
        per_key = {}
        for key in RTT_KEYS:
            r = prom_samples(port, 'collectd_tcpsubnet_latency{job="collectd",tcpsubnet="%s",'
                             'type="%s"}' % (inst, key))
            per_key[key] = dict(r[0][1]) if r else {}
        brows = {b: csv_rows(csv_dir, inst, "bucket-" + b) for b in buckets}

        def buckets_at(t, brows=brows):
            out = {}
            for b, rows in brows.items():
                i = nearest([x * 1e9 for x, _v in rows], t * 1e9)
                out[b] = rows[i][1][0] if i is not None else 0.0
            return [out]

        def dt_at(t):
            i = nearest([x * 1e9 for x in ctimes], t * 1e9)
            return ctimes[i] - ctimes[i - 1] if i else 1.0

        def at(series, t):
            ts = sorted(series)
            i = nearest([x * 1e9 for x in ts], t * 1e9)
            return series[ts[i]] if i is not None else None
        check_rtt("prometheus: " + inst, exp[inst], per_key, buckets_at, dt_at, at)


def prom_rate(points, t, window):
    """Prometheus 2.x rate() (promql/functions.go, extrapolatedRate) of raw counter
    samples [(t, v)] at time t over WINDOW seconds (both ends included), or None. In
    milliseconds, as Prometheus counts (a double holds today's epoch to 0.2 us only)."""
    t, window = int(round(t * 1000)), int(round(window * 1000))
    pts = [(int(round(x * 1000)), v) for x, v in points]
    pts = [(x, v) for x, v in pts if t - window <= x <= t]
    if len(pts) < 2:
        return None
    result, last = pts[-1][1] - pts[0][1], 0.0
    for _x, v in pts:
        if v < last:
            result += last  # a counter reset
        last = v
    to_start, to_end = pts[0][0] - (t - window), t - pts[-1][0]
    sampled = pts[-1][0] - pts[0][0]
    average = sampled / (len(pts) - 1)
    if result > 0 and pts[0][1] >= 0:
        to_start = min(to_start, sampled * (pts[0][1] / result))
    threshold = average * 1.1
    interval = sampled + (to_start if to_start < threshold else average / 2) \
        + (to_end if to_end < threshold else average / 2)
    return result * (interval / sampled) / (window / 1000)


def prom_regex(values):
    """A Grafana multi-value variable in a PromQL regex matcher, as Grafana's Prometheus
    data source writes it: regex characters escaped (a backslash, doubled inside the
    PromQL string), several values as (a|b)."""
    esc = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", v) for v in values]
    return esc[0] if len(esc) == 1 else "(%s)" % "|".join(esc)


def prom_dashboard(dash_file, port, expect_file, start):
    exp = read_expect(expect_file)
    dash = json.load(open(dash_file))
    subnets = sorted(exp)
    values = {"host": prom_regex([HOST]), "hosts": prom_regex([HOST]), "top": str(TOP)}

    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.match(r"^label_values\((.*),\s*(\w+)\)$", substitute(q, values))
        found = []
        if m:
            found = prom_api(port, "label/%s/values" % m.group(2), {"match[]": m.group(1)})
        want = [HOST] if var["name"] in ("host", "hosts") else subnets
        check(m and set(want) <= set(found), "prometheus variable %s (%s): %s"
              % (var["name"], q, sorted(found)))

    held, raw = {}, {}
    for labels, samples in prom_samples(port, '{__name__=~"collectd_tcpsubnet_.+",'
                                        'job="collectd"}'):
        raw[prom_key(labels)] = samples
        if labels["__name__"] == "collectd_tcpsubnet_latency":
            held.setdefault((labels["tcpsubnet"], labels["type"]), set()).update(
                v for _t, v in samples)
    # One host here: the fleet row's sums and top hosts are that host's figures.
    ctx = {"inst_of": {i: i for i in exp}, "step_of": lambda vals, i: 1.0,
           "stored": lambda inst, key: held.get((inst, key), set()),
           "hosts": [HOST], "by_host": {HOST: exp}, "top_totals": {}}

    rates, rate_bad = [0], []
    end = time.time()

    def run(panel, t, _h, choice, _fleet):
        # Grafana's $__interval for a 1 s step; $__rate_interval is then
        # max($__interval + scrape interval, 4 x scrape interval) = 4 s.
        sub = dict(values, subnet=prom_regex(choice), __interval="1s", __rate_interval="4s")
        sub["__range"] = "%ds" % round(end - float(start))
        q = substitute(t["expr"], sub)
        try:
            if t.get("instant"):  # a table: one value per series at the range's end
                data = prom_api(port, "query", {"query": q, "time": end})
                for r in data["result"]:
                    r["values"] = [r["value"]]
            else:
                data = prom_api(port, "query_range", {"query": q, "start": start, "end": end,
                                                      "step": 1})
        except (OSError, RuntimeError) as e:
            fail("panel '%s': %s" % (panel["title"], e))
            return None
        res = []
        m = re.match(r"^rate\((\w+)\{.*\}\[(\d+)s\]\)$", q)
        for r in data["result"]:
            if m:
                # The panel's rates are Prometheus' rate() of the stored counter, whose
                # samples are collectd's readings (checked above).
                series = raw.get(prom_key(dict(r["metric"], __name__=m.group(1))), [])
                for x, v in r["values"]:
                    want = prom_rate(series, float(x), float(m.group(2)))
                    rates[0] += 1
                    if want is None or not close(float(v), want, 1e-9, 1e-9):
                        rate_bad.append((q, x, v, want))
            label = re.sub(r"\{\{ *(\w+) *\}\}",
                           lambda g, r=r: r["metric"].get(g.group(1), ""),
                           t.get("legendFormat", ""))
            pts = [(float(x), None if v in ("NaN", "+Inf", "-Inf") else float(v))
                   for x, v in r["values"]]
            res.append((renamed(label, panel_renames(panel)), pts))
        return res

    panel_totals = {HOST: {}, "*": {}}
    n = dashboard_queries(dash, "expr", [HOST], subnets, ctx, panel_totals, run)
    check(n >= 10, "%d PromQL queries evaluated" % n)
    check(rates[0] and not rate_bad, "%d points of the rate panels are rate() of the stored "
          "counters over their window%s" % (rates[0], "" if not rate_bad else
                                              ", not: %s" % rate_bad[:3]))
    # Summed over time the rate panels do not add up to what moved: rate() extrapolates
    # each window from the readings inside it, which a scrape now and then misses
    # (78 .. 112 % of the totals were seen); increase() over the range, the top hosts'
    # figure, likewise. So: the right series are on the panels, moving when something
    # moved and only then.
    sums = [("", inst, key, total) for (inst, key), total in panel_totals[HOST].items()]
    sums += [("fleet ", inst, key, total) for (inst, key), total in panel_totals["*"].items()]
    sums += [("top hosts, %s " % h, inst, key, total)
             for (h, inst, key), total in ctx["top_totals"].items()]
    for what, inst, key, total in sorted(sums):
        want = exp[inst][key]
        check((total > 0) == (want > 0), "prometheus dashboard: %s%s %s: %.2f (%.0f %%); "
              "moved %d" % (what, inst, key, total, 100 * total / want if want else 100, want))
    for what, keys in (("", COUNTERS), ("fleet ", ("rx", "tx"))):
        have = panel_totals[HOST if not what else "*"]
        missing = [(i, k) for i in exp for k in keys if (i, k) not in have]
        check(not missing, "prometheus dashboard: %severy subnet's %s on a panel%s"
              % (what, "bytes" if what else "bytes, connections, retransmits",
                 "" if not missing else " (missing %s)" % missing[:4]))
    check(ctx["top_totals"], "prometheus dashboard: a top-hosts panel has series")


def prom_storerates(rates_file, main_file, inst, tx, rx):
    """write_prometheus has no StoreRates option: with "StoreRates true" in its block it
    writes the same metrics and types, and the counters are still the cumulative totals
    (checked against the bytes one connection moved in that run)."""
    r_series, r_types = exposition(rates_file)
    m_series, m_types = exposition(main_file)
    # The RTT gauges appear only for intervals with samples: compare what both have.
    mine = {n: t for n, t in r_types.items() if n.startswith("collectd_tcpsubnet_")}
    counters = sorted(n for n, t in mine.items() if t == "counter")
    check(len(counters) == 4 and all(m_types.get(n) == t for n, t in mine.items()),
          "StoreRates true: the same metric types as without: %s"
          % ", ".join("%s %s" % kv for kv in sorted(mine.items())))
    ours = {k for k in r_series if k.startswith("collectd_tcpsubnet_")}
    check(ours and ours <= set(m_series), "StoreRates true: %d series, all also written "
          "without it" % len(ours))
    for name, want in (("tx", tx), ("rx", rx)):
        got = [v for k, (v, _ms) in r_series.items()
               if k.startswith("collectd_tcpsubnet_if_octets_%s_total{" % name)
               and expo_labels(k).get("tcpsubnet") == inst]
        check(got == [float(want)], "StoreRates true: %s %s_total = %s, the bytes moved (%s), "
              "a counter, not a rate" % (inst, name, got, want))



def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "influx-query":
        print(json.dumps(influx_query(*args)))
        return 0
    # Commands whose return value is the exit status (waits, readers, usage figures).
    direct = {"whisper-settle": whisper_settle, "influx-wait": influx_wait,
              "influx-wait-rows": influx_wait_rows, "prom-scrape": prom_scrape,
              "prom-scrape-until": prom_scrape_until, "prom-wait": prom_wait,
              "prom-wait-up": prom_wait_up, "proc-usage": proc_usage,
              "store-usage": store_usage, "agent-usage": agent_usage}
    if cmd in direct:
        return direct[cmd](*args)
    funcs = {"graphite": graphite_check, "graphite-dashboard": graphite_dashboard,
             "influx": influx_check, "influx-dashboard": influx_dashboard,
             "influx-storerates-false": influx_storerates_false, "fleet": fleet_check,
             "prom": prom_check, "prom-dashboard": prom_dashboard,
             "prom-storerates": prom_storerates}
    if cmd not in funcs:
        print("tb-check.py: unknown command " + cmd, file=sys.stderr)
        return 2
    funcs[cmd](*args)
    return 1 if FAILS else 0


def whisper_state(top):
    """(path, mtime, size) of every whisper file: changes while carbon writes."""
    state = []
    for root, _dirs, files in os.walk(top):
        for f in files:
            p = os.path.join(root, f)
            st = os.stat(p)
            state.append((p, st.st_mtime_ns, st.st_size))
    return sorted(state)


def whisper_settle(top, seconds):
    # carbon's writer drains its cache, then sleeps 1 s: 2.5 s without a change means
    # the cache is empty (collectd has stopped, nothing new arrives).
    end = time.time() + float(seconds)
    last, since = None, time.time()
    while time.time() < end:
        now = whisper_state(top)
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= 2.5:
            return 0
        time.sleep(0.25)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
