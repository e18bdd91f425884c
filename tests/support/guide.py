"""Where the public API guide is: `AIPROD_GUIDE`, else `shared/` beside the checkout (as in
CI and on a developer's machine), else the workplace's copy."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CANDIDATES = (
    ROOT.parent / "shared" / "api" / "aiprod-api-guide.md",
    Path("/work/shared/api/aiprod-api-guide.md"),
)


def guide_path() -> Path:
    given = os.environ.get("AIPROD_GUIDE")
    if given:
        return Path(given)
    return next((path for path in CANDIDATES if path.is_file()), CANDIDATES[0])
