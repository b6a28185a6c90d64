"""Request validation before a route runs: its path parameters, query and JSON body against the JSON Schemas of
its row, by validators generated from those schemas (service/validators/, written by `make docs` with
fastjsonschema; synth refuses a stale one). Standard library only, and a route without a schema imports nothing.

A refusal is a 400 that names the failing location and the rule, from the schema, never the value: the answer
goes to the client, and nothing of the request is logged.
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # typing only when checked: its import would cost every cold start (service/routing.py)
if TYPE_CHECKING:
    from typing import Any

    from service.routing import Request, Route

LOCATIONS = ("path_parameters", "query", "body")
# How a validator names where a value is: data.items[0].qty (fastjsonschema's own path notation).
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
MAX_NAMED_CHARS = 64  # a property name the client sent, quoted in the answer, is capped like a logged field


class JsonSchemaValueException(ValueError):  # noqa: N818 - the name generated code imports
    """What a generated validator raises (fastjsonschema's exception, by the same name and arguments)."""

    def __init__(
        self, message: str, value: Any = None, name: str | None = None, definition: Any = None, rule: str | None = None
    ) -> None:
        super().__init__(message)
        self.value = value
        self.name = name or "data"
        self.definition = definition if isinstance(definition, dict) else {}
        self.rule = rule or ""


class Decimal:
    """What the generated validators test numbers against besides int and float: never an instance, since the
    body's decoder makes none (decimal's import would cost every cold start about 5 ms)."""


class JsonSchemaValuesException(ValueError):  # noqa: N818 - the name generated code imports
    """Raised only by validators generated without fast-fail; imported by every generated module."""


def pointer(name: str) -> str:
    """A validator's `data.items[0].qty` as a JSON Pointer, `/items/0/qty` (RFC 6901 escapes)."""
    steps = [key or index for key, index in _STEP.findall(name.removeprefix("data"))]
    return "".join("/" + step.replace("~", "~0").replace("/", "~1") for step in steps)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _named(keys: Any) -> str:
    return ", ".join(sorted(str(key)[:MAX_NAMED_CHARS] for key in keys))


_SAID = {
    "minimum": "must be ≥ {limit}",
    "maximum": "must be ≤ {limit}",
    "exclusiveMinimum": "must be > {limit}",
    "exclusiveMaximum": "must be < {limit}",
    "multipleOf": "must be a multiple of {limit}",
    "minLength": "must be at least {limit} characters",
    "maxLength": "must be at most {limit} characters",
    "pattern": "must match {limit}",
    "format": "must be a valid {limit}",
    "minItems": "must have at least {limit} items",
    "maxItems": "must have at most {limit} items",
    "uniqueItems": "must not repeat an item",
    "minProperties": "must have at least {limit} properties",
    "maxProperties": "must have at most {limit} properties",
    "const": "must be {limit}",
    "contains": "must contain an item that matches its schema",
    "propertyNames": "has a property name its schema does not allow",
}


def rule_message(failure: JsonSchemaValueException) -> str:
    """What the value must be, said from the schema's rule (never the value, which may be anything)."""
    rule, definition = failure.rule, failure.definition
    limit = definition.get(rule)
    if rule in _SAID:
        return _SAID[rule].format(limit=_shown(limit))
    if rule == "enum" and isinstance(limit, list):
        return f"must be one of {', '.join(_shown(v) for v in limit)}"
    if rule == "type":
        types = limit if isinstance(limit, list) else [limit]
        return f"must be {' or '.join(str(t) for t in types)}"
    return f"does not match its schema ({rule or 'schema'})"


def refusal(failure: JsonSchemaValueException, location: str) -> str:
    """The one line a client gets: where (a JSON Pointer into the body, or the parameter) and what is wrong."""
    where = pointer(failure.name)
    value = failure.value if isinstance(failure.value, dict) else {}
    if failure.rule == "required":
        missing = [key for key in failure.definition.get("required", ()) if key not in value]
        steps = [f"{where}/{key}" for key in missing] if location == "body" else missing
        return f"{_where(location, ', '.join(steps))}: is required"
    if failure.rule == "additionalProperties":
        allowed = failure.definition.get("properties", {})
        extra = [key for key in value if key not in allowed]
        steps = [f"{where}/{str(key)[:MAX_NAMED_CHARS]}" for key in extra] if location == "body" else [_named(extra)]
        return f"{_where(location, ', '.join(sorted(steps)))}: is not allowed"
    return f"{_where(location, where if location == 'body' else where.lstrip('/'))}: {rule_message(failure)}"


def _where(location: str, steps: str) -> str:
    if location == "body":
        return steps or "body"
    kind = "path parameter" if location == "path_parameters" else "query parameter"
    return f"{kind} {steps}" if steps else f"{kind}s"


def validator(route: Route, location: str) -> Any:
    """The generated `validate` of one of `route`'s schemas, imported at its first use."""
    from service.validators import MODULES  # a route without a schema never imports the package

    module = MODULES.get(f"{route.key} {location}")
    if module is None:  # synth refuses a stale package; only a table edited without `make docs` gets here
        raise LookupError(f"service/validators has no validator for {route.key} {location}: run `make docs`")
    return __import__(f"service.validators.{module}", fromlist=["validate"]).validate


def validate(route: Route, request: Request) -> str | None:
    """What is wrong with a request that does not match `route`'s schemas (path, then query, then body), in one
    line for a 400; None when it matches. A body that is not JSON raises HttpError from request.json()."""
    for location in LOCATIONS:
        if getattr(route, location) is None:
            continue
        if location == "body":
            data: Any = request.json()
        else:
            data = request.path_parameters if location == "path_parameters" else request.query
        try:
            validator(route, location)(data)
        except RecursionError:  # only a recursive schema descends as deep as the document does
            return "body is nested too deeply"
        except ValueError as failure:  # JsonSchemaValueException, by its attributes (the class of any import)
            if not hasattr(failure, "rule"):
                raise
            return refusal(failure, location)  # type: ignore[arg-type]
    return None
