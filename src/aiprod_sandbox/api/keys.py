"""API keys: list, create, revoke; and the key audit log (`GET /audit/keys`).

The full key is shown once, in the 201 of `POST /keys`. Rotation, as the guide recommends:
create a new key, switch your application to it, revoke the old one.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from ..core import keyring
from ..core.clock import iso, iso_or_none
from ..core.keys import SCOPES, ApiKey, ScopeList
from ..core.schema import StrictModel
from ..core.usage import AuditEvent
from .operation import Call, Operation
from .pagination import Page, PageQuery, paginate
from .responses import json_response


class KeyCreate(StrictModel):
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
    model_config = ConfigDict(from_attributes=True)  # read from a core AuditRecord

    event_id: str
    event: AuditEvent
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
    key = keyring.mint(
        call.sandbox.accounts,
        call.account,
        call.key,
        body.name,
        body.scopes,
        call.ctx.ensure_request_id(),
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
    key = keyring.revoke(call.account, call.key, call.param("key_id"), call.ctx.ensure_request_id())
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
                AuditEntry.model_validate(e)  # a core AuditRecord, read by field name
                for e in items
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
