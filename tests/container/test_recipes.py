"""The CI recipes, the compose file and the GitHub Action, checked where a test can check them:
each parses, every `aiprod-sandbox` command and flag it names exists, every AIPROD_SANDBOX_*
variable it sets is one the server or the plugin reads, webhooks have a way back from the
container, and the action's steps are the scripts our own CI runs (.ci/container runs them,
builds the image and runs compose.yaml for real). The YAML shown in docs/ci.md is copied from
these files, never written twice."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from aiprod_sandbox.cli import build_parser
from aiprod_sandbox.core.catalog import load_catalog
from aiprod_sandbox.settings import OPTIONS, Client
from aiprod_sandbox.testing.config import RECEIVER_HOST_VARIABLE, RUN_ID_VARIABLE, URL_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / "recipes" / "github-actions.yml"
GITLAB = ROOT / "recipes" / "gitlab-ci.yml"
COMPOSE = ROOT / "compose.yaml"
ACTION = ROOT / "action.yml"
RECIPES = (GITHUB, GITLAB, COMPOSE, ACTION)
DOCS = (ROOT / "docs" / "ci.md", ROOT / "README.md", ROOT / "docs" / "pytest.md")
# Read by the server (a flag each), by the plugin, or by the action's scripts.
KNOWN_VARIABLES = {option.env for option in OPTIONS} | {
    URL_VARIABLE,
    Client.URL_VARIABLE,  # the client commands' (trigger, logs tail, ...)
    Client.KEY_VARIABLE,
    RECEIVER_HOST_VARIABLE,
    RUN_ID_VARIABLE,
}
GATEWAY = "--add-host host.docker.internal:host-gateway"
CLOSERS = "\"'`);,.:"  # what may end a command quoted in prose or YAML


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _words(text: str) -> list[str]:
    return shlex.split(" ".join(text.split()))


def _commands(text: str) -> list[list[str]]:
    """Every `aiprod-sandbox COMMAND ...` in a text, as argv: up to the end of its line, a
    shell operator, or the quote that closes it; `$VARIABLES` stand for any value."""
    found = []
    joined = text.replace("\\\n", " ")
    # An inline code span of prose may wrap onto the next line: it is still one command.
    joined = re.sub(r"`[^`\n]+\n[^`\n]+`", lambda span: span.group(0).replace("\n", " "), joined)
    pattern = r"(?<![\w/.-])aiprod-sandbox ((?:serve|listen|health|scenario)\b[^\n]*)"
    for match in re.finditer(pattern, joined):
        argv: list[str] = []
        for raw in match.group(1).split():
            if raw in ("|", "||", "&&", ";") or raw.startswith((">", "2>", "#", "`")):
                break
            word = raw.strip(CLOSERS)
            argv.append("x" if word.startswith("$") else word)
            if raw.rstrip(CLOSERS) != raw and not raw.startswith(('"', "'")):
                break  # the quote, bracket or sentence around the command ends here
        found.append(argv)
    return found


def test_every_recipe_parses() -> None:
    for path in RECIPES:
        assert isinstance(_load(path), dict), path


@pytest.mark.parametrize("path", [*RECIPES, *DOCS], ids=lambda p: p.name)
def test_every_variable_named_is_one_something_reads(path: Path) -> None:
    named = set(re.findall(r"AIPROD_SANDBOX_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8")))
    unknown = named - KNOWN_VARIABLES - {"AIPROD_SANDBOX_ADMIN_TOKEN"}
    assert not unknown, f"{path.name} names variables nothing reads: {sorted(unknown)}"
    assert "AIPROD_SANDBOX_ADMIN_TOKEN" in KNOWN_VARIABLES


@pytest.mark.parametrize("path", [*RECIPES, *DOCS], ids=lambda p: p.name)
def test_every_command_named_parses(path: Path) -> None:
    parser = build_parser()
    for argv in _commands(path.read_text(encoding="utf-8")):
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 0, f"{path.name}: aiprod-sandbox {' '.join(argv)} does not parse"


def _serve_args_after_image(command: str, image: str) -> list[str]:
    words = _words(command)
    return words[words.index(image) + 1 :]


def test_github_jobs_give_webhooks_a_way_back() -> None:
    workflow = _load(GITHUB)
    jobs = workflow["jobs"]
    assert set(jobs) == {"with-the-action", "with-a-service-container", "with-docker-run"}

    action_job = jobs["with-the-action"]["steps"]
    uses = [step for step in action_job if str(step.get("uses", "")).startswith("aiprod/")]
    assert len(uses) == 1 and set(uses[0]["with"]) <= set(_load(ACTION)["inputs"])

    service = jobs["with-a-service-container"]
    options = " ".join(service["services"]["aiprod"]["options"].split())
    assert GATEWAY in options and '--health-cmd "aiprod-sandbox health"' in options
    assert service["env"][RECEIVER_HOST_VARIABLE] == "host.docker.internal"
    assert urlsplit(service["env"][URL_VARIABLE]).port == 8080

    docker_run = jobs["with-docker-run"]
    run = next(s["run"] for s in docker_run["steps"] if "docker run" in str(s.get("run", "")))
    assert GATEWAY in " ".join(run.split()) and "--read-only --tmpfs /tmp" in run
    serve_args = _serve_args_after_image(run, "aiprod-sandbox:local")
    build_parser().parse_args(["serve", *serve_args])  # flags after the image name
    assert docker_run["env"][RECEIVER_HOST_VARIABLE] == "host.docker.internal"


def test_gitlab_shares_a_network_with_its_service() -> None:
    job = _load(GITLAB)["integration"]
    assert job["variables"]["FF_NETWORK_PER_BUILD"] == "true"
    alias = job["services"][0]["alias"]
    assert urlsplit(job["variables"][URL_VARIABLE]).hostname == alias
    script = "\n".join(job["script"])
    assert f'export {RECEIVER_HOST_VARIABLE}="$(hostname -i' in script
    assert "aiprod-sandbox health --url" in script and "--wait" in script


def test_compose_receiver_verifies_the_fixture_webhook() -> None:
    compose = _load(COMPOSE)
    sandbox, receiver = compose["services"]["sandbox"], compose["services"]["receiver"]
    assert sandbox["build"] == "." and (ROOT / "Dockerfile").is_file()
    assert receiver["image"] == sandbox["image"]
    assert sandbox["read_only"] is True and "/tmp" in sandbox["tmpfs"]

    entry = receiver["entrypoint"]
    assert entry[:2] == ["aiprod-sandbox", "listen"]
    listen = build_parser().parse_args(entry[1:])
    source, target = sandbox["volumes"][0].split(":")[:2]
    assert sandbox["environment"]["AIPROD_SANDBOX_FIXTURES"] == target
    catalog = load_catalog(ROOT / source)  # the mounted folder loads as the server loads it
    hooks = [hook for account in catalog.accounts for hook in account.webhooks or []]
    assert len(hooks) == 1
    url = urlsplit(hooks[0]["url"])
    assert (url.hostname, url.port) == ("receiver", listen.port)
    assert hooks[0]["secret"] == listen.secret  # the receiver verifies with the webhook's secret
    assert listen.host == "0.0.0.0"


def test_the_action_runs_the_scripts_our_ci_runs() -> None:
    action = _load(ACTION)
    assert action["runs"]["using"] == "composite"
    inputs = set(action["inputs"])
    text = ACTION.read_text(encoding="utf-8")
    used = set(re.findall(r"inputs\.([a-z-]+)", text))
    assert used <= inputs, used - inputs
    scripts = re.findall(r"\$GITHUB_ACTION_PATH/(\.ci/action/\w+)", text)
    assert set(scripts) == {".ci/action/start", ".ci/action/collect", ".ci/action/stop"}
    for script in scripts:
        assert os.access(ROOT / script, os.X_OK), script
    container = (ROOT / ".ci" / "container").read_text(encoding="utf-8")
    for script in set(scripts):
        assert script in container, f"our CI never runs {script}"
    assert ".ci/container" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")

    for step in action["runs"]["steps"]:
        run = step.get("run", "")
        called = re.search(r"(\.ci/action/\w+)", run)
        reader = (ROOT / called.group(1)).read_text(encoding="utf-8") if called else run
        for name in step.get("env", {}):
            assert name in reader, f"{name} is read by nothing in: {run}"
    start = (ROOT / ".ci" / "action" / "start").read_text(encoding="utf-8")
    for name in (URL_VARIABLE, RECEIVER_HOST_VARIABLE):
        assert f"{name}=" in start  # exported for the steps after it


def test_the_yaml_shown_in_the_docs_is_copied_from_the_recipes() -> None:
    docs = (ROOT / "docs" / "ci.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL)
    assert len(blocks) >= 4
    sources = [path.read_text(encoding="utf-8") for path in RECIPES]
    for block in blocks:
        yaml.safe_load(block)
        assert any(block in source for source in sources), f"not in any recipe:\n{block}"
