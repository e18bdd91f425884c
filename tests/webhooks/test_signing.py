"""`X-AIPROD-Signature`: hex HMAC-SHA256 over the exact body, keyed with the whole `whsec_…`
string — a published known-answer vector, and properties of `sign`/`verify`."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from aiprod_sandbox.webhook_http.signing import sign, signer, verify

# The known-answer vector the README publishes.
VECTOR_SECRET = "whsec_test_secret_0123456789"
VECTOR_BODY = (
    b'{"event":"job.completed","webhook_id":"wh_abc123","data":{"job_id":"job_abc123",'
    b'"status":"COMPLETED"},"timestamp":"2026-02-04T10:30:00Z"}'
)
VECTOR_SIGNATURE = "708466cebd3a6e1edf2af39a641c7bf668793ed1044a40007e7923bc0cf63123"


def test_vector_body_is_the_published_text() -> None:
    assert len(VECTOR_BODY) == 137
    assert VECTOR_BODY.startswith(b'{"event":"job.completed","webhook_id":"wh_abc123"')
    assert VECTOR_BODY.endswith(b'"timestamp":"2026-02-04T10:30:00Z"}')


def test_known_answer_vector_computed_independently() -> None:
    independent = hmac.new(
        VECTOR_SECRET.encode("utf-8"), VECTOR_BODY, digestmod=hashlib.sha256
    ).hexdigest()
    assert independent == VECTOR_SIGNATURE


def test_sign_gives_the_known_answer() -> None:
    assert sign(VECTOR_SECRET, VECTOR_BODY) == VECTOR_SIGNATURE


def test_verify_accepts_the_known_answer() -> None:
    assert verify(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE)


def test_the_key_is_the_whole_whsec_string_not_its_tail() -> None:
    tail_only = hmac.new(b"test_secret_0123456789", VECTOR_BODY, hashlib.sha256).hexdigest()
    assert tail_only != VECTOR_SIGNATURE
    assert not verify(VECTOR_SECRET, VECTOR_BODY, tail_only)


def test_signature_is_64_lowercase_hex_digits() -> None:
    signature = sign("whsec_x", b"{}")
    assert len(signature) == 64
    assert set(signature) <= set("0123456789abcdef")


def test_verify_refuses_missing_or_empty_signatures() -> None:
    assert not verify(VECTOR_SECRET, VECTOR_BODY, None)
    assert not verify(VECTOR_SECRET, VECTOR_BODY, "")


def test_verify_refuses_another_secret_and_another_body() -> None:
    assert not verify(VECTOR_SECRET + "x", VECTOR_BODY, VECTOR_SIGNATURE)
    assert not verify(VECTOR_SECRET, VECTOR_BODY + b" ", VECTOR_SIGNATURE)
    assert not verify(VECTOR_SECRET, VECTOR_BODY[:-1], VECTOR_SIGNATURE)


def test_verify_tolerates_case_and_surrounding_whitespace_only() -> None:
    """Documented leniency of the sandbox's own `verify` (the receiver's check): hex digits in
    upper case and surrounding whitespace are accepted; the guide's `verify_webhook` is exact."""
    assert verify(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE.upper())
    assert verify(VECTOR_SECRET, VECTOR_BODY, f" {VECTOR_SIGNATURE}\n")
    assert not verify(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE[:-1])
    assert not verify(VECTOR_SECRET, VECTOR_BODY, VECTOR_SIGNATURE + "0")


@given(secret=st.text(), body=st.binary())
def test_round_trip_any_body_any_secret(secret: str, body: bytes) -> None:
    signature = sign(secret, body)
    assert verify(secret, body, signature)
    assert signature == hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@given(
    secret=st.text(),
    body=st.binary(min_size=1),
    index=st.integers(min_value=0),
    delta=st.integers(min_value=1, max_value=255),
)
def test_changing_any_one_byte_of_the_body_fails(
    secret: str, body: bytes, index: int, delta: int
) -> None:
    position = index % len(body)
    changed = bytearray(body)
    changed[position] = (changed[position] + delta) % 256
    assert not verify(secret, bytes(changed), sign(secret, body))


@given(
    secret=st.text(),
    body=st.binary(),
    index=st.integers(min_value=0, max_value=63),
    replacement=st.characters(codec="ascii"),
)
def test_changing_any_one_byte_of_the_signature_fails(
    secret: str, body: bytes, index: int, replacement: str
) -> None:
    signature = sign(secret, body)
    original = signature[index]
    # Any other byte, except the same hex letter in upper case (see the leniency test above).
    if replacement in (original, original.upper()):
        replacement = "g"
    changed = signature[:index] + replacement + signature[index + 1 :]
    assert changed != signature
    assert not verify(secret, body, changed)


def test_a_signer_gives_the_known_answer() -> None:
    assert signer(VECTOR_SECRET)(VECTOR_BODY) == VECTOR_SIGNATURE


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=200), st.binary(max_size=300))
def test_a_signer_signs_as_sign_does_for_any_secret_and_body(secret: str, body: bytes) -> None:
    assert signer(secret)(body) == sign(secret, body)  # keys past 64 bytes are hashed first
