#!/usr/bin/env python3
"""pykv: a baton worker in Python 3, standard library only, written from
shared/PROTOCOL.md. An HTTP/1.1 key-value store with kvstore's routes, in
drain and handoff mode; in handoff mode its store (in kvstore's layout,
kv_state.py) and its open connections move to the next worker, Python or
C++. Under --probation it parks. Alone (no BATON_CHANNEL_FD) it binds
--listen HOST:PORT itself.
"""

import json
import os
import selectors
import socket
import sys
import time

import baton_channel as bc
import kv_state
from handoff_stream import Handed, receive_connections, receive_state, send_stream
from pykv_http import parse, response

NAME = "pykv 0.1 (Python)"
ORPHAN_DEADLINE = 5.0  # seconds to finish when baton is gone


def log(line):
    print(f"pykv[{os.getpid()}]: {line}", file=sys.stderr, flush=True)


class Conn:
    def __init__(self, sock, pending=b"", unsent=b""):
        sock.setblocking(False)
        self.sock, self.inbuf, self.outbuf, self.close_after = sock, bytearray(pending), bytearray(unsent), False


class Server:
    """The store, its listeners and connections, on one selector loop."""

    def __init__(self, listeners, generation):
        self.sel = selectors.DefaultSelector()
        self.listeners, self.generation = listeners, generation
        self.conns = set()
        self.store, self.writes, self.requests = {}, 0, 0
        self.accepting = self.draining = False
        self.deadline = None  # when a drain gives up on open connections

    # ---- the loop ----------------------------------------------------------

    def run(self):
        while not (self.draining and not self.conns):
            timeout = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            for key, events in self.sel.select(timeout):
                # An earlier event of this batch may have unregistered it (a handoff lends connections).
                current = self.sel.get_map().get(key.fd)
                if current is not None and current.fileobj is key.fileobj:
                    current.data(key.fileobj, events)
            if self.deadline is not None and time.monotonic() >= self.deadline:
                for c in list(self.conns):
                    self.close(c)

    def start_accepting(self):
        if not self.accepting:
            for sock in self.listeners:
                sock.setblocking(False)
                self.sel.register(sock, selectors.EVENT_READ, self.accept)
            self.accepting = True

    def stop_accepting(self):
        if self.accepting:
            for sock in self.listeners:
                self.sel.unregister(sock)
            self.accepting = False

    def accept(self, listener, _events):
        try:
            sock, _ = listener.accept()
        except (BlockingIOError, InterruptedError):  # another worker took it: O_NONBLOCK is shared
            return
        self.adopt(Conn(sock))

    def adopt(self, c):
        self.conns.add(c)
        self.sel.register(c.sock, selectors.EVENT_READ, lambda _s, ev: self.on_conn(c, ev))
        self.process(c)

    # ---- connections -------------------------------------------------------

    def on_conn(self, c, events):
        if events & selectors.EVENT_READ:
            try:
                data = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                return self.close(c)
            if data == b"":
                return self.close(c)
            if data:
                c.inbuf += data
        self.process(c)

    def process(self, c):
        while not c.close_after:
            request, used = parse(c.inbuf)
            if request is None:
                break
            del c.inbuf[:used]
            keep = request.keep_alive and not self.draining and request.method is not None
            status, body, kind = self.route(request) if request.method else (400, b"bad request\n", "text/plain")
            c.outbuf += response(status, body, keep, kind)
            c.close_after = not keep
        self.flush(c)

    def flush(self, c):
        try:
            del c.outbuf[:c.sock.send(c.outbuf) if c.outbuf else 0]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return self.close(c)
        if not c.outbuf and c.close_after:
            return self.close(c)
        self.sel.modify(c.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.outbuf else 0),
                        lambda _s, ev: self.on_conn(c, ev))

    def close(self, c):
        """Close our copy, never shutdown(): a handed-over fd lives on in the successor."""
        if c in self.conns:
            self.conns.discard(c)
            self.sel.unregister(c.sock)
        c.sock.close()

    def route(self, r):
        self.requests += 1
        if r.path == "/":
            text = f"baton pykv (Python): pid {os.getpid()}, generation {self.generation}\n"
            return (200, text.encode(), "text/plain") if r.method in ("GET", "HEAD") else (405, b"", "text/plain")
        if r.path == "/healthz":
            return (503, b"draining\n", "text/plain") if self.draining else (200, b"ok\n", "text/plain")
        if r.path == "/stats":
            stats = {"pid": os.getpid(), "generation": self.generation, "keys": len(self.store),
                     "writes": self.writes, "requests": self.requests, "state_version": kv_state.VERSION}
            return 200, json.dumps(stats).encode() + b"\n", "application/json"
        if not r.path.startswith("/kv/") or len(r.path) == 4:
            return 404, b"not found\n", "text/plain"
        return self.route_kv(r.method, r.path[4:].encode(), r.body)

    def route_kv(self, method, key, body):
        if method == "PUT":
            self.store[key] = body
            self.writes += 1
            return 200, b"stored\n", "text/plain"
        if method == "GET":
            value = self.store.get(key)
            return (404, b"not found\n", "text/plain") if value is None else (200, value, "text/plain")
        if method == "DELETE":
            self.writes += 1
            return (200, b"deleted\n", "text/plain") if self.store.pop(key, None) is not None else \
                (404, b"not found\n", "text/plain")
        return 405, b"method not allowed\n", "text/plain"

    # ---- stopping ----------------------------------------------------------

    def drain(self, seconds, why):
        """Close the listeners at once, finish what is in flight, exit."""
        log(f"draining ({why}): finishing open connections within {seconds:.1f} s")
        self.stop_accepting()
        for sock in self.listeners:
            sock.close()
        self.listeners, self.draining = [], True
        # An idle keep-alive connection is not closed under a client that may
        # be sending on it: its next response says "Connection: close".
        self.deadline = time.monotonic() + seconds


