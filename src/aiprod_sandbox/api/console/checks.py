"""What the console says of an attempt: whose secret signs it, whether its signature
verifies (as the guide's `verify_webhook` checks), what became of it; secrets masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from ...core.accounts import Account
from ...core.deliveries import Attempt, Delivery
from ...webhook_http.chaos import SIGNATURE
from ...webhook_http.signing import verify

CALLBACK = "callback"  # the endpoint name of jobs' callback_url (as scenario rules name it)
MAX_AUDIT_PER_KEY = 50  # a key's newest audit events shown; `audit_total` says how many

Verdict = Literal["verifies", "wrong_signature", "no_signature", "unknown_secret"]
VERDICTS = (
    "`verifies`: the X-AIPROD-Signature header is the HMAC-SHA256 of the bytes sent under "
    "the endpoint's secret; `wrong_signature`: it is not; `no_signature`: the attempt carried "
    "none; `unknown_secret`: the webhook was deleted, so there is no secret to check with"
)
Outcome = Literal["acknowledged", "failed", "dropped", "due"]


# ---- checks ------------------------------------------------------------------------------


def secret_of(account: Account, delivery: Delivery) -> str | None:
    """The secret an endpoint checks `delivery` with: its webhook's `whsec_` secret, or the
    account's callback secret for a job's callback_url; None when the webhook is gone."""
    if delivery.webhook_id is None:
        return account.callback_secret
    webhook = account.webhooks.find(delivery.webhook_id)
    return webhook.secret if webhook is not None else None


def verdict(secret: str | None, body: bytes, headers: Mapping[str, str]) -> Verdict:
    """Whether an attempt's signature header verifies `body` under `secret` (see VERDICTS)."""
    name = SIGNATURE.lower()  # header names compare without regard to case, as in HTTP
    signature = next((v for k, v in headers.items() if k.lower() == name), None)
    if not signature:
        return "no_signature"
    if secret is None:
        return "unknown_secret"
    return "verifies" if verify(secret, body, signature) else "wrong_signature"


def sent_body(attempt: Attempt, delivery: Delivery) -> bytes:
    """The bytes an attempt sent: the delivery's, unless a scenario changed them for that
    attempt (`malformed_body` signs and keeps the bytes it cut short)."""
    return delivery.body if attempt.request_body is None else attempt.request_body


def outcome(attempt: Attempt) -> Outcome:
    if attempt.ok:
        return "acknowledged"
    return "dropped" if attempt.error == "dropped" else "failed"


def endpoint_of(delivery: Delivery) -> str:
    return delivery.webhook_id or CALLBACK


def mask_secret(secret: str) -> str:
    return f"whsec_…{secret[-4:]}" if secret else ""
