"""Signed, expiring links to a job's result video (itsdangerous), checked on the account's clock.

A link is `{base}/_sandbox/files/{job_id}.mp4?token=…` where the token signs a reference to
the account, the job and the expiry time. The reference is an HMAC of the account id under the
link secret, so a link shows no account id. The secret is random per server unless configured
(`--link-secret`): nobody can make a link the server would take. A token changed in any way is
refused (403 `INVALID_SIGNATURE`); one whose expiry has passed on the account's clock is gone
(410 `LINK_EXPIRED`).

Only itsdangerous's public API signs: a plain `Serializer` (its timed one would read the wall
clock; the expiry is in the signed payload instead) whose payload codec is compact JSON in
URL-safe base64 — the same token `URLSafeSerializer` makes, without the zlib attempt that
costs ~50 µs on every link.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from itsdangerous import BadData, Serializer
from itsdangerous.encoding import base64_decode, base64_encode

from ..errors import InvalidSignature

FILES_PREFIX = "/_sandbox/files/"
SALT = "aiprod-sandbox-files"


@dataclass(frozen=True)
class LinkClaims:
    account_ref: str  # `Links.account_ref` of the account: never its id in clear
    job_id: str
    expires_at: float


class _UrlSafeJSON:
    """The payload codec: compact JSON, URL-safe base64 without padding."""

    @staticmethod
    def dumps(obj: Any) -> str:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        return base64_encode(text).decode("ascii")

    @staticmethod
    def loads(payload: str) -> Any:
        return json.loads(base64_decode(payload))


class Links:
    def __init__(self, secret: str, ttl_seconds: float) -> None:
        self._serializer = Serializer(secret, salt=SALT, serializer=_UrlSafeJSON)
        self._ref_key = hashlib.sha256(b"account-ref:" + secret.encode()).digest()
        self.ttl_seconds = ttl_seconds
        # A link expires on a whole second, so a job read again within the second (a client
        # polling it) gets the same token: signing it once saves ~9 µs a read.
        self._token: Callable[[str, str, int], str] = functools.lru_cache(maxsize=1024)(self._sign)

    def account_ref(self, account_id: str) -> str:
        """The account as links name it: stable for the secret, and no way back to the id."""
        return hmac.new(self._ref_key, account_id.encode(), hashlib.sha256).hexdigest()[:24]

    def _sign(self, account_id: str, job_id: str, expires: int) -> str:
        return self._serializer.dumps([self.account_ref(account_id), job_id, expires])

    def expires(self, issued_at: float) -> int:
        """The second a link issued at `issued_at` expires: links issued within one second
        are the same link."""
        return int(issued_at + self.ttl_seconds)

    def make(self, base_url: str, account_id: str, job_id: str, issued_at: float) -> str:
        token = self._token(account_id, job_id, self.expires(issued_at))
        return f"{base_url.rstrip('/')}{FILES_PREFIX}{quote(job_id, safe='')}.mp4?token={token}"

    def open(self, job_id: str, token: str) -> LinkClaims:
        try:
            claims = self._serializer.loads(token)
            account_ref, signed_job, expires = claims
        except (BadData, ValueError, TypeError) as exc:
            raise InvalidSignature() from exc
        # base64 decoding forgives the unused bits of a last character, so a few changed
        # tokens still verify: only the one we would issue for these claims is accepted.
        if self._serializer.dumps(claims) != token:
            raise InvalidSignature()
        if signed_job != job_id:
            raise InvalidSignature("The link's signature does not match this file")
        return LinkClaims(str(account_ref), str(signed_job), float(expires))
