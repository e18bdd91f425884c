"""Scenario files: `aiprod-sandbox scenario list|schema|validate`, the published JSON Schema,
and `serve --scenario` refusing a bad file or name before it starts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from tests.conftest import auth, new_key
from tests.scenarios.conftest import SHIPPED, SHIPPED_NAMES, run_cli
from tests.support.serve import SandboxProcess

PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>\d+): (?P<field>\S+): (?P<message>.+)$")

BAD_FILES: dict[str, tuple[str, list[tuple[int, str, str]]]] = {
    # name: (text, [(line, field, part of the message)])
    "bad-yaml": (
        """\
name: bad-yaml
description: a flow mapping never closed
requests:
  - match: {path: "/jobs"
    respond: {status: 500}
""",
        [(5, "(yaml)", "expected ',' or '}'")],
    ),
    "tabs": (
        "name: tabs\ndescription: x\nrequests:\n\t- respond: {status: 500}\n",
        [(4, "(yaml)", "found character '\\t'")],
    ),
    "unknown-keys": (
        """\
name: unknown-keys
description: has unknown keys
requests:
  - match:
      path: /jobs
      colour: red
    respond:
      status: 500
    bogus: 1
""",
        [
            (6, "requests[0].match.colour", "unknown field"),
            (9, "requests[0].bogus", "unknown field"),
        ],
    ),
    "wrong-types": (
        """\
name: wrong-types
description: wrong types
requests:
  - when:
      nth: many
    respond:
      status: "five hundred"
jobs:
  - outcome: explode
webhooks:
  - action: drop
    delay_seconds: [1]
""",
        [
            (5, "requests[0].when.nth", "valid integer"),
            (7, "requests[0].respond.status", "valid integer"),
            (9, "jobs[0].outcome", "'complete', 'fail' or 'pending'"),
            (12, "webhooks[0].delay_seconds", "valid number"),
        ],
    ),
    "impossible": (
        """\
name: impossible
description: selections that can never fire
requests:
  - when: {nth: 3, first: 2}
    respond: {status: 500}
  - when:
      window: {start: 10, end: 10}
    respond: {status: 500}
  - when: {nth: 2, after: 2}
    respond: {status: 500}
  - when: {first: 2, after: 5}
    respond: {status: 500}
  - when: {nth: 3, every: 2}
    respond: {status: 500}
  - when:
      window:
        start: 60
        end: 30
    respond: {status: 500}
""",
        [
            (4, "requests[0].when", "nth 3 is never among the first 2 calls"),
            (7, "requests[1].when.window", "window.end must be after window.start"),
            (9, "requests[2].when", "nth 2 is never after call 2"),
            (11, "requests[3].when", "never after call 5"),
            (13, "requests[4].when", "never a multiple of every 2"),
            (16, "requests[5].when.window", "window.end must be after window.start"),
        ],
    ),
    "bad-respond": (
        """\
name: bad-respond
description: answers that cannot be given
requests:
  - respond:
      drop: true
      status: 500
  - respond:
      error: {code: X}
  - respond: {}
  - respond:
      status: 99
""",
        [
            (4, "requests[0].respond", "drop answers nothing"),
            (7, "requests[1].respond", "needs a status"),
            (9, "requests[2].respond", "respond must give"),
            (11, "requests[3].respond.status", "greater than or equal to 200"),
        ],
    ),
    "missing": (
        "requests: []\n",
        [(1, "name", "Field required"), (1, "description", "Field required")],
    ),
    "not-a-mapping": (
        "- name: x\n- description: y\n",
        [(1, "(file)", "a scenario is a mapping")],
    ),
}


def write(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(BAD_FILES[name][0], encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_validate_names_file_line_and_field_of_every_problem(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name)
    done = run_cli("scenario", "validate", str(path))
    assert done.returncode == 1, done
    assert done.stdout == ""
    problems = done.stderr.splitlines()
    expected = BAD_FILES[name][1]
    assert len(problems) == len(expected), problems
    for problem, (line, field, message) in zip(problems, expected, strict=True):
        found = PROBLEM.match(problem)
        assert found is not None, problem
        assert found["file"] == str(path)
        assert (int(found["line"]), found["field"]) == (line, field), problem
        assert message.lower() in found["message"].lower(), problem


def test_validate_checks_every_file_given(tmp_path: Path) -> None:
    bad = write(tmp_path, "impossible")
    good = SHIPPED / "free-tier.yaml"
    done = run_cli("scenario", "validate", str(good), str(bad), str(tmp_path / "absent.yaml"))
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{good}: ok (free-tier)"]
    assert len(done.stderr.splitlines()) == 7
    assert done.stderr.splitlines()[-1].startswith(f"{tmp_path / 'absent.yaml'}:0: (file): ")


def test_every_shipped_file_validates() -> None:
    files = sorted(SHIPPED.glob("*.yaml"))
    done = run_cli("scenario", "validate", *map(str, files))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.splitlines() == [f"{f}: ok ({f.stem})" for f in files]


def test_list_shows_every_name_and_description() -> None:
    done = run_cli("scenario", "list")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    names = [line for line in done.stdout.splitlines() if line and not line.startswith(" ")]
    assert names == SHIPPED_NAMES
    for name in SHIPPED_NAMES:
        source = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text())
        assert " ".join(source["description"].split()) in text
        assert " ".join(source["advice"].split()) in text


def test_schema_prints_the_shipped_schema_file() -> None:
    done = run_cli("scenario", "schema")
    assert done.returncode == 0, done.stderr
    shipped = (SHIPPED / "scenario.schema.json").read_text(encoding="utf-8")
    assert done.stdout == shipped  # the shipped file is in sync with the format
    schema = json.loads(done.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def shipped_schema() -> jsonschema.Draft202012Validator:
    schema = json.loads((SHIPPED / "scenario.schema.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", SHIPPED_NAMES)
def test_the_schema_accepts_every_shipped_file(name: str) -> None:
    document = yaml.safe_load((SHIPPED / f"{name}.yaml").read_text(encoding="utf-8"))
    errors = [error.message for error in shipped_schema().iter_errors(document)]
    assert errors == []


@pytest.mark.parametrize("name", ["unknown-keys", "wrong-types", "missing", "not-a-mapping"])
def test_the_schema_rejects_invalid_files(name: str) -> None:
    document = yaml.safe_load(BAD_FILES[name][0])
    assert list(shipped_schema().iter_errors(document))


# ---- serve --scenario ----------------------------------------------------------------------


def test_serve_refuses_a_bad_file_before_starting(tmp_path: Path) -> None:
    path = write(tmp_path, "impossible")
    done = run_cli("serve", "--port", "0", "--scenario", str(path))
    assert done.returncode == 2
    assert "ready" not in done.stdout and done.stdout == ""
    assert f"{path}:4: requests[0].when: nth 3 is never among the first 2 calls" in done.stderr
    assert f"{path}:9: requests[2].when:" in done.stderr


def test_serve_refuses_bad_yaml_naming_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "bad-yaml")
    done = run_cli("serve", "--port", "0", "--scenario", str(path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{path}:5: (yaml):" in done.stderr


def test_serve_refuses_an_unknown_name() -> None:
    done = run_cli("serve", "--port", "0", "--scenario", "nope")
    assert done.returncode == 2
    assert done.stdout == ""
    assert "nope" in done.stderr
    assert all(name in done.stderr for name in SHIPPED_NAMES)


def test_serve_runs_a_scenario_file_for_every_account(
    tmp_path: Path, serve: Callable[..., SandboxProcess]
) -> None:
    path = tmp_path / "teapot.yaml"
    path.write_text(
        "name: teapot\n"
        "description: the presets are brewing\n"
        "requests:\n"
        "  - name: brewing\n"
        "    match: {path: /presets}\n"
        "    respond:\n"
        "      status: 503\n"
        "      retry_after: 5\n",
        encoding="utf-8",
    )
    server = serve("--scenario", str(path), "--scenario", "slow-responses")
    for key in (new_key(), new_key("free")):
        with httpx.Client(
            base_url=server.base_url, headers=auth(key), timeout=10, trust_env=False
        ) as http:
            account = http.get("/_sandbox/account").json()
            assert account["server_scenarios"] == ["teapot", "slow-responses"]
            accepted = http.post("/pipeline/run", json={"video_url": "https://example.com/a.mp4"})
            assert accepted.status_code == 202
            refused = http.get("/presets")
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
            assert refused.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
