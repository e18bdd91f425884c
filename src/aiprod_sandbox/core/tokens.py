"""The secrets the sandbox makes: API keys from `POST /keys`, webhook signing secrets and
each account's callback secret.

They come from the operating system's random source (`secrets`), never from the seeded id
stream: anyone who knows the seed (0 unless set) and an id would otherwise compute them. The
seed keeps making ids, scores and costs deterministic; a test that needs a known secret
imports it with the state document. `Tokens` is injected, so a test can fix them too.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

TOKEN_BYTES = 16  # 32 hex characters: 128 bits

RandomText = Callable[[], str]


def random_hex() -> str:
    return secrets.token_hex(TOKEN_BYTES)


class Tokens:
    """Makes each kind of secret, from one source of random text."""

    def __init__(self, source: RandomText = random_hex) -> None:
        self._source = source

    def webhook_secret(self) -> str:
        """A `whsec_` secret that signs deliveries (a webhook's, or an account's callbacks)."""
        return "whsec_" + self._source()

    def api_key(self) -> str:
        """A test key, as `POST /keys` answers it once."""
        return "sk_test_" + self._source()
