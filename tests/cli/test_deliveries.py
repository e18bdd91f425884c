"""`aiprod-sandbox deliveries list|get|redeliver` against a real `serve` and a real receiver."""

from __future__ import annotations

import json

import httpx

from tests.cli.conftest import Cli, refused
from tests.support.receivers import Receivers

WAIT = 10.0


def test_list_get_and_redeliver(cli: Cli, api: httpx.Client, receivers: Receivers) -> None:
    hook = receivers.plain()
    made = api.post("/webhooks/register", json={"url": hook.url, "events": ["job.completed"]})
    assert made.status_code == 201, made.text
    job_id = api.post("/pipeline/run", json={"video_url": "https://example.com/a.mp4"}).json()[
        "job_id"
    ]
    assert hook.receiver.wait_until(lambda got: len(got) == 1, WAIT)

    listed = cli("deliveries", "list", "--json", "--job", job_id)
    assert listed.returncode == 0, listed.stderr
    (delivery,) = json.loads(listed.stdout)["items"]
    delivery_id = delivery["delivery_id"]
    assert delivery["event"] == "job.completed"
    text = cli("deliveries", "list").stdout
    assert delivery_id in text and "job.completed" in text

    shown = cli("deliveries", "get", delivery_id)
    assert shown.returncode == 0, shown.stderr
    assert hook.url in shown.stdout and "scheduled" in shown.stdout

    again = cli("deliveries", "redeliver", delivery_id)
    assert again.returncode == 0, again.stderr
    assert "redelivered" in again.stdout
    assert hook.receiver.wait_until(lambda got: len(got) == 2, WAIT)
    second = hook.receiver.received[1]
    assert second.delivery_id == delivery_id  # the same id, the same bytes, a new attempt
    assert second.body == hook.receiver.received[0].body
    attempts = api.get(f"/_sandbox/deliveries/{delivery_id}").json()["attempts"]
    assert [a["trigger"] for a in attempts] == ["scheduled", "manual"]


def test_an_unknown_delivery_is_the_sandboxs_404(cli: Cli) -> None:
    refused(cli("deliveries", "redeliver", "dlv_doesnotexist00"), "404 DELIVERY_NOT_FOUND")
