"""The layers hold: the core knows nothing of HTTP, the server's settings, the sender, the
store it writes through or the tests' helpers, and the product never imports the pytest
plugin's package.

Every import is read from the source (those inside functions and under TYPE_CHECKING too),
relative ones resolved, so a new module cannot slip past. `docs/architecture.md` draws the map.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "aiprod_sandbox"
ROOT = "aiprod_sandbox"
# What the core may not import: the outer layers, and the HTTP libraries they use.
CORE_MAY_NOT = (
    f"{ROOT}.settings",
    f"{ROOT}.api",
    f"{ROOT}.webhook_http",
    f"{ROOT}.testing",
    f"{ROOT}.app",
    f"{ROOT}.server",
    f"{ROOT}.cli",
    f"{ROOT}.connections",
    f"{ROOT}.store",  # the core knows the store interface (core/store.py), never which store
    f"{ROOT}.commands",
    "sqlite3",
    "starlette",
    "uvicorn",
    "httpx",
    "h11",
    "httptools",
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, as absolute names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)  # submodules
    return found


def _modules(under: str = "") -> list[Path]:
    return sorted((PACKAGE / under).rglob("*.py"))


def _breaks(imported: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        module
        for module in imported
        if any(module == rule or module.startswith(rule + ".") for rule in forbidden)
    )


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: _module_name(p))
def test_the_core_imports_no_outer_layer(path: Path) -> None:
    assert _breaks(imports_of(path), CORE_MAY_NOT) == []


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if "testing" not in p.relative_to(PACKAGE).parts],
    ids=lambda p: _module_name(p),
)
def test_the_product_never_imports_the_test_helpers(path: Path) -> None:
    assert _breaks(imports_of(path), (f"{ROOT}.testing",)) == []


def test_the_rules_see_relative_imports() -> None:
    """The reader itself: core/sandbox.py's relative imports come out absolute."""
    found = imports_of(PACKAGE / "core" / "sandbox.py")
    assert f"{ROOT}.core.accounts" in found and f"{ROOT}.errors" in found
    assert _breaks({f"{ROOT}.api.operation"}, CORE_MAY_NOT) == [f"{ROOT}.api.operation"]
