"""Every ```python block of docs/pytest.md is a complete test module, and passes.

The blocks run in one inner session, each as a module of its own (`test_example_NN.py`, NN
its place in the page), as they would sit in a partner's suite: only the plugin, installed,
and no conftest.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .conftest import Inner

DOC = Path(__file__).resolve().parents[2] / "docs" / "pytest.md"
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
PASSED = re.compile(r"^PASSED (\S+)", re.MULTILINE)


def python_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text(encoding="utf-8"))


def names_of_tests(block: str) -> list[str]:
    return [
        node.name
        for node in ast.parse(block).body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def test_every_python_block_is_a_test_module() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 5, "the page lost its examples, or the pattern no longer finds them"
    for number, block in enumerate(blocks, 1):
        assert names_of_tests(block), f"block {number} of {DOC.name} has no test:\n{block}"


def test_the_examples_pass(inner: Inner) -> None:
    modules = {f"test_example_{n:02d}": block for n, block in enumerate(python_blocks(), 1)}
    result = inner.suite("-rA", **modules)
    expected = {
        f"{name}.py::{test}" for name, block in modules.items() for test in names_of_tests(block)
    }
    assert set(PASSED.findall(result.stdout.str())) == expected, result.stdout.str()
    result.assert_outcomes(passed=len(expected))


def test_the_examples_pass_against_a_server(
    inner: Inner, served: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page says so: the same examples, against `aiprod-sandbox serve`."""
    monkeypatch.setenv("AIPROD_SANDBOX_URL", served)
    test_the_examples_pass(inner)
