# SPDX-License-Identifier: GPL-2.0-only
"""Holds N idle loopback TCP connections open for the socket-accounting read-cycle bench.

    python3 bench/conns.py --server ADDR --clients ADDR,ADDR,... --n N

Run inside the bench's network namespace (ip netns exec). Worker processes of
PER_WORKER connections each, each with 8 listening ports on ADDR, clients bound to the
client addresses with IP_BIND_ADDRESS_NO_PORT, so N may exceed the ephemeral port range
and one process's open-file limit many times over. Each
connection moves one byte each way, so both ends are established sockets with data.
Prints "ready N" once all are open, then holds them until standard input closes.
"""
import argparse
import os
import resource
import signal
import socket
import sys

IP_BIND_ADDRESS_NO_PORT = 24
PORTS = 8
# Both ends of a connection are in one process: with the usual hard limit of open files
# (which root cannot raise without CAP_SYS_RESOURCE) one process holds only so many.
PER_WORKER = 4000


def hold(a, n, port, ready_fd):
    """Opens n connections to listeners on port .. port + PORTS - 1, reports, sleeps."""
    need = 2 * n + PORTS + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    listeners = []
    for p in range(PORTS):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.server, port + p))
        s.listen(4096)
        listeners.append(s)
    clients = a.clients.split(",")
    held = []
    for i in range(n):
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        c.bind((clients[i % len(clients)], 0))
        k = (i // len(clients)) % PORTS
        c.connect((a.server, port + k))
        s, _ = listeners[k].accept()
        c.sendall(b"c")
        s.sendall(b"s")
        s.recv(1)
        c.recv(1)
        held.append((c, s))
    os.write(ready_fd, b"%d\n" % len(held))
    while True:
        signal.pause()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", required=True)
    ap.add_argument("--clients", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--port", type=int, default=6100)
    a = ap.parse_args()
    r, w = os.pipe()
    workers = []
    left, port = a.n, a.port
    try:
        while left > 0:
            n = min(left, PER_WORKER)
            pid = os.fork()
            if pid == 0:
                os.close(r)
                try:
                    hold(a, n, port, w)
                finally:
                    os._exit(1)
            workers.append(pid)
            left -= n
            port += PORTS
        os.close(w)
        total = 0
        with os.fdopen(r) as f:
            for _ in workers:
                line = f.readline()
                if not line:
                    break
                total += int(line)
        sys.stdout.write("ready %d\n" % total if total == a.n else "failed %d\n" % total)
        sys.stdout.flush()
        sys.stdin.read()
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


if __name__ == "__main__":
    main()
