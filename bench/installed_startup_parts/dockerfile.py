"""The Dockerfile's runtime stage, read the way `docker run` uses it: its ENV, what
ENTRYPOINT/CMD execute, and the HEALTHCHECK command with its timeout."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from pathlib import Path


def runtime_stage(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, args) of the last stage; comments dropped, continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            keyword, _, args = " ".join(pending).partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = []
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


class Image:
    def __init__(self, dockerfile: Path) -> None:
        stage = runtime_stage(dockerfile.read_text(encoding="utf-8"))
        self.env: dict[str, str] = {}
        self.entrypoint: list[str] = []
        self.cmd: list[str] = []
        self.healthcheck: list[str] = []
        self.health_timeout = 30.0
        for keyword, args in stage:
            if keyword == "ENV":
                words = shlex.split(args)
                if words and "=" not in words[0]:
                    self.env[words[0]] = " ".join(words[1:])
                else:
                    pairs = (word.split("=", 1) for word in words)
                    self.env.update((name, value) for name, value in pairs)
            elif keyword == "ENTRYPOINT":
                self.entrypoint = json.loads(args)
            elif keyword == "CMD":
                self.cmd = json.loads(args)
            elif keyword == "HEALTHCHECK":
                found = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", args, re.IGNORECASE)
                if found is None:
                    raise SystemExit("HEALTHCHECK without CMD")
                body = found[2].strip()
                self.healthcheck = (
                    json.loads(body) if body.startswith("[") else ["/bin/sh", "-c", body]
                )
                timeout = re.search(r"--timeout=(\d+(?:\.\d+)?)s\b", found[1])
                if timeout:
                    self.health_timeout = float(timeout[1])
        if not (self.entrypoint and self.healthcheck and "AIPROD_SANDBOX_PORT" in self.env):
            raise SystemExit("the Dockerfile lacks ENTRYPOINT, HEALTHCHECK or the port ENV")

    def command(self, run_args: Sequence[str]) -> list[str]:
        """What `docker run IMAGE *run_args` executes: run arguments replace CMD."""
        return [*self.entrypoint, *(run_args or self.cmd)]
