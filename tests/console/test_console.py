"""The console at /_sandbox/ui, in headless Chromium, against a real `aiprod-sandbox serve`.

Data is set up through the API with httpx; everything else is done the way a person does it:
type a key, click tabs, rows and buttons, read what the page shows. The page re-reads the
open view every 2 s, so the tests wait for text (bounded), never for a fixed time.
Each view's screenshot is kept in docs/console/ (overwritten on every run).
"""

from __future__ import annotations

import math
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Locator, Page, expect

from aiprod_sandbox.webhook_http.receiver import Received
from tests.support.serve import SandboxProcess

from .conftest import ReceiverThread, fresh_key

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
KEY_STORAGE = "aiprod-sandbox-key"
BODY = {
    "video_url": "https://example.com/input.mp4",
    "voice_text": "Hello, this is a test",
    "voice_language": "en",
    "music_style": "orchestral",
}


def shot(page: Page, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=DOCS / f"{name}.png", full_page=True)


def sign_in(page: Page, key: str, base_url: str = "") -> None:
    page.goto(base_url + "/_sandbox/ui")
    page.get_by_test_id("key-input").fill(key)
    page.get_by_test_id("key-submit").click()
    expect(page.get_by_test_id("account")).to_contain_text("acct_")


def submit(api: httpx.Client, **fields: Any) -> str:
    response = api.post("/pipeline/run", json={**BODY, **fields})
    assert response.status_code == 202, response.text
    return str(response.json()["job_id"])


def job_row(page: Page, job_id: str) -> Locator:
    return page.locator(f'[data-testid="job-row"][data-job-id="{job_id}"]')


def tab(page: Page, name: str) -> None:
    page.get_by_test_id(f"tab-{name}").click()
    expect(page.get_by_test_id(f"tab-{name}")).to_have_class("active")


def clock_now(api: httpx.Client) -> datetime:
    return datetime.fromisoformat(api.get("/_sandbox/clock").json()["now"].replace("Z", "+00:00"))


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def next_polls(page: Page, count: int) -> None:
    """Wait until the page's 2-s poll has re-read the account `count` more times."""
    for _ in range(count):
        with page.expect_response(lambda r: r.url.endswith("/_sandbox/account")):
            pass


def advance_by(page: Page, seconds: int) -> None:
    """Type `seconds` into the custom box and press Advance, just after a poll re-rendered
    the Clock view: the page rebuilds the box on every poll and loses what was typed
    (see test_typed_custom_advance_survives_the_next_refresh), so leave it no poll between."""
    page.get_by_test_id("advance-seconds").evaluate("el => { el.dataset.seen = '1'; }")
    page.wait_for_function(
        "() => { const el = document.querySelector('[data-testid=advance-seconds]');"
        " return el !== null && !el.dataset.seen; }"
    )
    page.get_by_test_id("advance-seconds").fill(str(seconds))
    page.get_by_test_id("advance-custom").click()


# --- signing in ---------------------------------------------------------------------------


def test_sign_in_keeps_the_key_in_session_storage_only(page: Page, key: str) -> None:
    page.goto("/_sandbox/ui")
    expect(page.get_by_test_id("key-input")).to_be_visible()
    expect(page.get_by_test_id("account")).to_be_hidden()
    shot(page, "login")

    sign_in(page, key)
    expect(page.get_by_test_id("account")).to_have_text(
        re.compile(r"^acct_\w+ · pro · timing instant$")
    )
    expect(page.get_by_test_id("key-input")).to_be_hidden()
    expect(page.get_by_test_id("tab-jobs")).to_have_class("active")
    assert page.evaluate(f"sessionStorage.getItem('{KEY_STORAGE}')") == key
    local = page.evaluate("Object.entries(localStorage).flat()")
    assert not any(key in item for item in local)
    assert not any(key in cookie["value"] for cookie in page.context.cookies())

    page.reload()
    expect(page.get_by_test_id("account")).to_contain_text("acct_")
    expect(page.get_by_test_id("key-input")).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{KEY_STORAGE}')") == key


