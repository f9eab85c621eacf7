#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""One TCP socket connected in turn to servers in two subnets (tests/bpf-reconnect.sh).

Usage: ts-reconnect.py CLIENT-ADDR SERVER-A SERVER-B ROUNDS BYTES. Listens on SERVER-A
and SERVER-B (port 5990), then one client socket bound to CLIENT-ADDR connects to A,
sends BYTES + round, waits for the server's one-byte receipt, disconnects
(connect(AF_UNSPEC)) and connects to B, and so on for ROUNDS rounds each. The socket
keeps its per-socket memo across connections, so every reconnection must classify it
anew. Prints "a_tx=.. b_tx=.. receipts=.." (bytes the client sent to each server and
one-byte receipts it read).
"""
import ctypes
import socket
import struct
import sys
import threading

client, srv_a, srv_b, rounds, nbytes = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
PORT = 5990


def serve(ls, count):
    for _ in range(count):
        c, _ = ls.accept()
        want = struct.unpack("!I", c.recv(4, socket.MSG_WAITALL))[0]
        got = 4
        while got < want:
            b = c.recv(min(65536, want - got))
            if not b:
                break
            got += len(b)
        c.sendall(b"k")
        # The client disconnects with a reset: wait for it, so nothing is unread.
        try:
            c.recv(1)
        except ConnectionResetError:
            pass
        c.close()


listeners = []
for addr in (srv_a, srv_b):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((addr, PORT))
    ls.listen(16)
    listeners.append(ls)
threads = [threading.Thread(target=serve, args=(ls, rounds)) for ls in listeners]
for t in threads:
    t.start()

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((client, 0))
sent = {srv_a: 0, srv_b: 0}
receipts = 0
unspec = struct.pack("H", socket.AF_UNSPEC) + b"\0" * 14
libc = ctypes.CDLL(None, use_errno=True)
for r in range(rounds):
    for addr in (srv_a, srv_b):
        s.connect((addr, PORT))
        n = nbytes + r
        s.sendall(struct.pack("!I", n) + b"x" * (n - 4))
        sent[addr] += n
        receipts += len(s.recv(1, socket.MSG_WAITALL))
        # connect(AF_UNSPEC): tcp_disconnect(), the same socket can connect again.
        if libc.connect(s.fileno(), unspec, len(unspec)) != 0:
            sys.exit("disconnect failed: errno %d" % ctypes.get_errno())
for t in threads:
    t.join()
print("a_tx=%d b_tx=%d receipts=%d" % (sent[srv_a], sent[srv_b], receipts))
