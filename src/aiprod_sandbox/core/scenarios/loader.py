"""Loading scenario files: YAML into the models, with every problem named by file, line and
field (`core/yamlfile.py` reads them); the shipped library; the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .. import yamlfile
from .models import FILES, Scenario

SCHEMA_FILE = "scenario.schema.json"


class ScenarioError(yamlfile.FileError):
    """A scenario that cannot be used; `problems` has one `file:line: field: message` each."""


def shipped_dir() -> Path:
    here = Path(__file__).resolve().parents[2]
    packaged = here / "_data" / "scenarios"
    return packaged if packaged.is_dir() else here.parent.parent / "scenarios"


def load_text(text: str, source: str = "<scenario>") -> Scenario:
    try:
        return yamlfile.parse(text, source).validate(Scenario, context={FILES: True})
    except yamlfile.FileError as exc:
        raise ScenarioError(exc.problems) from exc


def load_file(path: Path) -> Scenario:
    try:
        return yamlfile.read(path).validate(Scenario, context={FILES: True})
    except yamlfile.FileError as exc:
        raise ScenarioError(exc.problems) from exc


def library(folder: Path | None = None) -> dict[str, Scenario]:
    """The shipped scenarios (or a folder's), by name."""
    found: dict[str, Scenario] = {}
    for path in sorted((folder or shipped_dir()).glob("*.yaml")):
        scenario = load_file(path)
        found[scenario.name] = scenario
    return found


def resolve(name_or_file: str, known: dict[str, Scenario] | None = None) -> Scenario:
    """A scenario by library name, or from a file path."""
    known = library() if known is None else known
    if name_or_file in known:
        return known[name_or_file]
    path = Path(name_or_file)
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_file(path)
    raise ScenarioError(
        [f"{name_or_file}:0: (name): no such scenario; known: {', '.join(sorted(known))}"]
    )


def schema() -> dict[str, Any]:
    document = Scenario.model_json_schema()
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["$id"] = "https://aiprod.ai/sandbox/scenario.schema.json"
    return document


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
