"""The `Authorization` header: `Bearer <key>`, the key handed to the registry
(`core/registry.py`), which knows what a key is and whose it is."""

from __future__ import annotations

from ..core.keys import KEY_FORMAT, MAX_KEY_LENGTH
from ..errors import AuthError, MissingApiKey

HEADER_SLACK = 64  # room for the scheme and spaces around a key of the longest length


def bearer_token(authorization: str | None) -> str:
    """The key of an `Authorization: Bearer <key>` header, or the contract's 401: missing,
    another scheme, no key, or a header far longer than any key (no work for a huge one)."""
    if not authorization:
        raise MissingApiKey()
    if len(authorization) > MAX_KEY_LENGTH + HEADER_SLACK:
        raise AuthError(details={"key": KEY_FORMAT})
    scheme, _, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise AuthError(details={"Authorization": "send 'Authorization: Bearer sk_test_...'"})
    return secret
