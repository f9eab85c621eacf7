#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""One TCP connection held open and driven from stdin (tests/bpf-socket.sh).

Usage: ts-hold.py SERVER-ADDR CLIENT-ADDR PORT. Listens on SERVER-ADDR:PORT, connects a
client bound to CLIENT-ADDR, prints "0 ready", then runs one command per stdin line and
answers each with one line that starts with the command's number (1, 2, ...):

  move C S   the client sends C bytes, the server reads them all; then the server sends
             S bytes and the client reads them all; then it waits until neither send
             queue holds anything (TIOCOUTQ 0: every byte acknowledged), so the kernel's
             totals are final for now. Answer: "N moved c2s=C s2c=S".
  close      the client shuts down its sending side, the server reads EOF and closes,
             the client reads EOF and closes. Answer: "N closed".
  reset      the server stops reading; the client writes until its send buffer is full
             and its unacknowledged count stays put (zero window: the server has
             acknowledged all it holds), then closes with SO_LINGER 0, which resets the
             connection with data still unsent; the server then reads what it holds
             until the reset. Answer: "N reset sent=A acked=B delivered=D" (B = A minus
             the send queue at the reset: what the peer acknowledged; D = what the
             server's socket had received in sequence, read after the reset).

Counts come from successful syscall return values only. Exits at EOF on stdin.
"""
import fcntl
import socket
import struct
import sys
import termios
import threading
import time

server, client, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in server else socket.AF_INET
BLOCK = bytes(65536)


def outq(s):
    return struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def send_all(s, n):
    while n > 0:
        n -= s.send(BLOCK[: min(n, len(BLOCK))])


def recv_exact(s, n):
    while n > 0:
        b = s.recv(min(n, 1 << 20))
        if not b:
            raise SystemExit("ts-hold: unexpected EOF")
        n -= len(b)


def move(src, dst, n):
    t = threading.Thread(target=send_all, args=(src, n))
    t.start()
    recv_exact(dst, n)
    t.join()


def drained(*socks):
    deadline = time.time() + 20
    while any(outq(s) for s in socks):
        if time.time() > deadline:
            raise SystemExit("ts-hold: data still unacknowledged after 20 s")
        time.sleep(0.005)


ls = socket.socket(fam, socket.SOCK_STREAM)
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind((server, port))
ls.listen(1)
cs = socket.socket(fam, socket.SOCK_STREAM)
cs.bind((client, 0))
cs.connect((server, port))
ss, _ = ls.accept()
ls.close()
print("0 ready", flush=True)

for n, line in enumerate(sys.stdin, 1):
    cmd = line.split()
    if cmd[0] == "move":
        c2s, s2c = int(cmd[1]), int(cmd[2])
        move(cs, ss, c2s)
        move(ss, cs, s2c)
        drained(cs, ss)
        print(f"{n} moved c2s={c2s} s2c={s2c}", flush=True)
    elif cmd[0] == "close":
        cs.shutdown(socket.SHUT_WR)
        while ss.recv(65536):
            pass
        ss.close()
        while cs.recv(65536):
            pass
        cs.close()
        print(f"{n} closed", flush=True)
    elif cmd[0] == "reset":
        cs.setblocking(False)
        sent, last, since = 0, -1, time.time()
        while time.time() - since < 0.5:
            try:
                sent += cs.send(BLOCK)
                continue
            except BlockingIOError:
                pass
            q = outq(cs)
            if q != last:
                last, since = q, time.time()
            time.sleep(0.01)
        acked = sent - outq(cs)
        cs.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        cs.close()
        delivered = 0
        try:
            while True:
                b = ss.recv(1 << 20)
                if not b:
                    break
                delivered += len(b)
        except ConnectionResetError:
            pass
        ss.close()
        print(f"{n} reset sent={sent} acked={acked} delivered={delivered}", flush=True)
    else:
        raise SystemExit(f"ts-hold: unknown command {line.strip()}")
