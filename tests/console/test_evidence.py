"""The console's evidence views, in headless Chromium against a real `aiprod-sandbox serve`:
the Webhooks and Keys tabs, each attempt's signature verdict, the delivery log's pages, the
timeline picture, ids in findings that open their evidence, and a detail pane that stays in
view. Data is set up through the API; the page is read and clicked as a person would.
Screenshots go to docs/console/ (overwritten on every run)."""

from __future__ import annotations

import re
import socket
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from aiprod_sandbox.webhook_http.signing import verify

from .conftest import ReceiverThread
from .test_console import job_row, shot, sign_in, submit, tab

FITS = "t => t.getBoundingClientRect().right <= t.parentElement.getBoundingClientRect().right"
RGB_OK, RGB_BAD = "rgb(26, 127, 75)", "rgb(180, 35, 24)"  # --ok and --bad of app.css


def ok(api: httpx.Client, method: str, url: str, **more: Any) -> Any:
    response = api.request(method, url, **more)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def register(api: httpx.Client, url: str, *events: str) -> dict[str, Any]:
    body = {"url": url, "events": list(events or ["job.completed"])}
    return dict(ok(api, "POST", "/webhooks/register", json=body))


def use(api: httpx.Client, *rules: dict[str, Any]) -> None:
    scenario = {"name": "console", "description": "console test", "webhooks": list(rules)}
    ok(api, "PUT", "/_sandbox/scenario", json={"scenario": scenario})


def settle(api: httpx.Client, seconds: float = 0) -> None:
    """Advance the manual clock; the answer comes once the attempts due meanwhile are made."""
    ok(api, "POST", "/_sandbox/clock/advance", json={"seconds": seconds})


