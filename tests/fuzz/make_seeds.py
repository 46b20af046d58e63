#!/usr/bin/env python3
"""Writes the seed corpora from the byte layout in shared/PROTOCOL.md.
Run from the repository root: python3 tests/fuzz/make_seeds.py"""
import os
import struct

ROOT = os.path.join(os.path.dirname(__file__), "corpus")


def frame(mtype, body=b"", fds=0):
    return b"BATN" + struct.pack("<HHII", 1, mtype, len(body), fds) + body


def string(s):
    s = s.encode() if isinstance(s, str) else s
    return struct.pack("<Q", len(s)) + s


def u32list(xs):
    return struct.pack("<Q", len(xs)) + b"".join(struct.pack("<I", x) for x in xs)


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


channel = {
    "hello": frame(1, b"\x01" + struct.pack("<II", 1, 1234) + string("kvstore 0.1.0")),
    "welcome": frame(2, b"\x01" + struct.pack("<QI", 2, 0) + struct.pack("<Q", 1) + string("http")
                     + string("tcp://127.0.0.1:8080") + struct.pack("<I", 1)),
    "ready": frame(3, b"\x01"),
    "drain": frame(4, b"\x01" + struct.pack("<I", 30000)),
    "error": frame(5, b"\x01" + string("cannot open /data/kv.db")),
    "standby": frame(7, b"\x01" + u32list([1, 2])),
    "handoff": frame(8, b"\x01" + struct.pack("<I", 0) + u32list([1, 2]) + struct.pack("<I", 30000)),
    "sent": frame(9, b"\x01" + struct.pack("<QI", 40, 1)),
    "state_chunk": frame(21, b"\x01" + string("state bytes")),
    "connections": frame(23, b"\x01" + struct.pack("<Q", 1) + string("GET /") + string("")),
    "connection_data": frame(25, b"\x01" + struct.pack("<IB", 0, 0) + string("POST /upload HTTP/1.1")),
}
for name, data in channel.items():
    write("channel", name, data)


def stream(*datagrams):
    return b"".join(struct.pack("<H", len(d)) + d for d in datagrams)


state = b"some state"
write("handoff_stream", "empty_state",
      stream(frame(20, b"\x01" + struct.pack("<I", 1)), frame(22, b"\x01" + struct.pack("<QQ", 0, 0x2D06800538D394C2)),
             frame(24, b"\x01" + struct.pack("<I", 0))))
write("handoff_stream", "one_chunk",
      stream(frame(20, b"\x01" + struct.pack("<I", 2)), frame(21, b"\x01" + string(state)),
             frame(22, b"\x01" + struct.pack("<QQ", len(state), 0)), frame(24, b"\x01" + struct.pack("<I", 0))))

write("handoff_stream", "connection_data",
      stream(frame(20, b"\x01" + struct.pack("<I", 1)), frame(22, b"\x01" + struct.pack("<QQ", 0, 0x2D06800538D394C2)),
             frame(23, b"\x01" + struct.pack("<Q", 0)),
             frame(25, b"\x01" + struct.pack("<IB", 0, 1) + string("HTTP/1.1 200 OK\r\n")),
             frame(24, b"\x01" + struct.pack("<I", 0))))

# Pre-copy: an empty snapshot, an empty round of changes, empty final changes.
empty_part = [frame(20, b"\x01" + struct.pack("<I", 1)), frame(22, b"\x01" + struct.pack("<QQ", 0, 0x2D06800538D394C2))]
write("handoff_stream", "precopy",
      stream(frame(26, b"\x01\x00"), *empty_part, frame(26, b"\x01\x01"), *empty_part, frame(26, b"\x01\x02"),
             *empty_part, frame(24, b"\x01" + struct.pack("<I", 0))))
write("channel", "features", frame(15, b"\x01" + struct.pack("<I", 3)))
write("channel", "precopied", frame(16, b"\x01" + struct.pack("<QII", 1 << 30, 2, 10000)))
write("channel", "state_part", frame(26, b"\x01\x02"))

# Connections lent ahead: ids (their fds cannot travel in a seed), then named by id in the pause.
ahead = frame(27, b"\x01" + struct.pack("<QQ", 1, 7), fds=1)
by_id = frame(28, b"\x01" + struct.pack("<QQ", 1, 7) + string("GET /") + string(""))
write("channel", "connections_ahead", ahead)
write("channel", "connections_by_id", by_id)
write("handoff_stream", "precopy_ahead",
      stream(frame(27, b"\x01" + struct.pack("<Q", 0)), frame(26, b"\x01\x00"), *empty_part, frame(26, b"\x01\x02"),
             *empty_part, frame(28, b"\x01" + struct.pack("<Q", 0)), frame(24, b"\x01" + struct.pack("<I", 0))))

for name, text in {
    "tcp": "http=tcp://127.0.0.1:8080", "tcp6": "tcp://[::1]:0", "udp": "dns=udp://0.0.0.0:53",
    "unix": "admin=unix:///run/app.sock?mode=0660", "bad": "http=tcp://::1:80",
}.items():
    write("listener_spec", name, text.encode())

# UDP flow steering: STEER (own tag, one peer, none removed: its fds cannot travel in a seed),
# and inbox frames (u8 version, u8 family, u16 listener, u16 port, address, payload).
write("channel", "steer", frame(31, b"\x01" + struct.pack("<IQIQIQ", 1, 1, 2, 1, 1, 0), fds=2))
write("flow_frame", "ipv4_data", struct.pack("<BBHH", 1, 4, 0, 4433) + bytes([127, 0, 0, 1]) + b"DATA 0000000100000001 1")
write("flow_frame", "ipv6_open", struct.pack("<BBHH", 1, 6, 1, 4433) + bytes(15) + b"\x01" + b"OPEN")
