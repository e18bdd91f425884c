"""Deliberate faults on one webhook attempt: what a scenario's webhook rule changes in the
request a receiver gets. Everything it does not change is sent as signed.

- `bad_signature`: `X-AIPROD-Signature` is made with the endpoint's own secret over other
  bytes (the body followed by a newline), as if the body had been changed after signing.
- `wrong_secret`: a valid HMAC of the exact body under another secret (`WRONG_SECRET`), as if
  signed by someone who does not hold yours, or checked with another endpoint's secret.
- `missing_signature`: no `X-AIPROD-Signature` header at all (the guide's `verify_webhook`
  then raises TypeError in `hmac.compare_digest`).
- `stale_timestamp`: `X-AIPROD-Timestamp` `STALE_SECONDS` (1 h) before the attempt's time on
  the account's clock; the signature is right.
- `malformed_body`: the body's first half, never valid JSON, signed over exactly those bytes
  (only parsing fails).
- `wrong_content_type`: `Content-Type: text/plain; charset=utf-8`; body and signature as ever.
- `slow`: the headers at once, then the body (with its `Content-Length`) in pieces, about one
  every `DRIP_STEP` s, over the rule's `drip_seconds` real seconds; the receiver still has
  the whole attempt timeout to answer after the last byte.

The other actions (`duplicate`, `out_of_order`, `delay`, `drop`) change when and how often a
request is sent, not the request: the sender does them. Pure functions, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core.scenarios.models import WebhookAction
from .signing import sign

WRONG_SECRET = "whsec_deliberately_wrong_secret_for_testing"  # wrong_secret signs with it
TAMPERED_SUFFIX = b"\n"  # bad_signature signs the body followed by this, not the body
STALE_SECONDS = 3600  # stale_timestamp: how far X-AIPROD-Timestamp lies in the past
WRONG_CONTENT_TYPE = "text/plain; charset=utf-8"
DRIP_STEP = 0.25  # slow: real seconds between two pieces of the body

SIGNATURE = "X-AIPROD-Signature"
TIMESTAMP = "X-AIPROD-Timestamp"
CONTENT_TYPE = "Content-Type"


@dataclass(frozen=True)
class Outgoing:
    """What one attempt sends: its headers, its exact bytes, and over how many real seconds
    the bytes are dripped (0: at once)."""

    headers: dict[str, str]
    body: bytes
    drip_seconds: float = 0.0


def misbehave(
    request: Outgoing, action: WebhookAction | None, secret: str, *, drip_seconds: float = 0.0
) -> Outgoing:
    """The signed `request` as `action` makes it (None, or an action that does not change
    the request: unchanged). `secret` is the endpoint's."""
    if action is None:
        return request
    headers = dict(request.headers)
    body = request.body
    if action == "bad_signature":
        headers[SIGNATURE] = sign(secret, body + TAMPERED_SUFFIX)
    elif action == "wrong_secret":
        headers[SIGNATURE] = sign(WRONG_SECRET, body)
    elif action == "missing_signature":
        headers.pop(SIGNATURE, None)
    elif action == "stale_timestamp":
        headers[TIMESTAMP] = str(int(headers[TIMESTAMP]) - STALE_SECONDS)
    elif action == "malformed_body":
        body = cut_short(body)
        headers[SIGNATURE] = sign(secret, body)
    elif action == "wrong_content_type":
        headers[CONTENT_TYPE] = WRONG_CONTENT_TYPE
    elif action == "slow":
        return Outgoing(headers, body, drip_seconds)
    return Outgoing(headers, body)


def cut_short(body: bytes) -> bytes:
    """The first half of a JSON object's bytes: its closing brace is gone, so it never parses."""
    return body[: len(body) // 2]


def pieces(body: bytes, seconds: float) -> list[bytes]:
    """`body` split into the pieces `slow` sends, one every `seconds / len(pieces)`: about one
    every `DRIP_STEP`, at least one, never an empty one."""
    count = max(1, min(len(body), round(seconds / DRIP_STEP)))
    size, extra = divmod(len(body), count)
    out: list[bytes] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        out.append(body[start:end])
        start = end
    return out
