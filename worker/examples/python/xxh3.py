"""XXH3-64 with seed 0 and the default secret, in pure Python.

The handoff stream's checksum (shared/PROTOCOL.md). Written from the
specification, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md;
the test vectors there are checked by tests/python/test_pykv.py against
libxxhash. One shot over the whole input: about 0.04 s per MiB on these
machines, fine for a worker whose state is a few MiB.
"""

import struct

M64 = (1 << 64) - 1
PRIME32_1 = 0x9E3779B1
PRIME32_2 = 0x85EBCA77
PRIME32_3 = 0xC2B2AE3D
PRIME64_1 = 0x9E3779B185EBCA87
PRIME64_2 = 0xC2B2AE3D27D4EB4F
PRIME64_3 = 0x165667B19E3779F9
PRIME64_4 = 0x85EBCA77C2B2AE63
PRIME64_5 = 0x27D4EB2F165667C5
PRIME_MX1 = 0x165667919E3779F9
PRIME_MX2 = 0x9FB21C651E98DF25

SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e")
STRIPES_PER_BLOCK = (len(SECRET) - 64) // 8  # 16
BLOCK = 64 * STRIPES_PER_BLOCK                # 1024 bytes


def _u64(data, offset):
    return struct.unpack_from("<Q", data, offset)[0]


def _u32(data, offset):
    return struct.unpack_from("<I", data, offset)[0]


def _rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _bswap64(x):
    return int.from_bytes(x.to_bytes(8, "little"), "big")


def _mul128_fold64(a, b):
    product = a * b
    return (product & M64) ^ (product >> 64)


def _avalanche(x):
    x ^= x >> 37
    x = (x * PRIME_MX1) & M64
    return x ^ (x >> 32)


def _avalanche_xxh64(x):
    x ^= x >> 33
    x = (x * PRIME64_2) & M64
    x ^= x >> 29
    x = (x * PRIME64_3) & M64
    return x ^ (x >> 32)


def _mix_step(data, offset, secret_offset):
    return _mul128_fold64(_u64(data, offset) ^ _u64(SECRET, secret_offset),
                          _u64(data, offset + 8) ^ _u64(SECRET, secret_offset + 8))


def _small(data):
    n = len(data)
    if n == 0:
        return _avalanche_xxh64(_u64(SECRET, 56) ^ _u64(SECRET, 64))
    if n <= 3:
        combined = data[-1] | (n << 8) | (data[0] << 16) | (data[n >> 1] << 24)
        return _avalanche_xxh64((_u32(SECRET, 0) ^ _u32(SECRET, 4)) ^ combined)
    if n <= 8:
        combined = _u32(data, n - 4) | (_u32(data, 0) << 32)
        value = (_u64(SECRET, 8) ^ _u64(SECRET, 16)) ^ combined
        value ^= _rotl64(value, 49) ^ _rotl64(value, 24)
        value = (value * PRIME_MX2) & M64
        value ^= (value >> 35) + n
        value = (value * PRIME_MX2) & M64
        return value ^ (value >> 28)
    low = (_u64(SECRET, 24) ^ _u64(SECRET, 32)) ^ _u64(data, 0)
    high = (_u64(SECRET, 40) ^ _u64(SECRET, 48)) ^ _u64(data, n - 8)
    return _avalanche((n + _bswap64(low) + high + _mul128_fold64(low, high)) & M64)


def _medium(data):
    n = len(data)
    acc = (n * PRIME64_1) & M64
    if n <= 128:
        for i in range((n - 1) >> 5, -1, -1):
            acc += _mix_step(data, i * 16, i * 32) + _mix_step(data, n - i * 16 - 16, i * 32 + 16)
        return _avalanche(acc & M64)
    for i in range(8):
        acc += _mix_step(data, i * 16, i * 16)
    acc = _avalanche(acc & M64)
    for i in range(8, n >> 4):
        acc += _mix_step(data, i * 16, (i - 8) * 16 + 3)
    acc += _mix_step(data, n - 16, 119)
    return _avalanche(acc & M64)


def _accumulate(acc, data, offset, secret_offset):
    lanes = struct.unpack_from("<8Q", data, offset)
    keys = struct.unpack_from("<8Q", SECRET, secret_offset)
    for i in range(8):
        value = lanes[i] ^ keys[i]
        acc[i ^ 1] = (acc[i ^ 1] + lanes[i]) & M64
        acc[i] = (acc[i] + (value & 0xFFFFFFFF) * (value >> 32)) & M64


def _scramble(acc):
    keys = struct.unpack_from("<8Q", SECRET, len(SECRET) - 64)
    for i in range(8):
        x = acc[i] ^ (acc[i] >> 47) ^ keys[i]
        acc[i] = (x * PRIME32_1) & M64


def _large(data):
    n = len(data)
    acc = [PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1]
    blocks = (n - 1) // BLOCK  # the last block, full or not, is finished below
    for b in range(blocks):
        for s in range(STRIPES_PER_BLOCK):
            _accumulate(acc, data, b * BLOCK + s * 64, s * 8)
        _scramble(acc)
    last = blocks * BLOCK
    for s in range((n - last - 1) // 64):
        _accumulate(acc, data, last + s * 64, s * 8)
    _accumulate(acc, data, n - 64, len(SECRET) - 71)
    result = (n * PRIME64_1) & M64
    for i in range(4):
        result += _mul128_fold64(acc[2 * i] ^ _u64(SECRET, 11 + 16 * i), acc[2 * i + 1] ^ _u64(SECRET, 19 + 16 * i))
    return _avalanche(result & M64)


def xxh3_64(data):
    """XXH3-64 of `data` (bytes-like), seed 0."""
    data = bytes(data)
    if len(data) <= 16:
        return _small(data)
    if len(data) <= 240:
        return _medium(data)
    return _large(data)
