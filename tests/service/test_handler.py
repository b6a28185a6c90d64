"""The handler: real HTTP API v2 events, malformed events, safe headers, one redacted log line per request."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import endpoints, handler
from service.routing import PUBLIC, Healthy, Request, Route, Router, Sample
from tests.conftest import FakeContext, Synthesized, load_event
from tests.infra.helpers import SETTINGS
from tools.lambda_logging import extra_fields
from tools.local_server import function_variables, load_handler
from tools.offline_aws import offline_aws

SECRETS = (
    "authorization-secret-value",
    "cookie-secret-value",
    "api-key-secret-value",
    "query-secret-value",
    "body-secret-value",
)


def _body(response: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_get_root_answers_json_with_the_lambda_request_id(lambda_context: FakeContext) -> None:
    response = handler.handler(load_event("http_api_get_root.json"), lambda_context)
    assert response["statusCode"] == 200
    assert _body(response) == {
        "message": "Hello from Prod",
        "requestId": lambda_context.aws_request_id,
        "environment": endpoints.ENVIRONMENT_NAME,
        "version": endpoints.APP_VERSION,
    }
    assert response["isBase64Encoded"] is False


def test_every_answer_carries_the_safe_headers(lambda_context: FakeContext) -> None:
    missing = load_event("http_api_get_root.json")
    missing["requestContext"]["http"]["path"] = "/missing"
    for event in (load_event("http_api_get_root.json"), missing, None, {"requestContext": 1}):
        headers = handler.handler(event, lambda_context)["headers"]
        assert headers == {
            "content-type": "application/json",
            "x-content-type-options": "nosniff",
            "cache-control": "no-store",
        }


@pytest.mark.parametrize(
    "event",
    [
        None,
        "GET /",
        42,
        [],
        {},
        {"requestContext": None},
        {"requestContext": {"http": None}},
        {"requestContext": {"http": {"method": 7, "path": "/"}}},
        {"requestContext": {"http": {"method": "GET", "path": None}}},
        {"requestContext": {"http": {"method": "GET"}}, "rawPath": ["/"]},
    ],
)
def test_malformed_events_get_a_well_formed_400(event: Any, lambda_context: FakeContext) -> None:
    response = handler.handler(event, lambda_context)
    assert response["statusCode"] == 400
    assert _body(response) == {"message": "Bad Request", "requestId": lambda_context.aws_request_id}


def test_an_unknown_path_is_404_and_another_method_on_a_known_path_405_with_allow(
    lambda_context: FakeContext,
) -> None:
    route = handler.ROUTER.routes[0]
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"].update(path="/no-such-route-anywhere", method=route.method)
    response = handler.handler(event, lambda_context)
    assert response["statusCode"] == 404 and "allow" not in response["headers"]
    other = next(m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if (m, route.sample_path) not in _served())
    event["requestContext"]["http"].update(path=route.sample_path, method=other)
    response = handler.handler(event, lambda_context)
    assert response["statusCode"] == 405
    allowed = sorted(r.method for r in handler.ROUTER.routes if r.match(route.sample_path) is not None)
    assert response["headers"]["allow"] == ", ".join(allowed)


def _served() -> set[tuple[str, str]]:
    return {(route.method, route.sample_path) for route in handler.ROUTER.routes}


def _router(answer: Any) -> Router:
    """A table of one route answered by `answer`, beside the real ones."""
    return Router(
        (
            Route(
                "GET",
                "/under-test",
                answer,
                summary="a route defined by the test",
                public="a test route of the test suite only; never deployed, never reachable",
                healthy=Healthy(200, ("ok",)),
            ),
        )
    )


def _get(path: str) -> dict[str, Any]:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"]["path"] = path
    return event


def test_a_context_without_request_id_does_not_crash() -> None:
    response = handler.handler(load_event("http_api_get_root.json"), object())
    assert _body(response)["requestId"] == "unknown"


def test_an_internal_error_is_a_500_that_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: Request) -> tuple[int, dict[str, str]]:
        raise RuntimeError("database password is hunter2")

    with caplog.at_level(logging.INFO, logger="service"):
        response = handler.handle(_router(broken), _get("/under-test"), lambda_context)
    assert response["statusCode"] == 500
    assert _body(response) == {"message": "Internal Server Error", "requestId": lambda_context.aws_request_id}
    assert "hunter2" not in response["body"]
    (record,) = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info
    assert record.errorType == "RuntimeError"  # type: ignore[attr-defined]


def test_at_info_a_served_request_writes_no_line(lambda_context: FakeContext, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service"):
        for path in ("/", "/missing"):
            event = load_event("http_api_get_root.json")
            event["requestContext"]["http"]["path"] = path
            handler.handler(event, lambda_context)
    assert caplog.records == []  # the access line has it all; a second line per request would double the bill


def test_at_debug_one_line_per_request_with_only_what_the_access_line_lacks(
    lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="service"):
        handler.handler(load_event("http_api_get_root.json"), lambda_context)
    (record,) = caplog.records
    assert record.getMessage() == "request" and record.levelno == logging.DEBUG
    assert extra_fields(record) == {"apiRequestId": "JKJaXmPLvHcESHA=", "status": 200, "durationMs": record.durationMs}  # type: ignore[attr-defined]
    assert isinstance(record.durationMs, float)  # type: ignore[attr-defined]


def test_an_event_that_is_not_from_api_gateway_is_a_warning(
    lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service"):
        handler.handler({"verify": "direct invocation"}, lambda_context)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "direct invocation" not in record.getMessage()


def test_an_error_line_names_the_api_request_id_to_join_on(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="service"):
        handler.handle(_router(lambda request: 1 / 0), _get("/under-test"), lambda_context)
    (record,) = caplog.records
    assert record.apiRequestId == "JKJaXmPLvHcESHA="  # type: ignore[attr-defined]


def test_secrets_in_headers_cookies_query_and_body_never_reach_the_log(
    lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="service"):
        response = handler.handler(load_event("http_api_get_root_with_secrets.json"), lambda_context)
    assert response["statusCode"] == 200
    logged = json.dumps([vars(record) for record in caplog.records], default=str)
    for secret in SECRETS:
        assert secret not in logged
        assert secret not in response["body"]


def test_what_is_logged_from_the_request_is_capped(
    lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["requestId"] = "R" * 10_000
    with caplog.at_level(logging.DEBUG, logger="service"):
        handler.handler(event, lambda_context)
    (record,) = caplog.records
    assert len(record.apiRequestId) == handler.MAX_LOGGED_CHARS  # type: ignore[attr-defined]


def _thing(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"id": request.path_parameters["id"]}


def _echo(request: Request) -> tuple[int, dict[str, Any]]:
    body = request.json()
    return 200, {"echo": body if isinstance(body, dict) else {}}


# Routes of the handler's property test: one with a path parameter, one with a JSON body, and the shipped GET /.
FUZZ_ROUTER = Router(
    (
        Route("GET", "/", endpoints.hello, summary="h", public=PUBLIC, healthy=Healthy(200, ("message",))),
        Route("GET", "/things/{id}", _thing, summary="t", public=PUBLIC, healthy=Healthy(200, ("id",)),
              sample=Sample("/things/1")),
        Route("POST", "/echo", _echo, summary="e", public=PUBLIC, healthy=Healthy(200, ("echo",)),
              sample=Sample(body={"a": 1})),
    )
)  # fmt: skip

# Requests as API Gateway sends them, with every value tagged so a leak into the log is visible.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
SECRET = "s3cr3t"
segments = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12).map(
    lambda text: "".join(c if c.isalnum() else f"%{ord(c) & 0xFF:02X}" for c in text)
)
paths = (
    st.lists(segments, max_size=6).map(lambda parts: "/" + "/".join(parts))
    | st.sampled_from(["/", "//", "/./", "/..", "/%2F", "/?", "/" + "a" * 20_000, "/index.html", "/.env"])
    # Every route of the table, whatever a team adds: its sample path, and one segment more than it matches.
    | st.sampled_from(sorted({route.sample_path for route in (*handler.ROUTER.routes, *FUZZ_ROUTER.routes)}))
    | st.sampled_from(
        sorted({route.sample_path.rstrip("/") + "/extra" for route in (*handler.ROUTER.routes, *FUZZ_ROUTER.routes)})
    )
)
tagged = st.text(max_size=40).map(lambda text: f"{SECRET}{text}") | st.just(SECRET + "x" * 20_000)
header_names = st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True)
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(METHODS) | st.from_regex(r"[A-Za-z]{1,40}", fullmatch=True),
        "path": paths,
        "headers": st.dictionaries(header_names, tagged, max_size=8),
        "query": st.dictionaries(st.text(max_size=10), tagged, max_size=4),
        "cookies": st.lists(tagged, max_size=3),
        "body": st.none() | tagged,
        "requestId": st.from_regex(r"[A-Za-z0-9=]{16}", fullmatch=True),
    }
)


def _event(request: dict[str, Any]) -> dict[str, Any]:
    event = load_event("http_api_get_root.json")
    event.update(
        rawPath=request["path"],
        rawQueryString="&".join(f"{k}={v}" for k, v in request["query"].items()),
        headers={**event["headers"], **request["headers"]},
        queryStringParameters=request["query"] or None,
        cookies=request["cookies"] or None,
        body=request["body"],
    )
    event["requestContext"]["http"].update(method=request["method"], path=request["path"])
    event["requestContext"]["requestId"] = request["requestId"]
    return event


def _answered_safely(service: ModuleType, router: Router, request: dict[str, Any]) -> None:
    """`service` (the handler module) answers `request` over `router`'s routes safely, and logs in its allow-list."""
    records: list[logging.LogRecord] = []
    capture = logging.Handler(logging.DEBUG)
    capture.emit = records.append  # type: ignore[method-assign,assignment]
    service.LOGGER.addHandler(capture)
    previous = service.LOGGER.level
    service.LOGGER.setLevel(logging.DEBUG)
    try:
        response = service.handle(router, _event(request), FakeContext())
    finally:
        service.LOGGER.removeHandler(capture)
        service.LOGGER.setLevel(previous)
    route, _, allowed = router.find(request["method"][:16].upper(), request["path"])
    status = response["statusCode"]
    if route is None:
        assert status == (405 if allowed else 404)
    else:  # its healthy answer, or the client's mistake (a body the route refuses): never a server error
        assert status == route.healthy.status or status in (400, 413, 415), (route.key, status)
    assert response["headers"] == {**service.RESPONSE_HEADERS, **({"allow": ", ".join(allowed)} if allowed else {})}
    if status >= 400:  # an error answer never echoes what was sent
        assert SECRET not in response["body"]
    (record,) = records
    fields = extra_fields(record)
    assert set(fields) == set(service.LOGGED_FIELDS)
    assert fields["apiRequestId"] == request["requestId"] and fields["status"] == response["statusCode"]
    line = json.dumps(fields)
    assert SECRET not in line and SECRET not in record.getMessage()
    assert all(len(str(value)) <= service.MAX_LOGGED_CHARS for value in fields.values())


