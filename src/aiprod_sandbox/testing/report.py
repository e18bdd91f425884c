"""What the plugin adds to pytest's report: a failing test's journal (requests and webhook
deliveries, one line each) and the integration advisor's findings, each naming the test whose
account they come from.

Imported by the plugin's hooks when they need it, so a session that uses neither pays nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ..core.advisor import evidence_line
from .account import SandboxAccount

JOURNAL_LINES = 30  # requests shown in a failing test's report, newest first
DELIVERY_LINES = 20


def _request_line(entry: Mapping[str, Any]) -> str:
    query = f"?{entry['query']}" if entry["query"] else ""
    parts = [
        f"  {entry['timestamp']} {entry['request_id']} {entry['method']} {entry['path']}{query}"
        f" → {entry['status'] or 'no answer'}"
    ]
    if entry["job_ids"]:
        parts.append(f"jobs {', '.join(entry['job_ids'])}")
    if entry["rules"]:
        parts.append(f"rules {', '.join(entry['rules'])}")
    if entry["fault"]:
        parts.append(f"fault: {entry['fault']}")
    return "; ".join(parts)


def _delivery_line(delivery: Mapping[str, Any]) -> str:
    attempts = delivery["attempts"]
    answers = ", ".join(
        str(a["response_status"] or a["error"])
        + (f" ({a['deliberate']})" if a.get("deliberate") else "")
        for a in attempts
    )
    return (
        f"  {delivery['created_at']} {delivery['delivery_id']} {delivery['event']} "
        f"{delivery['job_id'] or ''} → {delivery['url']}: {delivery['status']}"
        f" ({len(attempts)} attempts{': ' + answers if answers else ''})"
    )


def evidence_text(account: SandboxAccount) -> str:
    """The account's last requests and deliveries, newest first, as report lines."""
    try:
        journal = account.client.get("/_sandbox/requests", params={"limit": JOURNAL_LINES})
        deliveries = account.client.get("/_sandbox/deliveries", params={"limit": DELIVERY_LINES})
        journal.raise_for_status()
        deliveries.raise_for_status()
    except httpx.HTTPError as exc:
        return f"(the journal could not be read: {exc})"
    listed = journal.json()
    lines = [
        f"requests, newest first ({len(listed['items'])} shown of {listed['kept']} kept"
        + (f"; {listed['evicted']} older let go" if listed["evicted"] else "")
        + "):"
    ]
    lines += [_request_line(entry) for entry in listed["items"]] or ["  (none)"]
    lines.append("webhook deliveries, newest first:")
    lines += [_delivery_line(item) for item in deliveries.json()["items"]] or ["  (none)"]
    lines.append(f"the whole exchange as HAR: GET {account.base_url}/_sandbox/har (same key)")
    return "\n".join(lines)


def advice_lines(server: Any, tests: Mapping[str, str]) -> list[str]:
    """Every finding in the session's accounts (`tests`: key → the test that used it)."""
    lines: list[str] = []
    if hasattr(server, "sandbox"):  # in this process: ask the sandbox itself
        sandbox = server.sandbox
        for account in sandbox.accounts:
            test = next((tests[k.secret] for k in account.keys.values() if k.secret in tests), None)
            if test is None:
                continue
            for finding in sandbox.advice(account):
                lines.append(
                    f"{test}: {finding.rule} ×{finding.count}: {finding.title} — "
                    f"fix: {finding.fix}\n" + evidence_line(finding.evidence, finding.count)
                )
        lines += [line for line in sandbox.advice_summary() if line.startswith("server: ")]
        return lines
    for key, test in tests.items():
        answer = httpx.get(
            f"{server.base_url}/_sandbox/advice",
            trust_env=False,
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        for finding in answer.json().get("items", []) if answer.status_code == 200 else []:
            lines.append(
                f"{test}: {finding['rule']} ×{finding['count']}: {finding['title']} — "
                f"fix: {finding['fix']}\n" + evidence_line(finding["evidence"], finding["count"])
            )
    return lines
