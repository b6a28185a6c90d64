"""The dispatcher over the route table: path parameters, JSON bodies (base64 too), client mistakes answered and
never logged, a route's exception a logged 500, the function's own error metrics; each rejection apart."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

import pytest

from service import handler, metrics
from service.routing import MAX_BODY_BYTES, Healthy, HttpError, Request, Route, RouteError, Router, Sample
from tests.conftest import FakeContext, load_event

PUBLIC = "test routes of the routing tests only; never deployed, bounded by stage throttling"


def _echo(request: Request) -> tuple[int, dict[str, Any]]:
    body = request.json()
    if not isinstance(body, dict):
        raise HttpError(400, "send a JSON object")
    return 200, {"echo": body}


def _item(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"id": request.path_parameters["id"], "query": request.query}


def _file(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"key": request.path_parameters["key"]}


ROUTER = Router(
    (
        Route("GET", "/items/{id}", _item, summary="one item", public=PUBLIC, healthy=Healthy(200, ("id", "query")),
              sample=Sample("/items/42")),
        Route("GET", "/items/special", lambda r: (200, {"special": True}), summary="s", public=PUBLIC,
              healthy=Healthy(200, ("special",))),
        Route("DELETE", "/items/{id}", lambda r: (204, {}), summary="d", public=PUBLIC, healthy=Healthy(204, ()),
              sample=Sample("/items/1")),
        Route("POST", "/echo", _echo, summary="echo", public=PUBLIC, healthy=Healthy(200, ("echo",)),
              sample=Sample(body={"a": 1}), max_body_bytes=64, client_errors_page=False),
        Route("GET", "/files/{key+}", _file, summary="f", public=PUBLIC, healthy=Healthy(200, ("key",)),
              sample=Sample("/files/a/b.txt")),
        Route("GET", "/boom", lambda r: 1 / 0, summary="b", public=PUBLIC, healthy=Healthy(200, ())),  # type: ignore[arg-type,return-value]
        Route("GET", "/garbage", lambda r: ("200", []), summary="g", public=PUBLIC, healthy=Healthy(200, ())),  # type: ignore[arg-type,return-value]
    )
)  # fmt: skip


def _event(method: str, path: str, body: str | None = None, **extra: Any) -> dict[str, Any]:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"].update(method=method, path=path)
    event["rawPath"] = path
    if body is not None:
        event["body"] = body
        event["headers"]["content-type"] = "application/json"
    event.update(extra)
    return event


def _call(event: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = handler.handle(ROUTER, event, FakeContext())
    return response["statusCode"], json.loads(response["body"]), response["headers"]


def test_path_parameters_reach_the_function() -> None:
    assert _call(_event("GET", "/items/42"))[1] == {"id": "42", "query": {}}


def test_a_literal_segment_wins_over_a_variable_as_in_http_api() -> None:
    assert _call(_event("GET", "/items/special"))[1] == {"special": True}


def test_a_greedy_variable_takes_the_rest_of_the_path() -> None:
    assert _call(_event("GET", "/files/a/b/c.txt"))[1] == {"key": "a/b/c.txt"}


def test_the_query_reaches_the_function() -> None:
    event = _event("GET", "/items/1", queryStringParameters={"q": "x"})
    assert _call(event)[1]["query"] == {"q": "x"}


def test_another_method_on_a_known_path_is_405_with_every_allowed_method() -> None:
    status, body, headers = _call(_event("PUT", "/items/7"))
    assert status == 405 and headers["allow"] == "DELETE, GET" and body["message"] == "Method Not Allowed"


def test_an_unknown_path_is_404_without_allow() -> None:
    status, _, headers = _call(_event("GET", "/nothing"))
    assert status == 404 and "allow" not in headers


def test_a_json_body_is_decoded() -> None:
    assert _call(_event("POST", "/echo", '{"a": [1, 2]}'))[:2] == (200, {"echo": {"a": [1, 2]}})


def test_a_base64_body_is_decoded_when_api_gateway_says_so() -> None:
    encoded = base64.b64encode(b'{"a": 1}').decode()
    assert _call(_event("POST", "/echo", encoded, isBase64Encoded=True))[:2] == (200, {"echo": {"a": 1}})


@pytest.mark.parametrize(
    ("body", "extra", "status", "message"),
    [
        ("{not json", {}, 400, "body is not valid JSON"),
        ("", {}, 400, "a JSON body is required"),
        ("@@@", {"isBase64Encoded": True}, 400, "body is not valid base64"),
        ('"x"' + " " * 64, {}, 413, "body is over 64 bytes"),
        ("[1]", {}, 400, "send a JSON object"),  # the route's own HttpError
    ],
)
def test_client_mistakes_are_answered_and_never_logged(
    body: str, extra: dict[str, Any], status: int, message: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="service"):
        got_status, got_body, _ = _call(_event("POST", "/echo", body, **extra))
    assert (got_status, got_body["message"]) == (status, message)
    assert all(body not in record.getMessage() for record in caplog.records if body)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_body_that_is_not_json_by_its_content_type_is_415() -> None:
    event = _event("POST", "/echo", '{"a": 1}')
    event["headers"]["content-type"] = "text/plain"
    assert _call(event)[:2] == (
        415,
        {"message": "send the body as application/json", "requestId": FakeContext.aws_request_id},
    )


def test_the_default_body_limit_is_lambdas_6_mb_payload() -> None:
    assert MAX_BODY_BYTES == 6 * 1024 * 1024
    with pytest.raises(RouteError, match="max_body_bytes must be 1 to"):
        Route(
            "POST", "/x", _echo, summary="s", public=PUBLIC, healthy=Healthy(200, ()), max_body_bytes=MAX_BODY_BYTES + 1
        )


@pytest.mark.parametrize("path", ["/boom", "/garbage"])
def test_a_route_that_raises_or_returns_garbage_is_a_logged_500(path: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service"):
        status, body, _ = _call(_event("GET", path))
    assert (status, body["message"]) == (500, "Internal Server Error")
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.errorType in {"ZeroDivisionError", "TypeError"}  # type: ignore[attr-defined]


def _emitted(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [document for document in documents if "_aws" in document]


def test_a_5xx_answer_counts_itself_by_version_and_by_route(capsys: pytest.CaptureFixture[str]) -> None:
    _call(_event("GET", "/boom"))
    (document,) = _emitted(capsys)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": "ProdServerless",
        "Dimensions": [["FunctionName", "FunctionVersion"], ["FunctionName", "Route"]],
        "Metrics": [{"Name": "ServerErrors", "Unit": "Count"}],
    }
    assert (document["ServerErrors"], document["Route"]) == (1, "GET /boom")
    assert document["FunctionVersion"] == metrics.FUNCTION_VERSION


def test_a_healthy_answer_writes_no_metric(capsys: pytest.CaptureFixture[str]) -> None:
    _call(_event("GET", "/items/1"))
    assert _emitted(capsys) == []


def test_a_4xx_of_a_route_whose_client_errors_do_not_page_is_counted_apart(capsys: pytest.CaptureFixture[str]) -> None:
    _call(_event("POST", "/echo", "{bad"))
    (document,) = _emitted(capsys)
    assert document["ExpectedClientErrors"] == 1 and document["Route"] == "POST /echo"
    _call(_event("PUT", "/items/1"))  # a 405 on a route that pages on 4xx: not counted apart
    assert _emitted(capsys) == []


@pytest.mark.parametrize(
    ("method", "path", "extra", "message"),
    [
        ("FETCH", "/x", {}, "method must be one of GET, POST, PUT, PATCH, DELETE"),
        ("GET", "x", {}, "path must start with '/'"),
        ("GET", "/x/", {}, "not end with one"),
        ("GET", "/{a+}/b", {}, "a greedy variable {a+} must be the last segment"),
        ("GET", "/a b", {}, "segment 'a b' must be a literal or a {name} path variable"),
        ("GET", "/items/{id}", {}, "the sample path must be a concrete path of the route"),
        ("GET", "/x", {"summary": " "}, "summary must say in one line"),
    ],
)
def test_a_malformed_row_is_refused_with_what_is_allowed(
    method: str, path: str, extra: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"summary": "s", "public": PUBLIC, "healthy": Healthy(200, ()), **extra}
    if path == "/items/{id}":
        arguments["sample"] = Sample("/other/1")
    with pytest.raises(RouteError, match=message.replace("{", r"\{").replace("}", r"\}").replace("+", r"\+")):
        Route(method, path, _item, **arguments)


def test_a_route_twice_in_the_table_is_refused() -> None:
    route = Route("GET", "/x", _item, summary="s", public=PUBLIC, healthy=Healthy(200, ()))
    with pytest.raises(RouteError, match="routes GET /x appear more than once"):
        Router((route, route))
