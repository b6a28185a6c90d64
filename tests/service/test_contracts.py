"""The exact contracts of the service's small pieces, each boundary on both sides: what a route row accepts,
what a request decodes, what an answer and a metric line look like byte for byte (make mutate measures these)."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from prod_serverless.settings import LOG_LEVELS
from service import handler, metrics
from service.routing import (
    MAX_BODY_BYTES,
    STATUS_MESSAGES,
    Healthy,
    HttpError,
    Request,
    Route,
    RouteError,
    Router,
    Sample,
    path_pattern,
    specificity,
)
from tests.conftest import FakeContext, load_event
from tools.lambda_logging import delivered

PUBLIC = "contract tests of the routing module only; never deployed, stage throttling bounds abuse"


def _route(path: str = "/x", answer: Any = None, **options: Any) -> Route:
    return Route(
        "GET",
        path,
        answer or (lambda request: (200, {"ok": True})),
        summary="s",
        public=PUBLIC,
        healthy=options.pop("healthy", Healthy(200, ("ok",))),
        **options,
    )


def _get(path: str) -> dict[str, Any]:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"]["path"] = path
    return event


# Route rows
@pytest.mark.parametrize("status", [100, 599])
def test_a_healthy_status_from_100_to_599_is_accepted(status: int) -> None:
    assert _route(healthy=Healthy(status, ())).healthy.status == status


@pytest.mark.parametrize("status", [99, 600])
def test_a_healthy_status_outside_100_to_599_is_refused(status: int) -> None:
    with pytest.raises(RouteError, match=f"^route GET '/x': healthy status must be an HTTP status; got {status}$"):
        _route(healthy=Healthy(status, ()))


def test_a_body_limit_of_one_byte_is_accepted_and_zero_refused() -> None:
    assert _route(max_body_bytes=1).max_body_bytes == 1
    with pytest.raises(RouteError, match=r"^route GET '/x': max_body_bytes must be 1 to 6291456"):
        _route(max_body_bytes=0)


def test_a_rows_defaults() -> None:
    route = _route("/x")
    assert (route.client_errors_page, route.alarm_5xx, route.public, route.summary) == (True, None, PUBLIC, "s")
    assert (route.sample.path, route.sample.body, route.sample.query, route.sample_path) == ("/x", None, "", "/x")
    assert route.healthy_keys == frozenset({"ok"})
    assert (route.max_body_bytes, route.key) == (MAX_BODY_BYTES, "GET /x")


def test_a_rows_options_are_kept() -> None:
    route = _route("/x", client_errors_page=False, alarm_5xx=3, sample=Sample("/x", body={"a": 1}, query="q=1"))
    assert (route.client_errors_page, route.alarm_5xx, route.sample.query) == (False, 3, "q=1")


def test_a_check_is_compact_json_with_sorted_keys() -> None:
    route = _route("/x", sample=Sample(body={"a": 1, "b": [1, 2]}, query="q=1"), healthy=Healthy(201, ("z", "a")))
    assert route.check() == {
        "route": "GET /x",
        "method": "GET",
        "path": "/x",
        "query": "q=1",
        "body": '{"a":1,"b":[1,2]}',
        "status": 201,
        "keys": ["a", "z"],
    }
    assert _route("/x").check()["body"] is None


def test_a_bad_segment_names_where_it_is() -> None:
    with pytest.raises(RouteError, match=r"^route: segment 'a b' must be"):
        path_pattern("/a b")


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/", (1, 0)), ("/a/b", (2, 0)), ("/a/{b}", (1, 0)), ("/a/{b+}", (1, -1)), ("/{a}/{b}", (0, 0))],
)
def test_specificity_counts_literal_segments_and_greedy_variables(path: str, expected: tuple[int, int]) -> None:
    assert specificity(path) == expected


def test_the_router_tries_the_most_specific_path_first() -> None:
    routes = (_route("/a/{b+}"), _route("/a/{b}"), _route("/a/c"))
    assert [route.path for route in Router(routes).routes] == ["/a/c", "/a/{b}", "/a/{b+}"]


def test_a_repeated_route_is_named() -> None:
    with pytest.raises(RouteError, match=r"^routes GET /x, GET /y appear more than once in the table$"):
        Router((_route("/x"), _route("/x"), _route("/y"), _route("/y")))


# Requests
def test_a_requests_defaults() -> None:
    request = Request(method="GET", path="/")
    assert (request.api_request_id, request.aws_request_id, request.is_base64_encoded) == ("", "unknown", False)
    assert (request.path_parameters, request.max_body_bytes, request.headers, request.query) == (
        {},
        MAX_BODY_BYTES,
        {},
        {},
    )


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "application/json; charset=utf-8", "application/vnd.api+JSON"]
)
def test_json_and_json_suffixed_content_types_are_read(content_type: str | None) -> None:
    headers = {} if content_type is None else {"content-type": content_type}
    assert Request(method="POST", path="/", body='{"a":1}', headers=headers).json() == {"a": 1}


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413() -> None:
    request = Request(method="POST", path="/", body="1" * 10)
    request.max_body_bytes = 10
    assert request.json() == 1111111111
    request = Request(method="POST", path="/", body="1" * 11)
    request.max_body_bytes = 10
    with pytest.raises(HttpError) as refused:
        request.json()
    assert (refused.value.status, refused.value.message) == (413, "body is over 10 bytes")


def test_a_body_with_a_lone_surrogate_is_read_not_a_crash() -> None:
    assert Request(method="POST", path="/", body='"\udc80"').json() == "\udc80"


def test_an_http_error_says_the_standard_message_unless_given_one() -> None:
    assert (HttpError(404).message, str(HttpError(404))) == ("Not Found", "Not Found")
    assert (HttpError(418).message, str(HttpError(418))) == ("Error", "Error")
    assert (HttpError(400, "no").message, str(HttpError(400, "no")), HttpError(400, "no").status) == ("no", "no", 400)


# Answers
def test_answers_are_compact_json() -> None:
    assert handler.respond(404, {"message": "Not Found", "requestId": "r"})["body"] == (
        '{"message":"Not Found","requestId":"r"}'
    )


def test_a_404_and_a_405_carry_the_lambda_request_id() -> None:
    context = FakeContext()
    not_found = handler.handle(Router((_route("/x"),)), _get("/y"), context)
    assert json.loads(not_found["body"]) == {"message": "Not Found", "requestId": context.aws_request_id}
    event = _get("/x")
    event["requestContext"]["http"]["method"] = "POST"
    not_allowed = handler.handle(Router((_route("/x"),)), event, context)
    assert json.loads(not_allowed["body"]) == {"message": "Method Not Allowed", "requestId": context.aws_request_id}


def test_a_client_error_without_a_message_answers_the_standard_one() -> None:
    def refuse(request: Request) -> tuple[int, dict[str, Any]]:
        raise HttpError(409)

    answer = handler.handle(Router((_route("/x", refuse),)), _get("/x"), FakeContext())
    assert (answer["statusCode"], json.loads(answer["body"])["message"]) == (409, "Error")


@pytest.mark.parametrize("status", [100, 599])
def test_a_route_may_answer_any_status_from_100_to_599(status: int) -> None:
    answer = handler.handle(Router((_route("/x", lambda r: (status, {})),)), _get("/x"), FakeContext())
    assert answer["statusCode"] == status


@pytest.mark.parametrize("returned", [(99, {}), (600, {}), ("200", {}), (200, [])])
def test_a_route_answering_outside_the_contract_is_a_500_naming_what_it_returned(
    returned: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="service"):
        answer = handler.handle(Router((_route("/x", lambda r: returned),)), _get("/x"), FakeContext())
    assert answer["statusCode"] == 500
    (record,) = caplog.records
    assert record.getMessage() == "unhandled error"
    kinds = f"({type(returned[0]).__name__}, {type(returned[1]).__name__})"
    assert str(record.exc_info[1]) == f"GET /x must return (status, dict); got {kinds}"  # type: ignore[index]


def test_an_error_before_any_route_is_found_counts_as_route_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(handler, "parse_request", broken)
    with caplog.at_level(logging.ERROR, logger="service"):
        assert handler.handler(_get("/"), FakeContext())["statusCode"] == 500
    (record,) = caplog.records
    assert record.apiRequestId == ""  # type: ignore[attr-defined]
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["Route"] == "-"


def test_a_direct_invocation_is_a_warning_with_a_fixed_message(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="service"):
        handler.handler({"not": "an event"}, FakeContext())
    warning, debug = caplog.records
    assert warning.getMessage() == "event is not an HTTP API payload 2.0 request"
    assert debug.apiRequestId == ""  # type: ignore[attr-defined]


def test_the_debug_line_measures_the_duration_in_milliseconds(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = iter([1.0, 1.0012346])
    monkeypatch.setattr("service.handler.time.perf_counter", lambda: next(ticks))
    with caplog.at_level(logging.DEBUG, logger="service"):
        handler.handler(_get("/"), FakeContext())
    (record,) = caplog.records
    assert record.durationMs == 1.235  # type: ignore[attr-defined]


# Parsing
def test_the_path_falls_back_to_raw_path() -> None:
    event = load_event("http_api_get_root.json")
    del event["requestContext"]["http"]["path"]
    event["rawPath"] = "/raw"
    request = handler.parse_request(event)
    assert request is not None and (request.path, request.aws_request_id) == ("/raw", "unknown")


def test_what_is_not_a_string_is_dropped_and_the_method_is_capped() -> None:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"]["method"] = "m" * 20
    event["requestContext"]["requestId"] = 7
    event["body"] = {"not": "a string"}
    request = handler.parse_request(event)
    assert request is not None
    assert (request.method, request.api_request_id, request.body) == ("M" * 16, "", None)


# The function's metrics
def test_a_metric_line_is_exactly_an_emf_document(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "FUNCTION_NAME", "fn")
    monkeypatch.setattr(metrics, "FUNCTION_VERSION", "7")
    line = metrics.line(metrics.SERVER_ERRORS, "GET /", now=1.5)
    assert line == (
        '{"level":"ERROR","timestamp":"1970-01-01T00:00:01.500Z","_aws":{"Timestamp":1500,"CloudWatchMetrics":[{"Namespace":"ProdServerless","Dimensions":'
        '[["FunctionName","FunctionVersion"],["FunctionName","Route"]],"Metrics":[{"Name":"ServerErrors",'
        '"Unit":"Count"}]}]},"FunctionName":"fn","FunctionVersion":"7","Route":"GET /","ServerErrors":1}'
    )


def _metric_lines(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    """What the real handler writes to stdout for a 5xx and for a 4xx its route declares normal, by metric."""

    def refuse(request: Request) -> Any:
        raise HttpError(404)

    def fail(request: Request) -> Any:
        raise RuntimeError("boom")

    router = Router((_route("/quiet", refuse, client_errors_page=False), _route("/fails", fail)))
    capsys.readouterr()
    for path in ("/quiet", "/fails"):
        event = load_event("http_api_get_root.json")
        event["requestContext"]["http"]["path"] = path
        handler.handle(router, event, FakeContext())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {name: json.dumps(doc) for doc in lines for name in metrics.DIMENSIONS if name in doc}


@pytest.mark.parametrize("threshold", LOG_LEVELS)
def test_every_metric_line_passes_lambdas_log_level_filter_at_every_allowed_level(
    threshold: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A metric line Lambda drops is an alarm that never fires (the release 5xx alarm, the quiet routes' 4xx)."""
    monkeypatch.setattr(metrics, "THRESHOLD", threshold)
    lines = _metric_lines(capsys)
    assert set(lines) == {metrics.SERVER_ERRORS, metrics.EXPECTED_CLIENT_ERRORS}
    for name, line in lines.items():
        assert delivered(line, threshold), (name, line)


