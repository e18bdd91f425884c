"""Signed result links: round trip, and any tampering or reuse for another job is refused."""

from __future__ import annotations

import base64
import string
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itsdangerous import BadSignature, URLSafeSerializer

from aiprod_sandbox.core.links import FILES_PREFIX, SALT, Links
from aiprod_sandbox.errors import InvalidSignature

TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_."
LINKS = Links("aiprod-sandbox-links:7", ttl_seconds=3600)


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def issued(job_id: str = "job_abc123", issued_at: float = 1_000.0) -> str:
    return token_of(LINKS.make("http://127.0.0.1:8080", "acct_a", job_id, issued_at))


def test_make_builds_a_files_link() -> None:
    url = LINKS.make("https://sandbox.example/", "acct_a", "job_abc123", 1_000.0)
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc) == ("https", "sandbox.example")
    assert parts.path == f"{FILES_PREFIX}job_abc123.mp4"
    assert token_of(url)


def test_open_returns_what_make_signed() -> None:
    claims = LINKS.open("job_abc123", issued("job_abc123", 1_000.4))
    assert claims.account_ref == LINKS.account_ref("acct_a")
    assert claims.job_id == "job_abc123"
    assert claims.expires_at == 4_600.0  # issued + one hour, whole seconds


@settings(max_examples=100, deadline=None)
@given(
    st.text(min_size=1, max_size=30),
    st.text(min_size=1, max_size=30),
    st.floats(0, 4e9, allow_nan=False),
)
def test_round_trip_for_any_ids(account_id: str, job_id: str, issued_at: float) -> None:
    url = LINKS.make("http://h", account_id, job_id, issued_at)
    assert urlsplit(url).path == FILES_PREFIX + quote(job_id, safe="") + ".mp4"
    claims = LINKS.open(job_id, token_of(url))
    assert (claims.account_ref, claims.job_id) == (LINKS.account_ref(account_id), job_id)
    assert claims.expires_at == int(issued_at + 3600)


def _changes(token: str, position: int) -> list[str]:
    return [
        token[:position] + other + token[position + 1 :]
        for other in TOKEN_ALPHABET
        if other != token[position]
    ]


def _accepted(job_id: str, candidates: list[str]) -> list[str]:
    accepted = []
    for candidate in candidates:
        try:
            LINKS.open(job_id, candidate)
        except InvalidSignature:
            continue
        accepted.append(candidate)
    return accepted


def test_any_single_character_change_but_the_last_is_refused() -> None:
    token = issued()
    for position in range(len(token) - 1):
        assert _accepted("job_abc123", _changes(token, position)) == [], position


def test_a_change_to_the_last_character_is_refused_too() -> None:
    for job_id in ("job_abc123", "job_other", "job_third"):
        token = issued(job_id)
        assert _accepted(job_id, _changes(token, len(token) - 1)) == []


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],
        lambda t: t + "A",
        lambda t: t.split(".")[0],
        lambda t: "",
        lambda t: "not-a-token",
        lambda t: t.swapcase(),
    ],
    ids=["truncated", "extended", "no-signature", "empty", "garbage", "swapcase"],
)
def test_mangled_tokens_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidSignature) as caught:
        LINKS.open("job_abc123", mangle(issued()))
    assert (caught.value.status, caught.value.code) == (403, "INVALID_SIGNATURE")


def test_a_token_for_another_job_is_refused() -> None:
    with pytest.raises(InvalidSignature):
        LINKS.open("job_other", issued("job_abc123"))


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = Links("aiprod-sandbox-links:8", ttl_seconds=3600)
    token = token_of(other.make("http://h", "acct_a", "job_abc123", 1_000.0))
    with pytest.raises(InvalidSignature):
        LINKS.open("job_abc123", token)


def test_the_same_link_is_issued_for_the_same_inputs() -> None:
    assert issued() == issued()
    assert issued(issued_at=1_000.0) != issued(issued_at=2_000.0)


def test_a_link_is_a_plain_itsdangerous_token() -> None:
    """The token is what itsdangerous's public URL-safe serializer verifies: an upgrade of the
    library that kept its documented format cannot break links."""
    reader = URLSafeSerializer("aiprod-sandbox-links:7", salt=SALT)
    claims = [LINKS.account_ref("acct_a"), "job_abc123", 4_600]
    assert reader.loads(issued("job_abc123", 1_000.4)) == claims


def test_base64_slack_that_itsdangerous_forgives_is_refused() -> None:
    """Some other last characters of a signature decode to the same bytes and itsdangerous
    accepts them; the link is refused all the same (only the token we issue is ours)."""
    token = issued()
    reader = URLSafeSerializer("aiprod-sandbox-links:7", salt=SALT)
    forgiven = []
    for candidate in _changes(token, len(token) - 1):
        try:
            reader.loads(candidate)
        except BadSignature:
            continue
        forgiven.append(candidate)
    assert forgiven  # the slack exists, so the check in `open` is needed
    assert _accepted("job_abc123", forgiven) == []


def test_expiry_is_in_the_signed_payload_not_read_from_any_clock() -> None:
    """`open` never looks at a clock: a link issued long ago still opens and carries its
    expiry; the caller compares it with the account's clock."""
    claims = LINKS.open("job_abc123", issued(issued_at=0.0))
    assert claims.expires_at == 3_600.0


def test_a_link_shows_no_account_id() -> None:
    """The token is signed, not encrypted: what it carries is readable, so it carries an HMAC
    of the account id, never the id (from which the seeded ids could once be computed)."""
    account_id = "acct_3f9a0c2e7b1d4a56"
    token = token_of(LINKS.make("http://h", account_id, "job_abc123", 1_000.0))
    payload = token.split(".")[0]
    readable = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    assert "job_abc123" in readable
    assert account_id not in readable and account_id[5:] not in readable


def test_only_a_server_with_the_same_secret_takes_a_link() -> None:
    token = issued()
    assert Links("aiprod-sandbox-links:7", 3600).open("job_abc123", token).job_id == "job_abc123"
    with pytest.raises(InvalidSignature):
        Links("another secret", 3600).open("job_abc123", token)
    # and the account behind it is named differently under another secret
    assert Links("another secret", 3600).account_ref("acct_a") != LINKS.account_ref("acct_a")
