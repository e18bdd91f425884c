"""What each deliberate webhook action changes in an attempt's request (`webhook_http/chaos.py`),
without sockets: the rest of the signed request goes out as it was."""

from __future__ import annotations

import json

import pytest

from aiprod_sandbox.core.scenarios.models import WebhookAction
from aiprod_sandbox.webhook_http.chaos import (
    DRIP_STEP,
    STALE_SECONDS,
    WRONG_SECRET,
    Outgoing,
    cut_short,
    misbehave,
    pieces,
)
from aiprod_sandbox.webhook_http.signing import sign, verify

SECRET = "whsec_test_secret_0123456789"
BODY = (
    b'{"event":"job.completed","webhook_id":"wh_abc123","data":{"job_id":"job_abc123",'
    b'"status":"COMPLETED"},"timestamp":"2026-02-04T10:30:00Z"}'
)
SIGNED = Outgoing(
    {
        "Content-Type": "application/json",
        "X-AIPROD-Signature": sign(SECRET, BODY),
        "X-AIPROD-Event": "job.completed",
        "X-AIPROD-Delivery": "dlv_1",
        "X-AIPROD-Attempt": "1",
        "X-AIPROD-Timestamp": "1780000000",
    },
    BODY,
)


def changed(
    action: WebhookAction, **more: float
) -> tuple[Outgoing, dict[str, tuple[str | None, str]]]:
    """The request `action` makes, and the headers it changed: name → (now, before)."""
    out = misbehave(SIGNED, action, SECRET, **more)
    names = set(out.headers) | set(SIGNED.headers)
    return out, {
        name: (out.headers.get(name), SIGNED.headers[name])
        for name in names
        if out.headers.get(name) != SIGNED.headers.get(name)
    }


@pytest.mark.parametrize("action", [None, "duplicate", "out_of_order", "delay", "drop"])
def test_actions_about_when_and_how_often_leave_the_request_alone(
    action: WebhookAction | None,
) -> None:
    assert misbehave(SIGNED, action, SECRET, drip_seconds=3) == SIGNED


def test_bad_signature_is_the_right_secret_over_other_bytes() -> None:
    out, diff = changed("bad_signature")
    assert set(diff) == {"X-AIPROD-Signature"} and out.body == BODY
    signature = out.headers["X-AIPROD-Signature"]
    assert signature == sign(SECRET, BODY + b"\n")
    assert not verify(SECRET, BODY, signature) and not verify(WRONG_SECRET, BODY, signature)


def test_wrong_secret_is_a_valid_hmac_under_another_secret() -> None:
    out, diff = changed("wrong_secret")
    assert set(diff) == {"X-AIPROD-Signature"} and out.body == BODY
    assert verify(WRONG_SECRET, BODY, out.headers["X-AIPROD-Signature"])
    assert not verify(SECRET, BODY, out.headers["X-AIPROD-Signature"])


def test_missing_signature_removes_the_header_only() -> None:
    out, diff = changed("missing_signature")
    assert diff == {"X-AIPROD-Signature": (None, SIGNED.headers["X-AIPROD-Signature"])}
    assert out.body == BODY


def test_stale_timestamp_is_an_hour_early_and_still_signed_right() -> None:
    out, diff = changed("stale_timestamp")
    assert STALE_SECONDS == 3600
    assert diff == {"X-AIPROD-Timestamp": (str(1780000000 - 3600), "1780000000")}
    assert verify(SECRET, out.body, out.headers["X-AIPROD-Signature"])


def test_malformed_body_is_cut_short_and_signed_as_sent() -> None:
    out, diff = changed("malformed_body")
    assert set(diff) == {"X-AIPROD-Signature"}
    assert out.body == BODY[: len(BODY) // 2] == cut_short(BODY)
    assert verify(SECRET, out.body, out.headers["X-AIPROD-Signature"])
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.body)


def test_wrong_content_type_changes_only_the_content_type() -> None:
    out, diff = changed("wrong_content_type")
    assert diff == {"Content-Type": ("text/plain; charset=utf-8", "application/json")}
    assert out.body == BODY


def test_slow_keeps_the_request_and_says_how_long_to_drip_it() -> None:
    out, diff = changed("slow", drip_seconds=2)
    assert diff == {} and out.body == BODY and out.drip_seconds == 2


@pytest.mark.parametrize(
    ("size", "seconds", "count"),
    [(100, 1, 4), (100, 30, 100), (3, 2, 3), (0, 1, 1), (160, 0.1, 1), (10, 2.5, 10)],
)
def test_pieces_cover_the_body_about_one_per_step(size: int, seconds: float, count: int) -> None:
    body = bytes(range(256))[:size] if size else b""
    parts = pieces(body, seconds)
    assert b"".join(parts) == body
    assert len(parts) == count
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert all(parts) or body == b""
    assert len(parts) <= max(1, round(seconds / DRIP_STEP))
