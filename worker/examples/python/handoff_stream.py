"""The handoff stream (shared/PROTOCOL.md, "The handoff stream"): the old
worker's state and connections, worker to worker over the link."""

import time

from baton_channel import (CONNECTION_DATA, CONNECTIONS, HANDOFF_END, INLINE_MAX, MAX_DATAGRAM,
                           MAX_FDS_PER_DATAGRAM, STATE_BEGIN, STATE_CHUNK, STATE_CHUNK_MAX, STATE_END, ProtocolError,
                           Reader, Writer, receive, send)
from xxh3 import xxh3_64

MAX_STATE = 1 << 30
MAX_PER_CONNECTION = 256 << 20  # pending, and unsent, bytes of one connection


class Handed:
    """One connection on the move: its fd, bytes read but not processed, bytes not yet sent."""

    def __init__(self, fd, pending=b"", unsent=b""):
        self.fd, self.pending, self.unsent = fd, pending, unsent


def _chunks(data, size):
    return (data[at:at + size] for at in range(0, len(data), size))


def _send_batch(link, batch, first_index):
    body = Writer().u64(len(batch))
    for c in batch:
        body.bytes(c.pending[:INLINE_MAX]).bytes(b"")
    send(link, CONNECTIONS, body, [c.fd for c in batch])
    for offset, c in enumerate(batch):
        for kind, data in ((0, c.pending[INLINE_MAX:]), (1, c.unsent)):
            for chunk in _chunks(data, STATE_CHUNK_MAX):
                send(link, CONNECTION_DATA, Writer().u32(first_index + offset).u8(kind).bytes(chunk))


def send_stream(link, version, state, connections):
    send(link, STATE_BEGIN, Writer().u32(version))
    for chunk in _chunks(state, STATE_CHUNK_MAX):
        send(link, STATE_CHUNK, Writer().bytes(chunk))
    send(link, STATE_END, Writer().u64(len(state)).u64(xxh3_64(state)))
    # A batch is bounded by fds per datagram and by bytes: 253 x 32 KiB inline cannot fit one datagram.
    batch, size, sent = [], 16 + 9, 0
    for c in connections:
        entry = 16 + min(len(c.pending), INLINE_MAX)
        if batch and (len(batch) == MAX_FDS_PER_DATAGRAM or size + entry > MAX_DATAGRAM):
            _send_batch(link, batch, sent)
            sent, batch, size = sent + len(batch), [], 16 + 9
        batch.append(c)
        size += entry
    if batch:
        _send_batch(link, batch, sent)
    send(link, HANDOFF_END, Writer().u32(len(connections)))


def _next(link, deadline):
    link.settimeout(max(0.001, deadline - time.monotonic()))
    msg = receive(link)
    if msg is None:
        raise ProtocolError("the link closed before HANDOFF_END")
    msg_type, body, fds, lost = msg
    if lost:
        raise ProtocolError("connections' fds could not be received (open-files limit)")
    return msg_type, Reader(body), fds


def receive_state(link, loads, deadline):
    """(version, state bytes), checked against STATE_END's length and checksum."""
    msg_type, body, _ = _next(link, deadline)
    if msg_type != STATE_BEGIN:
        raise ProtocolError(f"expected STATE_BEGIN, got type {msg_type}")
    version = body.u32()
    if version not in loads:
        raise ProtocolError(f"state version {version} is not one this worker loads {loads}")
    state = bytearray()
    while True:
        msg_type, body, _ = _next(link, deadline)
        if msg_type == STATE_END:
            length, checksum = body.u64(), body.u64()
            if length != len(state) or checksum != xxh3_64(state):
                raise ProtocolError("state length or checksum does not match STATE_END")
            return version, bytes(state)
        if msg_type != STATE_CHUNK:
            raise ProtocolError(f"expected STATE_CHUNK or STATE_END, got type {msg_type}")
        state += body.bytes(STATE_CHUNK_MAX)
        if len(state) > MAX_STATE:
            raise ProtocolError("state over 1 GiB")


def receive_connections(link, deadline):
    connections = []
    while True:
        msg_type, body, fds = _next(link, deadline)
        if msg_type == HANDOFF_END:
            if body.u32() != len(connections):
                raise ProtocolError("HANDOFF_END's count does not match the connections received")
            return connections
        if msg_type == CONNECTIONS:
            entries = body.list(lambda: (body.bytes(INLINE_MAX), body.bytes(INLINE_MAX)), MAX_FDS_PER_DATAGRAM)
            if len(entries) != len(fds):
                raise ProtocolError(f"CONNECTIONS lists {len(entries)} but carried {len(fds)} fds")
            connections += [Handed(fd, pending) for fd, (pending, _app) in zip(fds, entries)]
        elif msg_type == CONNECTION_DATA:
            index, kind, data = body.u32(), body.u8(), body.bytes(STATE_CHUNK_MAX)
            if index >= len(connections) or kind > 1:
                raise ProtocolError(f"CONNECTION_DATA for connection {index}, kind {kind}")
            c = connections[index]
            if kind == 0:
                c.pending += data
            else:
                c.unsent += data
            if max(len(c.pending), len(c.unsent)) > MAX_PER_CONNECTION:
                raise ProtocolError("a connection's bytes are over 256 MiB")
        else:
            raise ProtocolError(f"unexpected type {msg_type} in the connections part")