class Supervised:
    """pykv's side of the channel after WELCOME: READY or STANDBY, DRAIN, the
    handoff (as the old worker or the new one), PARK, COMMIT and RESUME."""

    def __init__(self, server, channel, welcome_flags):
        self.server, self.channel = server, channel
        self.standby = bool(welcome_flags & bc.WELCOME_STANDBY)
        self.says_features = bool(welcome_flags & bc.WELCOME_FEATURES)
        self.lent = []        # old side: connections handed over, until COMMIT, PARK or RESUME
        self.adopted = None   # new side: connections received, served from COMMIT on
        self.parked = False

    def start(self):
        self.channel.setblocking(False)
        self.server.sel.register(self.channel, selectors.EVENT_READ, self.on_channel)
        if self.says_features:  # PING is answered in handle(), on the loop that serves clients
            bc.send(self.channel, bc.FEATURES, bc.Writer().u32(bc.FEATURE_ANSWERS_PING))
        if self.standby:  # a predecessor's state is on its way: accept nothing until COMMIT
            versions = bc.Writer().u64(len(kv_state.LOADS))
            for v in kv_state.LOADS:
                versions.u32(v)
            return bc.send(self.channel, bc.STANDBY, versions)
        self.server.start_accepting()
        bc.send(self.channel, bc.READY)

    def on_channel(self, _sock, _events):
        while True:
            try:
                msg = bc.receive(self.channel)
            except (BlockingIOError, InterruptedError):
                return
            except (OSError, bc.ProtocolError) as e:
                log(f"channel: {e}")
                msg = None
            if msg is None:  # no worker may serve without a supervisor
                return self.finish(ORPHAN_DEADLINE, "baton is gone")
            self.handle(*msg)
            if self.channel.fileno() not in self.server.sel.get_map():
                return  # DRAIN or COMMIT: nothing follows

    def handle(self, msg_type, body, fds, lost):
        if msg_type == bc.DRAIN:
            return self.finish(bc.Reader(body).u32() / 1000 * 0.9, "DRAIN from baton")
        if msg_type == bc.HANDOFF:
            return self.handoff(body, fds, lost)
        if msg_type == bc.FEATURES:
            return  # its receiver's flags, before a HANDOFF: pykv neither pre-copies nor lends ahead
        if msg_type == bc.PING:
            return bc.send(self.channel, bc.PONG, bc.Writer().u64(bc.Reader(body).u64()))
        for fd in fds:
            os.close(fd)
        if msg_type == bc.COMMIT:
            return self.commit()
        if msg_type == bc.PARK:
            return self.park()
        if msg_type == bc.RESUME:
            return self.resume()
        self.finish(ORPHAN_DEADLINE, f"baton sent message type {msg_type}, which pykv does not know")

    def finish(self, seconds, why):
        if self.channel.fileno() in self.server.sel.get_map():
            self.server.sel.unregister(self.channel)  # nothing follows
        if not self.server.draining:
            self.server.drain(seconds, why)

    def refuse(self, why):
        log(f"handoff refused: {why}")
        bc.send(self.channel, bc.ERROR, bc.Writer().bytes(why.encode()[:bc.MAX_STRING]))

    def handoff(self, body, fds, lost):
        r = bc.Reader(body)
        role, accepted, timeout_ms = r.u32(), r.list(r.u32, 64), r.u32()
        r.end()
        if lost or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            return self.refuse("HANDOFF did not bring exactly one fd (open-files limit?); serving on")
        with socket.socket(fileno=fds[0]) as link:
            link.setblocking(True)
            deadline = time.monotonic() + timeout_ms / 1000
            if role == 1:
                if not self.standby:
                    return self.refuse("HANDOFF as receiver, but WELCOME did not say STANDBY")
                return self.receive(link, deadline)
            if kv_state.VERSION not in accepted:
                return self.refuse(f"its state version {kv_state.VERSION} is not one the new worker loads {accepted}")
            self.send(link, deadline)

    # ---- old side ----------------------------------------------------------

    def send(self, link, deadline):
        server = self.server
        server.stop_accepting()
        # A connection writing its last response before a close stays here and finishes.
        self.lent = [c for c in server.conns if not c.close_after]
        for c in self.lent:
            server.conns.discard(c)
            server.sel.unregister(c.sock)
        state = kv_state.encode(server.store, server.writes)
        handed = [Handed(c.sock.fileno(), bytes(c.inbuf), bytes(c.outbuf)) for c in self.lent]
        try:
            link.settimeout(max(0.001, deadline - time.monotonic()))
            send_stream(link, kv_state.VERSION, state, handed)
        except (OSError, bc.ProtocolError) as e:
            return log(f"handoff stream broke ({e}); waiting for RESUME")  # baton sees it from the other side
        bc.send(self.channel, bc.SENT, bc.Writer().u64(len(state)).u32(len(handed)))
        log(f"handed off {len(server.store)} keys and {len(handed)} connections")

    def release_lent(self):
        for c in self.lent:
            c.sock.close()
        self.lent = []

    def park(self):
        self.release_lent()
        self.parked = True
        log(f"parked with {len(self.server.store)} keys while the successor is on probation")
        bc.send(self.channel, bc.PARKED)

    def resume(self):
        for c in self.lent:
            self.server.adopt(c)  # its unsent bytes are ours to write again
        self.lent, self.parked = [], False
        self.server.start_accepting()
        log("serving again (handoff abandoned or rolled back)")

    # ---- new side ----------------------------------------------------------

    def receive(self, link, deadline):
        try:
            version, state = receive_state(link, kv_state.LOADS, deadline)
            self.server.store, self.server.writes = kv_state.decode(state, version)
            self.adopted = receive_connections(link, deadline)
        except (OSError, bc.ProtocolError, kv_state.StateError) as e:
            return bc.send(self.channel, bc.ERROR, bc.Writer().bytes(f"restoring: {e}".encode()[:bc.MAX_STRING]))
        bc.send(self.channel, bc.RESTORED, bc.Writer().u64(len(state)).u32(len(self.adopted)))

    def commit(self):
        if self.adopted is None:  # old side: the successor serves
            self.release_lent()
            return self.finish(30.0, "handed off")
        for h in self.adopted:  # unsent bytes first, then the pending input, then new reads
            self.server.adopt(Conn(socket.socket(fileno=h.fd), h.pending, h.unsent))
        log(f"committed: serving {len(self.server.store)} keys and {len(self.adopted)} adopted connections")
        self.adopted = None
        self.server.start_accepting()


