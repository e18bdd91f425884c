"""Seeded, per-account identifiers and random streams.

Everything random in the sandbox comes from here. A stream is named by the server seed and a
path of names (an account, a job), so an account's ids depend only on the seed, the account
and its own sequence: what other accounts do in parallel changes nothing.
"""

from __future__ import annotations

import hashlib
import random

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# A random byte below 252 (= 36 × 7) maps to `_ALPHABET[byte % 36]`, uniformly; 252–255 are
# dropped. `bytes.translate` does both at C speed: an id costs one draw, not one per letter.
_TO_LETTER = bytes(ord(_ALPHABET[b % 36]) for b in range(252)) + bytes(4)
_DROPPED = bytes(range(252, 256))


def _name(seed: int, names: tuple[str, ...]) -> bytes:
    """The seed and names as one key: a path (`"ab", "c"` is not `"a", "bc"`)."""
    return "\x1f".join([str(seed), *names]).encode()


def derive(seed: int, *names: str) -> int:
    """A 64-bit integer determined by the seed and the names, stable across runs and hosts."""
    digest = hashlib.sha256(_name(seed, names)).digest()
    return int.from_bytes(digest[:8], "big")


def stream(seed: int, *names: str) -> random.Random:
    """An independent random stream for the given names."""
    return random.Random(derive(seed, *names))


class Draws:
    """A few uniform draws named like a stream, for work that needs only a handful (a job's
    plan draws three): floats cut from SHA-256 blocks of the names. Seeding a
    `random.Random` costs ~4 µs, more than the rest of planning a job."""

    __slots__ = ("_block", "_key", "_pending")

    def __init__(self, seed: int, *names: str) -> None:
        self._key = _name(seed, names)
        self._block = 0
        self._pending: list[int] = []

    def random(self) -> float:
        """A float in [0, 1), 53 random bits."""
        if not self._pending:
            digest = hashlib.sha256(self._key + self._block.to_bytes(4, "big")).digest()
            self._block += 1
            self._pending = [int.from_bytes(digest[i : i + 8], "big") for i in (24, 16, 8, 0)]
        return (self._pending.pop() >> 11) * 2.0**-53

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()


class IdSource:
    """Ids like `job_3k9x…`, drawn in sequence from one named stream."""

    def __init__(self, seed: int, *names: str) -> None:
        self._random = stream(seed, "ids", *names)

    def new(self, prefix: str, length: int = 16) -> str:
        return prefix + "_" + self._draw(length)

    def _draw(self, length: int) -> str:
        out = b""
        while len(out) < length:  # 1.6 % of bytes are dropped: one draw almost always does
            out += self._random.randbytes(length + 2).translate(_TO_LETTER, _DROPPED)
        return out[:length].decode("ascii")

    def token(self, length: int = 32) -> str:
        """A secret-looking token (for webhook secrets and generated keys)."""
        return self._draw(length)
