"""One webhook attempt, made: its target as it is now (a deleted webhook or a job without a
callback voids it), the signed request a scenario's rule may change (`chaos.py`), the POST
(`transmit.py`), and its outcome recorded (`Account.record_attempt`). The dispatcher
(`sender.py`) decides when an attempt is made and with which rule; this module, what it is.
"""

from __future__ import annotations

from collections.abc import Callable

from .._version import __version__
from ..core.accounts import Account
from ..core.deliveries import Attempt, Delivery, RetryPolicy, Trigger
from ..core.scenarios.models import WebhookRule
from .chaos import CONTENT_TYPE, SIGNATURE, TIMESTAMP, Outgoing, misbehave
from .signing import signer
from .transmit import Transmitter

USER_AGENT = f"AIPROD-Webhooks/1.0 (AIPROD Sandbox {__version__})"
SIGNERS_KEPT = 4096  # secrets whose padded HMAC keys are kept


class Attempts:
    """Makes attempts through one transmitter, under one retry policy."""

    def __init__(self, transmit: Transmitter, policy: RetryPolicy) -> None:
        self.transmit = transmit
        self.policy = policy
        self._signers: dict[str, Callable[[bytes], str]] = {}  # secret -> signer, bounded

    def current(
        self, account: Account, delivery: Delivery, trigger: Trigger
    ) -> tuple[str, str] | None:
        """`target`, or None when the delivery is void (a scheduled one then fails)."""
        try:
            return self.target(account, delivery, trigger)
        except LookupError as void:
            if trigger != "manual":
                account.deliveries.finish(delivery, "failed", note=str(void))
            return None

    def target(self, account: Account, delivery: Delivery, trigger: Trigger) -> tuple[str, str]:
        """(url, secret) as they are now, or raise LookupError when the delivery is void."""
        if delivery.webhook_id is not None:
            webhook = account.webhooks.find(delivery.webhook_id)
            if webhook is None:
                raise LookupError("webhook deleted; its pending retries are cancelled")
            if not webhook.active and trigger == "scheduled":
                raise LookupError("webhook deactivated; its pending retries are cancelled")
            return webhook.url, webhook.secret
        job = account.jobs.find(delivery.job_id or "")
        if job is None or not job.callback_url:
            raise LookupError("the job or its callback_url is gone; retries cancelled")
        return job.callback_url, account.callback_secret

    async def make(
        self,
        account: Account,
        delivery: Delivery,
        number: int,
        at: float,
        trigger: Trigger,
        rule: WebhookRule | None,
    ) -> None:
        """One attempt, made while its task holds its slot."""
        action = rule.action if rule is not None else None
        target = self.current(account, delivery, trigger)  # as it is now
        if target is None:
            return
        url, secret = target
        delivery.url = url
        sent_at = self.sent_at(account, at)
        attempt = Attempt(attempt=number, trigger=trigger, scheduled_at=at, sent_at=sent_at)
        if delivery.held:
            attempt.deliberate, delivery.held = delivery.held, None
        signed = Outgoing(self._headers(delivery, secret, number, sent_at), delivery.body)
        drip = rule.drip_seconds if rule is not None else 0.0
        request = misbehave(signed, action, secret, drip_seconds=drip)
        attempt.request_headers = request.headers
        if request.body != delivery.body:
            attempt.request_body = request.body  # the log shows what was really sent
        if action == "drop":
            # Never sent: the log says `dropped` (not a timeout: no receiver was waited
            # for), and the schedule retries it as it does any failed attempt.
            attempt.deliberate = "drop"
            attempt.error = "dropped"
            attempt.duration_ms = 0.0
        else:
            attempt.deliberate = attempt.deliberate or action
            await self.transmit.send(url, request.body, attempt, drip_seconds=request.drip_seconds)
        if action == "duplicate":
            twin = Attempt(
                attempt=number,
                trigger=trigger,
                scheduled_at=at,
                sent_at=sent_at,
                request_headers=attempt.request_headers,
                deliberate="duplicate",
            )
            await self.transmit.send(url, delivery.body, twin)
            delivery.attempts.append(twin)
        account.record_attempt(delivery, attempt, self.policy)

    def _signer(self, secret: str) -> Callable[[bytes], str]:
        signs = self._signers.get(secret)
        if signs is None:
            if len(self._signers) >= SIGNERS_KEPT:
                self._signers.clear()
            signs = self._signers[secret] = signer(secret)
        return signs

    @staticmethod
    def sent_at(account: Account, at: float) -> float:
        """The attempt's time on the account's clock: when it fell due, or now if later."""
        return at if account.clock.mode == "manual" else max(at, account.now())

    def _headers(self, delivery: Delivery, secret: str, number: int, at: float) -> dict[str, str]:
        return {
            CONTENT_TYPE: "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE: self._signer(secret)(delivery.body),
            "X-AIPROD-Event": delivery.event,
            "X-AIPROD-Delivery": delivery.delivery_id,
            "X-AIPROD-Attempt": str(number),
            TIMESTAMP: str(int(at)),
        }