def test_a_metric_line_keeps_its_own_level_unless_the_threshold_is_higher() -> None:
    assert [metrics.level(metrics.EXPECTED_CLIENT_ERRORS, t) for t in LOG_LEVELS] == ["INFO", "INFO", "WARN", "ERROR"]
    assert [metrics.level(metrics.SERVER_ERRORS, t) for t in LOG_LEVELS] == ["ERROR"] * 4
    assert metrics.level(metrics.SERVER_ERRORS, "NOPE") == "ERROR"
    assert metrics.level(metrics.EXPECTED_CLIENT_ERRORS, "NOPE") == "INFO"


@pytest.mark.parametrize(
    ("line", "threshold", "sent"),
    [
        ('{"level":"ERROR","timestamp":"2026-12-03T10:00:00.000Z"}', "ERROR", True),
        ('{"timestamp":"2026-12-03T10:00:00.000Z"}', "WARN", False),  # no level: INFO
        ('{"level":"ERROR"}', "WARN", False),  # no timestamp: INFO
        ('{"level":"ERROR","timestamp":"1500"}', "WARN", False),  # not RFC 3339: INFO
        ('{"level":"loud","timestamp":"2026-12-03T10:00:00Z"}', "WARN", False),  # not a level: INFO
        ('{"level":"warn","timestamp":"2026-12-03T10:00:00+01:00"}', "WARN", True),
        ("plain text", "INFO", True),
        ("plain text", "WARN", False),
        ('{"level":"DEBUG","timestamp":"2026-12-03T10:00:00Z"}', "INFO", False),
    ],
)
def test_the_model_of_lambdas_filter_follows_its_page(line: str, threshold: str, sent: bool) -> None:
    assert delivered(line, threshold) is sent


