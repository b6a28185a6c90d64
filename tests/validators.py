"""The function's validators for a table that is not service/routes.py's: generated as `make docs` would and
imported in place of service/validators/ for one test (so a test's own routes validate as deployed ones do)."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Sequence

import pytest

from prod_serverless import schemas
from service.routing import Route


def use_validators(routes: Sequence[Route], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Generate `routes`' validators and import them as service.validators' modules; the generated files."""
    files = schemas.generated(routes)
    for name, text in files.items():
        if name == "__init__.py":
            continue
        module = types.ModuleType(f"service.validators.{name.removesuffix('.py')}")
        exec(compile(text, f"service/validators/{name}", "exec"), module.__dict__)
        monkeypatch.setitem(sys.modules, module.__name__, module)
    index: dict[str, object] = {}
    exec(files["__init__.py"], index)
    # The package as imported now: make serve's reloads import service/ afresh, so not a module bound at import.
    monkeypatch.setattr(importlib.import_module("service.validators"), "MODULES", index["MODULES"])
    return files
