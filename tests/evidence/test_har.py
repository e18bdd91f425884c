"""`GET /_sandbox/har`: the account's requests and webhook attempts as a HAR 1.2 file that
validates against the HAR 1.2 JSON Schemas (`har_schema/`), with keys and secrets masked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator
from referencing import Registry, Resource

from tests.evidence.conftest import Partner
from tests.support.receivers import Receivers

SCHEMAS = Path(__file__).parent / "har_schema"


def _validator() -> Draft6Validator:
    resources = [
        (path.name, Resource.from_contents(json.loads(path.read_text(encoding="utf-8"))))
        for path in SCHEMAS.glob("*.json")
    ]
    schema = json.loads((SCHEMAS / "har.json").read_text(encoding="utf-8"))
    return Draft6Validator(schema, registry=Registry().with_resources(resources))


def _har(partner: Partner) -> dict[str, Any]:
    response = partner.client.get("/_sandbox/har")
    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].endswith('.har"')
    return dict(response.json())


def test_the_har_file_is_valid_har_1_2_with_requests_and_attempts(
    partner: Partner, receivers: Receivers
) -> None:
    partner.manual_clock()
    receiver = receivers.plain(503)
    webhook = partner.register(receiver.url, ["job.completed"])
    job_id = partner.submit(metadata={"customer_id": "cust_9"})
    partner.client.get(f"/pipeline/{job_id}", params={"expand": "x"})
    partner.client.post("/_sandbox/clock/advance", json={"seconds": 1})
    har = _har(partner)
    errors = sorted(_validator().iter_errors(har), key=str)
    assert not errors, [error.message for error in errors[:5]]
    entries = har["log"]["entries"]
    kinds = [entry["_kind"] for entry in entries]
    assert kinds.count("request") == 3 and kinds.count("delivery") == 2
    assert [e["startedDateTime"] for e in entries] == sorted(e["startedDateTime"] for e in entries)
    submit = next(e for e in entries if e["request"]["url"].endswith("/pipeline/run"))
    assert submit["request"]["url"].startswith("http://127.0.0.1:")
    assert json.loads(submit["request"]["postData"]["text"])["metadata"] == {
        "customer_id": "cust_9"
    }
    assert submit["response"]["status"] == 202 and job_id in submit["response"]["content"]["text"]
    assert submit["_jobIds"] == [job_id]
    read = next(e for e in entries if "expand" in e["request"]["url"])
    assert read["request"]["queryString"] == [{"name": "expand", "value": "x"}]
    attempts = [e for e in entries if e["_kind"] == "delivery"]
    assert [a["response"]["status"] for a in attempts] == [503, 200]
    assert attempts[0]["request"]["url"] == receiver.url
    assert attempts[0]["_event"] == "job.completed"
    text = json.dumps(har, ensure_ascii=False)
    assert partner.key not in text and webhook["secret"] not in text
    assert f"sk_test_…{partner.key[-4:]}" in text


def test_the_har_file_of_an_empty_account_is_valid_too(partner: Partner) -> None:
    har = _har(partner)
    assert not list(_validator().iter_errors(har))
    assert har["log"]["entries"] == [] and har["log"]["version"] == "1.2"


def test_the_schema_check_itself_refuses_a_broken_file() -> None:
    broken = {"log": {"version": "1.2", "creator": {"name": "x"}, "entries": [{"time": 1}]}}
    messages = [error.message for error in _validator().iter_errors(broken)]
    assert any("'version' is a required property" in m for m in messages)
    assert any("'startedDateTime' is a required property" in m for m in messages)