def test_a_metric_line_is_stamped_now_in_milliseconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("service.metrics.time.time", lambda: 2.5)
    assert json.loads(metrics.line(metrics.EXPECTED_CLIENT_ERRORS, "r"))["_aws"]["Timestamp"] == 2500


def test_status_messages_are_the_standard_reason_phrases() -> None:
    assert STATUS_MESSAGES == {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Request Entity Too Large",
        415: "Unsupported Media Type",
        500: "Internal Server Error",
    }


def test_a_bad_segment_in_a_row_names_the_route() -> None:
    with pytest.raises(RouteError, match=r"^route GET '/a b': segment 'a b' must be"):
        _route("/a b")


def test_a_sample_body_over_its_routes_byte_limit_is_refused_at_the_row_counting_utf8_bytes() -> None:
    """The release hook, smoke and verify send the sample: one that its own route refuses (413) rolls back every
    release. Counted as a client sends it, in UTF-8: "é" is two bytes, not the six of "\\u00e9"."""
    body = {"n": "é"}  # {"n":"é"}: 10 bytes in UTF-8
    assert _route(sample=Sample("/x", body=body), max_body_bytes=10).check()["body"] == '{"n":"é"}'
    with pytest.raises(RouteError, match=r"^route GET '/x': the sample's body is 10 bytes, over the route's max_body"):
        _route(sample=Sample("/x", body=body), max_body_bytes=9)


