"""The rules a job's fields follow wherever they come in: an API body (a submission, a batch,
an update), a state document, a fixture file. Each is a field type that carries its check and
the JSON Schema that says exactly what it accepts.

Checks against the catalogue (languages, music styles, presets) read it from the validation
context (`{"catalog": ..., "presets": ...}`); without one (a fixture file checked before the
catalogue is whole) they are left to the import that follows.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from pydantic import AfterValidator, Field, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from .jobs import JobInput
from .schema import CATALOG_ENUM, StrictModel
from .urls import HttpUrl

MAX_METADATA_KEYS = 20
MAX_VOICE_TEXT = 5000
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"  # an id that can stand in a URL path as it is


def _context(info: ValidationInfo, name: str) -> Any:
    return (info.context or {}).get(name)


def _check_language(value: str, info: ValidationInfo) -> str:
    catalog = _context(info, "catalog")
    if catalog is not None and value not in catalog.languages:
        raise PydanticCustomError("language", "Must be 2-letter code (e.g., 'en', 'fr')")
    return sys.intern(value)  # one shared copy of each catalogue value


def _check_style(value: str, info: ValidationInfo) -> str:
    catalog = _context(info, "catalog")
    if catalog is not None and value not in catalog.style_ids:
        raise PydanticCustomError("style", "Invalid style: '{style}'", {"style": value})
    return sys.intern(value)


def _check_preset(value: str, info: ValidationInfo) -> str:
    presets = _context(info, "presets")
    if presets is None and _context(info, "catalog") is not None:
        presets = _context(info, "catalog").preset_ids
    if presets is not None and value not in presets:
        raise PydanticCustomError(
            "preset", "Unknown preset: '{preset}' (see GET /presets)", {"preset": value}
        )
    return sys.intern(value)


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_KEYS:
        raise PydanticCustomError("metadata", "At most 20 keys")
    for key, item in value.items():
        if not 1 <= len(key) <= 40:
            raise PydanticCustomError(
                "metadata", "Keys must be 1-40 characters: '{key}'", {"key": key[:60]}
            )
        if len(item) > 500:
            raise PydanticCustomError(
                "metadata", "Values must be at most 500 characters (key '{key}')", {"key": key}
            )
    return {sys.intern(key): item for key, item in value.items()}


Language = Annotated[str, AfterValidator(_check_language)]
MusicStyleId = Annotated[str, AfterValidator(_check_style)]
PresetId = Annotated[str, AfterValidator(_check_preset)]
VoiceText = Annotated[str, Field(max_length=MAX_VOICE_TEXT)]
Metadata = Annotated[
    dict[str, str],
    AfterValidator(_check_metadata),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_METADATA_KEYS,
            "propertyNames": {"minLength": 1, "maxLength": 40},
            "additionalProperties": {"type": "string", "maxLength": 500},
        }
    ),
]


class JobInputFields(StrictModel):
    """A job's input after its video, each field with its rule: what a submission, a batch
    item and a state document's job share. `JobInput` holds the same names, in this order."""

    voice_text: VoiceText | None = Field(default=None, examples=["Hello world"])
    # The catalogue is data: the served document lists its values (see api/openapi.py).
    voice_language: Language | None = Field(
        default=None,
        description="ISO 639-1 code",
        examples=["en"],
        json_schema_extra={CATALOG_ENUM: "languages"},
    )
    music_style: MusicStyleId | None = Field(
        default=None,
        description="A style from the catalogue",
        examples=["orchestral"],
        json_schema_extra={CATALOG_ENUM: "music_styles"},
    )
    preset: PresetId | None = Field(
        default=None,
        description="A preset id from GET /presets",
        examples=["brand_campaign"],
        json_schema_extra={CATALOG_ENUM: "presets"},
    )
    callback_url: HttpUrl | None = Field(
        default=None,
        description="Also receives this job's webhook events",
        examples=["https://yourserver.com/callback"],
    )

    def job_input(self, video_url: str) -> JobInput:
        """The core's record of these fields with the video they go with."""
        return JobInput(video_url, *(getattr(self, name) for name in INPUT_FIELDS))


INPUT_FIELDS = JobInput._fields[1:]  # all but video_url, which each body names its own way
assert tuple(JobInputFields.model_fields) == INPUT_FIELDS
