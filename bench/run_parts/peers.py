"""The mock servers a partner would pick instead of the sandbox, from the npm registry, each
serving the run's three endpoints from a definition in bench/peers/ (see its README.md).

Each is installed once, pinned, with `npm install --prefix CACHE/NAME` into a cache folder
outside the repository (`--peer-cache`, default ~/.cache/aiprod-bench/peers), then started on
a free port on core 0 like the sandbox. A peer that does not install or start is reported with
the reason, and the run goes on without it.

- Prism (`@stoplight/prism-cli`), mocking bench/peers/openapi.json, the sandbox's own OpenAPI
  document; 5.14.2 is the last release that runs on Node.js 20 (5.15 wants Node.js 24).
- WireMock: the npm package `wiremock` ships the standalone jar; run with `java -jar`
  (what its npm launcher does, minus the Node.js process in between), mappings in
  bench/peers/wiremock/.
- Mockoon (`@mockoon/cli`), the environment bench/peers/mockoon.json.

Every peer runs quiet, as the sandbox and the bare app do (log level warning), where it can:
Prism with `-v fatal`; Mockoon logs each transaction to stdout and has no flag against it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from harness.fleet import Fleet, Server
from harness.processes import BENCH

DEFINITIONS = BENCH / "peers"
CACHE = Path.home() / ".cache" / "aiprod-bench" / "peers"


@dataclass(frozen=True)
class Peer:
    name: str
    package: str
    version: str
    command: Callable[[Path, int], list[str]]  # (its install folder, port) -> argv

    @property
    def label(self) -> str:
        return f"{self.package}@{self.version}"


def _prism(folder: Path, port: int) -> list[str]:
    prism = folder / "node_modules" / ".bin" / "prism"
    return [str(prism), "mock", "-h", "127.0.0.1", "-p", str(port), "-v", "fatal"] + [
        str(DEFINITIONS / "openapi.json")
    ]


def _wiremock(folder: Path, port: int) -> list[str]:
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java is not installed (WireMock needs a JRE, 11 or later)")
    jar = next((folder / "node_modules" / "wiremock" / "build").glob("wiremock-standalone-*.jar"))
    return [java, "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1"] + [
        "--root-dir",
        str(DEFINITIONS / "wiremock"),
        "--disable-banner",
    ]


def _mockoon(folder: Path, port: int) -> list[str]:
    cli = folder / "node_modules" / ".bin" / "mockoon-cli"
    data = str(DEFINITIONS / "mockoon.json")
    return [str(cli), "start", "-d", data, "-p", str(port), "-l", "127.0.0.1", "-X"]


PEERS = (
    Peer("prism", "@stoplight/prism-cli", "5.14.2", _prism),
    Peer("wiremock", "wiremock", "3.13.2", _wiremock),
    Peer("mockoon", "@mockoon/cli", "9.9.0", _mockoon),
)
NAMES = tuple(peer.name for peer in PEERS)


def install(peer: Peer, cache: Path) -> Path:
    """The peer's folder under `cache`, installed with npm unless that version is there."""
    folder = cache / peer.name
    manifest = folder / "node_modules" / peer.package / "package.json"
    if manifest.exists() and json.loads(manifest.read_text())["version"] == peer.version:
        return folder
    if shutil.which("npm") is None:
        raise RuntimeError("npm is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"  npm install {peer.label} into {folder} ...", flush=True)
    done = subprocess.run(
        ["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund"]
        + ["--loglevel=error", peer.label],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"npm install {peer.label}: exit {done.returncode}: {done.stderr[-600:]}"
        )
    return folder


def start(fleet: Fleet, names: list[str], cache: Path) -> tuple[dict[str, Server], dict[str, str]]:
    """The peers named, installed and started: (servers by name, reasons for those that are
    not)."""
    servers: dict[str, Server] = {}
    missing: dict[str, str] = {}
    for peer in PEERS:
        if peer.name not in names:
            continue
        try:
            folder = install(peer, cache)
            servers[peer.name] = fleet.start(peer.name, partial(peer.command, folder))
        except Exception as exc:  # any failure: say why, go on without it
            reason = " ".join(str(exc).split())[-400:]
            missing[peer.name] = f"{peer.label}: {reason}"
            print(f"  {peer.name}: not in this run ({missing[peer.name]})", flush=True)
    return servers, missing


def label(name: str) -> str:
    """`@stoplight/prism-cli@5.14.2` for a peer's name."""
    return next(peer.label for peer in PEERS if peer.name == name)
