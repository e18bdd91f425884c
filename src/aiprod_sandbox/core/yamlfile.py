"""YAML files read with the line of every field, and their problems told as
`file:line: field: message`: what scenario files and fixture files share.

- A syntax error is one `file:line: (yaml): message`, in the project's words and at the line to
  fix: PyYAML often notices a missing `:` or an unclosed bracket a line or more later.
- A key given twice in one mapping is a problem (PyYAML would keep the last silently).
- Aliases may not expand past `MAX_VALUES` values, nor hold themselves: an "alias bomb" is
  refused before anything walks it.
- A pydantic `ValidationError` is one problem per error, at the line of its field. A validator
  that knows which field is wrong deeper than its own raises `problem_at(field, message)`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from ..errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Loc = tuple[Any, ...]

MAX_VALUES = 1_000_000  # values a document may hold once its aliases are expanded
_AT = "at"  # the error context key of `problem_at`: the field, below the validator's own


class FileError(ConfigError):
    """Files that cannot be used; `problems` has one `file:line: field: message` each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def problem_at(at: Loc, message: str) -> PydanticCustomError:
    """A validator's error about one of its fields (`("names", 2)`): in a file it is told at
    that field's line; elsewhere (the API) at the validator's own, so say the field in it."""
    return PydanticCustomError("invalid", message, {_AT: at})


def field_name(loc: Sequence[Any]) -> str:
    """`requests[0].match.path` (or `(file)` for the document itself)."""
    text = ""
    for part in loc:
        if isinstance(part, str) and "[" in part:
            continue  # pydantic's name for one member of a union (`list[...]`): not a field
        text += f"[{part}]" if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(file)"


@dataclass(frozen=True)
class Document:
    """A parsed file: its data, the line of each field, and what was wrong that parsing let
    through (duplicate keys), told with the validation problems."""

    source: str
    data: Any
    lines: Mapping[Loc, int]
    problems: tuple[str, ...] = ()

    def line(self, loc: Sequence[Any]) -> int:
        """The line of `loc`, or of its nearest ancestor the file shows."""
        loc = tuple(loc)
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return 0

    def problem(self, loc: Sequence[Any], message: str) -> str:
        return f"{self.source}:{self.line(loc)}: {field_name(loc)}: {message}"

    def validate(self, model: type[M], context: Mapping[str, Any] | None = None) -> M:
        """The data as `model`, or a FileError with every problem, this file's duplicates too."""
        problems = list(self.problems)
        if not isinstance(self.data, dict):
            names = ", ".join(model.model_fields)
            problems.append(self.problem((), f"the file must be a mapping (of {names})"))
            raise FileError(problems)
        try:
            found = model.model_validate(self.data, context=dict(context or {}))
        except ValidationError as exc:
            problems += (p for p in self.explain(exc) if p not in problems)
            raise FileError(problems) from exc
        if problems:
            raise FileError(problems)
        return found

    def explain(self, exc: ValidationError, under: Loc = ()) -> list[str]:
        """One `file:line: field: message` per error of `exc` (of the data at `under`), in
        order, without repeats."""
        problems: list[str] = []
        for error in exc.errors():
            loc = under + tuple(error["loc"]) + tuple((error.get("ctx") or {}).get(_AT, ()))
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field"
            problem = self.problem(loc, message)
            if problem not in problems:
                problems.append(problem)
        return problems


