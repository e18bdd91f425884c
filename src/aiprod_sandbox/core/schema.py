"""The base of every model that reads outside input, and the marks the core's models carry
into their JSON Schema, for the published documents.

The OpenAPI builder (`api/openapi.py`) reads the marks; the models stay free of HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

CATALOG_ENUM = "x-aiprod-catalog"  # a field whose values come from the loaded catalogue


class StrictModel(BaseModel):
    """A request body, a state document, a fixture or scenario file: no field it does not
    know, and no coercion (5 is a number, "5" is not)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class FrozenModel(StrictModel):
    """A fixture or scenario file's contents: loaded once, shared by every account."""

    model_config = ConfigDict(frozen=True)


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


def known_names(kind: str, known: Sequence[str]) -> AfterValidator:
    """For a list of names that must each be one of `known` (scopes, events): repeats are
    dropped, an unknown one is refused naming the known ones. Pair it with `names_schema`."""

    def check(value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if name not in known:
                raise PydanticCustomError(
                    kind,
                    "Unknown {kind} '{name}' ({kind}s[{index}]); one of: {known}",
                    {"kind": kind, "name": name, "index": index, "known": ", ".join(known)},
                )
        return list(dict.fromkeys(value))

    return AfterValidator(check)


def names_schema(known: Sequence[str], *, min_items: int = 0) -> WithJsonSchema:
    """The JSON Schema of such a list: what `known_names` accepts, no more."""
    schema: JsonDict = {"type": "array", "items": {"enum": list(known)}}
    if min_items:
        schema["minItems"] = min_items
    return WithJsonSchema(schema)
