"""`python -m aiprod_sandbox` is the `aiprod-sandbox` command."""

import sys

from .cli import main

sys.exit(main())
