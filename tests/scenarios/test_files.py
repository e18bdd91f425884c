"""Scenario files: `aiprod-sandbox scenario list|schema|validate`, the published JSON Schema,
and `serve --scenario` refusing a bad file or name before it starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from aiprod_sandbox.core.scenarios import ScenarioError, load_file, load_text
from tests.conftest import auth, new_key
from tests.scenarios.conftest import SHIPPED, SHIPPED_NAMES, run_cli
from tests.support.serve import CLI, SandboxProcess, clean_env
from tests.support.yaml_bomb import alias_bomb

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
        [(4, "(yaml)", "unclosed '{': no '}' closes it before line 5")],
    ),
    "tabs": (
        "name: tabs\ndescription: x\nrequests:\n\t- respond: {status: 500}\n",
        [(4, "(yaml)", "a tab: indent with spaces")],
    ),
    # PyYAML notices these where the text it took for one value ends: a line late.
    "missing-colon": (
        """\
name: missing-colon
description: a key without its colon
requests:
  - match
      path: /jobs
    respond: {status: 500}
""",
        [(4, "(yaml)", "missing ':' after 'match'")],
    ),
    "key-too-deep": (
        """\
name: key-too-deep
description: a key indented under the value above it
requests:
  - match:
      path: /jobs
        method: GET
    respond: {status: 500}
""",
        [(6, "(yaml)", "bad indentation: 'method: GET' is deeper than the key above it")],
    ),
    "key-between-levels": (
        """\
name: key-between-levels
description: a key that lines up with no other
requests:
  - match:
      path: /jobs
     method: GET
    respond: {status: 500}
""",
        [(6, "(yaml)", "bad indentation: 'method: GET' lines up with no key above it")],
    ),
    "unclosed-quote": (
        """\
name: unclosed-quote
description: "a quote never closed
requests:
  - respond: {status: 500}
""",
        [(2, "(yaml)", 'unclosed quote: the " here is never closed')],
    ),
    "colon-in-value": (
        "name: colon-in-value\ndescription: note: quote me\n",
        [(2, "(yaml)", "a value with ': ' in it must be quoted")],
    ),
    "duplicate-keys": (
        """\
name: duplicate-keys
description: a key given twice keeps only the last, so it is refused
requests:
  - respond: {status: 500}
    respond: {status: 503}
description: again
""",
        [
            (5, "requests[0].respond", "duplicate key (first on line 4)"),
            (6, "description", "duplicate key (first on line 2)"),
        ],
    ),
    "path-without-slash": (
        """\
name: path-without-slash
description: a path glob without its leading slash can never match
requests:
  - match: {path: pipeline/run}
    respond: {status: 500}
  - match: {path: "[a-z]*"}
    respond: {status: 500}
  - match: {path: "*/run"}
    respond: {status: 500}
  - match: {path: "[/]jobs"}
    respond: {status: 500}
""",
        [
            (4, "requests[0].match.path", "'pipeline/run' can never match: request paths"),
            (6, "requests[1].match.path", "'[a-z]*' can never match"),
        ],
    ),
    "duplicate-names": (
        """\
name: duplicate-names
description: two rules with one name, which the journal could not tell apart
requests:
  - name: flaky
    respond: {status: 500}
jobs:
  - name: slow
    processing_seconds: 60
webhooks:
  - name: flaky
    action: drop
  - name: slow
    action: duplicate
""",
        [(10, "webhooks[0].name", "the name 'flaky' is already requests[0]'s")],
    ),
    "ignored-delay": (
        """\
name: ignored-delay
description: delay_seconds on an action that does not wait
webhooks:
  - action: delay
    delay_seconds: 5
  - action: out_of_order
    delay_seconds: 5
  - action: drop
    delay_seconds: 5
""",
        [(9, "webhooks[2].delay_seconds", "goes with action: delay or out_of_order")],
    ),
    "unknown-names": (
        """\
name: unknown-names
description: an event, a method and a tier nobody knows, each told once
requests:
  - match: {method: [GET, FETCH], tier: gold}
    respond: {status: 500}
webhooks:
  - match: {event: job.finished}
    action: drop
""",
        [
            (4, "requests[0].match.method", "unknown method 'FETCH'; known: GET, POST, PUT"),
            (4, "requests[0].match.tier", "unknown tier 'gold'; known: free, pro, enterprise"),
            (
                7,
                "webhooks[0].match.event",
                "unknown event 'job.finished'; known: job.started, job.progress, job.completed",
            ),
        ],
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
        [(1, "(file)", "the file must be a mapping (of name, description")],
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


@pytest.mark.parametrize("action", ["list", "schema"])
def test_a_reader_that_stops_early_ends_the_command_quietly(action: str) -> None:
    """`aiprod-sandbox scenario list | head -2`: the pipe closes before the command writes."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader has gone before the first line is written
    try:
        done = subprocess.run(
            [str(CLI), "scenario", action],
            env=clean_env(),
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(writer)
    assert done.stderr == ""  # no BrokenPipeError traceback, no "Exception ignored"
    assert done.returncode == 1


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


@pytest.mark.parametrize(
    "name", ["unknown-keys", "wrong-types", "missing", "not-a-mapping", "path-without-slash"]
)
def test_the_schema_rejects_invalid_files(name: str) -> None:
    document = yaml.safe_load(BAD_FILES[name][0])
    assert list(shipped_schema().iter_errors(document))


SCALARS = """\
name: scalars
description: numbers and true/false in query and headers, as a partner writes them
requests:
  - match:
      path: /jobs
      query: {page: 2, archived: true, ratio: 0.5}
      headers: {X-Attempt: 3}
    respond:
      status: 503
      headers: {X-RateLimit-Remaining: 0}
"""


def test_numbers_and_booleans_in_query_and_headers_are_their_text(tmp_path: Path) -> None:
    path = tmp_path / "scalars.yaml"
    path.write_text(SCALARS, encoding="utf-8")
    done = run_cli("scenario", "validate", str(path))
    assert (done.returncode, done.stderr) == (0, "")
    rule = load_file(path).requests[0]
    assert rule.match.query == {"page": "2", "archived": "true", "ratio": "0.5"}
    assert rule.match.headers == {"X-Attempt": "3"}
    assert rule.respond.headers == {"X-RateLimit-Remaining": "0"}
    assert list(shipped_schema().iter_errors(yaml.safe_load(SCALARS))) == []


def test_a_null_in_query_is_still_refused() -> None:
    with pytest.raises(ScenarioError) as caught:
        load_text(SCALARS.replace("page: 2", "page: null"), "scalars.yaml")
    assert caught.value.problems == [
        "scalars.yaml:6: requests[0].match.query.page: Input should be a valid string"
    ]


def test_an_alias_bomb_is_refused_before_it_is_expanded(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(alias_bomb())
    started = time.monotonic()
    done = run_cli("scenario", "validate", str(path))
    assert time.monotonic() - started < 10
    assert done.returncode == 1
    assert done.stderr == f"{path}:9: (yaml): aliases expand this to more than 1,000,000 values\n"


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
    assert f"{path}:4: (yaml): unclosed '{{'" in done.stderr


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
