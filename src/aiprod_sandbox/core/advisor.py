"""The integration advisor: the guide's Best Practices and Error Handling, checked against
what an account actually did (its request journal, webhooks and delivery log).

Each check is a pure function returning the evidence (request or delivery ids) of one rule;
the rule's title, the guide's reasoning and the fix are data, in `fixtures/advice.yaml`.

One rule is the server's, never an account's: `live-key-attempts`. A `sk_live_` key names no
account, and nothing the server sees ties its request to one. The User-Agent does not (every
client of one HTTP library shares it), and neither does the connection: ASGI gives it no
identity (a client address and port are reused, a proxy pools many clients on one address,
an in-process transport has one fixed address), and even a client that truly sent both keys
holds every account its test suite uses. Put in an account's findings, another client's
live key would be shown to, and blamed on, an account that did not send it. So the evidence
goes where it is true: the 401 `LIVE_KEY_IN_SANDBOX` answer tells the client that sent it,
and `server_findings` tells whoever runs the server (`serve`'s and the plugin's summary).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalog import AdviceRule
from .journal import JournalEntry
from .scenarios.models import UNVERIFIABLE

if TYPE_CHECKING:
    from .accounts import Account

Entry = JournalEntry
JOB_READ = re.compile(r"^/(?:pipeline|jobs)/(job_[A-Za-z0-9_]+)$")
POLL_GAP_SECONDS = 10.0  # reads of one job closer than this are "more often than needed"
POLL_MAX_READS = 10  # the guide: "1 request vs. 10+"
DUPLICATE_WINDOW = 10.0
SUBMISSIONS = ("/pipeline/run", "/pipeline/batch")
RETRY_4XX_WINDOW = 300.0
PRESETS_WINDOW = 3600.0
MAX_USER_AGENTS = 3
MAX_EVIDENCE = 20


@dataclass(frozen=True)
class Facts:
    """What the checks look at, all from one account."""

    journal: Sequence[Entry]  # oldest first
    watched: Mapping[str, float]  # job id → from when a webhook or callback tells its end
    # Delivery ids answered 2xx although their signature could not verify on purpose
    # (a scenario's bad_signature, wrong_secret or missing_signature).
    bad_signature_accepted: Sequence[str]
    # job id → (from, until): its end's delivery had failed and was not yet acknowledged, so
    # a read then is reconciling (the guide's fallback), not polling after a webhook
    reconciling: Mapping[str, tuple[float, float]] = field(default_factory=dict)


def _job_reads(journal: Sequence[Entry]) -> dict[str, list[Entry]]:
    reads: dict[str, list[Entry]] = defaultdict(list)
    for entry in journal:
        match = JOB_READ.match(entry.path)
        if entry.method == "GET" and match and entry.status == 200:
            reads[match.group(1)].append(entry)
    return reads


def poll_after_webhook(facts: Facts) -> list[str]:
    evidence: list[str] = []
    for job_id, reads in _job_reads(facts.journal).items():
        since = facts.watched.get(job_id)
        if since is not None:
            start, end = facts.reconciling.get(job_id, (math.inf, math.inf))
            evidence.extend(
                entry.request_id
                for entry in reads
                if entry.at >= since and not start <= entry.at < end
            )
    return evidence


def poll_too_often(facts: Facts) -> list[str]:
    evidence: list[str] = []
    for reads in _job_reads(facts.journal).values():
        quick = [
            b for a, b in zip(reads, reads[1:], strict=False) if b.at - a.at < POLL_GAP_SECONDS
        ]
        if len(quick) >= 2:
            evidence.extend(e.request_id for e in quick)
        elif len(reads) > POLL_MAX_READS:
            evidence.extend(e.request_id for e in reads[POLL_MAX_READS:])
    return evidence


def retry_before_retry_after(facts: Facts) -> list[str]:
    evidence: list[str] = []
    blocked_until: float | None = None
    for entry in facts.journal:
        if blocked_until is not None and entry.at < blocked_until:
            evidence.append(entry.request_id)
        if entry.status == 429 and entry.retry_after:
            blocked_until = entry.at + entry.retry_after
    return evidence


def _signature(entry: Entry) -> tuple[Any, ...]:
    """The same request: same key, method, path, query and body."""
    return entry.key, entry.method, entry.path, entry.query, entry.body_sha


def retry_4xx(facts: Facts) -> list[str]:
    evidence: list[str] = []
    failed: dict[tuple[Any, ...], float] = {}
    for entry in facts.journal:
        key = _signature(entry)
        if key in failed and entry.at - failed[key] <= RETRY_4XX_WINDOW:
            evidence.append(entry.request_id)
        if 400 <= entry.status < 500 and entry.status != 429:
            failed[key] = entry.at
        else:
            failed.pop(key, None)
    return evidence


def duplicate_submission(facts: Facts) -> list[str]:
    evidence: list[str] = []
    accepted: dict[tuple[str, str], float] = {}
    for entry in facts.journal:
        if entry.method != "POST" or entry.path not in SUBMISSIONS:
            continue
        if entry.status != 202 or not entry.body_sha:
            continue
        body = (entry.path, entry.body_sha)
        seen = accepted.get(body)
        if seen is not None and entry.at - seen <= DUPLICATE_WINDOW:
            evidence.append(entry.request_id)
        accepted[body] = entry.at
    return evidence


def presets_no_cache(facts: Facts) -> list[str]:
    """The same page of /presets read again, in full, within the hour it may be cached."""
    last: dict[str, float] = {}
    evidence: list[str] = []
    for entry in facts.journal:
        if entry.method != "GET" or entry.path != "/presets" or entry.status != 200:
            continue
        if entry.conditional:
            continue
        seen = last.get(entry.query)
        if seen is not None and entry.at - seen <= PRESETS_WINDOW:
            evidence.append(entry.request_id)
        last[entry.query] = entry.at
    return evidence


def unverified_webhook(facts: Facts) -> list[str]:
    return list(facts.bad_signature_accepted)


def many_client_identities(facts: Facts) -> list[str]:
    agents: dict[str, dict[str, str]] = defaultdict(dict)
    for entry in facts.journal:
        agent = entry.user_agent or ""
        agents[entry.key].setdefault(agent, entry.request_id)
    return [
        request_id
        for seen in agents.values()
        if len(seen) > MAX_USER_AGENTS
        for request_id in seen.values()
    ]


CHECKS: dict[str, Callable[[Facts], list[str]]] = {
    "poll-after-webhook": poll_after_webhook,
    "poll-too-often": poll_too_often,
    "retry-before-retry-after": retry_before_retry_after,
    "retry-4xx": retry_4xx,
    "duplicate-submission": duplicate_submission,
    "presets-no-cache": presets_no_cache,
    "unverified-webhook": unverified_webhook,
    "many-client-identities": many_client_identities,
}
"""The account's rules: each check sees only what that account did."""

