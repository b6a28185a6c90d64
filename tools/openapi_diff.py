"""What a change to docs/openapi.json breaks for the API's clients: `python -m tools.openapi_diff BASE HEAD`.

CI runs it on every pull request against the base branch's document (.github/workflows/ci.yml). A client
written against BASE breaks when HEAD removes an operation or an answer it reads, stops returning a field it
reads, refuses a request BASE accepted (a new required field or parameter, a tighter bound, fewer allowed values,
no extra properties, another type), or asks for more authorization. Each such difference is one line; additions
and loosenings are not listed. Exit 1 when there is any (CONTRIBUTING.md says what to do), 2 on bad input.
Standard library only, so CI runs it with any Python.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# A bound that a larger value loosens (min*) or tightens (max*), by keyword.
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    types = set(kind) if isinstance(kind, list) else {kind}
    return types | {"integer"} if "number" in types else types


def _schema_of(value: Any) -> Any:
    """A schema as a dict: `true` (anything) is `{}`; `false` (nothing) stays False."""
    return {} if value is True else value


def request_tightened(old: Any, new: Any, where: str) -> Iterator[str]:
    """Where `new` refuses a value `old` accepted (a request schema, compared keyword by keyword)."""
    old, new = _schema_of(old), _schema_of(new)
    if not isinstance(old, dict) or not isinstance(new, dict):
        if old is not False and new is False:
            yield f"{where}: now refused"
        return
    old_types, new_types = _types(old), _types(new)
    if new_types is not None and (old_types is None or not old_types <= new_types):
        yield f"{where}: type {sorted(old_types or {'any'})} became {sorted(new_types)}"
    for key in LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            yield f"{where}: {key} {old.get(key, 'none')} became {new[key]}"
    for key in UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            yield f"{where}: {key} {old.get(key, 'none')} became {new[key]}"
    for key in ("pattern", "const", "format", "multipleOf"):
        if key in new and new.get(key) != old.get(key):
            yield f"{where}: {key} {repr(old[key]) if key in old else 'none'} became {new[key]!r}"
    if "enum" in new:
        dropped = [value for value in old.get("enum", ()) if value not in new["enum"]]
        if "enum" not in old or dropped:
            yield f"{where}: enum no longer allows {dropped or 'values outside ' + json.dumps(new['enum'])}"
    if old.get("uniqueItems") is not True and new.get("uniqueItems") is True:
        yield f"{where}: items must now be unique"
    for name in sorted(set(new.get("required", ())) - set(old.get("required", ()))):
        yield f"{where}/{name}: now required"
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    if old.get("additionalProperties", True) is not False and new.get("additionalProperties", True) is False:
        yield f"{where}: properties beyond {sorted(new_props)} are now refused"
    elif new.get("additionalProperties", True) is False:
        for name in sorted(set(old_props) - set(new_props)):
            yield f"{where}/{name}: no longer accepted"
    for name in sorted(set(old_props) & set(new_props)):
        yield from request_tightened(old_props[name], new_props[name], f"{where}/{name}")
    if "items" in old or "items" in new:
        yield from request_tightened(old.get("items", {}), new.get("items", {}), f"{where}/items")


def answer_loosened(old: Any, new: Any, where: str) -> Iterator[str]:
    """Where a client reading an answer that matched `old` may now find less: a field gone or no longer sure."""
    old, new = _schema_of(old), _schema_of(new)
    if not isinstance(old, dict) or not isinstance(new, dict):  # False: nothing was or will be answered
        return
    old_types, new_types = _types(old), _types(new)
    if old_types is not None and (new_types is None or not new_types <= old_types):
        yield f"{where}: type {sorted(old_types)} became {sorted(new_types or {'any'})}"
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    gone = (set(old_props) | set(old.get("required", ()))) - set(new_props) - set(new.get("required", ()))
    unsure = (set(old.get("required", ())) - set(new.get("required", ()))) - gone
    for name in sorted(gone | unsure):
        yield f"{where}/{name}: {'removed' if name in gone else 'no longer always present'}"
    for name in sorted(set(old_props) & set(new_props)):
        yield from answer_loosened(old_props[name], new_props[name], f"{where}/{name}")
    if "items" in old and "items" in new:
        yield from answer_loosened(old["items"], new["items"], f"{where}/items")


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if method in METHODS
    }


def _schema(content: Any) -> Any:
    return ((content or {}).get("application/json") or {}).get("schema", {})


def _security(operation: dict[str, Any], document: dict[str, Any]) -> list[dict[str, list[str]]]:
    found: list[dict[str, list[str]]] = operation.get("security", document.get("security", []))
    return found


def breaking(base: dict[str, Any], head: dict[str, Any]) -> list[str]:
    """Every difference from `base` to `head` that breaks a client of `base`, one line each."""
    found: list[str] = []
    old_ops, new_ops = _operations(base), _operations(head)
    for key in sorted(old_ops):
        if key not in new_ops:
            found.append(f"{key}: operation removed")
            continue
        old, new = old_ops[key], new_ops[key]
        found += _authorization(key, _security(old, base), _security(new, head))
        found += _parameters(key, _by_name(old), _by_name(new))
        old_body, new_body = old.get("requestBody"), new.get("requestBody")
        if new_body is not None and new_body.get("required") and (old_body is None or not old_body.get("required")):
            found.append(f"{key}: a request body is now required")
        if old_body is not None and new_body is not None:
            found += request_tightened(
                _schema(old_body.get("content")), _schema(new_body.get("content")), f"{key} body"
            )
        for status, answer in sorted(old.get("responses", {}).items()):
            if not status.startswith("2"):
                continue
            if status not in new.get("responses", {}):
                found.append(f"{key}: answer {status} removed")
                continue
            new_answer = new["responses"][status]
            found += answer_loosened(
                _schema(answer.get("content")), _schema(new_answer.get("content")), f"{key} answer {status}"
            )
    return found


def _by_name(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(p.get("in", ""), p.get("name", "")): p for p in operation.get("parameters", ())}


def _parameters(key: str, old: dict[Any, Any], new: dict[Any, Any]) -> Iterator[str]:
    for (where, name), param in sorted(new.items()):
        label = f"{key} {where} parameter {name}"
        before = old.get((where, name))
        if param.get("required") and (before is None or not before.get("required")):
            yield f"{label}: now required"
        if before is not None:
            yield from request_tightened(before.get("schema", {}), param.get("schema", {}), label)


def _authorization(key: str, old: list[dict[str, list[str]]], new: list[dict[str, list[str]]]) -> Iterator[str]:
    """More authorization than before: public became protected, a scheme changed, a scope stopped sufficing."""
    old_schemes = {name: set(scopes) for requirement in old for name, scopes in requirement.items()}
    new_schemes = {name: set(scopes) for requirement in new for name, scopes in requirement.items()}
    if not old_schemes and new_schemes:
        yield f"{key}: was public, now needs {', '.join(sorted(new_schemes))}"
    for name, scopes in sorted(old_schemes.items()):
        if new_schemes and name not in new_schemes:
            yield f"{key}: {name} callers are no longer accepted ({', '.join(sorted(new_schemes))} instead)"
        elif name in new_schemes and scopes - new_schemes[name]:
            yield f"{key}: scope {', '.join(sorted(scopes - new_schemes[name]))} no longer suffices"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("base", type=Path, help="the document clients were written against (the base branch's)")
    parser.add_argument("head", type=Path, help="the document as changed")
    args = parser.parse_args(argv)
    documents = []
    for path in (args.base, args.head):
        try:
            documents.append(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            print(f"openapi_diff: {path} is not a readable JSON document ({error})", file=sys.stderr)
            return 2
    found = breaking(*documents)
    for line in found:
        print(line)
    print(f"{len(found)} breaking change(s) for clients of {args.base}" if found else "no breaking change")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
