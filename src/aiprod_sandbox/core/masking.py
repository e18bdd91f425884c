"""Secrets out of evidence: API keys, admin tokens and `whsec_` secrets masked wherever the
journal or the delivery log leaves the sandbox (a listing, a verify answer, a HAR file that
ends up attached to a CI run).

A key keeps its prefix and last four characters (`sk_test_…abcd`), as `keys.mask_key` shows
keys everywhere else, so a test can still tell its keys apart.
"""

from __future__ import annotations

import re

from .journal import Headers, header_pairs
from .keys import mask_key

_SECRET = re.compile(r"\b(sk_(?:test|live)_|whsec_)[A-Za-z0-9_\-]{4,}")
_SECRET_HEADERS = frozenset({"x-aiprod-admin-token", "cookie", "proxy-authorization"})


def _masked(found: re.Match[str]) -> str:
    whole = found.group(0)
    if whole.startswith("whsec_"):
        return f"whsec_…{whole[-4:]}"
    return mask_key(whole)


def mask_text(text: str) -> str:
    """Every key and `whsec_` secret in `text`, masked."""
    if "sk_" not in text and "whsec_" not in text:
        return text
    return _SECRET.sub(_masked, text)


def mask_header(name: str, value: str) -> str:
    """A header's value as evidence may show it."""
    lowered = name.lower()
    if lowered in _SECRET_HEADERS:
        return "***"
    if lowered == "authorization":
        scheme, _, token = value.partition(" ")
        return f"{scheme} {mask_key(token.strip())}" if token else mask_key(scheme)
    return mask_text(value)


def masked_headers(packed: Headers) -> list[tuple[str, str]]:
    """Headers as the journal keeps them, as (name, masked value) text."""
    out = []
    for raw_name, raw_value in header_pairs(packed):
        name = raw_name.decode("latin-1")
        out.append((name, mask_header(name, raw_value.decode("latin-1"))))
    return out