def test_the_console_asks_only_for_what_the_sandbox_serves(page: Page, start_sandbox: Any) -> None:
    """The browser asks for /favicon.ico unless the page names an icon, and the sandbox
    serves nothing outside /_sandbox/: that would be a 404 in the server's log. (The browser
    asks for the icon itself, not the page, so the server's access log is where it shows;
    it asks within ~0.1 s of the load here, so 2 s is a wide margin.)"""
    own: SandboxProcess = start_sandbox("--log-level", "debug")  # with uvicorn's access log
    page.goto(own.base_url + "/_sandbox/ui", wait_until="load")
    page.wait_for_timeout(2000)
    served = [line for line in own.stderr().splitlines() if "uvicorn.access" in line]
    assert any("GET /_sandbox/ui " in line for line in served), served
    assert not [line for line in served if '" 404' in line or "favicon" in line], served


def test_a_live_key_is_refused_and_the_login_form_stays(page: Page, key: str) -> None:
    live = fresh_key("sk_live_")
    page.goto("/_sandbox/ui")
    page.get_by_test_id("key-input").fill(live)
    page.get_by_test_id("key-submit").click()
    expect(page.locator("#login-error")).to_contain_text("Live keys (sk_live_) are not accepted")
    expect(page.get_by_test_id("key-input")).to_be_visible()
    expect(page.get_by_test_id("account")).to_be_hidden()
    assert page.evaluate(f"sessionStorage.getItem('{KEY_STORAGE}')") is None

    # An account whose API calls come from this same browser (the same User-Agent) is not
    # blamed for the live key: that is the server's finding (serve's summary), never an
    # account's. (The console's own calls are not journaled; this one is.)
    page.get_by_test_id("key-input").fill(key)
    page.get_by_test_id("key-submit").click()
    expect(page.get_by_test_id("account")).to_contain_text("acct_")
    status = page.evaluate(
        "key => fetch('/jobs', {headers: {Authorization: 'Bearer ' + key}}).then(r => r.status)",
        key,
    )
    assert status == 200
    tab(page, "requests")
    expect(page.get_by_test_id("request-row")).to_have_count(1)
    tab(page, "advice")
    expect(page.get_by_test_id("advice-none")).to_contain_text("No findings")


# --- jobs ---------------------------------------------------------------------------------


def test_a_submitted_job_shows_completed_with_its_timeline(
    page: Page, api: httpx.Client, key: str
) -> None:
    sign_in(page, key)
    expect(page.get_by_text("No jobs yet.")).to_be_visible()
    done = submit(api)  # after the page opened: the 2-s poll must bring it in
    failed = submit(api, video_url="https://example.com/fail_voice_synthesis.mp4")

    row = job_row(page, done)
    expect(row.get_by_test_id("job-status")).to_have_text("COMPLETED")
    expect(row).to_contain_text("100%")
    expect(job_row(page, failed).get_by_test_id("job-status")).to_have_text("FAILED")
    expect(page.get_by_test_id("page-info")).to_have_text("page 1 of 1 · 2 in all")
    shot(page, "jobs")

    row.click()
    detail = page.get_by_test_id("job-detail")
    expect(detail).to_contain_text(done)
    expect(detail).to_contain_text("COMPLETED")
    expect(detail.get_by_role("link", name="download")).to_be_visible()
    timeline = detail.get_by_test_id("timeline").locator("tr")
    expect(timeline).to_have_count(6)
    expect(timeline).to_contain_text(
        [
            "job.created",
            "job.started",
            "job.progress 30",
            "job.progress 60",
            "job.progress 90",
            "job.completed",
        ]
    )
    shot(page, "job-detail")


