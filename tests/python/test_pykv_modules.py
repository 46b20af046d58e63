"""pykv's protocol pieces against the references: XXH3-64 against libxxhash
(the library baton links), framing against PROTOCOL.md's HELLO example, and
kvstore's state layout both ways. Run by CTest as Python.PykvModules."""

import ctypes
import ctypes.util
import os
import random
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../worker/examples/python"))

import baton_channel as bc  # noqa: E402
import kv_state  # noqa: E402
from handoff_stream import Handed, receive_connections, receive_state, send_stream  # noqa: E402
from xxh3 import xxh3_64  # noqa: E402


class Xxh3(unittest.TestCase):
    def test_vectors_from_protocol_md(self):
        self.assertEqual(xxh3_64(b""), 0x2D06800538D394C2)
        self.assertEqual(xxh3_64(b"abc"), 0x78AF5F94892F3950)

    def test_every_length_class_matches_libxxhash(self):
        lib = ctypes.CDLL(ctypes.util.find_library("xxhash") or "libxxhash.so.0")
        lib.XXH3_64bits.restype = ctypes.c_uint64
        lib.XXH3_64bits.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        rnd = random.Random(7)
        for n in list(range(0, 1300)) + [2047, 2048, 2049, 4096, 65537]:
            data = bytes(rnd.getrandbits(8) for _ in range(n))
            self.assertEqual(xxh3_64(data), lib.XXH3_64bits(data, n), f"length {n}")


class Framing(unittest.TestCase):
    def test_hello_is_the_documented_bytes(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with a, b:
            bc.send(a, bc.HELLO, bc.Writer().u32(1).u32(0x01020304).bytes(b"ab"))
            expected = bytes.fromhex("4241544e 0100 0100 13000000 00000000 01 01000000 04030201 0200000000000000 6162")
            self.assertEqual(b.recv(100), expected)

    def test_fds_past_253_travel_in_continuations(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        fds = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(300)]
        try:
            with a, b:
                bc.send(a, bc.WELCOME, None, fds)
                msg_type, _, got, lost = bc.receive(b)
                self.assertEqual((msg_type, len(got), lost), (bc.WELCOME, 300, False))
                for fd in got:
                    os.close(fd)
        finally:
            for fd in fds:
                os.close(fd)

    def test_left_over_bytes_are_malformed(self):
        r = bc.Reader(b"\x01\x05\x00\x00\x00\xff")
        r.u32()
        with self.assertRaises(bc.ProtocolError):
            r.end()


class StateAndStream(unittest.TestCase):
    def test_kvstore_layout_round_trips_and_reads_version_1(self):
        store = {b"a": b"1", b"key": b"x" * 70000}
        self.assertEqual(kv_state.decode(kv_state.encode(store, 9), 2), (store, 9))
        v1 = bytes.fromhex("01 01000000 0100000000000000 0100000000000000 61 0100000000000000 31")
        self.assertEqual(kv_state.decode(v1, 1), ({b"a": b"1"}, 0))

    def test_a_stream_with_big_pending_and_unsent_bytes_arrives_whole(self):
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        clients = [socket.socketpair() for _ in range(3)]
        big = os.urandom(100_000)
        handed = [Handed(c[0].fileno(), big, big[:5000]) for c in clients]
        state = os.urandom(200_000)
        with a, b:
            sender = threading.Thread(target=send_stream, args=(a, 2, state, handed))  # the link buffers less
            sender.start()
            deadline = time.monotonic() + 30
            self.assertEqual(receive_state(b, [1, 2], deadline), (2, state))
            got = receive_connections(b, deadline)
            sender.join()
        self.assertEqual([(g.pending, g.unsent) for g in got], [(big, big[:5000])] * 3)
        for g in got:
            os.close(g.fd)
        for x, y in clients:
            x.close()
            y.close()


if __name__ == "__main__":
    unittest.main()