def closed_port_url() -> str:
    """A loopback URL nothing listens on: every attempt to it is a connect_error at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone"


def hook_path(key: str, name: str = "") -> str:
    return f"/hooks/{key[-12:]}{name}"


def delivery_row(page: Page, delivery_id: str) -> Locator:
    return page.locator(f'[data-testid="delivery-row"][data-delivery-id="{delivery_id}"]')


def attrs(marks: Locator, name: str) -> list[str]:
    return [str(value) for value in marks.evaluate_all(f"ms => ms.map(m => m.dataset.{name})")]


# --- Webhooks and Keys tabs -------------------------------------------------------------------


def test_webhooks_tab_shows_each_endpoint_with_its_outcomes_and_leads_to_its_deliveries(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    live = register(api, receiver.url + hook_path(key), "job.started", "job.completed")
    idle = register(api, receiver.url + hook_path(key, "/idle"))
    ok(api, "PUT", f"/webhooks/{idle['webhook_id']}", json={"active": False})
    gone = closed_port_url()
    submit(api, callback_url=gone)
    settle(api)

    sign_in(page, key)
    tab(page, "webhooks")
    table = page.get_by_test_id("webhooks-table")
    rows = table.get_by_test_id("webhook-row")
    expect(rows).to_have_count(3)
    first = rows.nth(0)
    expect(first).to_have_attribute("data-endpoint", live["webhook_id"])
    expect(first).to_contain_text("job.started, job.completed")
    expect(first.get_by_test_id("webhook-active")).to_have_text("active")
    expect(first.get_by_test_id("webhook-counts")).to_contain_text(
        "2 delivered 0 failed 0 pending2 attempts"
    )
    expect(first.get_by_test_id("webhook-secret")).to_have_text(f"whsec_…{live['secret'][-4:]}")
    expect(rows.nth(1).get_by_test_id("webhook-active")).to_have_text("inactive")
    callback = rows.nth(2)
    expect(callback).to_have_attribute("data-endpoint", "callback")
    expect(callback).to_contain_text(gone)
    expect(callback.get_by_test_id("webhook-counts")).to_contain_text(
        "0 delivered 0 failed 5 pending5 attempts"
    )
    content = page.content()
    assert live["secret"] not in content and idle["secret"] not in content
    shot(page, "webhooks")

    callback.click()  # an endpoint leads to its deliveries, and only its
    expect(page.get_by_test_id("tab-deliveries")).to_have_class("active")
    expect(page.get_by_test_id("endpoint-filter")).to_contain_text("to callback")
    listed = page.get_by_test_id("delivery-row")
    expect(listed).to_have_count(5)
    expect(page.get_by_test_id("page-info")).to_have_text("page 1 of 1 · 5 in all")
    for index in range(5):
        expect(listed.nth(index)).to_contain_text("callback")
        expect(listed.nth(index).get_by_test_id("last-status")).to_have_text("connect_error")
    page.get_by_test_id("endpoint-filter").get_by_role("button").click()
    expect(listed).to_have_count(7)


def test_keys_tab_shows_keys_masked_with_their_audit_trail(
    page: Page, api: httpx.Client, key: str
) -> None:
    made = ok(api, "POST", "/keys", json={"name": "CI runner", "scopes": ["jobs:read"]})
    ok(api, "DELETE", f"/keys/{made['key_id']}")

    sign_in(page, key)
    tab(page, "keys")
    rows = page.get_by_test_id("key-row")
    expect(rows).to_have_count(2)
    ci, own = rows.nth(0), rows.nth(1)
    expect(ci).to_have_attribute("data-key-id", made["key_id"])
    expect(ci.get_by_test_id("key-masked")).to_have_text(f"sk_test_…{made['key'][-4:]}")
    expect(ci).to_contain_text("CI runner")
    expect(ci).to_contain_text("jobs:read")
    expect(ci.get_by_test_id("key-state")).to_contain_text("revoked")
    expect(ci.get_by_test_id("key-yours")).to_have_count(0)
    expect(own.get_by_test_id("key-masked")).to_have_text(f"sk_test_…{key[-4:]}")
    expect(own.get_by_test_id("key-yours")).to_have_text("this console")
    expect(own.get_by_test_id("key-state")).to_have_text("active")
    content = page.content()
    assert made["key"] not in content and key not in content
    assert page.get_by_test_id("keys-table").evaluate(FITS)  # no column hidden

    ci.click()
    trail = page.get_by_test_id("key-detail").get_by_test_id("audit-row")
    expect(trail).to_have_count(2)
    assert attrs(trail, "event") == ["key.revoked", "key.created"]
    shot(page, "keys")

    trail.nth(0).get_by_test_id("id-link").click()  # the request that revoked it
    expect(page.get_by_test_id("tab-requests")).to_have_class("active")
    entry = page.get_by_test_id("request-detail")
    expect(entry).to_contain_text(f"DELETE /keys/{made['key_id']}")
    expect(entry.locator('[data-field="status"]')).to_have_text("200")
    expect(entry.locator('[data-field="key"]')).to_have_text(f"sk_test_…{key[-4:]}")
    shot(page, "request-detail")


# --- deliveries -------------------------------------------------------------------------------


def test_each_attempt_says_whether_its_signature_verifies(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    path = hook_path(key)
    webhook = register(api, receiver.url + path)
    only_it = {"endpoint": webhook["webhook_id"]}
    use(api, {"match": only_it, "when": {"nth": 2}, "action": "bad_signature"})
    submit(api, video_url="https://example.com/first.mp4")
    submit(api, video_url="https://example.com/second.mp4")
    settle(api)
    got = [r for r in receiver.receiver.received if r.path == path]
    # The receiver's own check, with the webhook's secret: one good, one bad.
    checked = {
        r.delivery_id: verify(webhook["secret"], r.body, r.headers["x-aiprod-signature"])
        for r in got
    }
    assert sorted(checked.values()) == [False, True]
    bad_id = next(d for d, good in checked.items() if not good)
    good_id = next(d for d, good in checked.items() if good)

    sign_in(page, key)
    tab(page, "deliveries")
    bad, good = delivery_row(page, bad_id), delivery_row(page, good_id)
    expect(bad.get_by_test_id("verdict")).to_have_attribute("data-verdict", "wrong_signature")
    expect(bad.get_by_test_id("verdict")).to_have_text("wrong signature")
    expect(bad.get_by_test_id("deliberate")).to_have_text("deliberate: bad_signature")
    expect(bad.get_by_test_id("last-status")).to_have_text("200")  # the receiver took it anyway
    expect(good.get_by_test_id("verdict")).to_have_text("signature verifies")
    expect(good.get_by_test_id("deliberate")).to_have_count(0)
    expect(good.get_by_test_id("last-status")).to_have_text("200")

    assert page.get_by_test_id("deliveries-table").evaluate(FITS)  # no column hidden

    bad.click()
    detail = page.get_by_test_id("delivery-detail")
    expect(detail).to_contain_text(bad_id)
    verdict = detail.get_by_test_id("attempt").get_by_test_id("verdict")
    expect(verdict).to_have_text("wrong signature")
    assert verdict.evaluate("e => getComputedStyle(e).color") == RGB_BAD
    secret_used = f"webhook {webhook['webhook_id']} (whsec_…{webhook['secret'][-4:]})"
    expect(detail.get_by_test_id("secret-used")).to_have_text(secret_used)
    assert webhook["secret"] not in page.content()
    shot(page, "signatures")

    good.click()
    expect(detail).to_contain_text(good_id)
    verdict = detail.get_by_test_id("attempt").get_by_test_id("verdict")
    expect(verdict).to_have_text("signature verifies")
    assert verdict.evaluate("e => getComputedStyle(e).color") == RGB_OK


def test_an_attempt_sent_without_a_signature_says_so(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    path = hook_path(key)
    register(api, receiver.url + path)
    use(api, {"action": "missing_signature"})
    submit(api)
    settle(api)
    (got,) = [r for r in receiver.receiver.received if r.path == path]
    assert "x-aiprod-signature" not in got.headers

    sign_in(page, key)
    tab(page, "deliveries")
    row = delivery_row(page, got.delivery_id)
    expect(row.get_by_test_id("verdict")).to_have_text("no signature")
    expect(row.get_by_test_id("deliberate")).to_have_text("deliberate: missing_signature")
    row.click()
    attempt = page.get_by_test_id("delivery-detail").get_by_test_id("attempt")
    expect(attempt.get_by_test_id("verdict")).to_have_attribute("data-verdict", "no_signature")
    expect(attempt).to_contain_text("no X-AIPROD-Signature header")


def test_the_delivery_log_pages_and_every_page_is_newest_first(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    register(api, receiver.url + hook_path(key), "job.started")
    sent = [ok(api, "POST", "/_sandbox/events", json={"event": "job.started"}) for _ in range(30)]
    settle(api)
    made = [d for answer in sent for d in answer["delivery_ids"]]
    assert len(made) == 30

    sign_in(page, key)
    tab(page, "deliveries")
    rows = page.get_by_test_id("delivery-row")
    info = page.get_by_test_id("page-info")
    expect(info).to_have_text("page 1 of 2 · 30 in all")
    expect(rows).to_have_count(25)
    expect(page.get_by_test_id("prev")).to_be_disabled()
    first_page = attrs(rows, "deliveryId")
    assert first_page == made[::-1][:25]
    for status in rows.get_by_test_id("last-status").all_inner_texts():
        assert status == "200"

    page.get_by_test_id("next").click()
    expect(info).to_have_text("page 2 of 2 · 30 in all")
    expect(rows).to_have_count(5)
    assert attrs(rows, "deliveryId") == made[::-1][25:]  # the 5 oldest: none lost, none twice
    expect(page.get_by_test_id("next")).to_be_disabled()

    page.get_by_test_id("delivery-status-filter").select_option("pending")
    expect(info).to_have_text("page 1 of 1 · 0 in all")
    page.get_by_test_id("delivery-status-filter").select_option("delivered")
    expect(info).to_have_text("page 1 of 2 · 30 in all")


# --- the timeline picture ---------------------------------------------------------------------


def test_the_timeline_picture_shows_a_jobs_events_and_each_attempt_by_outcome(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    webhook = register(api, receiver.url + hook_path(key), "job.started", "job.completed")
    hook = webhook["webhook_id"]
    use(api, {"match": {"endpoint": hook, "event": "job.completed"}, "action": "bad_signature"})
    job = submit(api, callback_url=closed_port_url())
    settle(api)
    settle(api, 10)  # the callback's retries at +1 s and +6 s; the next is due at +36 s

    sign_in(page, key)
    job_row(page, job).click()
    picture = page.get_by_test_id("job-detail").get_by_test_id("timeline-picture")
    marks = picture.get_by_test_id("tl-mark")
    expect(marks).to_have_count(6 + 2 + 20)

    events = picture.locator('[data-testid=tl-mark][data-lane="job"]')
    assert attrs(events, "event") == [
        "job.created",
        "job.started",
        "job.progress 30",
        "job.progress 60",
        "job.progress 90",
        "job.completed",
    ]
    assert [t.strip() for t in events.locator("text").all_text_contents()] == [
        "created",
        "started",
        "30%",
        "60%",
        "90%",
        "completed",
    ]
    to_hook = picture.locator(f'[data-testid=tl-mark][data-lane="{hook}"]')
    assert attrs(to_hook, "event") == ["job.started", "job.completed"]
    assert attrs(to_hook, "outcome") == ["acknowledged", "acknowledged"]
    assert attrs(to_hook, "signature") == ["verifies", "wrong_signature"]
    assert attrs(to_hook, "deliberate") == ["", "bad_signature"]
    assert to_hook.nth(1).locator("rect").get_attribute("class") == "mark o-acknowledged sig-bad"
    # Each attempt stands under the event that caused it.
    x_of = {e: float(x) for e, x in zip(attrs(events, "event"), attrs(events, "x"), strict=True)}
    assert [float(x) for x in attrs(to_hook, "x")] == [x_of["job.started"], x_of["job.completed"]]

    to_callback = picture.locator('[data-testid=tl-mark][data-lane="callback"]')
    outcomes = attrs(to_callback, "outcome")
    assert outcomes == ["failed"] * 15 + ["due"] * 5
    offsets = [float(o) for o in attrs(to_callback, "offset")]
    assert offsets == [0.0] * 5 + [1.0] * 5 + [6.0] * 5 + [36.0] * 5
    xs = [float(x) for x in attrs(to_callback, "x")]
    for earlier, later in ((0, 5), (5, 10), (10, 15)):  # later instants lie further right
        assert max(xs[earlier : earlier + 5]) < min(xs[later : later + 5])
    colour = "e => getComputedStyle(e.querySelector('rect')).fill"
    assert to_callback.first.evaluate(colour) == RGB_BAD
    assert to_hook.first.evaluate(colour) == RGB_OK

    ticks = picture.get_by_test_id("tl-tick").locator("text")
    assert ticks.all_text_contents() == ["+0 s", "+1 s", "+6 s", "+10 s", "+36 s"]
    now = picture.get_by_test_id("tl-now")
    expect(now).to_have_attribute("data-offset", "10")
    box = picture.bounding_box()
    assert box is not None and box["width"] <= page.viewport_size["width"] / 2
    shot(page, "timeline")

    to_callback.nth(5).click()  # a mark opens its delivery
    detail = page.get_by_test_id("delivery-detail")
    expect(detail).to_contain_text(str(to_callback.nth(5).get_attribute("data-delivery-id")))
    expect(detail.get_by_test_id("attempt")).to_have_count(3)


# --- ids lead to their evidence; the detail stays in view -----------------------------------


def test_ids_in_findings_open_their_evidence(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    register(api, receiver.url + hook_path(key))
    use(api, {"when": {"nth": 1}, "action": "bad_signature"})  # the receiver says 200 to it
    first = submit(api)
    submit(api)  # the same body again within seconds: duplicate-submission
    settle(api)
    requests = ok(api, "GET", "/_sandbox/requests")["items"]
    posted = [r["request_id"] for r in reversed(requests) if r["path"] == "/pipeline/run"]

    sign_in(page, key)
    tab(page, "advice")
    duplicate = page.locator('[data-testid="finding"][data-rule="duplicate-submission"]')
    links = duplicate.get_by_test_id("id-link")
    expect(links).to_have_count(1)
    assert attrs(links, "id") == posted[1:]  # the second submission is the duplicate
    links.nth(0).click()
    expect(page.get_by_test_id("tab-requests")).to_have_class("active")
    entry = page.get_by_test_id("request-detail")
    expect(entry).to_contain_text("POST /pipeline/run")
    expect(entry.locator('[data-field="request_id"]')).to_have_text(posted[1])
    selected = page.locator("[data-testid=request-row].selected")
    expect(selected).to_have_attribute("data-request-id", posted[1])

    tab(page, "advice")
    unverified = page.locator('[data-testid="finding"][data-rule="unverified-webhook"]')
    link = unverified.get_by_test_id("id-link").first
    delivery_id = link.get_attribute("data-id")
    assert delivery_id and delivery_id.startswith("dlv_")
    link.click()
    expect(page.get_by_test_id("tab-deliveries")).to_have_class("active")
    detail = page.get_by_test_id("delivery-detail")
    expect(detail.locator("h3")).to_contain_text(delivery_id)
    expect(detail.get_by_test_id("verdict")).to_have_text("wrong signature")

    detail.get_by_test_id("id-link").click()  # the delivery's job
    expect(page.get_by_test_id("tab-jobs")).to_have_class("active")
    expect(page.get_by_test_id("job-detail").locator("h3")).to_contain_text(first)


def test_the_detail_pane_stays_in_view_while_the_list_scrolls(
    page: Page, api: httpx.Client, key: str
) -> None:
    jobs = [{"input": {"video_url": f"https://example.com/v{i}.mp4"}} for i in range(25)]
    assert api.put("/_sandbox/state", json={"jobs": jobs}).status_code == 200
    page.set_viewport_size({"width": 1280, "height": 480})
    sign_in(page, key)
    rows = page.get_by_test_id("job-row")
    expect(rows).to_have_count(25)
    rows.nth(0).click()
    detail = page.get_by_test_id("job-detail")
    expect(detail.get_by_test_id("timeline-picture")).to_be_visible()

    page.mouse.wheel(0, 5000)
    page.wait_for_function("window.scrollY > 300")
    last = rows.nth(24).bounding_box()
    assert last is not None and last["y"] + last["height"] <= 480  # the list's end is in view
    first = rows.nth(0).bounding_box()
    assert first is not None and first["y"] < 0  # its start has scrolled away
    box = detail.bounding_box()
    assert box is not None and 0 <= box["y"] <= 16, box  # and the detail is still at the top
    assert re.search(r"job_\w+", detail.locator("h3").inner_text())
