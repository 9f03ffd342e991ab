#!/usr/bin/env python3
"""Write a small Ethernet pcap with IPv4/IPv6 TCP, UDP and ICMP flows (struct only)."""
import struct, socket, sys

def csum(data):
    if len(data) % 2: data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data)//2), data))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff

def eth(ethertype, payload):
    return b'\x02\x00\x00\x00\x00\x02' + b'\x02\x00\x00\x00\x00\x01' + struct.pack('!H', ethertype) + payload

def ipv4(src, dst, proto, payload):
    hdr = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20+len(payload), 1, 0, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    hdr = hdr[:10] + struct.pack('!H', csum(hdr)) + hdr[12:]
    return eth(0x0800, hdr + payload)

def ipv6(src, dst, nh, payload):
    hdr = struct.pack('!IHBB16s16s', 6 << 28, len(payload), nh, 64,
                      socket.inet_pton(socket.AF_INET6, src), socket.inet_pton(socket.AF_INET6, dst))
    return eth(0x86dd, hdr + payload)

def tcp(sp, dp, flags, data=b''):
    return struct.pack('!HHIIBBHHH', sp, dp, 1000, 0, 5 << 4, flags, 65535, 0, 0) + data

def udp(sp, dp, data):
    return struct.pack('!HHHH', sp, dp, 8+len(data), 0) + data

def icmp(t, c, data=b'\0'*8):
    return struct.pack('!BBHI', t, c, 0, 0) + data

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
T0 = 1416316505  # 2014-11-18 13:15:05 UTC
pkts = [
    (T0, 734000, ipv4('10.0.1.5', '83.242.167.77', 6, tcp(49126, 80, SYN))),
    (T0, 812000, ipv4('10.0.1.5', '83.242.167.77', 6, tcp(49126, 80, ACK | PSH, b'GET / HTTP/1.0\r\n\r\n'))),
    (T0 + 1, 2000, ipv4('10.0.1.5', '83.242.167.77', 6, tcp(49126, 80, ACK | FIN))),
    (T0 + 2, 415000, ipv4('10.0.1.5', '10.255.255.53', 17, udp(49127, 53, b'\x12\x34' + b'\0' * 30))),
    (T0 + 3, 0, ipv4('10.0.1.20', '59.120.87.41', 1, icmp(8, 0))),
    (T0 + 3, 500000, ipv4('10.0.1.20', '59.120.87.41', 1, icmp(8, 0))),
    (T0 + 4, 100000, ipv4('10.0.1.20', '192.0.2.1', 1, icmp(3, 3))),
    (T0 + 5, 250000, ipv6('fd00::108', '2a09:e931:960c::7099', 6, tcp(33417, 443, SYN))),
    (T0 + 5, 300000, ipv6('fd00::108', '2a09:e931:960c::7099', 6, tcp(33417, 443, ACK | RST))),
    (T0 + 6, 0, ipv6('fd00::108', '2001:db8::53', 17, udp(40000, 53, b'\0' * 20))),
    (T0 + 7, 999000, ipv6('fd00::108', '2001:db8::1', 58, icmp(128, 0))),
]
out = open(sys.argv[1], 'wb')
out.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
for sec, usec, frame in pkts:
    out.write(struct.pack('<IIII', sec, usec, len(frame), len(frame)) + frame)
out.close()
