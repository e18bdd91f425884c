"""Presets: `GET /presets`, paginated, cacheable (`ETag`, `Cache-Control`, 304)."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field
from starlette.responses import Response

from ..core.catalog import Preset
from .operation import Call, Operation
from .pagination import Page, PageQuery, paginate
from .responses import JSON_TYPE

CACHE_CONTROL = "max-age=3600"


class PresetOut(BaseModel):
    id: str = Field(examples=["brand_campaign"])
    name: str = Field(examples=["Brand campaign"])
    description: str
    music_style: str = Field(examples=["orchestral"])
    resolution: str = Field(examples=["1920x1080"])
    estimated_duration_seconds: int = Field(examples=[240])
    cost_per_minute: float = Field(examples=[0.5])
    created_at: str = Field(examples=["2026-01-05T09:00:00Z"])


class PresetListQuery(PageQuery):
    sort: Literal["created_at", "-created_at"] = "-created_at"


def _out(preset: Preset) -> PresetOut:
    return PresetOut(
        id=preset.id,
        name=preset.name,
        description=preset.description,
        music_style=preset.music_style,
        resolution=preset.resolution,
        estimated_duration_seconds=preset.base_duration_seconds,
        cost_per_minute=preset.cost_per_minute,
        created_at=preset.created_at,
    )


def _matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in candidates or etag in candidates


async def list_presets(call: Call) -> Response:
    query = call.query(PresetListQuery)
    presets = sorted(
        call.account.preset_list,
        key=lambda p: p.created_at,
        reverse=query.sort == "-created_at",
    )
    items, block = paginate(presets, query.page, query.limit)
    body = Page[PresetOut](items=[_out(p) for p in items], pagination=block).model_dump_json()
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(call.request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body.encode(), 200, headers, media_type=JSON_TYPE)


OPERATIONS = (
    Operation(
        "GET",
        "/presets",
        list_presets,
        "List presets",
        "Presets",
        "listPresets",
        scope="jobs:read",
        query_model=PresetListQuery,
        responses={
            200: (Page[PresetOut], "One page of presets"),
            304: (None, "Not modified (If-None-Match matched the ETag)"),
        },
        errors=(400, 401, 403, 429),
        response_headers={"ETag": "Entity tag of this page", "Cache-Control": "max-age=3600"},
    ),
)
