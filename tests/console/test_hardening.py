"""The console's defences, against a real `aiprod-sandbox serve` and in headless Chromium.

The findings of the security review (issue 15), each reproduced: the page ran inline script
and style (so its CSP had to allow `'unsafe-inline'`, and any markup injected into it would
run), could be framed by any site, and put ids into fetch paths as they came — a job id
`../../keys` from an imported state document steered the console's request to another
endpoint. And JSON answers did not say `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from tests.support.serve import SandboxProcess, http_client

from .test_console import sign_in, submit, tab

INLINE_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""
TABS = ["jobs", "deliveries", "webhooks", "keys", "requests", "clock", "scenario", "advice"]
SCRIPTS = ("views.js", "timeline.js", "app.js")  # in the order the page loads them
CONSOLE_FILES = {"/_sandbox/ui", "/_sandbox/ui/app.css", *(f"/_sandbox/ui/{s}" for s in SCRIPTS)}


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


# --- what the sandbox serves ----------------------------------------------------------------


def test_the_page_is_its_own_files_under_a_policy_without_unsafe_inline(
    sandbox: SandboxProcess,
) -> None:
    with http_client() as http:
        page = http.get(sandbox.base_url + "/_sandbox/ui")
        files = {
            name: http.get(f"{sandbox.base_url}/_sandbox/ui/{name}")
            for name in (*SCRIPTS, "app.css")
        }

    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "unsafe" not in policy, policy
    csp = directives(policy)
    assert csp["default-src"] == ["'none'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["connect-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["form-action"] == ["'none'"] and csp["base-uri"] == ["'none'"]

    html = page.text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts == [(f' src="/_sandbox/ui/{name}" defer', "") for name in SCRIPTS]
    assert '<link rel="stylesheet" href="/_sandbox/ui/app.css">' in html
    assert "<style" not in html
    assert not re.search(r"\s(style|on[a-z]+)=", html), "an inline style or handler"

    typed = [(name, "text/javascript") for name in SCRIPTS] + [("app.css", "text/css")]
    for name, media_type in typed:
        answer = files[name]
        assert answer.status_code == 200, name
        assert answer.headers["content-type"] == f"{media_type}; charset=utf-8"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.text.strip()
    for name in SCRIPTS:
        assert not re.search(r"\bstyle\s*:", files[name].text), f"a style attribute in {name}"


def test_every_answer_says_nosniff(sandbox: SandboxProcess, key: str) -> None:
    """JSON successes and errors (the handler's, the router's, the auth check's), the files,
    the documents, and a media link: one `X-Content-Type-Options: nosniff` on each."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=sandbox.base_url, timeout=10.0, trust_env=False) as http:
        job = http.post(
            "/pipeline/run", json={"video_url": "https://example.com/a.mp4"}, headers=headers
        )
        assert job.status_code == 202, job.text
        link = http.get(f"/jobs/{job.json()['job_id']}", headers=headers).json()["result"]
        answers = [
            job,
            http.get("/jobs", headers=headers),
            http.get("/presets", headers=headers),
            http.post("/pipeline/run", json={}, headers=headers),  # 400
            http.get("/jobs"),  # 401
            http.get("/jobs", headers={"Authorization": "Bearer sk_live_" + "a" * 24}),
            http.get("/jobs/job_nonexistent", headers=headers),  # 404
            http.get("/no-such-route"),  # the router's 404
            http.delete("/health"),  # 405
            http.get("/health"),
            http.get("/openapi.json"),
            http.get("/_sandbox/openapi.json"),
            http.get("/_sandbox/account", headers=headers),
            http.get("/_sandbox/ui"),
            http.get(link["video_url"]),  # video/mp4
        ]
    assert len({a.status_code for a in answers}) >= 5
    for answer in answers:
        sent = answer.headers.get_list("x-content-type-options")
        assert sent == ["nosniff"], (answer.request.method, answer.request.url, sent)


# --- in the browser -------------------------------------------------------------------------


def test_every_view_runs_under_the_policy_and_the_policy_blocks_inline_code(
    page: Page, api: httpx.Client, key: str
) -> None:
    page.add_init_script(INLINE_VIOLATIONS)
    job = submit(api)
    sign_in(page, key)
    row = page.locator(f'[data-testid="job-row"][data-job-id="{job}"]')
    expect(row).to_contain_text("100%")
    fill = row.locator(".bar > span")
    assert fill.evaluate("e => e.style.width") == "100%"  # set through CSSOM, not an attribute
    assert fill.evaluate("e => e.getBoundingClientRect().width") > 100
    sign_out = page.locator("#sign-out")
    assert sign_out.evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    row.click()
    expect(page.get_by_test_id("timeline").locator("tr")).to_have_count(6)
    for name in TABS[1:] + TABS[:1]:  # every tab, ending on Jobs with the job open
        tab(page, name)
    completed = page.locator('[data-testid=tl-mark][data-event="job.completed"] circle')
    # the timeline picture is coloured by the style sheet's classes: no inline style needed
    assert completed.evaluate("e => getComputedStyle(e).fill") == "rgb(26, 127, 75)"
    tab(page, "clock")
    assert page.locator(".row.spaced").evaluate("e => getComputedStyle(e).marginTop") == "12px"
    assert page.evaluate("window.cspViolations") == []

    # The policy is enforced, not only unused: injected inline code does not run.
    page.evaluate(
        """() => {
        const script = document.createElement("script");
        script.textContent = "window.inlineRan = true";
        document.head.append(script);
        document.body.setAttribute("style", "background: rgb(255, 0, 0)");
        const link = document.createElement("a");
        link.href = "javascript:window.inlineRan = true";
        document.body.append(link);
        link.click();
    }"""
    )
    page.wait_for_function("window.cspViolations.length >= 3")
    assert page.evaluate("window.inlineRan") is None
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 0, 0)"
    blocked = page.evaluate("window.cspViolations")
    assert sorted(blocked) == [
        "script-src-elem inline",  # the <script> element
        "script-src-elem inline",  # the javascript: link
        "style-src-attr inline",
    ], blocked


