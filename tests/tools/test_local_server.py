"""The local server answers like the HTTP API: routes from the template, 404s, 500 mapping, event shape."""

from __future__ import annotations

import errno
import http.client
import io
import json
import logging
import os
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from prod_serverless import function
from service.handler import handler
from service.routes import ROUTES
from tests.conftest import load_event
from tests.infra.helpers import SETTINGS
from tools import local_server
from tools.events import build_event
from tools.lambda_logging import install
from tools.local_server import (
    LocalApi,
    RouteKeys,
    load_template,
    routes,
    serve,
    stage_access_log_format,
)
from tools.offline_aws import offline_aws


class Recorder:
    """Wraps the real handler and keeps the events it was given."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.fail = False

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.events.append(event)
        if self.fail:
            raise RuntimeError("boom")
        return handler(event, context)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(template_file: Path, recorder: Recorder) -> Iterator[LocalApi]:
    api = serve(0, template_file, recorder)
    api.access_log = io.StringIO()
    thread = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield api
    api.shutdown()
    api.server_close()


def _get(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def test_routes_come_from_the_synthesized_template(template_file: Path) -> None:
    assert routes(load_template(template_file)) == frozenset(route.key for route in ROUTES)


def test_binds_loopback_only(server: LocalApi) -> None:
    assert server.server_address[0] == "127.0.0.1"


def test_get_root_reaches_the_handler(server: LocalApi) -> None:
    status, headers, body = _get(server.url + "/")
    assert status == 200
    assert body["message"] == "Hello from Prod"
    assert body["requestId"]
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("method", "path"), [("GET", "/nope"), ("POST", "/"), ("DELETE", "/")])
def test_unknown_routes_and_methods_are_http_api_404s(
    server: LocalApi, recorder: Recorder, method: str, path: str
) -> None:
    status, _, body = _get(server.url + path, method=method)
    assert (status, body) == (404, {"message": "Not Found"})
    assert recorder.events == []


def test_a_handler_exception_is_http_api_500(server: LocalApi, recorder: Recorder) -> None:
    recorder.fail = True
    status, _, body = _get(server.url + "/")
    assert (status, body) == (500, {"message": "Internal Server Error"})


def test_event_is_a_payload_2_event(server: LocalApi, recorder: Recorder) -> None:
    _get(server.url + "/?page=2&tag=a&tag=b", headers={"X-Custom": "Yes", "Cookie": "a=1; b=2", "User-Agent": "t/1"})
    (event,) = recorder.events
    assert event["version"] == "2.0"
    assert event["rawPath"] == "/"
    assert event["rawQueryString"] == "page=2&tag=a&tag=b"
    assert event["queryStringParameters"] == {"page": "2", "tag": "a,b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-custom"] == "Yes"
    assert all(name == name.lower() for name in event["headers"])
    http = event["requestContext"]["http"]
    assert (http["method"], http["path"], http["sourceIp"], http["userAgent"]) == ("GET", "/", "127.0.0.1", "t/1")
    assert event["requestContext"]["requestId"]
    assert event["requestContext"]["timeEpoch"] > 0


def _access_lines(server: LocalApi) -> list[dict[str, str]]:
    assert isinstance(server.access_log, io.StringIO)
    return [json.loads(line) for line in server.access_log.getvalue().splitlines()]


def test_each_request_is_logged_in_the_stages_access_log_format(server: LocalApi, template_file: Path) -> None:
    _get(server.url + "/", headers={"User-Agent": "t/1"})
    _get(server.url + "/missing")
    lines = _access_lines(server)
    assert [(line["r"], line["s"]) for line in lines] == [("GET /", "200"), ("-", "404")]
    assert set(lines[0]) == set(stage_access_log_format(load_template(template_file)))
    assert (lines[0]["ip"], lines[0]["m"]) == ("127.0.0.1", "GET")
    assert lines[0]["ilat"] != "-" and lines[1]["ilat"] == "-"


def test_one_request_id_in_the_answer_the_function_log_and_the_access_line(server: LocalApi) -> None:
    stream = io.StringIO()
    log_handler = install(stream, logging.DEBUG)
    service_logger = logging.getLogger("service")
    level = service_logger.level
    service_logger.setLevel(logging.DEBUG)  # the per-request line is DEBUG
    try:
        _, _, first = _get(server.url + "/")
        _, _, second = _get(server.url + "/")
    finally:
        logging.getLogger().removeHandler(log_handler)
        service_logger.setLevel(level)
    assert first["requestId"] != second["requestId"]
    function_lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["requestId"] for line in function_lines] == [first["requestId"], second["requestId"]]
    assert [line["fn"] for line in _access_lines(server)] == [first["requestId"], second["requestId"]]


def test_the_handler_runs_under_the_functions_environment_from_the_template(template_file: Path) -> None:
    api = serve(0, template_file)  # it resolves every variable, a resource's name to the offline AWS's
    rows = function.environment(SETTINGS)  # the table's rows, valued by the configured settings
    assert {name: os.environ[name] for name in rows} == rows
    thread = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        _, _, body = _get(api.url + "/")
    finally:
        api.shutdown()
        api.server_close()
    assert (body["environment"], body["version"]) == (SETTINGS.environment_label, SETTINGS.app_version)


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"x-big": "a" * 20_000}, 431, "Request Header Fields Too Large"),  # over HTTP API's 10240 bytes
        ({"x-big": "a" * 70_000}, 431, "Request Header Fields Too Large"),  # over http.server's own 64 KiB line
        ({"content-length": str(10 * 1024 * 1024 + 1)}, 413, "Request Entity Too Large"),
    ],
)
def test_requests_over_http_apis_quotas_get_its_json_error_and_an_access_line(
    server: LocalApi, recorder: Recorder, headers: dict[str, str], status: int, message: str
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
    connection.putrequest("GET", "/")
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (status, {"message": message})
    connection.close()
    assert recorder.events == []
    (line,) = _access_lines(server)
    assert line["s"] == str(status) and line["id"] == response.headers["apigw-requestid"]


def test_serves_concurrent_requests(server: LocalApi) -> None:
    def one(_: int) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
        connection.request("GET", "/")
        status = connection.getresponse().status
        connection.close()
        return status

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(one, range(12))) == [200] * 12


def test_event_builder_matches_the_sample_event_shape() -> None:
    sample = load_event("http_api_get_root.json")
    built = build_event(
        method="GET", raw_path="/", raw_query_string="", headers=sample["headers"].items(), source_ip="205.255.255.176"
    )
    assert set(built) == set(sample)
    assert set(built["requestContext"]) == set(sample["requestContext"])
    assert set(built["requestContext"]["http"]) == set(sample["requestContext"]["http"])
    assert built["headers"] == sample["headers"]
    assert handler(built, type("Context", (), {"aws_request_id": "x"})())["statusCode"] == 200


def test_a_port_in_use_is_one_line_and_exit_1(template_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert local_server.main(["--port", str(port), "--template", str(template_file)]) == 1
    assert capsys.readouterr().err == (
        f"make serve: port {port} is in use; stop what holds it or run `make serve PORT=8080`\n"
    )


def test_without_a_template_make_serve_says_to_synth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        local_server.main(["--template", str(tmp_path / "none.json")])
    assert exit_info.value.code == 2
    assert "run `make synth` first" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_a_port_out_of_range_is_one_line(port: str, template_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert local_server.main(["--port", port, "--template", str(template_file)]) == 1
    assert capsys.readouterr().err == (
        f"make serve: PORT={port} is not a port; give 1024-65535, e.g. `make serve PORT=8080`\n"
    )


def test_a_privileged_port_without_privileges_is_one_line(
    template_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(local_server, "serve", refuse)
    assert local_server.main(["--port", "80", "--template", str(template_file)]) == 1
    assert capsys.readouterr().err == (
        "make serve: port 80 needs privileges (below 1024); instead run `make serve PORT=8080`\n"
    )


def test_any_other_bind_failure_is_one_line(
    template_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")

    monkeypatch.setattr(local_server, "serve", refuse)
    assert local_server.main(["--port", "8080", "--template", str(template_file)]) == 1
    assert capsys.readouterr().err == (
        "make serve: port 8080 cannot be bound (Cannot assign requested address); instead run `make serve PORT=8080`\n"
    )


def test_route_keys_are_selected_as_http_api_selects_them() -> None:
    keys = RouteKeys(frozenset({"GET /items/{id}", "GET /items/special", "POST /items/{id}", "GET /files/{key+}"}))
    assert keys.match("GET", "/items/special") == ("GET /items/special", {})
    assert keys.match("GET", "/items/7") == ("GET /items/{id}", {"id": "7"})
    assert keys.match("POST", "/items/special") == ("POST /items/{id}", {"id": "special"})
    assert keys.match("GET", "/files/a/b") == ("GET /files/{key+}", {"key": "a/b"})
    assert keys.match("DELETE", "/items/7") is None


def test_an_event_over_lambdas_6_mb_payload_is_refused_like_http_api(server: LocalApi, recorder: Recorder) -> None:
    body = b"x" * (6 * 1024 * 1024)
    request = urllib.request.Request(server.url + "/", data=body, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    assert status == 413 and recorder.events == []  # the handler never sees it


@pytest.mark.parametrize(("failure", "printed"), [(ConnectionResetError(104, "reset"), False), (ValueError("x"), True)])
def test_a_client_hanging_up_prints_no_traceback_but_a_server_error_does(
    failure: Exception, printed: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    server = LocalApi(("127.0.0.1", 0), routes=frozenset(), access_log_format={}, handler=handler)
    try:
        try:
            raise failure
        except Exception:
            server.handle_error(None, ("127.0.0.1", 1))
    finally:
        server.server_close()
    assert (type(failure).__name__ in capsys.readouterr().err) is printed


def _handler(answer: str) -> Any:
    return lambda event, context: {"statusCode": 200, "body": answer}


def _touch(path: Path, text: str) -> None:
    """Write `text` and move the file's time on, as an editor's save would (a coarse clock can't hide it)."""
    path.write_text(text)
    stamp = path.stat().st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_a_change_under_service_is_served_at_the_next_request_without_a_restart(tmp_path: Path) -> None:
    code = tmp_path / "service"
    code.mkdir()
    _touch(code / "endpoints.py", "v1")
    loads = iter([(_handler("one"), frozenset({"GET /"})), (_handler("two"), frozenset({"GET /"}))])
    said: list[str] = []
    reloading = local_server.Reloading(lambda: next(loads), code, frozenset({"GET /"}), said.append)
    assert reloading({}, None)["body"] == "one" and reloading({}, None)["body"] == "one"  # unchanged: not reloaded
    _touch(code / "endpoints.py", "v2")
    assert reloading({}, None)["body"] == "two"
    assert said == ["make serve: service/ changed: reloaded the handler (a cold start)"]


def test_code_that_no_longer_imports_keeps_the_last_good_handler_and_says_why(tmp_path: Path) -> None:
    code = tmp_path / "service"
    code.mkdir()
    _touch(code / "handler.py", "v1")

    def load() -> Any:
        if (code / "handler.py").read_text() == "broken":
            raise SyntaxError("invalid syntax")
        return _handler("good"), frozenset({"GET /"})

    said: list[str] = []
    reloading = local_server.Reloading(load, code, frozenset({"GET /"}), said.append)
    _touch(code / "handler.py", "broken")
    assert reloading({}, None)["body"] == "good"
    assert said == [
        "make serve: service/ changed but does not import (SyntaxError: invalid syntax); still serving the code "
        "from before"
    ]


def test_a_new_route_in_the_table_says_to_synthesize_again(tmp_path: Path) -> None:
    code = tmp_path / "service"
    code.mkdir()
    _touch(code / "routes.py", "v1")
    loads = iter([(_handler("a"), frozenset({"GET /"})), (_handler("b"), frozenset({"GET /", "GET /items/{id}"}))])
    said: list[str] = []
    reloading = local_server.Reloading(lambda: next(loads), code, frozenset({"GET /"}), said.append)
    _touch(code / "routes.py", "v2")
    reloading({}, None)
    assert said[1] == (
        "make serve: the route table now differs from the synthesized template's (GET /items/{id}): stop and run "
        "`make serve` again, which synthesizes first"
    )


def test_the_real_service_reloads_with_its_route_table(template_file: Path) -> None:
    template = json.loads(template_file.read_text())
    variables = local_server.function_variables(template)
    with offline_aws(variables, template["Resources"], local_server.assembly_region(template_file)) as environment:
        handler, keys = local_server.load_service(environment)
    assert keys == local_server.routes(json.loads(template_file.read_text()))
    assert callable(handler)


def test_a_variable_the_offline_aws_cannot_resolve_is_one_line_and_nothing_is_served(
    template_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, a variable whose value is not a string was dropped without a word (the route then failed)."""
    template = json.loads(template_file.read_text())
    (function,) = [r for i, r in template["Resources"].items() if i.startswith(local_server.SERVICE_FUNCTION)
                   and r["Type"] == "AWS::Lambda::Function"]  # fmt: skip
    function["Properties"]["Environment"]["Variables"]["SHARED_TABLE"] = {"Fn::ImportValue": "SharedTable"}
    changed = tmp_path / "ProdServerlessStack.template.json"
    changed.write_text(json.dumps(template))
    assert local_server.main(["--port", "0", "--template", str(changed)]) == 1
    assert capsys.readouterr().err == (
        'make serve: environment variable SHARED_TABLE = {"Fn::ImportValue": "SharedTable"} cannot be resolved '
        "offline: it must be a string, or a Ref or Fn::GetAtt of one of the stack's DynamoDB::GlobalTable, "
        "DynamoDB::Table, S3::Bucket, SQS::Queue, SSM::Parameter, SecretsManager::Secret\n"
    )