# The row's schemas: their shape at the row (their validity as JSON Schema is synth's: tests/infra/test_schemas.py)
OBJECT = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"body": "x"}, "body must be a JSON Schema (a dict); got str"),
        ({"query": ["x"]}, "query must be a JSON Schema (a dict); got list"),
        ({"query": {"type": "string"}}, 'query must be an object schema, {"type": "object", "properties": …}'),
        ({"path_parameters": {"properties": {}}}, "path_parameters must be an object schema"),
        ({"body": {"type": "object"}}, "a GET request has no body to validate; use query or drop body"),
        ({"answers": {"200": OBJECT}}, "answers and refusals are keyed by HTTP status; got '200'"),
        ({"answers": {True: OBJECT}}, "answers and refusals are keyed by HTTP status; got True"),
        ({"answers": {600: OBJECT}}, "answers and refusals are keyed by HTTP status; got 600"),
        ({"refusals": (99,)}, "answers and refusals are keyed by HTTP status; got 99"),
        ({"refusals": (500,)}, "refusals are the route's own client errors (4xx); got 500"),
        ({"refusals": (399,)}, "refusals are the route's own client errors (4xx); got 399"),
        ({"answers": {201: "x"}}, "answers[201] must be a JSON Schema (a dict)"),
    ],
)
def test_a_rows_schemas_of_the_wrong_shape_are_refused_naming_the_route(options: dict[str, Any], message: str) -> None:
    with pytest.raises(RouteError) as refused:
        _route(**options)
    assert str(refused.value).startswith(f"route GET '/x': {message}")


