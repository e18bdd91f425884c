"""Fixtures of the core unit tests: a fake wall clock and the shipped catalogue."""

from __future__ import annotations

import pytest

from aiprod_sandbox.core.catalog import Catalog, load_catalog
from tests.core.fakes import FakeWall


@pytest.fixture
def wall() -> FakeWall:
    return FakeWall()


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()
