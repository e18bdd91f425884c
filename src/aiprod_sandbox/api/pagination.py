"""The guide's pagination: `page`, `limit`, `sort` in the query, the `pagination` block out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
DEFAULT_LIMIT = 10
MAX_LIMIT = 100


class Pagination(BaseModel):
    page: int = Field(ge=1, examples=[1])
    limit: int = Field(ge=1, le=MAX_LIMIT, examples=[10])
    total: int = Field(ge=0, examples=[145])
    pages: int = Field(ge=0, examples=[15])
    has_next: bool
    has_previous: bool


class PageQuery(BaseModel):
    """`page` ≥ 1 and `limit` 1–100; each resource adds its own `sort` choices."""

    model_config = ConfigDict(extra="ignore")

    page: int = Field(default=1, ge=1, description="Page number, from 1")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Items per page")


def paginate(items: Sequence[T], page: int, limit: int) -> tuple[list[T], Pagination]:
    """The items of one page and the block describing it; a page past the end is empty."""
    total = len(items)
    pages = -(-total // limit)
    start = (page - 1) * limit
    block = Pagination(
        page=page,
        limit=limit,
        total=total,
        pages=pages,
        has_next=page < pages,
        has_previous=page > 1,
    )
    return list(items[start : start + limit]), block


class Page(BaseModel, Generic[T]):
    items: list[T]
    pagination: Pagination