LIVE_KEY_ATTEMPTS = "live-key-attempts"
SERVER_RULES = (LIVE_KEY_ATTEMPTS,)
"""The server's rules: evidence no account can be said to own (see the module docstring)."""


def facts_of(account: Account) -> Facts:
    """What the checks look at in an account: only what its own keys did. A job is watched
    from when a webhook or its callback_url would tell its end."""
    hooks = [
        w.created_at for w in account.webhooks.all() if w.active and "job.completed" in w.events
    ]
    first_hook = min(hooks, default=None)
    watched: dict[str, float] = {}
    for job in account.jobs:
        if job.callback_url:
            watched[job.job_id] = job.created_at
        elif first_hook is not None and (
            job.completed_at is None or job.completed_at >= first_hook
        ):
            watched[job.job_id] = first_hook  # its end is (or was) on its way to you
    return Facts(
        journal=list(account.journal),
        watched=watched,
        reconciling=_reconciling(account),
        bad_signature_accepted=[
            d.delivery_id
            for d in account.deliveries.all()
            for a in d.attempts
            if a.deliberate in UNVERIFIABLE and a.ok
        ],
    )


ENDS = frozenset({"job.completed", "job.failed", "job.cancelled"})


def _reconciling(account: Account) -> dict[str, tuple[float, float]]:
    """For each job whose end's delivery failed: from that failure until an attempt was
    acknowledged (never, if none was)."""
    windows: dict[str, tuple[float, float]] = {}
    for delivery in account.deliveries.all():
        if delivery.event not in ENDS or delivery.job_id is None:
            continue
        failed = [a.scheduled_at for a in delivery.attempts if not a.ok]
        if not failed:
            continue
        acknowledged = [a.sent_at or a.scheduled_at for a in delivery.attempts if a.ok]
        windows[delivery.job_id] = (min(failed), min(acknowledged, default=math.inf))
    return windows


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule with evidence: its texts (from `fixtures/advice.yaml`) and the ids that show it."""

    rule: str
    title: str
    guide: str
    why: str
    fix: str
    count: int  # requests or deliveries that show it
    evidence: list[str]  # the first MAX_EVIDENCE of their ids


def summary_lines(owned: Iterable[tuple[str, list[Finding]]]) -> list[str]:
    """Each finding of each owner (an account id, or "server"): a line, and under it a line of
    its evidence (the request and delivery ids a partner finds in their own logs)."""
    return [
        f"{owner}: {finding.rule} ×{finding.count}: {finding.title} — fix: {finding.fix}\n"
        + evidence_line(finding.evidence, finding.count)
        for owner, findings in owned
        for finding in findings
    ]


def advise(facts: Facts, rules: Mapping[str, AdviceRule]) -> list[Finding]:
    """Every account rule with evidence, as findings: id, title, guide, why, fix, evidence,
    count."""
    found = ((rule_id, check(facts)) for rule_id, check in CHECKS.items())
    return [_finding(rule_id, evidence, rules) for rule_id, evidence in found if evidence]


def server_findings(
    live_key_requests: Sequence[str], rules: Mapping[str, AdviceRule]
) -> list[Finding]:
    """The server's findings, in the shape of `advise`'s: the request ids of every request
    sent with a `sk_live_` key, whoever sent it."""
    if not live_key_requests:
        return []
    return [_finding(LIVE_KEY_ATTEMPTS, live_key_requests, rules)]


def _finding(rule_id: str, evidence: Sequence[str], rules: Mapping[str, AdviceRule]) -> Finding:
    text = rules[rule_id]
    unique = _unique(evidence)[:MAX_EVIDENCE]
    return Finding(rule_id, text.title, text.guide, text.why, text.fix, len(evidence), unique)


def evidence_line(ids: Sequence[str], count: int) -> str:
    """A finding's evidence as an indented line of ids (the first `MAX_EVIDENCE` of them)."""
    more = f" (first {len(ids)} of {count})" if len(ids) >= MAX_EVIDENCE < count else ""
    return f"    evidence{more}: {', '.join(ids)}"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
