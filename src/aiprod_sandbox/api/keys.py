"""API keys: list, create, revoke; and the key audit log (`GET /audit/keys`).

The full key is shown once, in the 201 of `POST /keys`. Rotation, as the guide recommends:
create a new key, switch your application to it, revoke the old one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..core.clock import iso, iso_or_none
from ..core.keys import MAX_KEYS, SANDBOX_SCOPE, SCOPES, ApiKey, ScopeList
from ..errors import InsufficientScope, NotFound, ValidationFailed
from .operation import Call, Operation
from .pagination import Page, PageQuery, paginate
from .responses import json_response


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100, examples=["My Mobile App"])
    scopes: ScopeList | None = Field(
        default=None,
        description="Default: every scope of the key making it but `sandbox`, which is "
        "given only when asked for. Any of: " + ", ".join(SCOPES),
        examples=[["jobs:read", "jobs:write"]],
    )


class KeyOut(BaseModel):
    key_id: str
    name: str
    masked: str = Field(examples=["sk_test_…abcd"])
    scopes: list[str]
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(BaseModel):
    """The new key — `key` is shown only here."""

    key_id: str
    name: str
    key: str = Field(examples=["sk_test_4f9x…"])
    masked: str
    scopes: list[str]
    created_at: str


class AuditEntry(BaseModel):
    event_id: str
    event: Literal["key.created", "key.revoked", "key.used", "key.denied"]
    key_id: str
    masked_key: str
    request_id: str | None
    timestamp: str


class SortQuery(PageQuery):
    sort: Literal["created_at", "-created_at"] = "-created_at"


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        key_id=key.key_id,
        name=key.name,
        masked=key.masked,
        scopes=key.scope_list,
        created_at=iso(key.created_at),
        last_used_at=iso_or_none(key.last_used_at),
        revoked_at=iso_or_none(key.revoked_at),
    )


async def list_keys(call: Call) -> Response:
    query = call.query(SortQuery)
    newest_first = query.sort == "-created_at"
    keys = list(call.account.keys.values())  # creation order
    if newest_first:
        keys.reverse()  # so that keys created at the same time list newest first too
    keys.sort(key=lambda k: k.created_at, reverse=newest_first)
    items, block = paginate(keys, query.page, query.limit)
    return json_response(Page[KeyOut](items=[key_out(k) for k in items], pagination=block))


async def create_key(call: Call) -> Response:
    body = await call.body(KeyCreate)
    account = call.account
    if len(account.keys) >= MAX_KEYS:
        raise ValidationFailed(details={"keys": f"At most {MAX_KEYS} keys per account"})
    granted = [scope for scope in call.key.scope_list if scope != SANDBOX_SCOPE]
    wanted = body.scopes if body.scopes is not None else granted
    beyond = [scope for scope in wanted if scope not in call.key.scopes]
    if beyond:  # a key cannot mint a key stronger than itself
        raise InsufficientScope(
            f"This key cannot grant scopes it does not have: {', '.join(beyond)}",
            details={"scopes": f"not held by this key: {', '.join(beyond)}"},
        )
    key = call.sandbox.accounts.create_key(account, body.name, wanted)
    account.audit.record(
        "key.created", key.key_id, key.masked, call.ctx.ensure_request_id(), account.now()
    )
    created = KeyCreated(
        key_id=key.key_id,
        name=key.name,
        key=key.secret,
        masked=key.masked,
        scopes=key_out(key).scopes,
        created_at=iso(key.created_at),
    )
    return json_response(created, 201)


async def revoke_key(call: Call) -> Response:
    account = call.account
    key = account.keys.get(call.param("key_id"))
    if key is None:
        raise NotFound("Key not found", code="KEY_NOT_FOUND")
    # A key cannot revoke a key stronger than itself in the API. `sandbox` is the sandbox's own
    # and not counted, so the guide's rotation (a new key revokes the starting one) works.
    beyond = [
        scope for scope in key.scope_list if scope not in call.key.scopes and scope != SANDBOX_SCOPE
    ]
    if beyond:
        raise InsufficientScope(
            f"This key cannot revoke a key with scopes it does not have: {', '.join(beyond)}",
            details={"key_id": f"holds scopes this key lacks: {', '.join(beyond)}"},
        )
    if key.revoked_at is None:
        key.revoked_at = account.now()
        account.audit.record(
            "key.revoked", key.key_id, key.masked, call.ctx.ensure_request_id(), key.revoked_at
        )
    return json_response(key_out(key))


async def audit(call: Call) -> Response:
    query = call.query(SortQuery)
    entries = list(call.account.audit.items)
    if query.sort == "-created_at":
        entries.reverse()
    items, block = paginate(entries, query.page, query.limit)
    return json_response(
        Page[AuditEntry](
            items=[
                AuditEntry.model_validate({k: v for k, v in e.items() if k != "_at"}) for e in items
            ],
            pagination=block,
        )
    )


OPERATIONS = (
    Operation(
        "GET",
        "/keys",
        list_keys,
        "List API keys (masked)",
        "Keys",
        "listKeys",
        scope="keys:read",
        query_model=SortQuery,
        responses={200: (Page[KeyOut], "One page of keys")},
        errors=(400, 401, 403, 429),
    ),
    Operation(
        "POST",
        "/keys",
        create_key,
        "Create an API key",
        "Keys",
        "createKey",
        scope="keys:write",
        request_model=KeyCreate,
        responses={201: (KeyCreated, "Created; the full key is shown only now")},
        errors=(400, 401, 403, 413, 429),
    ),
    Operation(
        "DELETE",
        "/keys/{key_id}",
        revoke_key,
        "Revoke an API key",
        "Keys",
        "revokeKey",
        scope="keys:write",
        responses={200: (KeyOut, "The revoked key")},
        errors=(401, 403, 404, 429),
    ),
    Operation(
        "GET",
        "/audit/keys",
        audit,
        "Key audit log",
        "Keys",
        "auditKeys",
        scope="keys:read",
        query_model=SortQuery,
        responses={200: (Page[AuditEntry], "One page of key events")},
        errors=(400, 401, 403, 429),
    ),
)
