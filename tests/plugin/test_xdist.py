"""Under pytest-xdist every worker starts its own sandbox, and every test still has an
account of its own: no test ever sees another's jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Inner

ALONE = """
    import json
    import os
    from pathlib import Path

    import pytest

    @pytest.mark.parametrize("n", range(12))
    def test_alone(aiprod_account, request, n):
        mine = aiprod_account.submit(metadata={"test": request.node.name})
        listed = aiprod_account.client.get("/jobs").json()
        assert listed["pagination"]["total"] == 1
        assert [job["job_id"] for job in listed["items"]] == [mine["job_id"]]
        assert listed["items"][0]["metadata"] == {"test": request.node.name}
        record = {
            "test": request.node.name,
            "worker": os.environ.get("PYTEST_XDIST_WORKER"),
            "account": aiprod_account.info["account_id"],
            "key": aiprod_account.key,
        }
        out = Path(os.environ["ALONE_RECORDS"]) / f"{request.node.name}.json"
        out.write_text(json.dumps(record))
"""


def test_parallel_workers_never_share_an_account(
    inner: Inner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    records = tmp_path / "records"
    records.mkdir()
    monkeypatch.setenv("ALONE_RECORDS", str(records))
    inner.pytester.makepyfile(test_alone=ALONE)
    result = inner.run("-n", "2", keep=("xdist",))
    result.stdout.fnmatch_lines(["*2 workers*"])
    result.assert_outcomes(passed=12)
    seen = [json.loads(path.read_text()) for path in records.iterdir()]
    assert len(seen) == 12
    assert {record["worker"] for record in seen} == {"gw0", "gw1"}
    assert len({record["account"] for record in seen}) == 12
    assert len({record["key"] for record in seen}) == 12
