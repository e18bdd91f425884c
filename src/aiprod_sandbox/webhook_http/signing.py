"""Webhook signatures: hex HMAC-SHA256 over the exact body, keyed with the whole `whsec_…` text.

Exactly what the guide's `verify_webhook(payload_bytes, signature, secret)` checks. `signer`
is `sign` for one secret with HMAC's key schedule done once (RFC 2104: the key's two padded
hashes), for the sender, which signs every attempt: the same hex, about a third of the time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

_BLOCK = 64  # SHA-256's block size in bytes
_INNER = bytes(x ^ 0x36 for x in range(256))
_OUTER = bytes(x ^ 0x5C for x in range(256))


def sign(secret: str, body: bytes) -> str:
    """The `X-AIPROD-Signature` of `body` under `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signer(secret: str) -> Callable[[bytes], str]:
    """`sign` with `secret` given: a function of the body alone."""
    key = secret.encode()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner, outer = hashlib.sha256(key.translate(_INNER)), hashlib.sha256(key.translate(_OUTER))

    def signed(body: bytes) -> str:
        step = inner.copy()
        step.update(body)
        done = outer.copy()
        done.update(step.digest())
        return done.hexdigest()

    return signed


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the signature of `body` (constant-time comparison)."""
    if not signature:
        return False
    return hmac.compare_digest(signature.strip().lower(), sign(secret, body))
