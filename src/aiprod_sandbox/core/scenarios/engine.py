"""The rule engine: which rules of an account's active scenarios apply to a call.

Each account counts matching calls per rule on its own (so parallel tests never disturb each
other's `nth` or `every`), draws `probability` from its own seeded stream, and measures
`window` on its own clock from when the scenario was switched on. The account's own scenario
is tried before the server-wide ones; within a scenario, rules are tried in order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from ..ids import stream
from .models import JobMatch, JobRule, RequestMatch, RequestRule, Scenario, WebhookRule, When


@dataclass
class RuleState:
    random: random.Random
    matched: int = 0
    fired: int = 0


def _dig(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return _MISSING
        data = data[part]
    return data


_MISSING = object()


def request_matches(
    match: RequestMatch,
    *,
    method: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    body: Any,
    tier: str,
    key: str,
) -> bool:
    if match.method is not None and method not in match.method:
        return False
    if match.path is not None and not fnmatchcase(path, match.path):
        return False
    if match.tier is not None and tier not in match.tier:
        return False
    if match.key is not None and key != match.key and not key.endswith(match.key):
        return False
    if match.query and any(query.get(k) != v for k, v in match.query.items()):
        return False
    if match.headers and any(headers.get(k.lower()) != v for k, v in match.headers.items()):
        return False
    if match.body and any(_dig(body, k) != v for k, v in match.body.items()):
        return False
    return True


def job_matches(match: JobMatch, job_input: Mapping[str, Any]) -> bool:
    for name, pattern in match.model_dump(exclude_none=True).items():
        value = job_input.get(name)
        if value is None or not fnmatchcase(str(value), pattern):
            return False
    return True


@dataclass
class ScenarioState:
    """One account's view of the scenarios that apply to it."""

    seed: int
    account_id: str
    server: list[Scenario]  # shared with every account: `serve --scenario`
    server_since: float
    own: Scenario | None = None
    own_since: float = 0.0
    _rules: dict[tuple[str, str, int], RuleState] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return self.own is not None or bool(self.server)

    def names(self) -> list[str]:
        own = [self.own.name] if self.own else []
        return own + [s.name for s in self.server]

    def activate(self, scenario: Scenario | None, now: float) -> None:
        """Switch the account's own scenario (None: off); its rules start counting afresh."""
        if self.own is not None:
            self._forget(self.own.name)
        self.own, self.own_since = scenario, now

    def reset(self, now: float) -> None:
        self.own = None
        self._rules.clear()
        self.server_since = now

    def progress(self) -> dict[tuple[str, str, int], tuple[int, int]]:
        """How many calls each rule has matched and fired on, by (scenario, kind, index)."""
        return {key: (state.matched, state.fired) for key, state in self._rules.items()}

    def restore_progress(
        self,
        own_since: float,
        server_since: float,
        counts: Mapping[tuple[str, str, int], tuple[int, int]],
    ) -> None:
        """Rules carry on counting from `counts`; each random stream is drawn as far as its
        calls took it (one draw a matched call, when the rule has a probability)."""
        self.own_since, self.server_since = own_since, server_since
        self._rules.clear()
        rules = {
            (scenario.name, kind): getattr(scenario, kind)
            for scenario, _ in self._active()
            for kind in ("requests", "jobs", "webhooks")
        }
        for (name, kind, index), (matched, fired) in counts.items():
            listed = rules.get((name, kind))
            if listed is None or index >= len(listed):
                continue  # a rule of a scenario no longer active
            scenario = next(s for s, _ in self._active() if s.name == name)
            state = self._state(scenario, kind, index)
            state.matched, state.fired = matched, fired
            if listed[index].when.probability is not None:
                for _ in range(min(matched, 1_000_000)):
                    state.random.random()

    def _forget(self, name: str) -> None:
        for key in [k for k in self._rules if k[0] == name]:
            del self._rules[key]

    def _active(self) -> Iterator[tuple[Scenario, float]]:
        if self.own is not None:
            yield self.own, self.own_since
        for scenario in self.server:
            yield scenario, self.server_since

    def _state(self, scenario: Scenario, kind: str, index: int) -> RuleState:
        key = (scenario.name, kind, index)
        state = self._rules.get(key)
        if state is None:
            rng = stream(self.seed, self.account_id, "scenario", scenario.name, kind, str(index))
            state = self._rules[key] = RuleState(rng)
        return state

    @staticmethod
    def _chosen(when: When, times: int | None, state: RuleState, elapsed: float) -> bool:
        """Count one more matching call and say whether the rule fires on it."""
        state.matched += 1
        n = state.matched
        roll = state.random.random() if when.probability is not None else 0.0
        if times is not None and state.fired >= times:
            return False
        if when.nth is not None and n != when.nth:
            return False
        if when.first is not None and n > when.first:
            return False
        if when.every is not None and n % when.every:
            return False
        if when.after is not None and n <= when.after:
            return False
        if when.probability is not None and roll >= when.probability:
            return False
        window = when.window
        if window is not None and not (
            window.start <= elapsed and (window.end is None or elapsed < window.end)
        ):
            return False
        state.fired += 1
        return True

    @staticmethod
    def _seen(when: When, state: RuleState) -> None:
        """Count a matching call that an earlier rule already took (no firing)."""
        state.matched += 1
        if when.probability is not None:
            state.random.random()  # keep the rule's random stream in step with its calls

    def request_rules(self, now: float, **call: Any) -> list[tuple[Scenario, RequestRule]]:
        """The request rules that fire on this call, in order, up to the first that answers.
        Every rule whose `match` applies counts the call, even when an earlier one answered."""
        fired: list[tuple[Scenario, RequestRule]] = []
        answered = False
        for scenario, since in self._active():
            for index, rule in enumerate(scenario.requests):
                if not request_matches(rule.match, **call):
                    continue
                state = self._state(scenario, "requests", index)
                if answered:
                    self._seen(rule.when, state)
                elif self._chosen(rule.when, rule.times, state, now - since):
                    fired.append((scenario, rule))
                    answered = rule.respond.status is not None or rule.respond.drop
        return fired

    def job_rule(self, job_input: Mapping[str, Any], now: float) -> JobRule | None:
        chosen: JobRule | None = None
        for scenario, since in self._active():
            for index, rule in enumerate(scenario.jobs):
                if not job_matches(rule.match, job_input):
                    continue
                state = self._state(scenario, "jobs", index)
                if chosen is not None:
                    self._seen(rule.when, state)
                elif self._chosen(rule.when, rule.times, state, now - since):
                    chosen = rule
        return chosen

    def webhook_rule(
        self, event: str, webhook_id: str | None, url: str, now: float
    ) -> tuple[Scenario, WebhookRule] | None:
        chosen: tuple[Scenario, WebhookRule] | None = None
        for scenario, since in self._active():
            for index, rule in enumerate(scenario.webhooks):
                match = rule.match
                if match.event is not None and event not in match.event:
                    continue
                endpoint = match.endpoint
                if endpoint is not None and not (
                    endpoint == webhook_id
                    or (endpoint == "callback" and webhook_id is None)
                    or fnmatchcase(url, endpoint)
                ):
                    continue
                state = self._state(scenario, "webhooks", index)
                if chosen is not None:
                    self._seen(rule.when, state)
                elif self._chosen(rule.when, rule.times, state, now - since):
                    chosen = scenario, rule
        return chosen
