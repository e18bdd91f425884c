"""Scenarios: the YAML format (models), loading with file:line errors (loader), the rule
engine that decides which calls a rule applies to (engine)."""

from .engine import ScenarioState
from .loader import ScenarioError, library, load_file, load_text, resolve, schema
from .models import FILES, JobRule, RequestRule, Respond, Scenario, WebhookRule

__all__ = [
    "FILES",
    "JobRule",
    "RequestRule",
    "Respond",
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
