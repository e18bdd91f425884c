"""A YAML "alias bomb": nine levels of ten aliases each, a billion values once expanded."""

from __future__ import annotations


def alias_bomb() -> str:
    """A scenario file whose `x-bomb` field expands to 10⁹ values (its last line, 9, names
    the alias that goes past the bound)."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        this, below = "abcdefghi"[n], "abcdefghi"[n - 1]
        levels.append(f"{this}: &{this} [{', '.join([f'*{below}'] * 10)}]")
    return "name: bomb\ndescription: x\nx-bomb:\n  " + "\n  ".join(levels) + "\n"
