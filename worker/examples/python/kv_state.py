"""pykv's state: the same bytes as kvstore's (worker/examples/kvstore/kv_state.h).

kvstore writes its KvState with cereal's portable binary archive:

    01                     the archive's little-endian marker
    u32 class version      1 or 2 (CEREAL_CLASS_VERSION)
    u64 count, then count x (u64 length, key bytes, u64 length, value bytes)
    u64 writes             version 2 only

so the two workers hand their stores to each other in either direction.
"""

import struct

VERSION = 2
LOADS = [1, 2]


class StateError(Exception):
    pass


def encode(store, writes):
    parts = [struct.pack("<BIQ", 1, VERSION, len(store))]
    for key, value in store.items():
        parts += [struct.pack("<Q", len(key)), key, struct.pack("<Q", len(value)), value]
    parts.append(struct.pack("<Q", writes))
    return b"".join(parts)


def decode(data, version):
    """(store, writes) from a kvstore-layout stream of `version`."""
    view, at = memoryview(data), 0

    def take(n):
        nonlocal at
        if at + n > len(view):
            raise StateError("state ends early")
        at += n
        return bytes(view[at - n:at])

    marker, recorded, count = struct.unpack("<BIQ", take(13))
    if marker != 1 or recorded != version:
        raise StateError(f"stream says marker {marker}, version {recorded}; STATE_BEGIN said {version}")
    store = {}
    for _ in range(count):
        key = take(struct.unpack("<Q", take(8))[0])
        store[key] = take(struct.unpack("<Q", take(8))[0])
    writes = struct.unpack("<Q", take(8))[0] if version >= 2 else 0
    if at != len(view):
        raise StateError(f"{len(view) - at} bytes left over after the state")
    return store, writes
