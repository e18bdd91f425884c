"""The request journal keeps evidence a test can assert on: headers (keys masked), bodies,
the answer, and the jobs and deliveries a request caused; its filters find entries by path
glob, method, status, job, time, header and body; it stays within its bound and says what it
let go."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from aiprod_sandbox import Settings, create_app
from aiprod_sandbox.core.journal import (
    ENTRY_OVERHEAD,
    Exchange,
    Journal,
    JournalEntry,
    header_pairs,
    pack_headers,
)
from tests.evidence.conftest import Partner
from tests.support.receivers import Receivers


def _header(exchange: dict[str, Any], name: str) -> str | None:
    return next((h["value"] for h in exchange["headers"] if h["name"] == name), None)


def test_an_entry_keeps_the_exchange_with_the_key_masked(partner: Partner) -> None:
    job_id = partner.submit(metadata={"customer_id": "cust_1"})
    [entry] = partner.journal(method="POST")["items"]
    request, response = entry["request"], entry["response"]
    assert _header(request, "authorization") == f"Bearer sk_test_…{partner.key[-4:]}"
    assert partner.key not in str(entry)
    assert '"customer_id":"cust_1"' in request["body"].replace(" ", "")
    assert request["body_size"] == len(request["body"].encode()) and not request["truncated"]
    assert response["status"] == 202 and entry["status"] == 202
    assert job_id in response["body"]
    assert _header(response, "x-request-id") == entry["request_id"]
    assert entry["job_ids"] == [job_id]
    assert entry["duration_ms"] > 0


def test_secrets_in_answers_are_masked_too(partner: Partner, receivers: Receivers) -> None:
    webhook = partner.register(receivers.plain().url, ["job.completed"])
    made = partner.client.post("/keys", json={"name": "ci", "scopes": ["jobs:read"]})
    assert made.status_code == 201, made.text
    text = str(partner.journal()["items"])
    assert webhook["secret"] not in text and f"whsec_…{webhook['secret'][-4:]}" in text
    assert made.json()["key"] not in text


def test_a_request_links_the_deliveries_its_job_began(
    partner: Partner, receivers: Receivers
) -> None:
    receiver = receivers.plain()
    partner.register(receiver.url, ["job.started", "job.completed"])
    job_id = partner.submit()
    [entry] = partner.journal(path="/pipeline/run")["items"]
    assert entry["job_ids"] == [job_id]
    deliveries = partner.client.get("/_sandbox/deliveries", params={"job_id": job_id}).json()
    assert sorted(entry["delivery_ids"]) == sorted(d["delivery_id"] for d in deliveries["items"])
    assert len(entry["delivery_ids"]) == 2
    # A read of the job names it, and began no delivery
    partner.client.get(f"/pipeline/{job_id}")
    read = partner.journal(method="GET")["items"][0]
    assert read["job_ids"] == [job_id] and read["delivery_ids"] == []


def test_filters_find_entries_by_glob_method_status_job_header_and_body(
    partner: Partner,
) -> None:
    first = partner.submit(metadata={"customer_id": "a"})
    second = partner.submit(metadata={"customer_id": "b"})
    partner.client.get(f"/pipeline/{first}", headers={"X-Trace": "t-1"})
    partner.client.get(f"/jobs/{second}")
    partner.client.get("/pipeline/job_missing")

    def ids(**filters: Any) -> list[str]:
        return [e["path"] for e in partner.journal(**filters)["items"]]

    assert ids(path="/pipeline/*") == [
        "/pipeline/job_missing",
        f"/pipeline/{first}",
        "/pipeline/run",
        "/pipeline/run",
    ]
    assert ids(path="/jobs") == [f"/jobs/{second}"]  # a path: itself and what is under it
    assert ids(method="get", status=404) == ["/pipeline/job_missing"]
    assert ids(job_id=first) == [f"/pipeline/{first}", "/pipeline/run"]
    assert ids(header="x-trace: t-1") == [f"/pipeline/{first}"]
    found = partner.journal(body="metadata.customer_id=b")["items"]
    assert [e["job_ids"] for e in found] == [[second]]
    bad = partner.client.get("/_sandbox/requests", params={"header": "no colon"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "INVALID_PARAMETER"


def test_the_time_window_is_on_the_accounts_clock(partner: Partner) -> None:
    partner.manual_clock()
    partner.submit()
    now = partner.client.get("/_sandbox/clock").json()["now"]
    partner.client.post("/_sandbox/clock/advance", json={"seconds": 3600})
    later = partner.client.get("/_sandbox/clock").json()["now"]
    partner.submit()
    assert len(partner.journal(since=later)["items"]) == 1
    assert len(partner.journal(until=later)["items"]) == 1
    assert len(partner.journal(since=now)["items"]) == 2


def test_one_accounts_journal_is_not_anothers(partner: Partner, another: Partner) -> None:
    partner.submit()
    assert another.journal()["items"] == []
    assert partner.journal()["kept"] == 1


# ---- the bound, in process -----------------------------------------------------------------
def test_bodies_past_the_bound_are_cut_with_a_marker_and_their_size_kept() -> None:
    app = create_app(Settings(journal_body_bytes=64))
    key = "sk_test_pro_journalcut0000000001"
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        text = "x" * 300
        client.post(
            "/pipeline/run",
            headers=headers,
            json={"video_url": "https://example.com/in.mp4", "voice_text": text},
        )
        entry = client.get("/_sandbox/requests", headers=headers).json()["items"][0]
    request = entry["request"]
    assert request["truncated"] and request["body_size"] > 300
    assert request["body"].endswith(f"…[truncated: 64 of {request['body_size']} bytes]")


def test_the_journal_keeps_within_its_bytes_and_says_what_it_let_go() -> None:
    app = create_app(Settings(journal_bytes=20_000, journal_body_bytes=1024))
    key = "sk_test_pro_journalbound00000001"
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {key}"}
        for _ in range(60):
            client.post(
                "/pipeline/run",
                headers=headers,
                json={"video_url": "https://example.com/in.mp4", "voice_text": "y" * 500},
            )
        listed = client.get("/_sandbox/requests", headers=headers, params={"limit": 1000})
    answer = listed.json()
    assert answer["bound"] == {"entries": 1000, "bytes": 20_000, "body_bytes": 1024}
    assert 0 < answer["kept"] < 60 and answer["kept"] + answer["evicted"] == 60
    assert len(answer["items"]) == answer["kept"]


def test_the_bound_counts_every_entrys_evidence() -> None:
    journal = Journal(entries=10, budget=3 * (ENTRY_OVERHEAD + 100), body_bytes=100)

    def entry(number: int) -> JournalEntry:
        return JournalEntry(
            f"req_{number}",
            float(number),
            "POST",
            "/pipeline/run",
            "",
            202,
            1.0,
            "k",
            request_body=b"b" * 50,
            request_size=50,
            response_body=b"r" * 50,
            response_size=50,
        )

    for number in range(5):
        journal.append(entry(number))
    assert [e.request_id for e in journal] == ["req_2", "req_3", "req_4"]
    assert journal.evicted == 2 and journal.bytes == 3 * (ENTRY_OVERHEAD + 100)
    journal.clear()
    assert len(journal) == 0 and journal.bytes == 0 and journal.evicted == 0


def test_headers_are_kept_packed_and_read_back_as_they_came() -> None:
    pairs = [(b"host", b"x:8080"), (b"x-empty", b""), (b"authorization", b"Bearer sk_test_a: b")]
    packed = pack_headers(pairs)
    assert isinstance(packed, bytes) and header_pairs(packed) == pairs
    assert header_pairs(pack_headers([])) == []


_names = st.sampled_from([b"user-agent", b"if-none-match", b"retry-after", b"x-a", b"host"])
_values = st.binary(max_size=12).map(lambda v: v.replace(b"\n", b"").replace(b"\r", b""))
_pairs = st.lists(st.tuples(_names, _values), max_size=6)


@given(request=_pairs, response=_pairs, query=st.binary(max_size=8), body=st.binary(max_size=40))
def test_an_exchange_counts_and_reads_back_as_the_entry_it_becomes(
    request: list[tuple[bytes, bytes]],
    response: list[tuple[bytes, bytes]],
    query: bytes,
    body: bytes,
) -> None:
    """The journal makes a request's entry when it is read: its budget counts the exchange as
    the entry it becomes, and reading it gives the entry the middleware used to build at once."""
    exchange = Exchange(
        "req_1", 5.0, "POST", "/pipeline/run", query, 202, 0.0015, "sk_test_…abcd", (), (),
        "sha", None, ("job_1",), (), pack_headers(request), body, len(body) + 3,
        pack_headers(response), body[:7], 7,
    )  # fmt: skip
    journal = Journal(entries=10, budget=10**6, body_bytes=100)
    journal.append(exchange)
    counted = journal.bytes
    [entry] = list(journal)
    assert counted == ENTRY_OVERHEAD + entry.evidence_bytes
    assert header_pairs(entry.request_headers) == request
    assert header_pairs(entry.response_headers) == response
    agents = [v for n, v in request if n == b"user-agent"]
    assert entry.user_agent == (agents[0].decode("latin-1") if agents else None)
    assert entry.conditional == any(n == b"if-none-match" for n, _ in request)
    retry = next((v for n, v in response if n == b"retry-after"), b"")
    assert entry.retry_after == (int(retry) if retry.isdigit() else None)
    assert entry.query == query.decode("latin-1") and entry.request_body == body
    assert entry.duration_ms == 1.5
    assert (entry.request_size, entry.response_body, entry.job_ids) == (
        len(body) + 3,
        body[:7],
        ("job_1",),
    )
    assert journal[0] is entry and list(reversed(journal)) == [entry]


def test_entries_appended_after_a_read_are_made_on_the_next() -> None:
    journal = Journal(entries=2, budget=10**6, body_bytes=100)

    def exchange(number: int) -> Exchange:
        return Exchange(
            f"req_{number}", float(number), "GET", "/health", b"", 200, 0.1, "k", (), (),
            None, None, (), (), b"user-agent: t", b"", 0, b"", b"", 0,
        )  # fmt: skip

    journal.append(exchange(1))
    assert [e.request_id for e in journal] == ["req_1"]
    journal.append(exchange(2))
    journal.append(exchange(3))
    assert [type(e) for e in journal] == [JournalEntry, JournalEntry]
    assert [e.request_id for e in reversed(journal)] == ["req_3", "req_2"]
    assert journal.evicted == 1 and journal.oldest_at() == 2.0
