"""Seeded, per-account identifiers and random streams.

Everything random in the sandbox comes from here. A stream is named by the server seed and a
path of names (an account, a job), so an account's ids depend only on the seed, the account
and its own sequence: what other accounts do in parallel changes nothing.
"""

from __future__ import annotations

import hashlib
import random

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def derive(seed: int, *names: str) -> int:
    """A 64-bit integer determined by the seed and the names, stable across runs and hosts."""
    digest = hashlib.sha256("\x1f".join([str(seed), *names]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def stream(seed: int, *names: str) -> random.Random:
    """An independent random stream for the given names."""
    return random.Random(derive(seed, *names))


class IdSource:
    """Ids like `job_3k9x…`, drawn in sequence from one named stream."""

    def __init__(self, seed: int, *names: str) -> None:
        self._random = stream(seed, "ids", *names)

    def new(self, prefix: str, length: int = 16) -> str:
        return prefix + "_" + self._draw(length)

    def _draw(self, length: int) -> str:
        # random.choice(_ALPHABET) draws getrandbits(6) until it is below 36: the same stream.
        bits = self._random.getrandbits
        out: list[str] = []
        while len(out) < length:
            r = bits(6)
            if r < 36:
                out.append(_ALPHABET[r])
        return "".join(out)

    def token(self, length: int = 32) -> str:
        """A secret-looking token (for webhook secrets and generated keys)."""
        return "".join(self._random.choice(_ALPHABET) for _ in range(length))
