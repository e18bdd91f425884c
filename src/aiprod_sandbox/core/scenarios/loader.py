"""Loading scenario files: YAML into the models, with every problem named by file, line and
field; the shipped library; the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ...errors import ConfigError
from .models import FILES, Scenario

SCHEMA_FILE = "scenario.schema.json"


class ScenarioError(ConfigError):
    """A scenario that cannot be used; `problems` has one `file:line: field: message` each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def shipped_dir() -> Path:
    here = Path(__file__).resolve().parents[2]
    packaged = here / "_data" / "scenarios"
    return packaged if packaged.is_dir() else here.parent.parent / "scenarios"


def _lines(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            out[child] = key.start_mark.line + 1
            _lines(value, child, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, (*path, index), out)


def _field(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue  # pydantic's name for one member of a union (`list[...]`): not a field
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(file)"


def load_text(text: str, source: str = "<scenario>") -> Scenario:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ScenarioError([f"{source}:{line}: (yaml): {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}:0: (yaml): {exc}"]) from exc
    return load_data(data, source, node)


def load_data(data: Any, source: str = "<scenario>", node: yaml.Node | None = None) -> Scenario:
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _lines(node, (), lines)
    if not isinstance(data, dict):
        raise ScenarioError([f"{source}:1: (file): a scenario is a mapping of fields"])
    try:
        return Scenario.model_validate(data, context={FILES: True})
    except ValidationError as exc:
        problems: list[str] = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            line = next((lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines), 0)
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            problem = f"{source}:{line}: {_field(loc)}: {message}"
            if problem not in problems:
                problems.append(problem)
        raise ScenarioError(problems) from exc


def load_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}:0: (file): cannot read: {exc.strerror or exc}"]) from exc
    return load_text(text, str(path))


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
