"""The port file the image asks for (`AIPROD_SANDBOX_PORT_FILE=/tmp/...`), against a real
`aiprod-sandbox serve`: written while serving and removed at the end; and where it cannot be
written, as on a read-only root filesystem without a /tmp, one warning and the server serves on.

Tests run as root, so a mode bit would not stop the write: a path under /dev/null (a file,
not a folder) cannot be written by anyone.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

from tests.support.serve import SandboxProcess, http_client, launch, shut_down

UNWRITABLE = "/dev/null/aiprod-sandbox.port"


def _healthy(server: SandboxProcess) -> None:
    with http_client() as http:
        answer = http.get(f"{server.base_url}/health")
    assert answer.status_code == 200, answer.text


def _stop(server: SandboxProcess) -> tuple[int, str]:
    try:
        code, _ = server.stop(signal.SIGTERM)
        return code, server.stderr()
    finally:
        shut_down(server)


def test_the_port_file_is_written_while_serving_and_removed_at_the_end(tmp_path: Path) -> None:
    port_file = tmp_path / "aiprod-sandbox.port"
    server = launch(env={"AIPROD_SANDBOX_PORT_FILE": str(port_file)})
    assert port_file.read_text(encoding="utf-8") == f"{server.port}\n"
    _healthy(server)
    code, stderr = _stop(server)
    assert code == 0, stderr
    assert not port_file.exists()


def test_an_unwritable_port_file_is_one_warning_and_the_server_serves_on() -> None:
    server = launch(env={"AIPROD_SANDBOX_PORT_FILE": UNWRITABLE})  # fails without a ready line
    _healthy(server)
    code, stderr = _stop(server)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    warnings = [line for line in stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 1, stderr
    assert UNWRITABLE in warnings[0] and "port file" in warnings[0], warnings


def test_a_port_file_gone_unreachable_before_the_end_does_not_stop_a_clean_exit(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    port_file = folder / "aiprod-sandbox.port"
    server = launch(env={"AIPROD_SANDBOX_PORT_FILE": str(port_file)})
    assert port_file.exists()
    shutil.rmtree(folder)
    folder.write_text("a file where the folder was: removing the port file now fails\n")
    _healthy(server)
    code, stderr = _stop(server)
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