def test_path_parameters_describe_exactly_the_paths_variables() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string"}}}
    assert _route("/x/{id}", path_parameters=schema, sample=Sample("/x/1")).path_parameters == schema
    with pytest.raises(
        RouteError,
        match=r"^route GET '/x/\{key\}': path_parameters must describe exactly the path's variables \['key'\]$",
    ):
        _route("/x/{key}", path_parameters=schema, sample=Sample("/x/1"))


def test_a_route_validates_when_it_has_any_request_schema() -> None:
    assert not _route().validates
    assert _route(query={"type": "object"}).validates
    post = Route("POST", "/x", lambda r: (200, {}), summary="s", public=PUBLIC, healthy=Healthy(200, ()), body={})
    assert post.validates
    assert _route(
        "/x/{id}", path_parameters={"type": "object", "properties": {"id": {}}}, sample=Sample("/x/1")
    ).validates


def test_healthy_keys_come_from_the_answer_schema_or_the_error_shape_and_from_one_source_only() -> None:
    assert _route(answers={200: OBJECT}, healthy=Healthy(200)).healthy_keys == frozenset({"ok"})
    assert _route(refusals=(404,), healthy=Healthy(404)).healthy_keys == frozenset({"message", "requestId"})
    assert _route(answers={201: OBJECT}, healthy=Healthy(200, ("a",))).healthy_keys == frozenset({"a"})
    with pytest.raises(
        RouteError, match=r"^route GET '/x': its 200 answer has a schema; Healthy\(200\) takes the keys"
    ):
        _route(answers={200: OBJECT}, healthy=Healthy(200, ("ok",)))
    with pytest.raises(RouteError) as refused:
        _route(healthy=Healthy(200))
    assert str(refused.value) == (
        "route GET '/x': Healthy(200) needs the answer's keys, Healthy(200, (...)), or answers={200: <schema>} "
        "(or 200 in refusals)"
    )


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "array", "items": {}},
        {"properties": {"ok": {}}, "required": ["ok"]},
        {"type": "object", "properties": {"ok": {}, "maybe": {}}, "required": ["ok"]},
        {"type": "object", "required": ["ok"]},
    ],
)
def test_a_derived_healthy_answer_needs_an_object_schema_requiring_each_property(schema: dict[str, Any]) -> None:
    with pytest.raises(RouteError) as refused:
        _route(answers={200: schema}, healthy=Healthy(200))
    assert str(refused.value) == (
        "route GET '/x': the healthy answer is checked by its exact keys, so answers[200] must be an object schema "
        "that requires each of its properties"
    )


def test_json_is_decoded_once_and_shared() -> None:
    request = Request(method="POST", path="/", body='{"a": 1}')
    assert request.json() is request.json()


@pytest.mark.parametrize("text", ["1.5", "-0.0", "1e308", "0"])
def test_finite_numbers_decode_as_sent(text: str) -> None:
    assert Request(method="POST", path="/", body=text).json() == json.loads(text)