@settings(max_examples=80, deadline=None)
@given(request=requests)
def test_any_real_request_is_answered_safely_and_logged_within_the_allow_list(request: dict[str, Any]) -> None:
    """The handler over this test's routes (a path parameter, a JSON body): no synth, so make mutate runs it."""
    _answered_safely(handler, FUZZ_ROUTER, request)


@pytest.fixture
def served_table(synthesized: Synthesized) -> Iterator[ModuleType]:
    """The service as deployed: imported afresh under the offline AWS of the resources its variables name."""
    variables = function_variables(synthesized.template)
    with offline_aws(variables, synthesized.resources, SETTINGS.region) as environment:
        load_handler(environment)
        yield sys.modules["service.handler"]


# One offline AWS for all the examples (a fixture per example would build it again each time).
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(request=requests)
def test_any_request_to_the_route_table_is_answered_safely(request: dict[str, Any], served_table: ModuleType) -> None:
    """Every route of the table, a team's included, with the AWS resources it uses: never a server error."""
    _answered_safely(served_table, served_table.ROUTER, request)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {},
    optional={
        "rawPath": json_values,
        "requestContext": st.fixed_dictionaries(
            {},
            optional={
                "requestId": json_values,
                "http": st.fixed_dictionaries(
                    {},
                    optional={
                        "method": json_values | st.sampled_from(["GET", "get", "POST"]),
                        "path": json_values | st.just("/"),
                    },
                )
                | json_values,
            },
        )
        | json_values,
    },
)


@settings(max_examples=100, deadline=None)
@given(event=json_values | event_like)
def test_no_event_makes_the_handler_raise(event: Any) -> None:
    response = handler.handler(event, FakeContext())
    assert response["statusCode"] in {200, 400, 404, 405}
    assert set(_body(response)) >= {"message", "requestId"}


def test_handler_imports_only_the_standard_library() -> None:
    code = (
        "import sys; sys.path.insert(0, '.'); before = set(sys.modules); import service.handler; "
        "print(sorted(m.split('.')[0] for m in set(sys.modules) - before))"
    )
    package_parent = Path(handler.__file__).parent.parent
    output = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=package_parent, capture_output=True, text=True, check=True
    ).stdout
    imported = set(eval(output))
    assert "boto3" not in imported and "botocore" not in imported
    # Under `make mutate` the code under test is mutmut's copy, which imports mutmut's trampoline.
    mutated = {"mutmut"} if "mutants" in Path(handler.__file__).parts else set()
    stdlib = set(sys.stdlib_module_names) | {"service"} | mutated
    assert imported <= stdlib, imported - stdlib