def test_a_simulated_job_moves_with_the_clock_tab(page: Page, api: httpx.Client, key: str) -> None:
    sign_in(page, key)
    tab(page, "clock")
    expect(page.get_by_test_id("clock-mode")).to_have_text("manual")
    page.get_by_test_id("timing-simulated").click()
    expect(page.get_by_test_id("account")).to_contain_text("timing simulated")

    job = submit(api)
    start = clock_now(api)
    expect(page.get_by_test_id("clock-now")).to_have_text(stamp(start))
    (plan,) = [j["plan"] for j in api.get("/_sandbox/state").json()["jobs"] if j["job_id"] == job]
    queue, processing = plan["queue_seconds"], plan["processing_seconds"]
    assert plan["simulated"] and plan["progress_steps"] == [30, 60, 90]

    tab(page, "jobs")
    row = job_row(page, job)
    expect(row.get_by_test_id("job-status")).to_have_text("PENDING")
    expect(row).to_contain_text("0%")

    elapsed = 0
    steps = [
        (queue, "job.started", "0%"),
        (queue + 0.3 * processing, "progress 30", "30%"),
        (queue + 0.6 * processing, "progress 60", "60%"),
        (queue + 0.9 * processing, "progress 90", "90%"),
    ]
    for due, action, progress in steps:
        tab(page, "clock")
        seconds = math.ceil(due - elapsed)
        advance_by(page, seconds)
        elapsed += seconds
        expect(page.get_by_test_id("clock-now")).to_have_text(
            stamp(start + timedelta(seconds=elapsed))
        )
        ran = page.get_by_test_id("ran")
        expect(ran).to_contain_text("Last advance ran 1 step(s)")
        expect(ran).to_contain_text(job)
        expect(ran).to_contain_text(action)
        tab(page, "jobs")
        expect(row.get_by_test_id("job-status")).to_have_text("PROCESSING")
        expect(row).to_contain_text(progress)

    tab(page, "clock")
    page.get_by_test_id("advance-60").click()  # the last 10 % take 18–23 s
    expect(page.get_by_test_id("clock-now")).to_have_text(
        stamp(start + timedelta(seconds=elapsed + 60))
    )
    expect(page.get_by_test_id("ran")).to_contain_text("complete")
    shot(page, "clock")
    tab(page, "jobs")
    expect(row.get_by_test_id("job-status")).to_have_text("COMPLETED")
    expect(row).to_contain_text("100%")


def test_ten_thousand_jobs_are_paginated(page: Page, api: httpx.Client, key: str) -> None:
    document = {
        "jobs": [
            {"input": {"video_url": f"https://example.com/v{i:05d}.mp4"}, "status": "COMPLETED"}
            for i in range(10_000)
        ]
    }
    imported = api.put("/_sandbox/state", json=document)
    assert imported.status_code == 200, imported.text[:500]
    assert imported.json()["imported_jobs"] == 10_000

    sign_in(page, key)
    rows = page.get_by_test_id("job-row")
    info = page.get_by_test_id("page-info")
    expect(info).to_have_text("page 1 of 400 · 10000 in all")
    expect(rows).to_have_count(25)
    expect(page.get_by_test_id("prev")).to_be_disabled()
    expect(page.get_by_test_id("next")).to_be_enabled()
    assert page.locator("tr").count() <= 26  # one page of rows and a header, nothing more
    first_on_page_1 = rows.first.get_attribute("data-job-id")
    assert first_on_page_1

    started = time.monotonic()
    page.get_by_test_id("next").click()
    expect(info).to_have_text("page 2 of 400 · 10000 in all")
    expect(rows.first).not_to_have_attribute("data-job-id", first_on_page_1)
    took = time.monotonic() - started
    assert took < 2.0, f"Next took {took:.2f} s to show page 2"
    expect(rows).to_have_count(25)
    expect(page.get_by_test_id("prev")).to_be_enabled()

    started = time.monotonic()
    page.get_by_test_id("prev").click()
    expect(info).to_have_text("page 1 of 400 · 10000 in all")
    expect(rows.first).to_have_attribute("data-job-id", first_on_page_1)
    took = time.monotonic() - started
    assert took < 2.0, f"Previous took {took:.2f} s to show page 1"


# --- deliveries ---------------------------------------------------------------------------


def delivered(api: httpx.Client, key: str, receiver: ReceiverThread) -> Received:
    """Register a webhook to this test's path on the receiver, submit a job, and return the
    job.completed delivery the receiver got."""
    path = f"/hooks/{key[-12:]}"
    registered = api.post(
        "/webhooks/register", json={"url": receiver.url + path, "events": ["job.completed"]}
    )
    assert registered.status_code == 201, registered.text
    job = submit(api)
    got = receiver.receiver
    assert got.wait_until(lambda items: any(i.path == path for i in items), 10)
    (first,) = [i for i in got.received if i.path == path]
    assert first.event == "job.completed" and first.json()["data"]["job_id"] == job
    return first


