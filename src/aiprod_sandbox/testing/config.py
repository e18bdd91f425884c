"""The plugin's configuration: its pytest options, and the variables that stand in for them
(the one place the plugin reads the environment)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

URL_VARIABLE = "AIPROD_SANDBOX_URL"
RECEIVER_HOST_VARIABLE = "AIPROD_SANDBOX_RECEIVER_HOST"
RUN_ID_VARIABLE = "AIPROD_SANDBOX_RUN_ID"


@dataclass(frozen=True)
class PluginConfig:
    url: str | None  # an external sandbox, or None: one in this process
    seed: int
    advice: str | None  # None, "print" (the findings at the end) or "fail" (and fail on any)
    journal: bool  # a failing test's report carries its account's journal and deliveries
    receiver_host: str
    worker: str  # pytest-xdist's worker id ("main" without xdist)
    run_id: str | None  # pinned by option or variable; else chosen per session (plugin.py)

    @classmethod
    def of(cls, config: pytest.Config) -> PluginConfig:
        return cls(
            url=config.getoption("--aiprod-sandbox-url") or os.environ.get(URL_VARIABLE),
            seed=config.getoption("--aiprod-sandbox-seed"),
            advice=config.getoption("--aiprod-sandbox-advice"),
            journal=bool(config.getoption("--aiprod-sandbox-journal")),
            receiver_host=config.getoption("--aiprod-receiver-host")
            or os.environ.get(RECEIVER_HOST_VARIABLE)
            or "127.0.0.1",
            worker=os.environ.get("PYTEST_XDIST_WORKER", "main"),
            run_id=config.getoption("--aiprod-sandbox-run-id") or os.environ.get(RUN_ID_VARIABLE),
        )
