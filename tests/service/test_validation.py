"""Request validation before a route runs: each refusal is a 400 naming the location, tested by changing one
thing from a valid request; nothing of the request reaches the log; a route without a schema imports nothing."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

import pytest

from service import handler
from service.routing import Healthy, Request, Route, Router, Sample
from service.validation import JsonSchemaValueException, pointer, refusal, validate
from tests.changes import changed
from tests.conftest import FakeContext, load_event
from tests.validators import use_validators

SECRET = "do-not-log-this-value"
LINE = {
    "type": "object",
    "properties": {"sku": {"type": "string", "pattern": "^[A-Z0-9-]{1,16}$"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["sku", "qty"],
    "additionalProperties": False,
}
ORDER = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 8},
        "lines": {"type": "array", "items": LINE, "minItems": 1, "maxItems": 4},
        "price": {"type": "number", "exclusiveMinimum": 0},
        "note": {},  # anything: the decoder still bounds how deep it may be
    },
    "required": ["name", "lines"],
    "additionalProperties": False,
}
VALID = {"name": "tea", "lines": [{"sku": "T-1", "qty": 2}], "price": 3.5}
QUERY = {
    "type": "object",
    "properties": {"limit": {"type": "string", "pattern": "^[0-9]{1,3}$"}},
    "required": ["limit"],
}
PATH = {"type": "object", "properties": {"id": {"type": "string", "maxLength": 4}}, "required": ["id"]}


def _accept(request: Request) -> tuple[int, dict[str, Any]]:
    return 201, {"name": request.json()["name"]}


ROUTES = (
    Route(
        "POST",
        "/orders/{id}",
        _accept,
        summary="s",
        public="validation tests only",
        body=ORDER,
        query=QUERY,
        path_parameters=PATH,
        healthy=Healthy(201, ("name",)),
        sample=Sample("/orders/a1", body=VALID, query="limit=5"),
    ),
)


@pytest.fixture(autouse=True)
def _validators(monkeypatch: pytest.MonkeyPatch) -> None:
    use_validators(ROUTES, monkeypatch)


def _call(
    body: Any = VALID, *, path: str = "/orders/a1", query: dict[str, str] | None = None, raw: str | None = None
) -> tuple[int, dict[str, Any]]:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"].update(method="POST", path=path)
    event["queryStringParameters"] = {"limit": "5"} if query is None else query
    event["body"] = raw if raw is not None else json.dumps(body)
    answer = handler.handle(Router(ROUTES), event, FakeContext())
    return answer["statusCode"], json.loads(answer["body"])


def _changed(path: tuple[Any, ...], value: Any = None, *, delete: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = changed(VALID, path, value, delete=delete)
    return result


def test_a_valid_request_reaches_the_route() -> None:
    assert _call() == (201, {"name": "tea"})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_changed(("name",), delete=True), "/name: is required"),
        (_changed(("lines", 0, "qty"), delete=True), "/lines/0/qty: is required"),
        (_changed(("name",), 5), "/name: must be string"),
        (_changed(("lines", 0, "qty"), "2"), "/lines/0/qty: must be integer"),
        (_changed(("lines", 0, "qty"), 0), "/lines/0/qty: must be ≥ 1"),
        (_changed(("price",), 0), "/price: must be > 0"),
        (_changed(("extra",), 1), "/extra: is not allowed"),
        (_changed(("lines", 0, "colour"), "red"), "/lines/0/colour: is not allowed"),
        (_changed(("name",), "x" * 9), "/name: must be at most 8 characters"),
        (_changed(("lines", 0, "sku"), "t-1"), "/lines/0/sku: must match ^[A-Z0-9-]{1,16}$"),
        (_changed(("lines",), []), "/lines: must have at least 1 items"),
        ([VALID], "body: must be object"),
    ],
)
def test_a_body_that_breaks_the_schema_is_a_400_naming_the_location(body: Any, message: str) -> None:
    status, answer = _call(body)
    assert (status, answer["message"]) == (400, message)
    assert answer["requestId"] == FakeContext().aws_request_id


@pytest.mark.parametrize("raw", ['{"name":"tea","lines":[],"price":NaN}', '{"price":Infinity}', '{"price":1e400}'])
def test_a_number_that_is_not_finite_is_refused_before_the_schema(raw: str) -> None:
    assert _call(raw=raw) == (
        400,
        {"message": "body holds a number that is not finite", "requestId": FakeContext.aws_request_id},
    )


def test_a_deeply_nested_document_is_refused_fast_without_a_recursion_error() -> None:
    started = time.perf_counter()
    status, answer = _call(raw='{"note":' + "[" * 100_000 + "]" * 100_000 + "}")
    assert (status, answer["message"]) == (400, "body is nested too deeply")
    assert time.perf_counter() - started < 1.0


def test_nesting_within_the_decoders_bound_is_checked_by_the_schema_in_linear_time() -> None:
    body = _changed(("price",), json.loads("[" * 500 + "]" * 500))
    started = time.perf_counter()
    assert _call(body)[1]["message"] == "/price: must be number"
    assert time.perf_counter() - started < 1.0


def test_a_query_parameter_is_checked_by_its_schema() -> None:
    assert _call(query={"limit": "many"})[1]["message"] == "query parameter limit: must match ^[0-9]{1,3}$"
    assert _call(query={})[1]["message"] == "query parameter limit: is required"


def test_a_path_parameter_is_checked_by_its_schema_before_the_body() -> None:
    assert _call({"broken": True}, path="/orders/abcde") == (
        400,
        {"message": "path parameter id: must be at most 4 characters", "requestId": FakeContext.aws_request_id},
    )


def test_a_refused_body_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="service")
    for body in (_changed(("name",), SECRET), _changed((SECRET,), 1), _changed(("lines", 0, "sku"), SECRET)):
        assert _call(body)[0] == 400
    assert caplog.records, "the DEBUG request line is written"
    assert SECRET not in caplog.text


def test_a_route_without_a_schema_imports_no_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith(("service.validation", "service.validators"))]:
        monkeypatch.delitem(sys.modules, name)
    answer = handler.handler(load_event("http_api_get_root.json"), FakeContext())
    assert answer["statusCode"] == 200
    assert not [name for name in sys.modules if name.startswith(("service.validation", "service.validators"))]


def test_a_table_edited_without_make_docs_fails_loudly_not_silently(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.validators.MODULES", {})
    assert _call()[0] == 500


@pytest.mark.parametrize(
    ("name", "expected"), [("data", ""), ("data.a", "/a"), ("data.a[0].b", "/a/0/b"), ("data.x~y/z", "/x~0y~1z")]
)
def test_a_validators_path_is_a_json_pointer(name: str, expected: str) -> None:
    assert pointer(name) == expected


def test_an_unknown_rule_still_names_the_location() -> None:
    failure = JsonSchemaValueException("m", value=1, name="data.a", definition={"oneOf": []}, rule="oneOf")
    assert refusal(failure, "body") == "/a: does not match its schema (oneOf)"


def test_unknown_query_parameters_are_named_when_the_schema_forbids_them(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = {"type": "object", "properties": {"limit": {"type": "string"}}, "additionalProperties": False}
    route = Route(
        "GET", "/q", _accept, summary="s", public="validation tests only", query=closed, healthy=Healthy(200, ())
    )
    use_validators((route,), monkeypatch)
    request = Request(method="GET", path="/q", query={"zz": "1", "x" * 100: "2", "limit": "1"})
    assert validate(route, request) == f"query parameter {'x' * 64}, zz: is not allowed"  # each name capped


@pytest.mark.parametrize(
    ("schema", "value", "message"),
    [
        ({"enum": [1, 2]}, 3, "/v: must be one of 1, 2"),
        ({"enum": ["a", "b"]}, "c", "/v: must be one of a, b"),
        ({"const": "on"}, "off", "/v: must be on"),
        ({"type": ["string", "null"]}, 1, "/v: must be string or null"),
        ({"type": "number", "multipleOf": 5}, 7, "/v: must be a multiple of 5"),
        ({"type": "number", "maximum": 9}, 10, "/v: must be ≤ 9"),
        ({"type": "number", "exclusiveMaximum": 9}, 9, "/v: must be < 9"),
        ({"type": "string", "minLength": 2}, "a", "/v: must be at least 2 characters"),
        ({"type": "string", "format": "email"}, "nobody", "/v: must be a valid email"),
        ({"type": "array", "maxItems": 1}, [1, 2], "/v: must have at most 1 items"),
        ({"type": "array", "uniqueItems": True}, [1, 1], "/v: must not repeat an item"),
        ({"type": "array", "contains": {"const": 1}}, [2], "/v: must contain an item that matches its schema"),
        ({"type": "object", "minProperties": 1}, {}, "/v: must have at least 1 properties"),
        ({"type": "object", "maxProperties": 0}, {"a": 1}, "/v: must have at most 0 properties"),
        (
            {"type": "object", "propertyNames": {"maxLength": 1}},
            {"ab": 1},
            "/v: has a property name its schema does not allow",
        ),
        ({"not": {"type": "string"}}, "s", "/v: does not match its schema (not)"),
    ],
)
def test_each_rule_is_said_from_the_schema(
    schema: dict[str, Any], value: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {"type": "object", "properties": {"v": schema}}
    route = Route(
        "POST", "/v", _accept, summary="s", public="validation tests only", body=body, healthy=Healthy(200, ())
    )
    use_validators((route,), monkeypatch)
    assert validate(route, Request(method="POST", path="/v", body=json.dumps({"v": value}))) == message


def test_an_exceptions_defaults_are_the_whole_document_and_no_rule() -> None:
    failure = JsonSchemaValueException("m", definition=["not", "a", "dict"])
    assert (str(failure), failure.name, failure.rule, failure.definition, failure.value) == ("m", "data", "", {}, None)
    assert refusal(failure, "body") == "body: does not match its schema (schema)"


def test_a_key_named_like_the_root_is_still_a_step() -> None:
    assert pointer("data.data") == "/data"


@pytest.mark.parametrize(
    ("schema", "body", "message"),
    [
        ({"type": "object", "additionalProperties": False}, {"b": 1, "a": 2}, "/a, /b: is not allowed"),
        ({"type": "object", "required": ["x", "y"]}, {}, "/x, /y: is required"),
    ],
)
def test_every_missing_or_extra_property_is_named(
    schema: dict[str, Any], body: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    route = Route(
        "POST", "/v", _accept, summary="s", public="validation tests only", body=schema, healthy=Healthy(200, ())
    )
    use_validators((route,), monkeypatch)
    assert validate(route, Request(method="POST", path="/v", body=json.dumps(body))) == message


def test_a_validator_that_recurses_too_deep_refuses_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    def recursing(data: Any) -> None:
        raise RecursionError

    monkeypatch.setattr("service.validation.validator", lambda route, location: recursing)
    assert validate(ROUTES[0], Request(method="POST", path="/orders/a1", body="{}")) == "body is nested too deeply"


def test_a_validator_missing_from_the_package_names_the_route_and_what_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from service.validation import validator

    monkeypatch.setattr("service.validators.MODULES", {})
    with pytest.raises(LookupError) as missing:
        validator(ROUTES[0], "body")
    assert str(missing.value) == "service/validators has no validator for POST /orders/{id} body: run `make docs`"


def test_a_parameter_location_without_steps_is_said_in_the_plural() -> None:
    from service.validation import _where

    assert (_where("query", ""), _where("path_parameters", "id")) == ("query parameters", "path parameter id")