FRAME_BOTH = """(base) => {
  for (const path of ["/_sandbox/ui", "/health"]) {
    const frame = document.createElement("iframe");
    frame.src = base + path;
    document.body.append(frame);
  }
}"""


def test_no_page_can_frame_the_console(page: Page, sandbox: SandboxProcess) -> None:
    """`frame-ancestors 'none'`: not even a page of the sandbox's own origin may frame the
    console, so no other site can (clickjacking a signed-in tab). The same page frames
    /health, to show that framing itself works in this browser."""
    page.goto(sandbox.base_url + "/health")
    with page.expect_console_message(lambda m: "frame-ancestors 'none'" in m.text):
        page.evaluate(FRAME_BOTH, sandbox.base_url)
    expect(page.frame_locator("iframe >> nth=1").locator("body")).to_contain_text('"ok"')
    urls = [frame.url for frame in page.frames[1:]]
    assert f"{sandbox.base_url}/health" in urls
    assert f"{sandbox.base_url}/_sandbox/ui" not in urls, urls
    expect(page.frame_locator("iframe >> nth=0").get_by_test_id("key-input")).to_have_count(0)


def requests_of(page: Page) -> list[Request]:
    """Every request the page makes from now on (its own files, fetches, anything)."""
    made: list[Request] = []
    page.on("request", lambda request: made.append(request))
    return made


def paths(made: list[Request]) -> set[str]:
    return {urlsplit(r.url).path for r in made}


REAL_ID = "job_renamed_by_the_test"


def renaming(real: str, fake: str) -> Callable[[Route], None]:
    """A route handler: the account's job list, as if the job `real` were called `fake`."""

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).path != "/_sandbox/jobs":
            route.continue_()
            return
        answer = route.fetch()
        body = answer.text().replace(json.dumps(real)[1:-1], json.dumps(fake)[1:-1])
        route.fulfill(response=answer, body=body)

    return handle


