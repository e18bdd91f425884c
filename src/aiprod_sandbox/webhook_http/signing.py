"""Webhook signatures: hex HMAC-SHA256 over the exact body, keyed with the whole `whsec_…` text.

Exactly what the guide's `verify_webhook(payload_bytes, signature, secret)` checks.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    """The `X-AIPROD-Signature` of `body` under `secret`."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether `signature` is the signature of `body` (constant-time comparison)."""
    if not signature:
        return False
    return hmac.compare_digest(signature.strip().lower(), sign(secret, body))
