"""The formats a JSON Schema names: what the tests walk to prove no IRI format is ever asked for where jsonschema
runs without its IRI grammar (prod_serverless/schemas.py's without_iri_grammar)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def formats_named(schema: Any) -> Iterator[str]:
    """Every `format` a schema names, at any depth."""
    if isinstance(schema, dict):
        if isinstance(schema.get("format"), str):
            yield schema["format"]
        for value in schema.values():
            yield from formats_named(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from formats_named(value)