def handshake(channel):
    """HELLO, then WELCOME: (generation, listening sockets, WELCOME's flags)."""
    channel.settimeout(10)
    bc.send(channel, bc.HELLO, bc.Writer().u32(bc.PROTOCOL).u32(os.getpid()).bytes(NAME.encode()))
    msg = bc.receive(channel)
    if msg is None or msg[0] != bc.WELCOME or msg[3]:
        raise SystemExit("pykv: no WELCOME from baton (or its fds were lost at the open-files limit)")
    _, body, fds, _ = msg
    r = bc.Reader(body)
    generation, _index = r.u64(), r.u32()
    names = r.list(lambda: (r.bytes(), r.bytes()), 256)
    flags = r.u32()
    r.end()
    socks = [socket.socket(fileno=fd) for fd in fds]
    for (name, url), sock in zip(names, socks):
        log(f"serving {name.decode()}={url.decode()}")
    return generation, [s for s in socks if s.type == socket.SOCK_STREAM], flags


def standalone(argv):
    host, _, port = (argv[argv.index("--listen") + 1] if "--listen" in argv else "127.0.0.1:8080").rpartition(":")
    sock = socket.create_server((host, int(port)))
    server = Server([sock], 0)
    server.start_accepting()
    log(f"serving http://{host}:{port} (not under baton)")
    server.run()


def main():
    fd = os.environ.get("BATON_CHANNEL_FD")
    if fd is None:
        return standalone(sys.argv)
    if os.environ.get("BATON_PROTOCOL") != str(bc.PROTOCOL):
        log(f"BATON_PROTOCOL={os.environ.get('BATON_PROTOCOL')}, but pykv speaks protocol {bc.PROTOCOL}: "
            "run it under a baton that speaks it")
        return 1
    for name in ("BATON_CHANNEL_FD", "BATON_PROTOCOL", "BATON_GENERATION", "BATON_WORKER_INDEX"):
        os.environ.pop(name, None)  # our own children are not supervised
    os.set_inheritable(int(fd), False)  # baton cleared close-on-exec on fd 3 for us
    channel = socket.socket(fileno=int(fd))
    generation, listeners, welcome_flags = handshake(channel)
    server = Server(listeners, generation)
    Supervised(server, channel, welcome_flags).start()
    server.run()
    log("exiting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