@pytest.mark.parametrize(
    ("job_id", "asked"),
    [
        ("../../keys", "/_sandbox/jobs/..%2F..%2Fkeys"),
        (
            "x/../../../_sandbox/account?#",
            "/_sandbox/jobs/x%2F..%2F..%2F..%2F_sandbox%2Faccount%3F%23",
        ),
    ],
    ids=["dot-dot-keys", "query-and-fragment"],
)
def test_an_imported_job_id_cannot_steer_the_consoles_request(
    page: Page, api: httpx.Client, key: str, job_id: str, asked: str
) -> None:
    """The review's reproduction brought such an id in through `PUT /_sandbox/state`, which
    now refuses it (tests/reliability/test_attacks_state.py); the console must not trust an
    id either. A job's answers are faked to carry it: opening the job must ask for that job
    (percent-encoded, one path segment) and nothing else."""
    document = {"jobs": [{"job_id": REAL_ID, "input": {"video_url": "https://example.com/a.mp4"}}]}
    imported = api.put("/_sandbox/state", json=document)
    assert imported.status_code == 200, imported.text
    page.route(re.compile(r"/_sandbox/jobs"), renaming(REAL_ID, job_id))
    made = requests_of(page)
    sign_in(page, key)
    row = page.locator(f"[data-testid=job-row][data-job-id={json.dumps(job_id)}]")
    expect(row).to_be_visible()

    before = len(made)
    row.click()
    expect(page.locator("#view .card.error")).to_be_visible()  # no route has a "/" in an id
    polls = {"/_sandbox/account", "/_sandbox/jobs"}
    clicked = [(r.method, r.url) for r in made[before:] if urlsplit(r.url).path not in polls]
    assert clicked == [("GET", f"{page.url.split('/_sandbox/')[0]}{asked}")]
    assert paths(made) == CONSOLE_FILES | polls | {asked}


def test_a_dot_dot_job_id_is_refused_before_any_request(
    page: Page, api: httpx.Client, key: str
) -> None:
    """`encodeURIComponent("..")` is still `..`, a segment the browser resolves (as it does
    `%2e%2e`): `/_sandbox/jobs/..` would be `/_sandbox/`. The console refuses the id."""
    document = {"jobs": [{"job_id": REAL_ID, "input": {"video_url": "https://example.com/a.mp4"}}]}
    assert api.put("/_sandbox/state", json=document).status_code == 200
    page.route(re.compile(r"/_sandbox/jobs"), renaming(REAL_ID, ".."))
    made = requests_of(page)
    sign_in(page, key)
    page.locator('[data-testid=job-row][data-job-id=".."]').click()
    expect(page.locator("#view .card.error")).to_have_text('The id ".." cannot be put in a URL')
    tab(page, "advice")  # one more refresh after the click
    expect(page.get_by_test_id("advice-none")).to_be_visible()
    assert paths(made) == CONSOLE_FILES | {
        "/_sandbox/account",
        "/_sandbox/jobs",
        "/_sandbox/advice",
    }


FAKE_ID = "../reset?"  # resolved raw, /_sandbox/deliveries/../reset?/redeliver is a reset


def fake_deliveries(route: Route) -> None:
    """Answers for the console's delivery reads as if a delivery's id were FAKE_ID (the
    server makes delivery ids itself; this shows the console would not trust one either)."""
    delivery: dict[str, Any] = {
        "delivery_id": FAKE_ID,
        "event": "job.completed",
        "status": "delivered",
        "attempts": [],
        "next_attempt_at": None,
        "url": "https://example.com/hook",
        "job_id": None,
        "note": None,
    }
    row = {
        **delivery,
        "endpoint": "wh_fake",
        "attempts": 0,
        "last_status": None,
        "last_error": None,
        "signature": None,
        "deliberate": [],
    }
    request = route.request
    body: dict[str, Any]
    if urlsplit(request.url).path == "/_sandbox/console/deliveries":
        pages = {"page": 1, "limit": 25, "total": 1, "pages": 1}
        body = {"items": [row], "pagination": {**pages, "has_next": False, "has_previous": False}}
        status = 200
    elif request.method == "GET":
        body, status = {"delivery": delivery, "secret": "none", "signatures": []}, 200
    else:
        body = {"error": {"type": "not_found_error", "message": "fake", "code": "NOT_FOUND"}}
        status = 404
    route.fulfill(status=status, json=body)


def test_a_delivery_id_cannot_steer_redeliver_to_another_endpoint(
    page: Page, api: httpx.Client, key: str
) -> None:
    page.route(re.compile(r"/_sandbox/(console/)?deliveries"), fake_deliveries)
    made = requests_of(page)
    sign_in(page, key)
    tab(page, "deliveries")
    page.get_by_test_id("delivery-row").click()
    expect(page.get_by_test_id("delivery-detail")).to_contain_text(FAKE_ID)
    with page.expect_request(lambda r: r.method == "POST") as posted:
        page.get_by_test_id("redeliver").click()

    assert urlsplit(posted.value.url).path == "/_sandbox/deliveries/..%2Freset%3F/redeliver"
    assert "/_sandbox/reset" not in paths(made)
    assert [r.method for r in made if r.method != "GET"] == ["POST"]
