"""Scenarios: the YAML format (models), loading with file:line errors (loader), the rule
engine that decides which calls a rule applies to (engine)."""

from .engine import ScenarioState
from .loader import ScenarioError, library, load_file, load_text, resolve, schema
from .models import JobRule, RequestRule, Scenario, WebhookRule

__all__ = [
    "JobRule",
    "RequestRule",
    "Scenario",
    "ScenarioError",
    "ScenarioState",
    "WebhookRule",
    "library",
    "load_file",
    "load_text",
    "resolve",
    "schema",
]
