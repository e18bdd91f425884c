"""The image's pinned runtime dependencies (constraints/runtime.txt): complete, installable as
they stand, used by the Dockerfile, and for the uvicorn stack the server builds on (uvicorn,
h11, httptools, uvloop) exactly the versions these tests run on.

A failure here means: regenerate the file from a tested environment (`python
constraints/generate.py`, see its docstring), or the image would ship versions no test saw.
"""

from __future__ import annotations

import json
import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.packaging.conftest import CONSTRAINTS, REPO, Dockerfile, Installed

# What server.py and httptools_protocol.py reach into, beyond the public API.
INTERNALS = ("uvicorn", "h11", "httptools", "uvloop")


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, equals, version = line.partition("==")
            assert equals and version, f"{CONSTRAINTS.name}: {line!r} is not an exact pin"
            found[canonicalize_name(name)] = version
    return found


def test_every_runtime_dependency_of_pyproject_is_pinned_within_its_range() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pinned = pins()
    for requirement in map(Requirement, project["dependencies"]):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not needed on this platform, nor in the image (Linux, CPython)
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} is not in {CONSTRAINTS.name}"
        assert requirement.specifier.contains(pinned[name]), (requirement, pinned[name])


def test_the_uvicorn_stack_is_pinned_at_the_versions_the_tests_run() -> None:
    pinned = pins()
    for name in INTERNALS:
        assert pinned.get(name) == metadata.version(name), (
            f"{CONSTRAINTS.name} pins {name} {pinned.get(name)}, the tests run "
            f"{metadata.version(name)}: regenerate it (python constraints/generate.py)"
        )


def test_the_dockerfile_installs_the_pins_then_the_wheel_alone(dockerfile: Dockerfile) -> None:
    copied = {}
    for copy in dockerfile.all("COPY"):
        words = copy.args.split()
        if not words[0].startswith("--"):
            copied[words[0]] = words[-1]
    target = copied.get(CONSTRAINTS.relative_to(REPO).as_posix())
    assert target, "the runtime stage does not COPY the constraints file"
    installs = [run.args for run in dockerfile.all("RUN") if "pip install" in run.args]
    pins = [i for i in installs if re.search(rf"pip install .*-r\s+{re.escape(target)}", i)]
    wheels = [i for i in installs if "aiprod_sandbox-*.whl" in i]
    assert len(pins) == 1 and len(wheels) == 1, installs
    assert "--no-deps" in wheels[0] and "pip check" in wheels[0]  # the pins are all it needs
    assert installs.index(pins[0]) < installs.index(wheels[0])  # a layer cached across builds


def test_the_image_install_is_exactly_the_pins(installed: Installed) -> None:
    """Installed as the image installs it, the wheel brings in the pinned versions and nothing
    unpinned: the file lists every dependency of a dependency too."""
    done = installed.run(["python", "-m", "pip", "list", "--format=json"])
    assert done.returncode == 0, done.stderr
    present = {
        canonicalize_name(item["name"]): item["version"]
        for item in json.loads(done.stdout)
        if canonicalize_name(item["name"]) not in ("aiprod-sandbox", "pip", "setuptools")
    }
    assert present == pins()
