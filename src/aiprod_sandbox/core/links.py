"""Signed, expiring links to a job's result video (itsdangerous), checked on the account's clock.

A link is `{base}/_sandbox/files/{job_id}.mp4?token=…` where the token signs the account, the
job and the expiry time. A token changed in any way is refused (403 `INVALID_SIGNATURE`); one
whose expiry has passed on the account's clock is gone (410 `LINK_EXPIRED`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeSerializer

from ..errors import InvalidSignature

FILES_PREFIX = "/_sandbox/files/"


@dataclass(frozen=True)
class LinkClaims:
    account_id: str
    job_id: str
    expires_at: float


class Links:
    def __init__(self, secret: str, ttl_seconds: float) -> None:
        self._serializer = URLSafeSerializer(secret, salt="aiprod-sandbox-files")
        self.ttl_seconds = ttl_seconds
        key = hashlib.sha1(b"aiprod-sandbox-files" + b"signer" + secret.encode()).digest()
        self._mac = hmac.new(key, digestmod=hashlib.sha1)  # itsdangerous' key, derived once

    def _sign(self, claims: list[object]) -> str:
        raw = json.dumps(claims, ensure_ascii=False, separators=(",", ":")).encode()
        value = base64.urlsafe_b64encode(raw).rstrip(b"=")
        mac = self._mac.copy()
        mac.update(value)
        return (value + b"." + base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")).decode()

    def make(self, base_url: str, account_id: str, job_id: str, issued_at: float) -> str:
        expires = int(issued_at + self.ttl_seconds)
        token = self._sign([account_id, job_id, expires])
        return f"{base_url.rstrip('/')}{FILES_PREFIX}{quote(job_id)}.mp4?token={token}"

    def open(self, job_id: str, token: str) -> LinkClaims:
        try:
            account_id, signed_job, expires = self._serializer.loads(token)
        except (BadSignature, ValueError, TypeError) as exc:
            raise InvalidSignature() from exc
        if self._sign([account_id, signed_job, expires]) != token:
            # base64 decoding forgives the unused bits of the last character: only the
            # canonical token is the one we issued.
            raise InvalidSignature()
        if signed_job != job_id:
            raise InvalidSignature("The link's signature does not match this file")
        return LinkClaims(str(account_id), str(signed_job), float(expires))
