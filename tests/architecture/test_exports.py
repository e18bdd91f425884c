"""Every name the packages export lazily resolves: a moved module cannot leave a name behind
that fails only when a partner first asks for it."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["aiprod_sandbox", "aiprod_sandbox.testing"])
def test_every_exported_name_loads(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018
