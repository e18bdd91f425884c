"""`aiprod-sandbox state export|import`: a whole account out of and into a running sandbox or
a data directory, the same bytes either way; errors in the sandbox's words, no traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.serve import CLI, clean_env, http_client, launch, random_key, shut_down

START = "2026-05-28T20:26:40Z"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), "state", *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )


def test_export_and_import_through_a_server_and_a_data_directory(tmp_path: Path) -> None:
    data, fresh = tmp_path / "data", tmp_path / "fresh"
    manual = ["--clock", "manual", "--start-time", START]
    key = random_key()
    h = {"Authorization": f"Bearer {key}"}
    server = launch(["--data-dir", str(data), *manual])
    try:
        with http_client() as client:
            base = server.base_url
            client.post(
                f"{base}/webhooks/register",
                json={"url": "https://hooks.example.com/x", "events": ["job.failed"]},  # none sent
                headers=h,
            )
            client.post(
                f"{base}/pipeline/run", json={"video_url": "https://e.com/a.mp4"}, headers=h
            )
            client.post(f"{base}/keys", json={"name": "second"}, headers=h)
            served = client.get(f"{base}/_sandbox/state", headers=h).content
        out = _cli("export", "--url", base, "--key", key)
        assert out.returncode == 0, out.stderr
        assert out.stdout.encode() == served + b"\n"
        # The directory is the server's while it runs: the command says whose, and stops.
        busy = _cli("export", "--data-dir", str(data), "--key", key)
        assert busy.returncode == 1
        assert "in use by another aiprod-sandbox (pid" in busy.stderr
        assert "Traceback" not in busy.stderr
        second = subprocess.run(
            [str(CLI), "serve", "--port", "0", "--data-dir", str(data)],
            capture_output=True, text=True, env=clean_env(), timeout=30, check=False,
        )  # fmt: skip
        assert second.returncode == 2
        assert f"{data} is in use by another aiprod-sandbox (pid" in second.stderr
        refused = _cli("export", "--url", base, "--key", "sk_live_" + "x" * 24)
        assert refused.returncode == 1
        assert "401" in refused.stderr and "Traceback" not in refused.stderr
    finally:
        shut_down(server)
    document = tmp_path / "state.json"
    out = _cli("export", "--data-dir", str(data), "--key", key, "-o", str(document))
    assert out.returncode == 0, out.stderr
    assert document.read_bytes() == served + b"\n"
    put = _cli("import", str(document), "--data-dir", str(fresh), "--key", key, "--seed", "7")
    assert put.returncode == 0, put.stderr
    assert '"imported_jobs": 1' in put.stdout
    server = launch(["--data-dir", str(fresh), *manual])
    try:
        with http_client() as client:
            assert client.get(f"{server.base_url}/_sandbox/state", headers=h).content == served
    finally:
        shut_down(server)


def test_a_bad_document_is_refused_naming_its_fields(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"jobs": [{"status": "DONE", "input": {}}]}')
    out = _cli("import", str(bad), "--data-dir", str(tmp_path / "data"))
    assert out.returncode == 1
    assert "jobs.0.status" in out.stderr or "jobs[0].status" in out.stderr
    assert "Traceback" not in out.stderr
