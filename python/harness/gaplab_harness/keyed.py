"""The keyed random stream of experiments/lib/keyed.ts, draw for draw.

The worker derives the stream's key (HMAC-SHA256 of the deployment's harness secret and the
label experiment, seed, purpose) and hands the harness only that key: the harness never sees the
secret or the seed, and the candidate sees neither. The stream is AES-256 in counter mode over
zeros from a zero counter; every draw below consumes the keystream exactly as KeyedRng does, so
a harness in Python and one in TypeScript given the same key draw the same numbers.
"""
from __future__ import annotations

import struct

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 4096
_ZEROS = bytes(_BLOCK)
_TWO_53 = 2.0**53


class KeyedStream:
    """Uniforms, normals, integers and shuffles from a 32-byte stream key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a stream key has 32 bytes")
        self._enc = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        self._buf = b""
        self._pos = 0
        self._spare: float | None = None

    def _next8(self) -> bytes:
        if self._pos + 8 > len(self._buf):
            self._buf = self._enc.update(_ZEROS)
            self._pos = 0
        out = self._buf[self._pos : self._pos + 8]
        self._pos += 8
        return out

    def uniform(self) -> float:
        """Uniform in [0, 1), 53 random bits."""
        lo, hi = struct.unpack("<II", self._next8())
        return ((lo >> 5) * 67108864 + (hi >> 6)) / _TWO_53

    def seed53(self) -> int:
        """An integer in [0, 2**53): a seed for another generator."""
        return int(self.uniform() * _TWO_53)

    def normal(self) -> float:
        """Standard normal (Box-Muller, caching the second value)."""
        import math

        if self._spare is not None:
            s, self._spare = self._spare, None
            return s
        u = 0.0
        while u == 0.0:
            u = self.uniform()
        v = self.uniform()
        r = math.sqrt(-2.0 * math.log(u))
        self._spare = r * math.sin(2 * math.pi * v)
        return r * math.cos(2 * math.pi * v)

    def int(self, n: int) -> int:
        """An integer in [0, n), without modulo bias."""
        if not (isinstance(n, int) and 0 < n <= 2**53):
            raise ValueError(f"int(n): n must be a positive integer, got {n!r}")
        limit = 2**53 - (2**53 % n)
        while True:
            x = int(self.uniform() * _TWO_53)
            if x < limit:
                return x % n

    def shuffle(self, xs: list) -> list:
        """Fisher-Yates shuffle in place (the same permutation as KeyedRng.shuffle)."""
        for i in range(len(xs) - 1, 0, -1):
            j = self.int(i + 1)
            xs[i], xs[j] = xs[j], xs[i]
        return xs

    def generator(self) -> np.random.Generator:
        """A numpy Generator seeded with 256 bits of this stream: for bulk draws in numpy."""
        words = [int.from_bytes(self._next8(), "little") for _ in range(4)]
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
