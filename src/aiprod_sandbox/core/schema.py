"""Marks the core's models carry into their JSON Schema, for the published documents.

The OpenAPI builder (`api/openapi.py`) reads them; the models stay free of HTTP.
"""

from __future__ import annotations

from pydantic.config import JsonDict

CATALOG_ENUM = "x-aiprod-catalog"  # a field whose values come from the loaded catalogue


def exactly_one_of(first: str, second: str) -> JsonDict:
    """JSON Schema for "give `first` or `second`, not both, not neither" (null = not given)."""
    return {
        "oneOf": [
            {
                "required": [first],
                "properties": {first: {"not": {"type": "null"}}, second: {"type": "null"}},
            },
            {
                "required": [second],
                "properties": {second: {"not": {"type": "null"}}, first: {"type": "null"}},
            },
        ]
    }
