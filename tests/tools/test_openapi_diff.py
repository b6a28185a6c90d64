"""The breaking-change check: each change a client of the base document would break on is one line, each tested
by changing one thing; additions and loosenings pass."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.changes import changed
from tools import openapi_diff

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/items/{id}": {
            "put": {
                "security": [{"jwt": ["items:write", "items:admin"]}],
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 8}},
                    {"name": "dry", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "qty": {"type": "integer", "minimum": 1, "maximum": 99},
                                    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                                    "note": {"type": "string"},
                                },
                                "required": ["qty"],
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"id": {"type": "string"}, "qty": {"type": "integer"}},
                                    "required": ["id", "qty"],
                                }
                            }
                        },
                    },
                    "429": {"$ref": "#/components/responses/429"},
                },
            }
        },
        "/": {"get": {"security": [], "responses": {"200": {"description": "OK"}}}},
    },
}
PUT = ("paths", "/items/{id}", "put")
BODY = (*PUT, "requestBody", "content", "application/json", "schema")
ANSWER = (*PUT, "responses", "200", "content", "application/json", "schema")


def _changed(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = changed(BASE, path, value, delete=delete)
    return result


def test_the_same_document_breaks_nothing() -> None:
    assert openapi_diff.breaking(BASE, copy.deepcopy(BASE)) == []


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_changed(("paths", "/"), delete=True), "GET /: operation removed"),
        (_changed((*PUT, "responses", "200"), delete=True), "PUT /items/{id}: answer 200 removed"),
        (_changed((*ANSWER, "required"), ["id"]), "PUT /items/{id} answer 200/qty: no longer always present"),
        (
            _changed(ANSWER, {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}),
            "PUT /items/{id} answer 200/qty: removed",
        ),
        (
            _changed((*ANSWER, "properties", "qty", "type"), "string"),
            "answer 200/qty: type ['integer'] became ['string']",
        ),
        (_changed((*BODY, "required"), ["qty", "note"]), "PUT /items/{id} body/note: now required"),
        (_changed((*BODY, "properties", "qty", "maximum"), 50), "PUT /items/{id} body/qty: maximum 99 became 50"),
        (_changed((*BODY, "properties", "qty", "minimum"), 2), "PUT /items/{id} body/qty: minimum 1 became 2"),
        (_changed((*BODY, "properties", "note", "maxLength"), 10), "body/note: maxLength none became 10"),
        (_changed((*BODY, "properties", "note", "pattern"), "^a"), "body/note: pattern none became '^a'"),
        (_changed((*BODY, "properties", "qty", "type"), "string"), "body/qty: type ['integer'] became ['string']"),
        (
            _changed((*BODY, "properties", "tags", "items", "enum"), ["a"]),
            "body/tags/items: enum no longer allows ['b']",
        ),
        (
            _changed((*BODY, "additionalProperties"), False),
            "body: properties beyond ['note', 'qty', 'tags'] are now refused",
        ),
        (_changed((*PUT, "parameters", 1, "required"), True), "PUT /items/{id} query parameter dry: now required"),
        (_changed((*PUT, "parameters", 0, "schema", "maxLength"), 4), "path parameter id: maxLength 8 became 4"),
        (
            _changed((*PUT, "security"), [{"jwt": ["items:write"]}]),
            "PUT /items/{id}: scope items:admin no longer suffices",
        ),
        (
            _changed((*PUT, "security"), [{"iam": []}]),
            "PUT /items/{id}: jwt callers are no longer accepted (iam instead)",
        ),
        (_changed(("paths", "/", "get", "security"), [{"jwt": ["x"]}]), "GET /: was public, now needs jwt"),
    ],
)
def test_each_breaking_change_is_one_line(head: dict[str, Any], expected: str) -> None:
    (found,) = openapi_diff.breaking(BASE, head)
    assert found.endswith(expected)
    assert found.startswith(("GET /", "PUT /items/{id}"))


@pytest.mark.parametrize(
    "head",
    [
        _changed(("paths", "/new"), {"get": {"responses": {}}}),
        _changed((*BODY, "properties", "qty", "maximum"), 500),
        _changed((*BODY, "properties", "qty", "minimum"), 0),
        _changed((*BODY, "required"), []),
        _changed((*BODY, "properties", "qty", "type"), "number"),
        _changed((*ANSWER, "properties", "extra"), {"type": "string"}),
        _changed((*PUT, "security"), [{"jwt": ["items:write", "items:admin", "items:all"]}]),
        _changed(("paths", "/", "get", "responses", "201"), {"description": "Created"}),
    ],
)
def test_additions_and_loosenings_break_nothing(head: dict[str, Any]) -> None:
    assert openapi_diff.breaking(BASE, head) == []


def test_the_command_lists_the_changes_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps(BASE))
    head.write_text(json.dumps(_changed(("paths", "/"), delete=True)))
    assert openapi_diff.main([str(base), str(head)]) == 1
    assert capsys.readouterr().out == f"GET /: operation removed\n1 breaking change(s) for clients of {base}\n"
    assert openapi_diff.main([str(base), str(base)]) == 0
    assert capsys.readouterr().out == "no breaking change\n"


def test_a_document_that_is_not_json_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.json").write_text("{")
    assert openapi_diff.main([str(tmp_path / "bad.json"), str(DOCUMENT)]) == 2
    assert capsys.readouterr().err.startswith(f"openapi_diff: {tmp_path / 'bad.json'} is not a readable JSON document")


def test_the_commands_help_says_what_it_compares(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        openapi_diff.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "What a change to docs/openapi.json breaks for the API's clients" in text
    assert "base the document clients were written against (the base branch's)" in text
    assert "head the document as changed" in text


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_changed((*BODY, "properties", "note", "const"), "x"), "PUT /items/{id} body/note: const none became 'x'"),
        (
            _changed((*BODY, "properties", "note", "format"), "email"),
            "PUT /items/{id} body/note: format none became 'email'",
        ),
        (_changed((*BODY, "properties", "qty", "multipleOf"), 5), "PUT /items/{id} body/qty: multipleOf none became 5"),
        (
            _changed((*BODY, "properties", "tags", "uniqueItems"), True),
            "PUT /items/{id} body/tags: items must now be unique",
        ),
        (
            _changed((*BODY, "properties", "note", "enum"), ["a"]),
            'PUT /items/{id} body/note: enum no longer allows values outside ["a"]',
        ),
        (
            _changed((*PUT, "security"), [{"jwt": ["items:write", "items:admin"]}, {"iam": []}, {"key": []}]),
            None,
        ),
    ],
)
def test_each_tightened_keyword_is_named_exactly(head: dict[str, Any], expected: str | None) -> None:
    assert openapi_diff.breaking(BASE, head) == ([expected] if expected else [])


def test_a_body_that_becomes_required_or_appears_optional() -> None:
    optional = _changed((*PUT, "requestBody", "required"), False)
    assert openapi_diff.breaking(optional, BASE) == ["PUT /items/{id}: a request body is now required"]
    bodiless = _changed((*PUT, "requestBody"), delete=True)
    assert openapi_diff.breaking(bodiless, optional) == []
    untyped = _changed((*BODY,), {"required": []})
    assert openapi_diff.breaking(_changed((*PUT, "requestBody", "content", "application/json"), {}), untyped) == []
    typed = _changed((*PUT, "requestBody", "content", "application/json"), {})
    assert openapi_diff.breaking(typed, _changed(BODY, {"type": "object"})) == [
        "PUT /items/{id} body: type ['any'] became ['object']"
    ]


def test_every_removed_operation_and_answer_is_listed() -> None:
    assert openapi_diff.breaking(BASE, {"paths": {}}) == [
        "GET /: operation removed",
        "PUT /items/{id}: operation removed",
    ]
    two = _changed((*PUT, "responses", "201"), {"description": "Created"})
    assert openapi_diff.breaking(two, _changed((*PUT, "responses"), {})) == [
        "PUT /items/{id}: answer 200 removed",
        "PUT /items/{id}: answer 201 removed",
    ]


def test_minimal_documents_compare_without_failing() -> None:
    assert openapi_diff.breaking({}, {}) == []
    bare: dict[str, Any] = {"paths": {"/a": {"get": {}, "parameters": []}}}
    assert openapi_diff.breaking(bare, bare) == []
    unnamed = {"paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "query"}]}}}}
    typed = {"paths": {"/a": {"get": {"parameters": [{"name": "q", "in": "query", "schema": {"type": "string"}}]}}}}
    assert openapi_diff.breaking(unnamed, typed) == ["GET /a query parameter q: type ['any'] became ['string']"]


def test_authorization_is_compared_as_each_operation_inherits_it() -> None:
    inherited = {"security": [{"jwt": ["a", "b", "c"]}], "paths": {"/a": {"get": {}}}}
    fewer = {"security": [{"jwt": ["c"]}], "paths": {"/a": {"get": {}}}}
    assert openapi_diff.breaking(inherited, fewer) == ["GET /a: scope a, b no longer suffices"]
    public: dict[str, Any] = {"paths": {"/a": {"get": {"security": []}}}}
    both: dict[str, Any] = {"paths": {"/a": {"get": {"security": [{"jwt": []}, {"iam": []}]}}}}
    assert openapi_diff.breaking(public, both) == ["GET /a: was public, now needs iam, jwt"]
    keyed: dict[str, Any] = {"paths": {"/a": {"get": {"security": [{"key": []}]}}}}
    assert openapi_diff.breaking(keyed, both) == ["GET /a: key callers are no longer accepted (iam, jwt instead)"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({}, False, ["w: now refused"]),
        (True, False, ["w: now refused"]),
        (False, False, []),
        ({}, True, []),
        ({"type": "string"}, {"type": "string", "minLength": 1}, ["w: minLength none became 1"]),
        ({"pattern": "^a"}, {"pattern": "^b"}, ["w: pattern '^a' became '^b'"]),
        ({"pattern": "^a", "format": "date"}, {"pattern": "^a", "format": "date"}, []),
        ({"uniqueItems": True}, {"uniqueItems": True}, []),
        ({"properties": {"a": {}, "b": {}}}, {"properties": {"a": {}}}, []),
        ({"type": ["string", "null"]}, {"type": "string"}, ["w: type ['null', 'string'] became ['string']"]),
        ({"type": "integer"}, {"type": "number"}, []),
        (
            {"type": "array"},
            {"type": "array", "items": {"type": "string"}},
            ["w/items: type ['any'] became ['string']"],
        ),
        (
            {"type": "object", "properties": {"a": {}, "b": {}}, "additionalProperties": False},
            {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
            ["w/b: no longer accepted"],
        ),
    ],
)
def test_a_request_schema_tightened(old: Any, new: Any, expected: list[str]) -> None:
    assert list(openapi_diff.request_tightened(old, new, "w")) == expected


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ({"type": "string"}, True, ["w: type ['string'] became ['any']"]),
        ({"type": "string"}, {}, ["w: type ['string'] became ['any']"]),
        ({"required": ["a"]}, {}, ["w/a: removed"]),
        (
            {"type": "array", "items": {"type": "object", "properties": {"a": {}}, "required": ["a"]}},
            {"type": "array", "items": {"type": "object"}},
            ["w/items/a: removed"],
        ),
        ({"type": "array"}, {"type": "array", "items": {"type": "string"}}, []),
        ({"type": "array", "items": {}}, {"type": "array"}, []),
        (False, {"type": "string"}, []),
        ({"properties": {"a": {}}}, {"required": ["a"]}, []),
    ],
)
def test_an_answer_schema_loosened(old: Any, new: Any, expected: list[str]) -> None:
    assert list(openapi_diff.answer_loosened(old, new, "w")) == expected


def test_an_answer_is_removed_whatever_comes_before_it_or_is_missing_after() -> None:
    old: dict[str, Any] = {"paths": {"/a": {"get": {"responses": {"101": {}, "200": {"description": "OK"}}}}}}
    assert openapi_diff.breaking(old, {"paths": {"/a": {"get": {}}}}) == ["GET /a: answer 200 removed"]
