"""The baton channel protocol, version 1 (shared/PROTOCOL.md), in Python.

Framing (16-byte header), bodies in cereal's portable binary layout, and
fds by SCM_RIGHTS with FDS continuations. Used on the channel to baton and
on the handoff link between two workers alike: both are SOCK_SEQPACKET.
"""

import array
import socket
import struct

PROTOCOL = 1
HEADER = struct.Struct("<4sHHII")  # magic, version, type, body_length, fd_count
MAX_DATAGRAM = 65536
MAX_FDS_PER_DATAGRAM = 253
MAX_STRING = 4096

HELLO, WELCOME, READY, DRAIN, ERROR, FDS, STANDBY, HANDOFF = 1, 2, 3, 4, 5, 6, 7, 8
SENT, RESTORED, COMMIT, RESUME, PARK, PARKED = 9, 10, 11, 12, 13, 14
FEATURES, PING, PONG = 15, 17, 18
WELCOME_STANDBY, WELCOME_FEATURES = 1, 2  # WELCOME's flags
FEATURE_ANSWERS_PING = 8  # FEATURES bit 3: it answers PING (PROTOCOL.md, "Heartbeat")
STATE_BEGIN, STATE_CHUNK, STATE_END, CONNECTIONS, HANDOFF_END, CONNECTION_DATA = 20, 21, 22, 23, 24, 25

STATE_CHUNK_MAX = 61440
INLINE_MAX = 32 * 1024  # pending / app bytes inline in CONNECTIONS


class ProtocolError(Exception):
    pass


class Writer:
    """A message body: the 01 marker, then fields in order, no padding."""

    def __init__(self):
        self.data = bytearray(b"\x01")

    def u8(self, v):
        self.data += struct.pack("<B", v)
        return self

    def u32(self, v):
        self.data += struct.pack("<I", v)
        return self

    def u64(self, v):
        self.data += struct.pack("<Q", v)
        return self

    def bytes(self, b):
        self.u64(len(b))
        self.data += b
        return self


class Reader:
    def __init__(self, body):
        if not body or body[0] != 1:
            raise ProtocolError("body does not start with the 01 marker")
        self.body, self.at = bytes(body), 1

    def _take(self, n):
        if self.at + n > len(self.body):
            raise ProtocolError("body too short")
        out = self.body[self.at:self.at + n]
        self.at += n
        return out

    def u8(self):
        return self._take(1)[0]

    def u32(self):
        return struct.unpack("<I", self._take(4))[0]

    def u64(self):
        return struct.unpack("<Q", self._take(8))[0]

    def bytes(self, limit=MAX_STRING):
        n = self.u64()
        if n > limit:
            raise ProtocolError(f"field of {n} bytes, over its limit of {limit}")
        return self._take(n)

    def list(self, read_one, limit):
        n = self.u64()
        if n > limit:
            raise ProtocolError(f"list of {n}, over its limit of {limit}")
        return [read_one() for _ in range(n)]

    def end(self):
        if self.at != len(self.body):
            raise ProtocolError(f"{len(self.body) - self.at} bytes left over after the last field")


def _sendmsg(sock, data, fds):
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    sock.sendmsg([data], ancillary)


def send(sock, msg_type, body=None, fds=()):
    """One message: its datagram, then FDS continuations for fds past the first 253."""
    body = bytes(body.data if body is not None else b"\x01")
    fds = list(fds)
    header = HEADER.pack(b"BATN", PROTOCOL, msg_type, len(body), len(fds))
    if len(header) + len(body) > MAX_DATAGRAM:
        raise ProtocolError(f"message type {msg_type} would be {len(body) + 16} bytes, over {MAX_DATAGRAM}")
    _sendmsg(sock, header + body, fds[:MAX_FDS_PER_DATAGRAM])
    for at in range(MAX_FDS_PER_DATAGRAM, len(fds), MAX_FDS_PER_DATAGRAM):
        batch = fds[at:at + MAX_FDS_PER_DATAGRAM]
        _sendmsg(sock, HEADER.pack(b"BATN", PROTOCOL, FDS, 0, len(batch)), batch)


def _recv_datagram(sock):
    """(data, fds, fds_lost); data is b"" when the peer closed."""
    fds = array.array("i")
    data, ancdata, flags, _ = sock.recvmsg(MAX_DATAGRAM + 1, socket.CMSG_SPACE(MAX_FDS_PER_DATAGRAM * fds.itemsize),
                                          socket.MSG_CMSG_CLOEXEC)
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
    if flags & socket.MSG_TRUNC:
        _close_all(fds)
        raise ProtocolError("datagram over 65,536 bytes")
    return data, list(fds), bool(flags & socket.MSG_CTRUNC)


def _close_all(fds):
    for fd in fds:
        socket.close(fd)


def receive(sock):
    """(type, body, fds, fds_lost), or None when the peer closed. Blocks by the socket's own timeout."""
    data, fds, lost = _recv_datagram(sock)
    if not data and not fds:
        return None
    try:
        magic, version, msg_type, length, fd_count = HEADER.unpack_from(data)
    except struct.error:
        _close_all(fds)
        raise ProtocolError(f"datagram of {len(data)} bytes is shorter than a header") from None
    if magic != b"BATN" or version != PROTOCOL or length != len(data) - HEADER.size:
        _close_all(fds)
        raise ProtocolError(f"bad header (magic {magic!r}, version {version}, length {length})")
    while not lost and len(fds) < fd_count:
        more, more_fds, lost = _recv_datagram(sock)
        fds += more_fds
        if len(more) != HEADER.size or HEADER.unpack_from(more)[2] != FDS:
            _close_all(fds)
            raise ProtocolError("a message's fds were not followed by FDS continuations")
    if not lost and len(fds) != fd_count:
        _close_all(fds)
        raise ProtocolError(f"announced {fd_count} fds, carried {len(fds)}")
    return msg_type, data[HEADER.size:], fds, lost