def open_delivery(page: Page, key: str, delivery_id: str) -> Locator:
    sign_in(page, key)
    tab(page, "deliveries")
    row = page.locator(f'[data-testid="delivery-row"][data-delivery-id="{delivery_id}"]')
    expect(row).to_contain_text("job.completed")
    expect(row).to_contain_text("delivered")
    row.click()
    detail = page.get_by_test_id("delivery-detail")
    expect(detail).to_contain_text(delivery_id)
    return detail


def test_a_delivery_shows_its_attempt_and_can_be_redelivered(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    first = delivered(api, key, receiver)
    delivery_id = first.delivery_id

    detail = open_delivery(page, key, delivery_id)
    attempts = detail.get_by_test_id("attempt")
    expect(attempts).to_have_count(1)
    attempt = attempts.first
    expect(attempt).to_contain_text("#1 scheduled · ok · answer 200")
    expect(attempt).to_contain_text(f"X-AIPROD-Signature: {first.headers['x-aiprod-signature']}")
    expect(attempt).to_contain_text(f"X-AIPROD-Delivery: {delivery_id}")
    expect(attempt).to_contain_text(first.body.decode())  # the exact body sent
    expect(attempt).to_contain_text('← {"ok": true}')
    shot(page, "deliveries")

    detail.get_by_test_id("redeliver").click()
    expect(attempts).to_have_count(2)
    expect(attempts.nth(1)).to_contain_text("#2 manual · ok · answer 200")
    got = receiver.receiver
    assert got.wait_until(
        lambda items: sum(1 for i in items if i.delivery_id == delivery_id) == 2, 10
    )
    again = [i for i in got.received if i.delivery_id == delivery_id][1]
    assert again.body == first.body and again.path == first.path


# --- requests, scenario, advice -----------------------------------------------------------


def test_requests_tab_lists_the_calls_with_the_key_masked(
    page: Page, api: httpx.Client, key: str
) -> None:
    job = submit(api)
    assert api.get(f"/pipeline/{job}").status_code == 200
    assert api.get("/jobs", params={"status": "COMPLETED"}).status_code == 200

    sign_in(page, key)
    tab(page, "requests")
    rows = page.get_by_test_id("requests-table").get_by_test_id("request-row")
    expect(rows).to_have_count(3)  # the console's own reads are not journaled
    expect(rows).to_contain_text(
        [
            re.compile(r"GET\s+/jobs\?status=COMPLETED\s+200"),
            re.compile(rf"GET\s+/pipeline/{job}\s+200"),
            re.compile(r"POST\s+/pipeline/run\s+202"),
        ],
        use_inner_text=True,  # cells apart
    )
    masked = f"sk_test_…{key[-4:]}"
    for index in range(3):
        expect(rows.nth(index)).to_contain_text(masked)
    assert key not in page.content()
    assert key not in page.locator("body").inner_text()
    shot(page, "requests")


def test_scenario_tab_switches_intermittent_500s_on_and_off(
    page: Page, api: httpx.Client, key: str
) -> None:
    sign_in(page, key)
    tab(page, "scenario")
    active = page.get_by_test_id("active-scenario")
    expect(active).to_have_text("none")
    expect(page.get_by_test_id("scenario-off")).to_have_count(0)

    page.get_by_test_id("use-intermittent-500s").click()
    expect(active).to_have_text("intermittent-500s")
    expect(page.get_by_test_id("use-intermittent-500s")).to_have_count(0)  # a badge instead
    shot(page, "scenario")
    failed = api.get("/jobs")
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "server_error"

    page.get_by_test_id("scenario-off").click()
    expect(active).to_have_text("none")
    expect(page.get_by_test_id("use-intermittent-500s")).to_be_visible()
    assert api.get("/_sandbox/scenario").json()["scenario"] is None
    assert api.get("/jobs").status_code == 200


def test_advice_tab_shows_a_duplicate_submission(page: Page, api: httpx.Client, key: str) -> None:
    first, second = submit(api), submit(api)  # the same body twice within seconds
    assert first != second

    sign_in(page, key)
    tab(page, "advice")
    finding = page.locator('[data-testid="finding"][data-rule="duplicate-submission"]')
    expect(finding).to_be_visible()
    expect(finding).to_contain_text("rule duplicate-submission")
    expect(finding).to_contain_text("Fix:")
    expect(finding).to_contain_text("req_")
    expect(page.get_by_test_id("advice-none")).to_have_count(0)
    shot(page, "advice")


def test_advice_tab_is_empty_for_a_fresh_key(page: Page, key: str) -> None:
    sign_in(page, key)
    tab(page, "advice")
    expect(page.get_by_test_id("advice-none")).to_contain_text("No findings")
    expect(page.get_by_test_id("finding")).to_have_count(0)


# --- regressions: behaviour these tests once caught wrong ---------------------------------


def test_typed_custom_advance_survives_the_next_refresh(
    page: Page, api: httpx.Client, key: str
) -> None:
    sign_in(page, key)
    tab(page, "clock")
    start = clock_now(api)
    page.get_by_test_id("advance-seconds").fill("600")
    next_polls(page, 2)  # a person reads the value again before pressing Advance
    page.get_by_test_id("advance-custom").click()
    expect(page.get_by_test_id("ran")).to_be_visible()
    expect(page.get_by_test_id("clock-now")).to_have_text(
        stamp(start + timedelta(seconds=600)), timeout=3000
    )


def test_a_refused_clock_advance_says_why(page: Page, key: str) -> None:
    sign_in(page, key)
    tab(page, "clock")
    advance_by(page, 400 * 86400)
    expect(page.locator("#view .error")).to_be_visible(timeout=3000)


def test_an_open_delivery_fits_a_1280_px_window(
    page: Page, api: httpx.Client, key: str, receiver: ReceiverThread
) -> None:
    delivery_id = delivered(api, key, receiver).delivery_id
    expect(open_delivery(page, key, delivery_id).get_by_test_id("attempt")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width} px wide"


# The page's poll started before a click can answer after it, and then paints the old page.
SLOW_PAGE_ONE = """
const realFetch = window.fetch.bind(window);
window.fetch = async (input, init) => {
  const response = await realFetch(input, init);
  if (window.slowPageOne && String(input).includes('/_sandbox/jobs?page=1&')) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return response;
};
"""
RECORD_PAGES = """
() => {
  window.pagesShown = [];
  new MutationObserver(() => {
    const info = document.querySelector('[data-testid=page-info]');
    if (info) window.pagesShown.push(info.textContent);
  }).observe(document.getElementById('view'), {childList: true, subtree: true});
  window.slowPageOne = true;
}
"""


def test_a_slow_poll_does_not_undo_a_page_change(page: Page, api: httpx.Client, key: str) -> None:
    jobs = [{"input": {"video_url": f"https://example.com/v{i}.mp4"}} for i in range(60)]
    assert api.put("/_sandbox/state", json={"jobs": jobs}).status_code == 200
    page.add_init_script(SLOW_PAGE_ONE)  # a page-1 answer that takes 1 s (a busy server)
    sign_in(page, key)
    expect(page.get_by_test_id("page-info")).to_have_text("page 1 of 3 · 60 in all")
    page.evaluate(RECORD_PAGES)
    with page.expect_request(lambda r: "/_sandbox/jobs?page=1&" in r.url):
        pass  # a poll is now reading page 1
    page.get_by_test_id("next").click()
    expect(page.get_by_test_id("page-info")).to_have_text("page 2 of 3 · 60 in all")
    with page.expect_request(lambda r: "/_sandbox/jobs?page=2&" in r.url):
        pass  # the next poll: the slow page-1 answer has landed by now
    shown: list[str] = page.evaluate("window.pagesShown")
    after_click = shown[next(i for i, t in enumerate(shown) if t.startswith("page 2")) :]
    assert all(t.startswith("page 2") for t in after_click), after_click


def test_an_unreachable_server_shows_one_error_line(page: Page, start_sandbox: Any) -> None:
    own: SandboxProcess = start_sandbox()
    sign_in(page, fresh_key(), own.base_url)
    expect(page.get_by_test_id("jobs-table").or_(page.get_by_text("No jobs yet."))).to_be_visible()
    own.stop()
    for _ in range(2):  # two polls in a row that cannot reach the server
        with page.expect_event(
            "requestfailed", lambda r: r.url.endswith("/_sandbox/account"), timeout=5000
        ):
            pass
    errors = page.locator("#view > p.error")
    expect(errors.first).to_be_visible()
    expect(errors).to_have_count(1, timeout=1000)
