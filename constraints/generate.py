"""Write constraints/runtime.txt: the exact version of every runtime dependency of
aiprod-sandbox, and of theirs, as installed in the environment this runs in.

Run it from an environment the test suite passed in (the dev virtualenv, after `pip install -e
'.[test]'` and a green `pytest`), after changing pyproject.toml's dependencies or upgrading:

    .venv/bin/python constraints/generate.py           # rewrite constraints/runtime.txt
    .venv/bin/python constraints/generate.py --check   # exit 1 if it would change

The walk follows the package's own requirements (not its test extras) through the installed
distributions' metadata, with environment markers evaluated for this interpreter, so run it on
the Python the image uses (the Dockerfile's PYTHON_VERSION) on Linux.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGE = "aiprod-sandbox"
TARGET = Path(__file__).resolve().parent / "runtime.txt"


def runtime_pins(package: str = PACKAGE) -> dict[str, str]:
    """name -> installed version for everything `package` needs at run time (not itself)."""
    pins: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(package, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        distribution = metadata.distribution(name)
        if name != package:
            pins[name] = distribution.version
        for text in distribution.requires or []:
            requirement = Requirement(text)
            wanted = extras or {""}
            marker = requirement.marker
            if marker is not None and not any(marker.evaluate({"extra": e}) for e in wanted):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return pins


def render(pins: dict[str, str]) -> str:
    python = ".".join(platform.python_version_tuple()[:2])
    header = [
        f"# Every runtime dependency of {PACKAGE} (not its test extras) at the version the test",
        f"# suite ran with, on Python {python} ({sys.platform}). The image installs the wheel with",
        "# `pip install -c` on these, because the server builds on uvicorn's internals.",
        "# Regenerate from an environment the tests passed in: python constraints/generate.py",
    ]
    return "\n".join(header + [f"{name}=={pins[name]}" for name in sorted(pins)]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file would change")
    args = parser.parse_args()
    text = render(runtime_pins())
    if args.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET} is out of date: run python constraints/generate.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET} ({text.count('==')} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