def read(path: Path) -> Document:
    """The YAML document in the file at `path` (UTF-8), or a FileError saying why not."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise FileError([f"{path}:0: (file): cannot read: {reason}"]) from exc
    return parse(text, str(path))


def parse(text: str, source: str) -> Document:
    """The YAML document in `text`, or a FileError with its one syntax problem."""
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)
        node = loader.get_single_node()
        if node is None:
            return Document(source, None, {(): 1})
        lines: dict[Loc, int] = {}
        duplicates: list[tuple[Loc, int, int]] = []
        _size(node, {}, set())
        _walk(node, (), lines, duplicates, set())
        data = loader.construct_document(node)
    except _TooBig as exc:
        raise FileError([f"{source}:{exc.line}: (yaml): {exc}"]) from None
    except yaml.MarkedYAMLError as exc:
        line, message = _syntax(exc, text)
        raise FileError([f"{source}:{line}: (yaml): {message}"]) from exc
    except yaml.YAMLError as exc:  # a reader error: a character YAML does not allow
        position = getattr(exc, "position", None)
        line = text.count("\n", 0, position) + 1 if isinstance(position, int) else 0
        raise FileError([f"{source}:{line}: (yaml): {exc}"]) from exc
    except RecursionError:
        raise FileError([f"{source}:0: (yaml): nested too deep"]) from None
    finally:
        if loader is not None:
            loader.dispose()
    problems = tuple(
        f"{source}:{line}: {field_name(loc)}: duplicate key (first on line {first})"
        for loc, line, first in duplicates
    )
    return Document(source, data, lines, problems)


# ---- the node tree: lines, duplicate keys, size -------------------------------------------


class _TooBig(Exception):
    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


def _size(node: yaml.Node, sizes: dict[int, int], open_: set[int]) -> int:
    """How many values `node` holds with its aliases expanded (each shared node counted once
    per use, computed once)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise _TooBig(node.start_mark.line + 1, "an alias refers to a value that holds it")
    open_.add(key)
    total = 1
    if isinstance(node, yaml.MappingNode):
        total += sum(_size(k, sizes, open_) + _size(v, sizes, open_) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        total += sum(_size(item, sizes, open_) for item in node.value)
    open_.discard(key)
    if total > MAX_VALUES:
        raise _TooBig(
            node.start_mark.line + 1, f"aliases expand this to more than {MAX_VALUES:,} values"
        )
    sizes[key] = total
    return total


def _walk(
    node: yaml.Node,
    path: Loc,
    lines: dict[Loc, int],
    duplicates: list[tuple[Loc, int, int]],
    seen: set[int],
) -> None:
    """Record the line of each field; a node met again through an alias is not walked again
    (its fields are told at the alias's line)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        firsts: dict[tuple[str, str], int] = {}
        for key, value in node.value:
            child = (*path, key.value)
            line = key.start_mark.line + 1
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                if (key.tag, key.value) in firsts:
                    duplicates.append((child, line, firsts[key.tag, key.value]))
                    continue
                firsts[key.tag, key.value] = line
            lines[child] = line
            _walk(value, child, lines, duplicates, seen)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, duplicates, seen)


# ---- syntax errors, in the project's words --------------------------------------------------


def _syntax(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, str]:
    """The line to fix and what is wrong there."""
    problem, context = exc.problem or "", exc.context or ""
    at, opened = exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    line = at.line + 1 if at else opened.line + 1 if opened else 0
    if at and "'\\t'" in problem:
        return line, "a tab: indent with spaces (YAML does not allow tabs there)"
    if at and problem.startswith("mapping values are not allowed"):
        return _colon(at, text, lines)
    if opened and problem.startswith("could not find expected ':'"):
        return opened.line + 1, f"missing ':' after {_shown(lines, opened.line, opened.column)}"
    if opened and "quoted scalar" in context and "end of stream" in problem:
        quote = text[opened.index]
        return opened.line + 1, f"unclosed quote: the {quote} here is never closed"
    if opened and at and context.startswith("while parsing a flow"):
        bracket = text[opened.index]
        closer = {"{": "}", "[": "]"}.get(bracket, "")
        unclosed = f"unclosed '{bracket}': no '{closer}' closes it"
        if "<stream end>" in problem:
            return opened.line + 1, unclosed
        if at.line > opened.line:  # a '[' or '{' left open reads on into the lines below
            return opened.line + 1, f"{unclosed} before line {at.line + 1}"
        return line, f"missing ',' or '{closer}' (the '{bracket}' is on line {opened.line + 1})"
    if at and (problem.startswith("expected <block end>") or "did not find expected" in problem):
        found = _shown(lines, at.line, at.column)
        return line, f"bad indentation: {found} lines up with no key above it"
    if "found another document" in problem:
        return line, "a second document ('---'): a file holds one"
    return line, f"{problem} ({context})" if context and problem else problem or context


def _shown(lines: list[str], line: int, column: int = 0) -> str:
    """The text of a line from `column`, quoted (and cut if long)."""
    rest = lines[line][column:].strip() if line < len(lines) else ""
    return repr(rest if len(rest) <= 40 else rest[:39] + "…")


def _colon(at: yaml.Mark, text: str, lines: list[str]) -> tuple[int, str]:
    """`mapping values are not allowed here`: a ':' PyYAML cannot take as a key's. A value
    holds ': ' (one line); or a key sits deeper than the value above it ('path: /a', then a
    deeper 'method: GET'); or the line above lacks its ':' ('match', then a deeper 'path:').
    PyYAML sees the last two one line late, where the text it took for one value ends."""
    scalar: yaml.ScalarToken | None = None
    before: yaml.Token | None = None
    previous: yaml.Token | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= at.index:
                break
            if isinstance(token, yaml.ScalarToken):
                scalar, before = token, previous
            previous = token
    except yaml.YAMLError:
        pass  # the same error again, at `at`: the tokens before it are all we need
    start = scalar.start_mark if scalar is not None else at
    if start.line == at.line:
        return at.line + 1, "a value with ': ' in it must be quoted"
    if isinstance(before, yaml.ValueToken) and before.start_mark.line == start.line:
        deeper = _shown(lines, at.line)
        return at.line + 1, f"bad indentation: {deeper} is deeper than the key above it"
    missing = _shown(lines, start.line, start.column)
    return start.line + 1, f"missing ':' after {missing} (or the next line is too deep)"
