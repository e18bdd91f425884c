"""What a key may do to the account's keys: make one (never stronger than itself), revoke one
(never one stronger than itself in the API), each audited. `registry.py` keeps which account
each key opens; this module holds the rules the keys API applies (contract, section 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InsufficientScope, NotFound, ValidationFailed
from .keys import MAX_KEYS, SANDBOX_SCOPE, ApiKey

if TYPE_CHECKING:
    from .accounts import Account
    from .registry import Accounts


def mint(
    registry: Accounts,
    account: Account,
    by: ApiKey,
    name: str,
    scopes: list[str] | None,
    request_id: str | None,
) -> ApiKey:
    """A new key of the account, made by `by`: the scopes asked for (default: `by`'s own API
    scopes, without `sandbox` unless asked), none that `by` lacks."""
    if len(account.keys) >= MAX_KEYS:
        raise ValidationFailed(details={"keys": f"At most {MAX_KEYS} keys per account"})
    granted = [scope for scope in by.scope_list if scope != SANDBOX_SCOPE]
    wanted = scopes if scopes is not None else granted
    beyond = [scope for scope in wanted if scope not in by.scopes]
    if beyond:  # a key cannot mint a key stronger than itself
        raise InsufficientScope(
            f"This key cannot grant scopes it does not have: {', '.join(beyond)}",
            details={"scopes": f"not held by this key: {', '.join(beyond)}"},
        )
    key = registry.create_key(account, name, wanted)
    account.audit.record("key.created", key.key_id, key.masked, request_id, account.now())
    return key


def revoke(account: Account, by: ApiKey, key_id: str, request_id: str | None) -> ApiKey:
    """Revoke the account's key `key_id` (again: nothing changes). `by` may not revoke a key
    holding an API scope it lacks; `sandbox` is the sandbox's own and not counted, so the
    guide's rotation (a new key revokes the one the account opened with) works."""
    key = account.keys.get(key_id)
    if key is None:
        raise NotFound("Key not found", code="KEY_NOT_FOUND")
    beyond = [s for s in key.scope_list if s not in by.scopes and s != SANDBOX_SCOPE]
    if beyond:
        raise InsufficientScope(
            f"This key cannot revoke a key with scopes it does not have: {', '.join(beyond)}",
            details={"key_id": f"holds scopes this key lacks: {', '.join(beyond)}"},
        )
    if key.revoked_at is None:
        key.revoked_at = account.now()
        account.audit.record("key.revoked", key.key_id, key.masked, request_id, key.revoked_at)
    return key
