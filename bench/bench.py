# SPDX-License-Identifier: GPL-2.0-only
"""Benchmark driver of collectd-tcpsubnet (run through bench/run, as root).

Measures, in one run and interleaved so machine noise hits every variant alike:
  * ns/event of each attached BPF program (the kernel's run-time statistics) for the
    plugin, a floor (no-op programs on the same hooks) and a naive implementation
    (linear scan + string-keyed hash + atomics), for every N configured prefixes;
  * iperf3 throughput with the plugin attached vs. nothing, and with N iptables
    counting rules vs. none (A B A B ... pairs, median of the per-pair ratios);
  * read-cycle time and memory (BPF map memory, harness RSS, collectd RSS);
  * plugin init time;
  * socket accounting (Accounting "socket", issue 12) next to syscall accounting: the
    plugin's program runs per connection and per segment under steady iperf3 load, the
    read cycle (the socket walk) with 1,000 to 100,000 open connections, and the kernel
    memory the socket storage takes per tracked socket.
Writes raw JSON and a markdown report; the full mode writes docs/PERFORMANCE.md and
docs/performance.json. Bench traffic uses only 198.19.48.0/20 and 2001:db8:5000::/36
inside a network namespace this script creates and deletes.
"""
import argparse
import datetime
import json
import os
import platform
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

NS = "tsbench%d" % os.getpid()
A4, B4 = "198.19.48.1", "198.19.48.2"
A6, B6 = "2001:db8:5000::1", "2001:db8:5000::2"
# The open connections of the socket-accounting read cycle: one server address, several
# client addresses (more 4-tuples than one address's ephemeral ports).
CONN_SERVER = "198.19.50.1"
CONN_CLIENTS = ["198.19.51.%d" % i for i in range(1, 9)]
CONN_PREFIX = "198.19.50.0/23"
PORT4, PORT6 = 5201, 5202

# Plugin programs that carry each family in tracepoint mode, and their reference twins.
FAMILIES = [
    ("send", "bytes (send)", {"plugin": "tp_send", "floor": "floor_send", "naive": "naive_send"}),
    ("recv", "bytes (receive)", {"plugin": "tp_recv", "floor": "floor_recv", "naive": "naive_recv"}),
    ("rtt", "RTT (tcp_probe)", {"plugin": "tp_rtt", "floor": "floor_rtt", "naive": "naive_rtt"}),
    ("state", "connections (state)", {"plugin": "tp_state", "floor": "floor_state"}),
    ("retrans", "retransmits", {"plugin": "tp_retrans_err", "floor": "floor_retrans"}),
]
for _f in FAMILIES:
    _f[2]["baseline"] = _f[2]["plugin"]  # --compare: the same programs of another build
    _f[2]["cgroups"] = _f[2]["plugin"]  # --cgroups: the plugin with a Cgroup block
MIN_EVENTS = 1000  # fewer events in a window: no ns/event figure (too few to mean anything)


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), r.returncode, r.stderr.strip()))
    return r


def nsx(*cmd):
    return ["ip", "netns", "exec", NS] + list(cmd)


def hook_events(r):
    """Program runs of a socket_runs record with each owner-flag pair counted once: the
    kernel enters both programs of a pair (x and x_owned) for one event."""
    return r["runs"] - sum(p["run_cnt"] for p in r["progs"] if p["name"].endswith("_owned"))


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- configurations

