"""Every link in the README and the docs leads somewhere a partner who cloned the repository
can follow: to a file the repository holds, or to a web address — never outside the clone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def local_targets(document: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", document.read_text(encoding="utf-8"), flags=re.DOTALL)
    targets = [match.group(1) for match in LINK.finditer(text)]
    return [t for t in targets if not re.match(r"^(?:[a-z]+:|#)", t)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_is_a_file_of_the_repository(document: Path) -> None:
    for target in local_targets(document):
        path = (document.parent / target.split("#")[0]).resolve()
        assert path.is_relative_to(ROOT), f"{target} leads outside the repository"
        assert path.exists(), f"{target} does not exist"


def test_the_readme_has_links_to_check() -> None:
    assert "docs/pytest.md" in local_targets(ROOT / "README.md")
