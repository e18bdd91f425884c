"""The tiers' names, and the key prefixes that name a tier. Their limits are data
(`fixtures/tiers.yaml`, loaded by `catalog.py`); their names are stated here once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, get_args

Tier = Literal["free", "pro", "enterprise"]
TIERS: tuple[Tier, ...] = get_args(Tier)
# `sk_test_free_…`, `sk_test_pro_…` and `sk_test_ent_…` open an account of that tier.
KEY_PREFIXES: Mapping[Tier, str] = {
    "free": "sk_test_free_",
    "pro": "sk_test_pro_",
    "enterprise": "sk_test_ent_",
}


def tier_of_key(key: str, default: str) -> str:
    """The tier a key's prefix names, else `default`."""
    for tier, prefix in KEY_PREFIXES.items():
        if key.startswith(prefix):
            return tier
    return default