def gen_prefixes(n):
    """n distinct prefixes, half IPv4 and half IPv6, deterministic for a given n. The bench
    traffic (198.19.48.x, 2001:db8:5000::x) matches the most specific of nested ones."""
    rnd = random.Random(7000 + n)
    out = ["198.19.48.0/24"]
    if n >= 2:
        out.append("2001:db8:5000::/48")
    if n >= 4:
        out += ["198.19.48.0/20", "2001:db8:5000::/36"]
    seen = set(out)
    while len(out) < n:
        if len(out) % 2 == 0:
            plen = rnd.choice([8, 12, 16, 20, 22, 24, 24, 24, 26, 28, 30, 32])
            a = rnd.getrandbits(32) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
            if (a >> 16) == (198 << 8 | 19) or (a >> 24) in (0, 127) or plen < 16 and (a >> 24) == 198:
                continue
            p = "%d.%d.%d.%d/%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, plen)
        else:
            plen = rnd.choice([29, 32, 36, 40, 44, 48, 48, 52, 56, 64, 64, 128])
            a = rnd.getrandbits(128) & (((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1))
            a |= 1 << 125  # 2000::/3: never covers ::ffff:0:0/96 or 2001:db8::/32
            a &= ~(1 << 126) & ~(1 << 127)
            if (a >> 96) == 0x20010DB8:
                continue
            groups = ["%x" % ((a >> (112 - 16 * i)) & 0xFFFF) for i in range(8)]
            p = ":".join(groups) + "/%d" % plen
            # normalise host bits away (plen may cut a group)
        if p in seen:
            continue
        seen.add(p)
        out.append(p)
    return out[:n]


PREFIXES_PER_SUBNET = 16


def default_subnets(n):
    """The bench's standard configuration: N prefixes in N/16 subnets (at least one)."""
    return max(1, n // PREFIXES_PER_SUBNET)


def write_conf(path, prefixes, subnets, rtt=True, accounting=None):
    """The prefixes spread round-robin over `subnets` subnets g0, g1, ... (the bench
    traffic's prefixes, first in the list, land in g0 and g1), or with subnets == 0 each
    prefix its own subnet (the worst case for the read cycle)."""
    with open(path, "w") as f:
        if not subnets:
            for p in prefixes:
                f.write('<Subnet "s%s">\n  Prefix "%s"\n</Subnet>\n' % (
                    p.replace("/", "_").replace(":", "-"), p))
        else:
            groups = [[] for _ in range(subnets)]
            for i, p in enumerate(prefixes):
                groups[i % subnets].append(p)
            for i, g in enumerate(groups):
                f.write('<Subnet "g%d">\n' % i)
                for p in g:
                    f.write('  Prefix "%s"\n' % p)
                f.write("</Subnet>\n")
        f.write("RTT %s\n" % ("true" if rtt else "false"))
        if accounting:
            f.write('Accounting "%s"\n' % accounting)
        if not subnets:
            # The worst case dispatches 37 values per prefix: 65536 of them pass the
            # default MaxValues (1000000) only when it is raised to its bound.
            f.write("MaxValues 16777216\n")


def own_cgroup():
    """This process's cgroup v2 path (the bench traffic's cgroup: iperf3 inherits it)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip() or "/"
    return "/"


def write_cgroups(path):
    """A Cgroup block holding the bench traffic's cgroup, as deployments would name a
    service: every socket of the bench pays the cgroup lookup and is counted in it."""
    with open(path, "a") as f:
        f.write('<Cgroup "bench">\n  Path "%s"\n</Cgroup>\n' % own_cgroup())
        f.write('<Cgroup "elsewhere">\n  Path "/tcpsubnet-bench-none"\n</Cgroup>\n')


def write_iptables(path, prefixes4):
    """N counting rules (no target: count and fall through) per direction, in chains
    hooked from OUTPUT (-d) and INPUT (-s), the way collectd's iptables plugin counts."""
    with open(path, "w") as f:
        f.write("*filter\n:TSB_TX - [0:0]\n:TSB_RX - [0:0]\n")
        for p in prefixes4:
            f.write("-A TSB_TX -d %s\n" % p)
        for p in prefixes4:
            f.write("-A TSB_RX -s %s\n" % p)
        f.write("COMMIT\n")


def ipv4_prefixes(n):
    """n distinct IPv4 prefixes, the bench traffic's /24 last (every packet walks them all)."""
    rnd = random.Random(9000 + n)
    seen = {"198.19.48.0/24"}
    out = []
    while len(out) < n - 1:
        plen = rnd.choice([16, 20, 24, 24, 24, 28, 32])
        a = rnd.getrandbits(32) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        if (a >> 16) == (198 << 8 | 19):
            continue
        p = "%d.%d.%d.%d/%d" % (a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, plen)
        if p not in seen:
            seen.add(p)
            out.append(p)
    return out + ["198.19.48.0/24"]


# ---------------------------------------------------------------- the bench itself

class Bench:
    def __init__(self, args):
        self.a = args
        self.tmp = tempfile.mkdtemp(prefix="tsbench.")
        self.ts_bench = os.path.join(args.builddir, "bench", "ts-bench")
        self.ts_bench_base = os.path.join(args.compare, "bench", "ts-bench") if args.compare else None
        self.servers = []
        self.raw = {"nsevent": [], "throughput": [], "read": [], "collectd": [], "values": [],
                    "socket_runs": [], "socket_read": [], "meta": {}}

    # -- namespace and iperf3 servers
    def setup(self):
        run(["ip", "netns", "add", NS])
        run(["ip", "-n", NS, "link", "set", "lo", "up"])
        for a in [A4, B4, CONN_SERVER] + CONN_CLIENTS:
            run(["ip", "-n", NS, "addr", "add", a + "/32", "dev", "lo"])
        for a in (A6, B6):
            run(["ip", "-n", NS, "addr", "add", a + "/128", "dev", "lo", "nodad"])
        # IPv4 server on an AF_INET socket; a dual-stack one for IPv4-mapped IPv6.
        for cmd in (["iperf3", "-s", "-B", A4, "-p", str(PORT4)],
                    ["iperf3", "-s", "-p", str(PORT6)]):
            self.servers.append(subprocess.Popen(nsx(*cmd), stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL))
        time.sleep(0.5)

    def cleanup(self):
        for p in self.servers:
            p.terminate()
        for p in self.servers:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        r = run(["ip", "netns", "pids", NS], check=False)
        for pid in r.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
        run(["ip", "netns", "del", NS], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def iperf(self, variant, seconds):
        dst, src, port = (A4, B4, PORT4) if variant["family"] == "ipv4" else \
            ("::ffff:" + A4, "::ffff:" + B4, PORT6)
        return nsx("iperf3", "-c", dst, "-B", src, "-p", str(port), "-t", str(seconds),
                   "-l", variant["len"], "-J")

    @staticmethod
    def iperf_bps(out):
        j = json.loads(out)
        return j["end"]["sum_received"]["bits_per_second"]

    @staticmethod
    def iperf_cpu(out):
        """CPU used by both iperf3 ends, in CPUs (1.0 = one CPU busy all along)."""
        c = json.loads(out)["end"]["cpu_utilization_percent"]
        return (c["host_total"] + c["remote_total"]) / 100.0

    def conf(self, n, subnets=None, rtt=True, cgroups=False, accounting=None):
        if subnets is None:
            subnets = default_subnets(n)
        path = os.path.join(self.tmp, "conf-%d-%s-%s-%s-%s" % (n, subnets, rtt, cgroups,
                                                             accounting))
        if not os.path.exists(path):
            write_conf(path, gen_prefixes(n), subnets, rtt, accounting)
            if cgroups:
                write_cgroups(path)
        return path

    def attach(self, impl, n, cmd, stats, rtt=True, accounting=None, conf=None):
        out = os.path.join(self.tmp, "attach.json")
        if impl == "baseline":
            argv = [self.ts_bench_base, "attach", "--impl", "plugin", "--out", out]
        else:
            argv = [self.ts_bench, "attach", "--impl",
                    "plugin" if impl == "cgroups" else impl, "--out", out]
        if stats:
            argv.append("--stats")
        argv += [conf or self.conf(n, rtt=rtt, cgroups=impl == "cgroups",
                                   accounting=accounting), "--"] + cmd
        r = run(argv, check=False)
        if r.returncode != 0:
            raise RuntimeError("ts-bench %s N=%d failed: %s" % (impl, n, r.stderr.strip()))
        with open(out) as f:
            res = json.load(f)
        res["impl"] = impl
        return res, r.stdout

    # -- phase 1: ns/event
    def phase_nsevent(self):
        a = self.a
        impls = ["plugin", "floor", "naive"] + (["baseline"] if a.compare else []) + (
            ["cgroups"] if a.cgroups else [])
        if a.no_naive:
            impls.remove("naive")
        for rnd in range(a.rounds):
            for load in a.loads:
                variant = {"family": "ipv4", "len": load}
                for n in a.ns:
                    k = rnd % len(impls)
                    for impl in impls[k:] + impls[:k]:
                        self.nsevent_one(rnd, load, impl, n, variant)

    def nsevent_one(self, rnd, load, impl, n, variant):
                    a = self.a
                    got = []
                    self.retry(lambda: got.append(self.attach(impl, n, self.iperf(
                        variant, a.window), True)) or got[-1][1])
                    res, out = got[-1]
                    res["round"] = rnd
                    res["load_len"] = load
                    res["iperf_bps"] = self.iperf_bps(out)
                    self.raw["nsevent"].append(res)
                    log("ns/event round %d %s N=%-5d %-8s %s, init %.0f ms" % (
                        rnd + 1, load, n, impl, " ".join(
                            "%s %.0f" % (p["name"], p["run_time_ns"] / p["run_cnt"])
                            for p in res["progs"] if p["run_cnt"] >= MIN_EVENTS),
                        res["init_ms"]))

    # -- phase 2: throughput
    def variants(self):
        v = []
        for fam in ("ipv4", "mapped"):
            for ln in ("128K", "64"):
                v.append({"family": fam, "len": ln, "name": "%s %s" % (
                    "IPv4" if fam == "ipv4" else "IPv4-mapped IPv6",
                    "128 KiB" if ln == "128K" else "64 B")})
        if self.a.quick:  # one of each family and size, to keep CI short
            v = [v[0], v[3]]
        return v

    def retry(self, fn, tries=3):
        """An iperf3 run that fails or moves nothing (a stalled connection on an
        overloaded machine) is run again, up to `tries` times in all."""
        for i in range(tries):
            try:
                out = fn()
                if self.iperf_bps(out) > 0:
                    return out
                why = "no bytes moved"
            except (RuntimeError, ValueError, KeyError) as e:
                why = str(e)
            log("iperf3 run %d of %d failed (%s)%s" % (i + 1, tries, why[:200],
                                                        "; again" if i + 1 < tries else ""))
        raise RuntimeError("iperf3 failed %d times in a row" % tries)

    def hooked(self, v):
        self.iptables_hook(True)
        try:
            return run(self.iperf(v, self.a.tput_seconds)).stdout
        finally:
            self.iptables_hook(False)

    def iptables_hook(self, on):
        for chain, hook in (("TSB_TX", "OUTPUT"), ("TSB_RX", "INPUT")):
            run(nsx("iptables", "-I" if on else "-D", hook, "-j", chain))

    def phase_throughput(self):
        a = self.a
        for kind in a.kinds:
            # The floor does not depend on N: once, to show what any hook costs; the
            # plugin without RTT once, to show what the per-segment RTT program costs.
            # Socket accounting classifies once per connection: its cost cannot grow
            # with N between the smallest and the largest.
            for n in (a.ns[:1] if kind in ("floor", "plugin-rtt-off") else
                      sorted({a.ns[0], a.ns[-1]}) if kind == "socket" else a.ns):
                if kind == "iptables":
                    rules = os.path.join(self.tmp, "iptables-%d" % n)
                    write_iptables(rules, ipv4_prefixes(n))
                    with open(rules) as f:
                        run(nsx("iptables-restore"), input=f.read())
                for v in self.variants():
                    rec = {"kind": kind, "n": n, "variant": v["name"], "a_bps": [], "b_bps": [],
                           "a_cpu": [], "b_cpu": []}
                    for _ in range(a.pairs):
                        # A: nothing attached / no rules
                        out = self.retry(lambda: run(self.iperf(v, a.tput_seconds)).stdout)
                        rec["a_bps"].append(self.iperf_bps(out))
                        rec["a_cpu"].append(self.iperf_cpu(out))
                        # B: plugin attached / rules hooked
                        if kind in ("plugin", "floor", "plugin-rtt-off", "socket"):
                            out = self.retry(lambda: self.attach(
                                "plugin" if kind == "socket" else kind.split("-")[0], n,
                                self.iperf(v, a.tput_seconds), False,
                                rtt=kind != "plugin-rtt-off",
                                accounting="socket" if kind == "socket" else None)[1])
                        else:
                            out = self.retry(lambda: self.hooked(v))
                        rec["b_bps"].append(self.iperf_bps(out))
                        rec["b_cpu"].append(self.iperf_cpu(out))
                    rec["ratios"] = [b / x for x, b in zip(rec["a_bps"], rec["b_bps"])]
                    rec["median_ratio"] = median(rec["ratios"])
                    # Bytes per CPU-second: other jobs on the machine take CPU time
                    # from both runs of a pair alike but change it between pairs.
                    rec["eff_ratios"] = [(b / bc) / (x / ac) for x, b, ac, bc in zip(
                        rec["a_bps"], rec["b_bps"], rec["a_cpu"], rec["b_cpu"]) if ac > 0 and bc > 0]
                    rec["median_eff_ratio"] = median(rec["eff_ratios"])
                    self.raw["throughput"].append(rec)
                    log("throughput %-8s N=%-5d %-24s ratio %.3f, per CPU %.3f (A %.2f Gbit/s)" % (
                        kind, n, v["name"], rec["median_ratio"], rec["median_eff_ratio"] or 0,
                        median(rec["a_bps"]) / 1e9))
                if kind == "iptables":
                    run(nsx("iptables", "-F", "TSB_TX"))
                    run(nsx("iptables", "-F", "TSB_RX"))
                    run(nsx("iptables", "-X", "TSB_TX"))
                    run(nsx("iptables", "-X", "TSB_RX"))

    # -- phase 3: read cycle, memory, init
    def phase_read(self):
        a = self.a
        cases = [(n, None) for n in a.read_ns] + [(n, 0) for n in a.read_worst]
        for rnd in range(a.read_rounds):
            for n, subnets in cases:
                for impl, tool in [("plugin", self.ts_bench)] + (
                        [("baseline", self.ts_bench_base)] if a.compare else []):
                    out = os.path.join(self.tmp, "read.json")
                    run([tool, "read", "--cycles", str(a.cycles), "--out", out,
                         self.conf(n, subnets)])
                    with open(out) as f:
                        res = json.load(f)
                    res["round"] = rnd
                    res["impl"] = impl
                    self.raw["read"].append(res)
                    log("read %-8s N=%-5d subnets=%-5d read %.2f ms (maps %.2f, emit %.2f), init %.0f ms" % (
                        impl, n, res["subnets"], median(res["read_ms"]), median(res["maps_ms"]),
                        median(res["emit_ms"]), res["init_ms"]))

    # -- phase: socket accounting (issue 12) next to syscall accounting
    def netns_segments(self):
        """TCP segments in + out of the bench namespace so far (its own /proc/net/snmp)."""
        rows = [l.split() for l in run(nsx("cat", "/proc/net/snmp")).stdout.splitlines()
                if l.startswith("Tcp:")]
        d = dict(zip(rows[0][1:], rows[1][1:]))
        return int(d["InSegs"]) + int(d["OutSegs"])

    def omem(self, out=None):
        """Sum of sk_omem_alloc (ss -m "o") over the namespace's established TCP sockets:
        where the kernel charges a socket's BPF socket storage."""
        if out is None:
            out = run(nsx("ss", "-tmnH", "state", "established")).stdout
        total = sockets = 0
        for part in out.split("skmem:(")[1:]:
            for f in part.split(")")[0].split(","):
                if f.startswith("o") and f[1:].isdigit():
                    total += int(f[1:])
                    sockets += 1
        return total, sockets

    def conns_conf(self, accounting):
        path = os.path.join(self.tmp, "conns-%s.conf" % accounting)
        with open(path, "w") as f:
            f.write('<Subnet "conns">\n  Prefix "%s"\n</Subnet>\nRTT true\n' % CONN_PREFIX)
            if accounting == "socket":
                f.write('Accounting "socket"\n')
        return path

    def phase_socket(self):
        a = self.a
        # 1. Program runs under a steady iperf3 load: the plugin's programs' run counts
        # (kernel BPF statistics) against the namespace's TCP segments and connections
        # (iperf3: a control and a data connection, four sockets).
        for rnd in range(a.rounds):
            for load in a.loads:
                for acct in ("syscall", "socket"):
                    v = {"family": "ipv4", "len": load}
                    got = []

                    def once():
                        seg0 = self.netns_segments()
                        res, out = self.attach("plugin", a.ns[0], self.iperf(v, a.window), True,
                                               accounting=acct if acct == "socket" else None)
                        got.append((res, out, self.netns_segments() - seg0))
                        return out
                    self.retry(once)
                    res, out, segs = got[-1]
                    runs = sum(p["run_cnt"] for p in res["progs"])
                    rec = {"accounting": acct, "load_len": load, "round": rnd, "window_s": a.window,
                           "segments": segs, "connections": 2, "runs": runs,
                           "progs": res["progs"], "iperf_bps": self.iperf_bps(out),
                           "mode": res.get("mode")}
                    self.raw["socket_runs"].append(rec)
                    log("program runs %-7s %s: %d runs, %d segments, %d connections (%s)" % (
                        acct, load, runs, segs, 2, " ".join(
                            "%s=%d" % (p["name"], p["run_cnt"]) for p in res["progs"] if p["run_cnt"])))
        # 2. Read cycle and kernel memory with N open connections (both ends tracked).
        conns = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conns.py")
        for n in a.sock_conns:
            p = subprocess.Popen(nsx(sys.executable, conns, "--server", CONN_SERVER, "--clients",
                                     ",".join(CONN_CLIENTS), "--n", str(n)),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            try:
                t0 = time.time()
                line = p.stdout.readline()
                if not line.startswith("ready"):
                    raise RuntimeError("bench/conns.py could not open %d connections" % n)
                log("%d connections open (%.0f s)" % (n, time.time() - t0))
                om0, socks = self.omem()
                rec = {"connections": n, "sockets": socks, "omem_without": om0}
                for acct in ("syscall", "socket"):
                    out = os.path.join(self.tmp, "read.json")
                    r = run([self.ts_bench, "read", "--cycles", str(a.cycles), "--out", out,
                             self.conns_conf(acct)])
                    if acct == "socket":
                        rec["walk"] = ("every TCP socket of every network namespace found "
                                       "(the kernel refused the socket-storage map iterator)"
                                       if "refused the walk of the socket storage" in r.stderr
                                       else "the socket-storage map iterator")
                    with open(out) as f:
                        res = json.load(f)
                    rec[acct] = {"read_ms": res["read_ms"], "maps_ms": res["maps_ms"],
                                 "init_ms": res["init_ms"], "map_memlock": res["map_memlock"]}
                # The storage exists while the plugin is loaded: ss runs under it.
                res, out = self.attach("plugin", 1, nsx("ss", "-tmnH", "state", "established"),
                                       False, conf=self.conns_conf("socket"))
                rec["omem_with"], _ = self.omem(out)
                rec["bytes_per_socket"] = (rec["omem_with"] - om0) / socks if socks else None
                self.raw["socket_read"].append(rec)
                log("read with %d connections: syscall %.2f ms, socket %.2f ms; storage %s bytes "
                    "per socket (sk_omem_alloc of %d sockets: %d bytes, %d with the plugin)" % (
                        n, median(rec["syscall"]["read_ms"]), median(rec["socket"]["read_ms"]),
                        fmt(rec["bytes_per_socket"]), socks, om0, rec["omem_with"]))
            finally:
                p.stdin.close()
                try:
                    p.wait(120)
                except subprocess.TimeoutExpired:
                    p.kill()

    def collectd_rss(self, conf_block, seconds):
        d = tempfile.mkdtemp(prefix="collectd.", dir=self.tmp)
        os.makedirs(os.path.join(d, "plugins"))
        shutil.copy("/usr/lib/collectd/logfile.so", os.path.join(d, "plugins"))
        shutil.copy(os.path.join(self.a.builddir, ".libs", "tcpsubnet.so"),
                    os.path.join(d, "plugins"))
        with open(os.path.join(d, "collectd.conf"), "w") as f:
            f.write('Hostname "tsbench"\nFQDNLookup false\nBaseDir "%s"\nPIDFile "%s/pid"\n'
                    'PluginDir "%s/plugins"\nTypesDB "/usr/share/collectd/types.db"\n'
                    'Interval %d\nLoadPlugin logfile\n<Plugin logfile>\n  LogLevel info\n'
                    '  File "%s/log"\n</Plugin>\n' % (d, d, d, self.a.collectd_interval, d))
            if conf_block:
                with open(conf_block) as c:
                    f.write("LoadPlugin tcpsubnet\n<Plugin tcpsubnet>\n%s</Plugin>\n" % c.read())
        p = subprocess.Popen(["/usr/sbin/collectd", "-f", "-C", os.path.join(d, "collectd.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(seconds)
        rss = None
        try:
            with open("/proc/%d/status" % p.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss = int(line.split()[1])
        except OSError:
            pass
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        logtext = open(os.path.join(d, "log")).read() if os.path.exists(os.path.join(d, "log")) else ""
        return rss, logtext

    def phase_collectd(self):
        a = self.a
        if not os.path.exists("/usr/sbin/collectd"):
            log("collectd not installed: no collectd RSS figures")
            return
        for n in a.read_ns:
            base, _ = self.collectd_rss(None, a.collectd_seconds)
            withp, logtext = self.collectd_rss(self.conf(n), a.collectd_seconds)
            ok = "attach mode" in logtext
            rec = {"n": n, "rss_kb_without": base, "rss_kb_with": withp, "plugin_started": ok}
            self.raw["collectd"].append(rec)
            log("collectd RSS N=%-5d without %s KiB, with %s KiB%s" % (
                n, base, withp, "" if ok else " (plugin did not start!)"))

    # -- phase 5: collectd's memory per dispatched value, for the options that set the
    # number of values per subnet (RTTBuckets, RTTBucketWidth, RTT, ...)
    def phase_values(self):
        a = self.a
        if not os.path.exists("/usr/sbin/collectd"):
            log("collectd not installed: no values figures")
            return
        prefixes = gen_prefixes(a.values_subnets)
        for rnd in range(a.read_rounds):
            base, _ = self.collectd_rss(None, a.collectd_seconds)
            for opts in VALUE_OPTIONS:
                path = os.path.join(self.tmp, "values-%d.conf" % VALUE_OPTIONS.index(opts))
                write_conf(path, prefixes, 0, "RTT false" not in opts)
                with open(path, "a") as f:
                    f.write("".join(o + "\n" for o in opts if o != "RTT false"))
                if "RTT false" in opts:
                    # ts-bench read needs RTT; without it a subnet has if_octets and
                    # the health counters only.
                    count = (a.values_subnets + 1) * (
                        1 + 3 * ("Connections false" not in opts) +
                        ("Retransmits false" not in opts))
                else:
                    out = os.path.join(self.tmp, "read.json")
                    run([self.ts_bench, "read", "--cycles", "1", "--out", out, path])
                    with open(out) as f:
                        count = json.load(f)["values_per_cycle"]
                withp, logtext = self.collectd_rss(path, a.collectd_seconds)
                rec = {"round": rnd, "subnets": a.values_subnets, "options": opts,
                       "values_per_cycle": count, "rss_kb_without": base,
                       "rss_kb_with": withp, "plugin_started": "attach mode" in logtext,
                       "collectd_interval": a.collectd_interval,
                       "collectd_seconds": a.collectd_seconds,
                       "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC")}
                self.raw["values"].append(rec)
                log("values %-40s %7d values/cycle, collectd RSS %s -> %s KiB%s" % (
                    " ".join(opts) or "(defaults)", count, base, withp,
                    "" if rec["plugin_started"] else " (plugin did not start!)"))

    def meta(self, argv):
        cpu = "unknown"
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        try:
            stats = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
        except OSError:
            stats = "?"
        self.raw["meta"] = {
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "kernel": platform.release(), "cpu": cpu, "cpus": os.cpu_count(),
            "command": "bench/run" + ("".join(" " + shlex.quote(x) for x in argv)),
            "quick": self.a.quick, "mode": "tracepoint", "netns": NS,
            "iperf3": run(["iperf3", "--version"], check=False).stdout.splitlines()[0]
            if shutil.which("iperf3") else None,
            "iptables": run(["iptables", "--version"], check=False).stdout.strip(),
            "bpf_stats_enabled_sysctl_at_end": stats,
            "settings": {k: getattr(self.a, k) for k in (
                "ns", "rounds", "window", "loads", "pairs", "tput_seconds", "kinds", "read_ns",
                "cycles", "read_rounds")},
        }


# ---------------------------------------------------------------- report

# Option sets of the values phase, from the most values per subnet to the fewest.
VALUE_OPTIONS = [
    [],
    ["RTTBucketWidth 2"],
    ["RTTBucketWidth 3"],
    ["RTTBuckets false"],
    ["RTT false"],
    ["RTT false", "Connections false", "Retransmits false"],
]


def size_kib(kib):
    return "%.0f KiB" % kib if kib < 1024 else "%.1f MiB" % (kib / 1024)


def lname(load):
    return load.replace("K", " KiB") if "K" in load else load + " B"


def fmt(x, spec="%.0f"):
    return "n/a" if x is None else spec % x


def summarise(raw):
    """Medians per (load, N, impl, family) of ns/event, from the raw runs."""
    s = {}
    for r in raw["nsevent"]:
        for fam, _, names in FAMILIES:
            name = names.get(r["impl"])
            prog = [p for p in r["progs"] if p["name"] == name]
            if not prog or prog[0]["run_cnt"] < MIN_EVENTS:
                continue
            s.setdefault((r.get("load_len", "128K"), r["prefixes"], r["impl"], fam), []).append(
                prog[0]["run_time_ns"] / prog[0]["run_cnt"])
    return {k: median(v) for k, v in s.items()}


def sample_share(raw, load, n):
    """RTT histogram updates per tcp_probe event of the plugin's runs at (load, N): all
    samples over all events of the windows (ts-bench's rtt_samples, the program's
    run_cnt), or None."""
    samples = events = 0
    for r in raw["nsevent"]:
        if r["impl"] != "plugin" or r["prefixes"] != n or r.get("load_len", "128K") != load \
                or r.get("rtt_samples", -1) < 0:
            continue
        prog = [p for p in r["progs"] if p["name"] == "tp_rtt"]
        if prog:
            samples += r["rtt_samples"]
            events += prog[0]["run_cnt"]
    return samples / events if events >= MIN_EVENTS else None


def values_per_subnet(raw):
    for r in raw["read"]:
        if r["subnets"]:
            return (r["values_per_cycle"] // (r["subnets"] + 1))
    return 0


def socket_report(raw):
    """The socket-accounting section: program runs, read cycle, storage memory."""
    runs, reads = raw.get("socket_runs", []), raw.get("socket_read", [])
    if not runs and not reads:
        return []
    L = ["## Socket accounting (`Accounting \"socket\"`) next to syscall accounting", ""]
    tput = [t for t in raw["throughput"] if t["kind"] == "socket"]
    if tput:
        L.append("Throughput: the `socket` rows of the throughput table above (ratio against "
                 "nothing attached, same run, next to the `plugin` rows, which are syscall "
                 "accounting).")
        L.append("")
    if runs:
        L.append("Program runs: every program of the plugin, its run count from the kernel's BPF "
                 "statistics over a %g s window of one steady iperf3 stream (IPv4; iperf3 "
                 "opens a control and a data connection, 4 sockets), against the TCP segments "
                 "of the bench namespace in the window (its /proc/net/snmp InSegs + OutSegs). "
                 "No read cycle runs in the window: the socket walk's runs (one per tracked "
                 "socket and read cycle, whatever the traffic) are in the read-cycle table. "
                 "Programs see every namespace: connections other jobs open meanwhile add "
                 "their state changes. Hook events count each owner-flag pair of programs "
                 "(x and x_owned, which the kernel both enters for one event, one returning "
                 "at once) once. Median over rounds." % runs[0]["window_s"])
        L.append("")
        L.append("| accounting | load | segments | program runs | runs per segment | "
                 "hook events per connection | programs that ran |")
        L.append("|---|---|---:|---:|---:|---:|---|")
        keys = []
        for r in runs:
            if (r["accounting"], r["load_len"]) not in keys:
                keys.append((r["accounting"], r["load_len"]))
        for acct, load in keys:
            rs = [r for r in runs if r["accounting"] == acct and r["load_len"] == load]
            names = sorted({p["name"] for r in rs for p in r["progs"] if p["run_cnt"]})
            segs = median([r["segments"] for r in rs])
            n = median([r["runs"] for r in rs])
            ev = median([hook_events(r) for r in rs])
            L.append("| %s | %s | %.0f | %.0f | %.4f | %.1f | %s |" % (
                acct, lname(load), segs, n, n / segs if segs else 0, ev / rs[0]["connections"],
                ", ".join(names) or "none"))
        L.append("")
    if reads:
        L.append("Read cycle with N idle open loopback connections (bench/conns.py, 1 byte each "
                 "way; both ends are in the configured subnet, so 2N tracked sockets): "
                 "`ts-bench read` (the plugin's read as `tcpsubnet_read()` runs it, one subnet, "
                 "RTT on), median of its cycles, syscall and socket accounting in the same run. "
                 "Storage: the sk_omem_alloc increase of the namespace's established sockets "
                 "while the plugin is loaded (`ss -m`, where the kernel charges BPF socket "
                 "storage), per socket. The 0 row is the walk's fixed cost (finding the "
                 "network namespaces, when the kernel has no socket-storage map iterator).")
        L.append("")
        L.append("| open connections | read, syscall (ms) | read, socket (ms) | socket / syscall "
                 "| kernel memory per tracked socket |")
        L.append("|---:|---:|---:|---:|---:|")
        for r in reads:
            a, b = median(r["syscall"]["read_ms"]), median(r["socket"]["read_ms"])
            L.append("| %d | %.2f | %.2f | %.1f | %s |" % (
                r["connections"], a, b, b / a if a else 0,
                "n/a" if r["bytes_per_socket"] is None else "%.0f bytes" % r["bytes_per_socket"]))
        walks = sorted({r.get("walk", "?") for r in reads})
        L.append("")
        L.append("Read-cycle walk in this run: %s." % ", ".join(walks))
        L.append("")
    return L


def report(raw, notes):
    m = raw["meta"]
    ns = sorted({r["prefixes"] for r in raw["nsevent"]})
    loads = []
    for r in raw["nsevent"]:
        if r.get("load_len", "128K") not in loads:
            loads.append(r.get("load_len", "128K"))
    s = summarise(raw)
    L = []
    L.append("<!-- Generated by bench/run (bench/bench.py); do not edit by hand. -->")
    L.append("# Performance of collectd-tcpsubnet")
    L.append("")
    L.append("| | |\n|---|---|")
    L.append("| date | %s |" % m["date"])
    L.append("| kernel | %s (attach mode %s) |" % (m["kernel"], m["mode"]))
    L.append("| CPU | %s, %d CPUs |" % (m["cpu"], m["cpus"]))
    L.append("| command | `%s` |" % m["command"])
    L.append("| tools | %s; %s |" % (m["iperf3"], m["iptables"]))
    L.append("| raw data | `docs/performance.json` (every run, not just the medians) |"
             if not m["quick"] else "| raw data | `bench.json` beside this file |")
    L.append("")
    L.append("The machine is a shared 2-core VM where other jobs run at the same time: every "
             "comparison below is measured in the same run, interleaved, and reported as a "
             "median.")
    L.append("")

    # ---- targets
    targets = []
    for load in loads:
        worst_gap, gap_n = None, None
        for n in ns:
            for fam in ("send", "recv"):
                p, f = s.get((load, n, "plugin", fam)), s.get((load, n, "floor", fam))
                if p is not None and f is not None and (worst_gap is None or p - f > worst_gap):
                    worst_gap, gap_n = p - f, "%s, N=%d" % (fam, n)
        if worst_gap is not None:
            targets.append(("bytes path within floor + 40 ns at every N (%s load)" % lname(load),
                            "worst: floor + %.0f ns (%s)" % (worst_gap, gap_n), worst_gap <= 40,
                            "" if worst_gap <= 40 else "missed by %.0f ns" % (worst_gap - 40)))
        gaps = [(s[(load, n, "plugin", "rtt")] - s[(load, n, "floor", "rtt")], n) for n in ns
                if (load, n, "plugin", "rtt") in s and (load, n, "floor", "rtt") in s]
        if gaps:
            g, gn = max(gaps)
            targets.append(("RTT program within floor + 40 ns at every N (%s load)" % lname(load),
                            "worst: floor + %.0f ns (N=%d)" % (g, gn), g <= 40,
                            "" if g <= 40 else "missed by %.0f ns" % (g - 40)))
        fr = [(f, n) for n in ns for f in [sample_share(raw, load, n)] if f is not None]
        if fr:
            f, fn = max(fr)
            targets.append(("RTT histogram updates <= 1/2 of tcp_probe events (%s load)" % lname(load),
                            "worst: %.1f %% (N=%d)" % (100 * f, fn), f <= 0.5,
                            "" if f <= 0.5 else "missed: %.1f %%" % (100 * f)))
        if ns:
            lo, hi = ns[0], ns[-1]
            worst = None
            for fam in ("send", "recv"):
                a, b = s.get((load, lo, "plugin", fam)), s.get((load, hi, "plugin", fam))
                if a and b and (worst is None or b / a > worst[0]):
                    worst = (b / a, fam)
            if worst:
                targets.append(("bytes cost at N=%d within 1.2x of N=%d (%s load)" % (
                    hi, lo, lname(load)), "%.2fx (%s)" % worst, worst[0] <= 1.2,
                    "" if worst[0] <= 1.2 else "missed by %.2fx" % (worst[0] - 1.2)))
    tp = [t for t in raw["throughput"] if t["kind"] == "plugin"]
    for ln, goal in (("128 KiB", 0.98), ("64 B", 0.95)):
        rs = [t for t in tp if t["variant"].endswith(ln)]
        if rs:
            w = min(rs, key=lambda t: t["median_ratio"])
            targets.append(("throughput ratio >= %.2f, %s writes" % (goal, ln),
                            "worst: %.3f (%s, N=%d)" % (w["median_ratio"], w["variant"], w["n"]),
                            w["median_ratio"] >= goal,
                            "" if w["median_ratio"] >= goal else "missed by %.3f" % (goal - w["median_ratio"])))
    rd, worst = {}, {}
    for r in raw["read"]:
        if r.get("impl", "plugin") != "plugin":
            continue
        if r["subnets"] == default_subnets(r["prefixes"]):
            rd.setdefault(r["prefixes"], []).extend(r["read_ms"])
        elif r["subnets"] == r["prefixes"]:
            worst.setdefault(r["prefixes"], []).extend(r["read_ms"])
    for n, goal in ((4096, 5.0), (65536, 50.0)):
        for table, what in ((rd, "%d subnets" % default_subnets(n)),
                            (worst, "%d subnets, worst case" % n)):
            if n in table:
                v = median(table[n])
                targets.append(("read cycle <= %g ms at %d prefixes (%s)" % (goal, n, what),
                                "%.2f ms" % v, v <= goal,
                                "" if v <= goal else "missed by %.1f ms (%.1fx)" % (v - goal, v / goal)))
    for ln in ("128 KiB", "64 B"):
        rs = [t for t in raw["throughput"] if t["kind"] == "socket" and t["variant"].endswith(ln)]
        if rs:
            w = min(rs, key=lambda t: t["median_ratio"])
            targets.append(("socket accounting: throughput ratio >= 0.99, %s writes" % ln,
                            "worst: %.3f (%s, N=%d)" % (w["median_ratio"], w["variant"], w["n"]),
                            w["median_ratio"] >= 0.99, "" if w["median_ratio"] >= 0.99 else
                            "missed by %.3f" % (0.99 - w["median_ratio"])))
    sr = [r for r in raw.get("socket_runs", []) if r["accounting"] == "socket"]
    if sr:
        # Loopback coalesces 64 B writes into few segments, so "per segment" alone says
        # little: the count must not follow the load (calls, segments) at all.
        # A state change enters both programs of an owner-flag pair (acct_state and
        # acct_state_owned; one returns at once): one hook event, counted once.
        w = max(sr, key=lambda r: hook_events(r) / r["connections"])
        per = hook_events(w) / w["connections"]
        targets.append(("socket accounting: a handful of hook events per connection, none "
                        "per segment or call (<= 16 per connection under steady iperf3)",
                        "worst: %d events (%d program runs) for %d connections, %d segments "
                        "(%s)" % (hook_events(w), w["runs"], w["connections"], w["segments"],
                                  lname(w["load_len"])),
                        per <= 16, "" if per <= 16 else "missed: %.1f per connection" % per))
    for r in raw.get("socket_read", []):
        if r["connections"] == 10000 and r.get("socket"):
            v = median(r["socket"]["read_ms"])
            targets.append(("socket accounting: read cycle <= 20 ms at 10,000 connections",
                            "%.2f ms" % v, v <= 20, "" if v <= 20 else "missed by %.1f ms" % (v - 20)))
    inits = [r["init_ms"] for r in raw["nsevent"] if r["impl"] == "plugin" and r["prefixes"] == 65536]
    if inits:
        v = median(inits)
        targets.append(("init <= 1 s at 65536 prefixes", "%.0f ms" % v, v <= 1000,
                        "" if v <= 1000 else "missed by %.0f ms" % (v - 1000)))
    L.append("## Targets")
    L.append("")
    L.append("| target | measured | met |")
    L.append("|---|---|---|")
    for name, val, ok, miss in targets:
        L.append("| %s | %s | %s |" % (name, val, "yes" if ok else "**no**, " + miss))
    L.append("")

    # ---- ns/event
    L.append("## Cost per event (ns), kernel BPF run-time statistics")
    L.append("")
    L.append("Median over %d rounds of a %g s window of steady iperf3 load (IPv4, one "
             "stream inside the bench's namespace) per implementation and N; N = configured "
             "prefixes, half IPv4, half IPv6, in N/16 subnets (at least one); the bench "
             "traffic matches the most specific of nested prefixes. `n/a`: fewer than %d "
             "events in the window (state changes and retransmissions are rare under a "
             "steady stream). Programs see every namespace, so other jobs' traffic is in "
             "these figures too. With 128 KiB writes every event follows a 128 KiB copy that "
             "has flushed the CPU caches; with 64 B writes the caches stay warm." % (
                 m["settings"]["rounds"], m["settings"]["window"], MIN_EVENTS))
    L.append("")
    base = any(r["impl"] == "baseline" for r in raw["nsevent"])
    for load in loads:
        L.append("### %s writes" % lname(load))
        L.append("")
        L.append("| N | event | floor | plugin | plugin - floor | naive |%s" % (
            " baseline build |" if base else ""))
        L.append("|---:|---|---:|---:|---:|---:|%s" % ("---:|" if base else ""))
        for n in ns:
            for fam, label, _ in FAMILIES:
                f, p, nv = (s.get((load, n, "floor", fam)), s.get((load, n, "plugin", fam)),
                            s.get((load, n, "naive", fam)))
                if f is None and p is None and nv is None:
                    continue
                L.append("| %d | %s | %s | %s | %s | %s |%s" % (
                    n, label, fmt(f), fmt(p), fmt(p - f, "%+.0f") if p is not None and
                    f is not None else "n/a", fmt(nv),
                    " %s |" % fmt(s.get((load, n, "baseline", fam))) if base else ""))
        L.append("")
        shares = [(n, sample_share(raw, load, n)) for n in ns]
        if any(x is not None for _n, x in shares):
            L.append("RTT histogram updates per tcp_probe event (the plugin's samples over "
                     "the RTT program's run count, all rounds): %s. One sample per round trip of "
                     "new data and one per receive-only connection, not one per segment "
                     "(README, RTT)." % ", ".join("N=%d %s" % (n, "n/a" if x is None else "%.1f %%" % (100 * x))
                                         for n, x in shares))
            L.append("")

    # ---- Cgroup blocks
    if any(r["impl"] == "cgroups" for r in raw["nsevent"]):
        L.append("### With Cgroup blocks")
        L.append("")
        L.append("The same runs with two Cgroup blocks added, one of them holding the "
                 "bench traffic's cgroup (so every socket is looked up in the cgroup hash "
                 "and counted in it, with 3 x the counter slots). With Cgroup options the "
                 "typed programs always keep the per-socket memo (without them only above "
                 "32 prefixes), which holds the cgroup slot: the cgroup lookup is paid "
                 "once per socket (and again after a change of the cgroup mapping). "
                 "Ratio: with / without, same run.")
        L.append("")
        L.append("| load | N | event | plugin | with Cgroup blocks | difference | ratio |")
        L.append("|---|---:|---|---:|---:|---:|---:|")
        for load in loads:
            for n in ns:
                for fam, label, _ in FAMILIES:
                    p, c = s.get((load, n, "plugin", fam)), s.get((load, n, "cgroups", fam))
                    if p is None or c is None:
                        continue
                    L.append("| %s | %d | %s | %s | %s | %s | %.2f |" % (
                        lname(load), n, label, fmt(p), fmt(c), fmt(c - p, "%+.0f"), c / p))
        L.append("")

    # ---- throughput
    if raw["throughput"]:
        L.append("## Throughput: iperf3 with vs. without")
        L.append("")
        L.append("Median of the per-pair ratios B/A over %d interleaved pairs (A B A B ...) of "
                 "%d s iperf3 runs. plugin: A = nothing attached, B = the plugin attached "
                 "with N prefixes (RTT, connections, retransmits on). plugin-rtt-off: the "
                 "same with `RTT false` (no program on tcp_probe). floor: B = the no-op "
                 "programs on the same hooks (what attaching anything there costs, "
                 "including the kernel's dispatch that ns/event does not see). socket: the "
                 "plugin with `Accounting \"socket\"` (no program per segment or call; "
                 "see Socket accounting below; syscall accounting is `plugin`). "
                 "iptables: A = no rules, "
                 "B = N counting rules per direction (chains hooked from OUTPUT with `-d` and "
                 "INPUT with `-s`, no target, the bench traffic's /24 last), what collectd's "
                 "iptables plugin needs to count N subnets. In brackets: the same ratio of "
                 "throughput per CPU-second of both iperf3 ends (iperf3's own CPU figures), "
                 "which other jobs on the machine disturb much less than throughput itself; "
                 "it misses work done in softirq context outside the iperf3 processes." % (
                     m["settings"]["pairs"], m["settings"]["tput_seconds"]))
        L.append("")
        variants = []
        for t in raw["throughput"]:
            if t["variant"] not in variants:
                variants.append(t["variant"])
        for kind in ("plugin", "plugin-rtt-off", "socket", "floor", "iptables"):
            rows = [t for t in raw["throughput"] if t["kind"] == kind]
            if not rows:
                continue
            L.append("| %s: N | %s |" % (kind, " | ".join(variants)))
            L.append("|---:|%s" % ("---:|" * len(variants)))
            for n in sorted({t["n"] for t in rows}):
                cells = []
                for v in variants:
                    t = [x for x in rows if x["n"] == n and x["variant"] == v]
                    cells.append(("%.3f (%s)" % (t[0]["median_ratio"],
                                                 fmt(t[0].get("median_eff_ratio"), "%.3f")))
                                 if t else "")
                L.append("| %d | %s |" % (n, " | ".join(cells)))
            L.append("")
        L.append("Throughput without anything (median of all A runs): %s." % ", ".join(
            "%s %.2f Gbit/s" % (v, median([b for t in raw["throughput"] if t["variant"] == v
                                           for b in t["a_bps"]]) / 1e9) for v in variants))
        L.append("")

    # ---- read cycle and memory
    if raw["read"]:
        L.append("## Read cycle and memory (RTT on)")
        L.append("")
        L.append("One read cycle as the collectd glue runs it: the per-CPU counters read with one "
                 "`bpf_map_lookup_batch` and the RTT histograms through their mapping, each "
                 "summed over the CPUs, every value built (deltas and "
                 "percentiles of the 193 RTT buckets, log2 bucket rates) and handed to a stand-in for "
                 "`plugin_dispatch_values` that copies it into a `value_list_t`-sized record; "
                 "every slot has new RTT samples each cycle (worst case). The standard "
                 "configuration has N/16 subnets; the rows with one subnet per prefix are the "
                 "worst case (every value is per subnet: %d values per subnet and cycle with "
                 "the default options). Median of %d cycles x %d rounds. collectd's own cost per dispatched value (its cache and write "
                 "queue) is not in `read`; it shows in the collectd RSS column (collectd with and without the plugin, "
                 "standard configuration, after a few read cycles)." % (
                     values_per_subnet(raw), m["settings"]["cycles"], m["settings"]["read_rounds"]))
        L.append("")
        base = any(r.get("impl") == "baseline" for r in raw["read"])
        L.append("| prefixes | subnets | values/cycle | read (ms) | maps read (ms) | values built (ms) "
                 "|%s BPF map memory | harness RSS increase | collectd RSS increase |" % (
                     " read, baseline build (ms) |" if base else ""))
        L.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|%s" % ("---:|" if base else ""))
        keys = []
        for r in raw["read"]:
            if (r["prefixes"], r["subnets"]) not in keys:
                keys.append((r["prefixes"], r["subnets"]))
        for n, sub in keys:
            rs = [r for r in raw["read"] if r["prefixes"] == n and r["subnets"] == sub and
                  r.get("impl", "plugin") == "plugin"]
            bs = [r for r in raw["read"] if r["prefixes"] == n and r["subnets"] == sub and
                  r.get("impl") == "baseline"]
            c = [x for x in raw["collectd"] if x["n"] == n] if sub == default_subnets(n) else []
            crss = "n/a"
            if c and c[0]["rss_kb_with"] and c[0]["rss_kb_without"]:
                crss = size_kib(c[0]["rss_kb_with"] - c[0]["rss_kb_without"])
            L.append("| %d | %d | %d | %.2f | %.2f | %.2f |%s %s | %s | %s |" % (
                n, sub, rs[0]["values_per_cycle"],
                median([x for r in rs for x in r["read_ms"]]),
                median([x for r in rs for x in r["maps_ms"]]),
                median([x for r in rs for x in r["emit_ms"]]),
                (" %.2f |" % median([x for r in bs for x in r["read_ms"]])) if base else "",
                size_kib(rs[0]["map_memlock"] / 1024),
                size_kib(median([r["rss_kb_after"] - r["rss_kb_before"] for r in rs])), crss))
        L.append("")
    vals = [r for r in raw.get("values", []) if r["rss_kb_with"] and r["rss_kb_without"]
            and r["plugin_started"]]
    if vals:
        sub = vals[0]["subnets"]
        L.append("## collectd memory per value")
        L.append("")
        L.append("Measured %s. collectd (no writer, Interval %d, RSS after %d s) with the plugin and %d "
                 "one-prefix subnets (plus `other`), against collectd without the plugin, "
                 "for the options that set the number of values per subnet; median of %d "
                 "rounds. The increase is mostly collectd's value cache (one entry per "
                 "value: identifier, values, state); the plugin's own buffers are a few "
                 "hundred bytes per subnet (see the formula below). Writers add their own "
                 "buffers on top. Per value, the slope between the first and the last row "
                 "is the figure to plan with (the plugin's own fixed part is in every row)."
                 % (vals[0].get("date", m.get("date", "?")), vals[0]["collectd_interval"],
                    vals[0]["collectd_seconds"],
                                      sub, len({r["round"] for r in vals})))
        L.append("")
        L.append("| options | values per subnet | values/cycle | collectd RSS increase | "
                 "per value |")
        L.append("|---|---:|---:|---:|---:|")
        for opts in VALUE_OPTIONS:
            rs = [r for r in vals if r["options"] == opts]
            if not rs:
                continue
            inc = median([r["rss_kb_with"] - r["rss_kb_without"] for r in rs])
            count = rs[0]["values_per_cycle"]
            L.append("| %s | %d | %d | %s | %.2f KiB |" % (
                ", ".join("`%s`" % o for o in opts) or "defaults", count // (sub + 1), count,
                size_kib(inc), inc / count))
        rows = [(r["values_per_cycle"], r["rss_kb_with"] - r["rss_kb_without"]) for r in vals]
        hi, lo = max(rows), min(rows)
        if hi[0] > lo[0]:
            L.append("")
            slope = (median([b for a, b in rows if a == hi[0]]) -
                     median([b for a, b in rows if a == lo[0]])) / (hi[0] - lo[0])
            L.append("Slope: %.2f KiB of collectd RSS per value." % slope)
        L.append("")
    inits = {}
    for r in raw["nsevent"]:
        if r["impl"] == "plugin":
            inits.setdefault(r["prefixes"], []).append(r["init_ms"])
    if inits:
        L.append("## Init time (load, attach, fill the maps)")
        L.append("")
        L.append("| prefixes | plugin init (ms), median |")
        L.append("|---:|---:|")
        for n in sorted(inits):
            L.append("| %d | %.0f |" % (n, median(inits[n])))
        L.append("")
    L.extend(socket_report(raw))
    for e in raw.get("errors", []):
        L.append("**Phase failed in this run:** %s" % e)
        L.append("")
    if notes:
        L.append(notes.rstrip())
        L.append("")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(prog="bench/run")
    ap.add_argument("--quick", action="store_true", help="a short run (CI): few N, short windows")
    ap.add_argument("--builddir", required=True)
    ap.add_argument("--out", help="folder for bench.json and bench.md (default: docs/ in "
                    "full mode, a temporary folder in quick mode)")
    ap.add_argument("--compare", metavar="BUILDDIR", help="also measure the plugin of another "
                    "build folder (its bench/ts-bench), e.g. of the main branch, as 'baseline'")
    ap.add_argument("--only", help="comma-separated phases: nsevent,throughput,read,collectd,"
                    "socket,values (values: not in --quick unless named)")
    ap.add_argument("--kinds", dest="kinds_opt", help="comma-separated throughput kinds (plugin,plugin-rtt-off,"
                    "floor,iptables,socket) instead of all")
    ap.add_argument("--pairs", dest="user_pairs", type=int, help="interleaved pairs per "
                    "throughput figure instead of the default")
    ap.add_argument("--conns", help="comma-separated open-connection counts of the socket "
                    "phase's read cycle instead of the default")
    ap.add_argument("--ns", dest="user_ns", help="comma-separated N (prefix counts) instead "
                    "of the default")
    ap.add_argument("--rounds", dest="user_rounds", type=int, help="rounds of the ns/event phase")
    ap.add_argument("--no-naive", action="store_true", help="leave out the naive reference")
    ap.add_argument("--cgroups", action="store_true", help="ns/event also with Cgroup blocks "
                    "(the bench traffic's cgroup in one), as 'cgroups'; always in the full run")
    ap.add_argument("--loads", help="comma-separated iperf3 write sizes of the ns/event "
                    "loads (default 128K,64; quick: 128K)")
    ap.add_argument("--report-only", metavar="JSON", help="only write the report again from "
                    "the raw JSON of an earlier run (and bench/NOTES.md)")
    ap.add_argument("--argv", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    notes_path = os.path.join(top, "bench", "NOTES.md")
    if a.report_only:
        with open(a.report_only) as f:
            raw = json.load(f)
        notes = open(notes_path).read() if not raw["meta"]["quick"] else ""
        d, name = os.path.split(os.path.abspath(a.report_only))
        if a.out:
            os.makedirs(a.out, exist_ok=True)
        mpath = os.path.join(a.out or d, "PERFORMANCE.md" if name == "performance.json"
                             else "bench.md")
        with open(mpath, "w") as f:
            f.write(report(raw, notes))
        log("wrote %s from %s" % (mpath, a.report_only))
        return
    if a.quick:
        a.ns, a.rounds, a.window, a.pairs, a.tput_seconds = [1, 4096], 1, 1, 1, 1
        a.kinds, a.read_ns, a.read_worst, a.cycles, a.read_rounds = \
            ["plugin", "plugin-rtt-off", "floor", "iptables", "socket"], [16], [256], 3, 1
        a.sock_conns = [0, 1000]
        a.collectd_seconds, a.collectd_interval = 3, 1
        a.values_subnets = 256
    else:
        a.ns, a.rounds, a.window, a.pairs, a.tput_seconds = [1, 16, 256, 4096, 65536], 3, 4, 5, 2
        a.kinds, a.read_ns, a.read_worst, a.cycles, a.read_rounds = \
            ["plugin", "plugin-rtt-off", "floor", "iptables", "socket"], [16, 4096, 65536], \
            [4096, 65536], 10, 2
        a.sock_conns = [0, 1000, 10000, 100000]
        a.collectd_seconds, a.collectd_interval = 12, 5
        a.values_subnets = 4096
    if a.user_ns:
        a.ns = [int(x) for x in a.user_ns.split(",")]
    if a.user_rounds:
        a.rounds = a.user_rounds
    if a.user_pairs:
        a.pairs = a.user_pairs
    if a.kinds_opt:
        a.kinds = a.kinds_opt.split(",")
    if a.conns:
        a.sock_conns = [int(x) for x in a.conns.split(",")]
    # The full run measures the Cgroup blocks' cost too (docs/PERFORMANCE.md keeps it).
    a.cgroups = a.cgroups or not a.quick
    phases = a.only.split(",") if a.only else ["nsevent", "throughput", "read", "collectd",
                                               "socket"] + ([] if a.quick else ["values"])
    if a.loads:
        a.loads = a.loads.split(",")
    else:
        a.loads = ["128K"] if a.quick else ["128K", "64"]
    partial = a.only or a.user_ns or a.user_rounds or a.no_naive or a.kinds_opt or a.conns or \
        a.user_pairs or \
        a.loads != ["128K", "64"] and not a.quick
    if partial and not a.out and not a.quick:
        ap.error("--only/--ns/--rounds/--loads/--no-naive need --out (docs/PERFORMANCE.md "
                 "is the full run's)")
    b = Bench(a)
    argv = shlex.split(a.argv)
    # SIGTERM/SIGHUP: leave through the finally below (namespace, servers, rules go).
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    try:
        b.setup()
        t0 = time.time()
        for ph in phases:
            try:
                getattr(b, "phase_" + ph)()
            except RuntimeError as e:
                # Keep what the other phases measured; the report shows what is missing.
                log("phase %s failed: %s" % (ph, e))
                b.raw.setdefault("errors", []).append("%s: %s" % (ph, e))
        b.meta(argv)
        b.raw["meta"]["elapsed_s"] = round(time.time() - t0, 1)
    finally:
        b.cleanup()
    notes = open(notes_path).read() if os.path.exists(notes_path) and not a.quick else ""
    md = report(b.raw, notes)
    if a.out:
        outdir = a.out
        os.makedirs(outdir, exist_ok=True)
        jpath, mpath = os.path.join(outdir, "bench.json"), os.path.join(outdir, "bench.md")
    elif a.quick:
        outdir = tempfile.mkdtemp(prefix="tsbench-quick.")
        jpath, mpath = os.path.join(outdir, "bench.json"), os.path.join(outdir, "bench.md")
    else:
        jpath = os.path.join(top, "docs", "performance.json")
        mpath = os.path.join(top, "docs", "PERFORMANCE.md")
    with open(jpath, "w") as f:
        json.dump(b.raw, f, indent=1)
        f.write("\n")
    with open(mpath, "w") as f:
        f.write(md)
    sys.stdout.write(md)
    log("wrote %s and %s (%.0f s)" % (mpath, jpath, b.raw["meta"]["elapsed_s"]))


if __name__ == "__main__":
    main()
