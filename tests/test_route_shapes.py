"""Route shapes the shipped table does not have, through every consumer that runs offline: the handler and the
release hook's verdict, the local server with `make smoke`, `make verify`'s API rows, and the function's metric
lines. A healthy answer other than 200, a sample with a query string, a body exactly at a route's byte limit in
UTF-8 (non-ASCII) and in base64, a path one segment longer than a route's variable, a route whose 4xx never
pages. No synth: the local server is built from the table itself."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pre_traffic_hook.handler import route_event, verdict
from prod_serverless.log_formats import access_log_format
from service import handler
from service import metrics as service_metrics
from service.routing import Healthy, HttpError, Request, Route, Router, Sample
from tests.conftest import FakeContext
from tests.tools.helpers import serving, verify_api_rows
from tools import smoke
from tools.local_server import LocalApi

PUBLIC = "A test-only route shape, never deployed; the stage's throttling bounds abuse of it."
NAME = "Grüße aus 東京"  # non-ASCII: more bytes than characters
CREATE_BODY = {"name": NAME}
# The route's limit is its sample's size in UTF-8 bytes, exactly: one byte more is refused.
LIMIT = len(json.dumps(CREATE_BODY, separators=(",", ":"), ensure_ascii=False).encode())


def create(request: Request) -> tuple[int, dict[str, Any]]:
    body = request.json()
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise HttpError(400, 'send {"name": <text>}')
    return 201, {"id": "t-1", "name": body["name"]}


def search(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"q": request.query.get("q", ""), "limit": int(request.query.get("limit", "10"))}


def thing(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"id": request.path_parameters["id"]}


SHAPES = (
    Route("POST", "/things", create, summary="Create a thing", public=PUBLIC, healthy=Healthy(201, ("id", "name")),
          sample=Sample(body=CREATE_BODY), max_body_bytes=LIMIT, client_errors_page=False),
    Route("GET", "/search", search, summary="Search", public=PUBLIC, healthy=Healthy(200, ("limit", "q")),
          sample=Sample(query="q=caf%C3%A9&limit=2")),
    Route("GET", "/things/{id}", thing, summary="One thing", public=PUBLIC, healthy=Healthy(200, ("id",)),
          sample=Sample("/things/7")),
)  # fmt: skip
ROUTER = Router(SHAPES)
CHECKS = [route.check() for route in SHAPES]


def _answer(event: dict[str, Any]) -> dict[str, Any]:
    return handler.handle(ROUTER, event, FakeContext())


def test_the_release_hook_passes_every_shapes_healthy_answer_and_only_it() -> None:
    for check in CHECKS:
        result = _answer(route_event(check, 0.0))
        assert verdict(result, check) is None, (check["route"], result)
        assert verdict({**result, "statusCode": 200 if check["status"] != 200 else 201}, check) is not None


def test_a_query_string_sample_reaches_the_route_decoded() -> None:
    (search_check,) = [check for check in CHECKS if check["route"] == "GET /search"]
    assert json.loads(_answer(route_event(search_check, 0.0))["body"]) == {"q": "café", "limit": 2}


@pytest.mark.parametrize("encoding", ["utf-8", "base64"])
def test_a_body_at_the_routes_byte_limit_passes_and_one_byte_more_is_refused(encoding: str) -> None:
    (create_check,) = [check for check in CHECKS if check["route"] == "POST /things"]
    for extra, status in (("", 201), (" ", 413)):
        raw = json.dumps(CREATE_BODY, separators=(",", ":"), ensure_ascii=False).encode() + extra.encode()
        event = route_event({**create_check, "body": raw.decode()}, 0.0)
        if encoding == "base64":  # as HTTP API sends a body it considers binary
            event.update(body=base64.b64encode(raw).decode(), isBase64Encoded=True)
        answer = _answer(event)
        assert answer["statusCode"] == status, (encoding, extra, answer)
        if status == 201:
            assert json.loads(answer["body"])["name"] == NAME


def test_a_path_one_segment_past_a_variable_is_not_the_route() -> None:
    event = route_event({**CHECKS[2], "path": "/things/7/parts"}, 0.0)
    assert _answer(event)["statusCode"] == 404


def test_a_quiet_routes_4xx_is_counted_apart_and_a_paging_routes_is_not(capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    _answer(route_event({**CHECKS[0], "body": '{"nope": 1}'}, 0.0))  # POST /things: client_errors_page=False
    _answer(route_event({**CHECKS[1], "method": "DELETE"}, 0.0))  # a 405 on a route whose 4xx page
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    counted = [(doc["Route"], name) for doc in written for name in service_metrics.DIMENSIONS if name in doc]
    assert counted == [("POST /things", service_metrics.EXPECTED_CLIENT_ERRORS)]


@pytest.fixture
def local_api() -> Iterator[LocalApi]:
    log = io.StringIO()
    api = LocalApi(
        ("127.0.0.1", 0),
        routes=frozenset(route.key for route in SHAPES),
        access_log_format=json.loads(access_log_format("compact")),
        handler=lambda event, context: handler.handle(ROUTER, event, context),
        access_log=log,
    )
    with serving(api):
        yield api


def test_smoke_passes_every_shape_over_http(local_api: LocalApi) -> None:
    smoke.run(local_api.url, 1, CHECKS)
    log = local_api.access_log
    assert isinstance(log, io.StringIO)
    served = [(json.loads(line)["r"], json.loads(line)["s"]) for line in log.getvalue().splitlines()]
    assert served == [(route.key, str(route.healthy.status)) for route in SHAPES]


def test_verify_passes_every_shape_and_its_unrouted_probes(local_api: LocalApi) -> None:
    rows = verify_api_rows(local_api.url, CHECKS)
    assert [row.check for row in rows][: len(SHAPES)] == [f"{r.key} answers its healthy sample" for r in SHAPES]
    assert all(row.ok for row in rows), [row for row in rows if not row.ok]
