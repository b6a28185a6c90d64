"""The handler: real HTTP API v2 events, malformed events, safe headers, one redacted log line per request."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service import handler
from tests.conftest import FakeContext, load_event

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
        "environment": handler.ENVIRONMENT_NAME,
        "version": handler.APP_VERSION,
    }
    assert response["isBase64Encoded"] is False


def test_every_answer_carries_the_safe_headers(lambda_context: FakeContext) -> None:
    for event in (load_event("http_api_get_root.json"), None, {"requestContext": 1}):
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


def test_other_paths_and_methods_are_404_and_405(lambda_context: FakeContext) -> None:
    event = load_event("http_api_get_root.json")
    event["requestContext"]["http"]["path"] = "/admin"
    assert handler.handler(event, lambda_context)["statusCode"] == 404
    event["requestContext"]["http"].update(path="/", method="POST")
    assert handler.handler(event, lambda_context)["statusCode"] == 405


def test_a_context_without_request_id_does_not_crash() -> None:
    response = handler.handler(load_event("http_api_get_root.json"), object())
    assert _body(response)["requestId"] == "unknown"


def test_an_internal_error_is_a_500_that_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch, lambda_context: FakeContext, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: handler.Request, aws_request_id: str) -> tuple[int, dict[str, str]]:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(handler, "route", broken)
    with caplog.at_level(logging.INFO, logger="service"):
        response = handler.handler(load_event("http_api_get_root.json"), lambda_context)
    assert response["statusCode"] == 500
    assert _body(response) == {"message": "Internal Server Error", "requestId": lambda_context.aws_request_id}
    assert "hunter2" not in response["body"]
    assert any(record.levelno == logging.ERROR and record.exc_info for record in caplog.records)


def test_one_structured_log_line_per_request(lambda_context: FakeContext, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="service"):
        handler.handler(load_event("http_api_get_root.json"), lambda_context)
    (record,) = caplog.records
    assert record.getMessage() == "request"
    fields = {name: getattr(record, name) for name in handler.LOGGED_FIELDS}
    assert fields["apiRequestId"] == "JKJaXmPLvHcESHA="
    assert fields["method"] == "GET" and fields["path"] == "/" and fields["status"] == 200
    assert fields["sourceIp"] == "205.255.255.176" and fields["userAgent"] == "curl/8.5.0"
    assert isinstance(fields["durationMs"], float)


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
    event["requestContext"]["http"]["userAgent"] = "A" * 10_000
    event["requestContext"]["http"]["path"] = "/" + "p" * 10_000
    with caplog.at_level(logging.INFO, logger="service"):
        handler.handler(event, lambda_context)
    (record,) = caplog.records
    assert len(record.userAgent) == handler.MAX_LOGGED_CHARS  # type: ignore[attr-defined]
    assert len(record.path) == handler.MAX_LOGGED_CHARS  # type: ignore[attr-defined]


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


@settings(max_examples=300, deadline=None)
@given(event=json_values | event_like)
def test_no_event_makes_the_handler_raise(event: Any) -> None:
    response = handler.handler(event, FakeContext())
    assert response["statusCode"] in {200, 400, 404, 405}
    assert set(_body(response)) >= {"message", "requestId"}


def test_handler_imports_only_the_standard_library() -> None:
    code = (
        "import sys; sys.path.insert(0, '.'); before = set(sys.modules); import handler; "
        "print(sorted(m.split('.')[0] for m in set(sys.modules) - before))"
    )
    service_dir = Path(handler.__file__).parent
    output = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=service_dir, capture_output=True, text=True, check=True
    ).stdout
    imported = set(eval(output))
    assert "boto3" not in imported and "botocore" not in imported
    stdlib = set(sys.stdlib_module_names) | {"handler"}
    assert imported <= stdlib, imported - stdlib
