"""How the client commands print: for people on a terminal, rich tables with colour and times
relative to the account's clock; piped, the same rows as plain aligned text; with `--json`,
the sandbox's JSON and nothing else.

A terminal is what rich says it is, so `NO_COLOR` and `FORCE_COLOR` work as everywhere else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

STATUS_STYLES = {
    "COMPLETED": "green",
    "delivered": "green",
    "PROCESSING": "cyan",
    "PENDING": "yellow",
    "pending": "yellow",
    "FAILED": "red",
    "failed": "red",
    "CANCELLED": "dim",
}

Cell = str | Text


def http_style(status: int) -> str:
    """Green for 2xx, cyan 3xx, yellow 4xx, red 5xx and no answer (0)."""
    if 200 <= status < 300:
        return "green"
    if 300 <= status < 400:
        return "cyan"
    if 400 <= status < 500:
        return "yellow"
    return "red"


def styled(text: str, style: str | None = None) -> Text:
    return Text(text, style=style or STATUS_STYLES.get(text, ""))


def relative(at: str | None, now: str | None) -> str:
    """`3m ago`, `in 10s`, `just now` between two ISO 8601 times; `at` itself if either is
    missing or unreadable."""
    if not at:
        return "-"
    if not now:
        return at
    try:
        seconds = (datetime.fromisoformat(now) - datetime.fromisoformat(at)).total_seconds()
    except ValueError:
        return at
    size = abs(seconds)
    if size < 1:
        return "just now"
    for unit, length in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if size >= length:
            amount = f"{int(size // length)}{unit}"
            return f"{amount} ago" if seconds > 0 else f"in {amount}"
    return at  # not reached


class Output:
    """Where one command's results go (stdout), in the form its flags and stdout ask for."""

    def __init__(self, as_json: bool = False, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout
        self.console = Console(file=self.stream, highlight=False)
        self.terminal = self.console.is_terminal

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def json_line(self, data: Any) -> None:
        self.stream.write(json.dumps(data, ensure_ascii=False) + "\n")
        self.stream.flush()

    def line(self, text: Cell = "") -> None:
        if self.terminal:
            self.console.print(text)
        else:
            self.stream.write(str(text) + "\n")

    def live_line(self, text: Cell) -> None:
        """One line of a stream, flushed at once (a reader of `logs tail` waits on it)."""
        self.line(text)
        self.stream.flush()

    def table(
        self, columns: Sequence[str], rows: Sequence[Sequence[Cell]], title: str | None = None
    ) -> None:
        if self.terminal:
            table = Table(*columns, title=title, title_justify="left", header_style="bold")
            for row in rows:
                table.add_row(*row)
            self.console.print(table)
            return
        cells = [list(columns), *([str(cell) for cell in row] for row in rows)]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        for row in cells:
            self.stream.write(
                "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n"
            )

    def fields(self, pairs: Sequence[tuple[str, Cell]]) -> None:
        """`name: value` lines, names aligned."""
        width = max((len(name) for name, _ in pairs), default=0)
        for name, value in pairs:
            if self.terminal:
                self.console.print(Text.assemble((f"{name + ':':<{width + 1}} ", "bold"), value))
            else:
                self.stream.write(f"{name + ':':<{width + 1}} {value}\n")
