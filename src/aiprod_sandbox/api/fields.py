"""Field types and schema marks shared by more than one resource's request models.

Each carries the JSON Schema that says exactly what its validator accepts, so the OpenAPI
document promises no more and no less than the server does. They are defined in the core,
next to the rules they state, and gathered here for the resource modules.
"""

from __future__ import annotations

from ..core.schema import CATALOG_ENUM, exactly_one_of
from ..core.urls import HttpUrl

__all__ = ["CATALOG_ENUM", "HttpUrl", "exactly_one_of"]
