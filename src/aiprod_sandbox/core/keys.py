"""API keys: their format, the tier a key's prefix names, scopes, and masking.

`sk_test_` and 16 or more letters, digits or underscores; a prefix may name a tier
(`tiers.py`). A key is never shown whole after its creation: everywhere
else it is `sk_test_…abcd`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from .schema import known_names, names_schema

API_SCOPES = (
    "jobs:read",
    "jobs:write",
    "webhooks:read",
    "webhooks:write",
    "keys:read",
    "keys:write",
    "usage:read",
)
SANDBOX_SCOPE = "sandbox"  # the control API, /_sandbox/* (contract §7)
SCOPES = (*API_SCOPES, SANDBOX_SCOPE)
MAX_KEYS = 100  # per account


# A list of scopes in a model (a request, a state document).
ScopeList = Annotated[list[str], known_names("scope", SCOPES), names_schema(SCOPES)]
MAX_KEY_LENGTH = 256  # a key is never longer: one kept per account cannot cost much memory
TEST_KEY = re.compile(r"sk_test_[A-Za-z0-9_]{16,248}")
KEY_FORMAT = "test keys look like sk_test_ followed by 16 to 248 letters, digits or underscores"


def _check_test_key(value: str) -> str:
    if len(value) > MAX_KEY_LENGTH or not TEST_KEY.fullmatch(value):
        raise PydanticCustomError("key", f"Not a test key: {KEY_FORMAT}")
    return value


# A whole test key in a model (a state document, a fixture file).
TestKey = Annotated[
    str,
    AfterValidator(_check_test_key),
    WithJsonSchema(
        {"type": "string", "pattern": f"^{TEST_KEY.pattern}$", "maxLength": MAX_KEY_LENGTH}
    ),
]
LIVE_PREFIX = "sk_live_"


@functools.lru_cache(maxsize=1024)  # every request's journal entry and audit masks its key
def mask_key(key: str) -> str:
    """`sk_test_…abcd`: enough to tell keys apart, never enough to use one."""
    prefix = LIVE_PREFIX if key.startswith(LIVE_PREFIX) else "sk_test_"
    if not key:
        return ""
    if len(key) < 12:
        return "…"
    if not key.startswith(prefix):
        return f"…{key[-4:]}"
    return f"{prefix}…{key[-4:]}"


@dataclass
class ApiKey:
    key_id: str
    name: str
    secret: str
    scopes: frozenset[str]
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None

    @functools.cached_property
    def masked(self) -> str:
        """Made once: every API request's journal entry and audit use it."""
        return mask_key(self.secret)

    @property
    def scope_list(self) -> list[str]:
        """The key's scopes in the order the API lists them."""
        return [scope for scope in SCOPES if scope in self.scopes]
