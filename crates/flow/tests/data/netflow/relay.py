#!/usr/bin/env python3
"""Receive NetFlow/IPFIX datagrams on 127.0.0.1:PORT, store each (u32 big-endian length, then
the bytes) in OUT and forward it to 127.0.0.1:TO. Exits after IDLE seconds without data."""
import socket, struct, sys

port, to, out, idle = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
rx.bind(('127.0.0.1', port))
rx.settimeout(idle)
tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
with open(out, 'wb') as f:
    while True:
        try:
            data, _ = rx.recvfrom(65535)
        except socket.timeout:
            break
        f.write(struct.pack('>I', len(data)) + data)
        f.flush()
        tx.sendto(data, ('127.0.0.1', to))
