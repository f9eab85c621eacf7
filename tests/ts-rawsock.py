#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Reads packet copies from a raw IPPROTO_TCP socket (tests/bpf-rawsock.sh).

Usage: ts-rawsock.py LOCAL PEER SECONDS READY-FILE. The socket is bound to LOCAL and
connected to PEER (it then gets PEER's packets to LOCAL), so the
kernel fills its remote address as a TCP socket's would: a plugin that took it for TCP
would count its reads in PEER's subnet. Prints the bytes it read; touches READY-FILE
once the socket is open.
"""
import socket
import sys
import time

local, peer, seconds, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
s.bind((local, 0))
s.connect((peer, 0))
s.settimeout(0.2)
open(ready, "w").close()
total = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        total += len(s.recv(65536))
    except socket.timeout:
        pass
print(total)
