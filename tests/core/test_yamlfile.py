"""The YAML reading that scenario and fixture files share: lines of fields, syntax errors at
the line to fix, duplicate keys, alias limits, and validation problems as file:line: field."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, Field, model_validator

from aiprod_sandbox.core.yamlfile import MAX_VALUES, FileError, parse, problem_at, read
from aiprod_sandbox.errors import ConfigError


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    size: int = Field(default=1, gt=0)


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    items: list[Item] = []

    @model_validator(mode="after")
    def _unique(self) -> Box:
        names = [item.name for item in self.items]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise problem_at(("items", index, "name"), f"items[{index}]: {name!r} again")
        return self


def problems(text: str, model: type[BaseModel] = Box) -> list[str]:
    with pytest.raises(FileError) as caught:
        parse(text, "f.yaml").validate(model)
    assert isinstance(caught.value, ConfigError)  # the server does not start: exit 2
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_a_valid_file_loads_and_knows_the_line_of_each_field() -> None:
    document = parse("items:\n  - name: a\n\n  - name: b\n    size: 3\n", "f.yaml")
    assert document.validate(Box).items[1] == Item(name="b", size=3)
    assert document.line(("items", 1, "size")) == 5
    assert document.line(("items", 1, "colour")) == 4  # not in the file: its parent's line
    assert document.problem(("items", 0), "x") == "f.yaml:2: items[0]: x"


def test_every_validation_problem_at_its_line() -> None:
    text = "items:\n  - name: a\n    size: 0\n  - {name: 7, colour: red}\n"
    assert problems(text) == [
        "f.yaml:3: items[0].size: Input should be greater than 0",
        "f.yaml:4: items[1].name: Input should be a valid string",
        "f.yaml:4: items[1].colour: unknown field",
    ]


def test_a_validator_names_a_field_below_its_own() -> None:
    text = "items:\n  - name: a\n  - name: b\n  - name: a\n"
    assert problems(text) == ["f.yaml:4: items[2].name: items[2]: 'a' again"]


def test_duplicate_keys_are_told_with_the_validation_problems() -> None:
    text = "items:\n  - name: a\n    size: 2\n    size: -1\nitems: []\n"
    assert problems(text) == [
        "f.yaml:4: items[0].size: duplicate key (first on line 3)",
        "f.yaml:5: items: duplicate key (first on line 1)",
    ]
    # A merge key (`<<`) may be overridden: that is what it is for.
    merged = parse("base: &b {name: a, size: 2}\nitems:\n  - <<: *b\n    size: 3\n", "f.yaml")
    assert merged.problems == ()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("items:\n\t- name: a\n", 2, "a tab: indent with spaces"),
        ("items:\n  - name\n      size: 2\n", 2, "missing ':' after 'name'"),
        ("items\nother: 1\n", 1, "missing ':' after 'items'"),
        ("a: 1\n  b: 2\n", 2, "bad indentation: 'b: 2' is deeper than the key above it"),
        ("a:\n  b: 1\n c: 2\n", 3, "bad indentation: 'c: 2' lines up with no key above it"),
        ("a: b: c\n", 1, "a value with ': ' in it must be quoted"),
        ("a: [1, 2\nb: 3\n", 1, "unclosed '[': no ']' closes it before line 2"),
        ("a: {x: 1\n", 1, "unclosed '{': no '}' closes it"),
        ("a: {x: 1 y: 2}\n", 1, "missing ',' or '}' (the '{' is on line 1)"),
        ("a: 'open\nb: 2\n", 1, "unclosed quote: the ' here is never closed"),
        ("a: 1\n---\nb: 2\n", 2, "a second document ('---'): a file holds one"),
        ("a: *nowhere\n", 1, "found undefined alias 'nowhere'"),
        ("a: 1\nb: \x00\n", 2, "unacceptable character #x0000"),
        ("a: &x [*x]\n", 1, "an alias refers to a value that holds it"),
    ],
)
def test_a_yaml_mistake_is_told_at_the_line_to_fix(text: str, line: int, message: str) -> None:
    with pytest.raises(FileError) as caught:
        parse(text, "f.yaml")
    [problem] = caught.value.problems
    assert problem.startswith(f"f.yaml:{line}: (yaml): {message}"), problem


def test_aliases_may_not_expand_past_the_limit() -> None:
    ten = ", ".join(["*a"] * 10)
    fine = parse(f"a: &a [1, 2]\nb: [{ten}]\n", "f.yaml")
    assert fine.data["b"][9] == [1, 2]
    levels = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 12)]
    with pytest.raises(FileError) as caught:
        parse("\n".join(levels), "f.yaml")
    assert caught.value.problems == [
        f"f.yaml:6: (yaml): aliases expand this to more than {MAX_VALUES:,} values"
    ]


def test_an_empty_file_or_a_list_is_not_a_mapping(tmp_path: Path) -> None:
    assert problems("") == ["f.yaml:1: (file): the file must be a mapping (of items)"]
    assert problems("- a\n") == ["f.yaml:1: (file): the file must be a mapping (of items)"]


def test_an_unreadable_file_is_a_problem_too(tmp_path: Path) -> None:
    with pytest.raises(FileError) as caught:
        read(tmp_path / "absent.yaml")
    assert caught.value.problems == [
        f"{tmp_path / 'absent.yaml'}:0: (file): cannot read: No such file or directory"
    ]
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(FileError, match=r"binary.yaml:0: \(file\): cannot read: .*utf-8"):
        read(binary)
