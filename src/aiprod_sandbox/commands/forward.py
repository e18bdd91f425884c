"""`aiprod-sandbox listen --forward-to URL`: a webhook registered on the sandbox that points at
this process, each delivery forwarded byte for byte to the partner's app (issue 21).

Not built yet: it says so, and exits 2.
"""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    print("aiprod-sandbox listen --forward-to: not available yet", file=sys.stderr)
    return 2
