"""`make serve`: the HTTP API on 127.0.0.1, in-process, configured from the synthesized template.

Each request becomes a payload 2.0 event for the real handler, which runs under the function's environment
variables from the template; unknown routes get HTTP API's 404 `{"message":"Not Found"}`, a handler exception
its 500 `{"message":"Internal Server Error"}`, a request over HTTP API's size quotas a JSON 413/431; every request
gets an access-log line in the stage's own format, and each invocation its own Lambda request id, the same in
the response, the function's log lines and the access line (`fn`). A protected route's authorization is applied
first, as HTTP API's authorizers would (tools/local_auth.py): JWT routes take the development issuer's tokens
(`make token`), IAM routes requests signed with the local development credentials. A change to the code under
service/ is picked up at the next request (imported again, a cold start); a change the template holds needs a new
synth.
No Docker, no AWS.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from prod_serverless.log_formats import render_access_line
from service.routing import path_pattern, specificity
from tools.events import LambdaContext, build_event
from tools.lambda_logging import install, invocation
from tools.local_auth import JWT, DevIssuer, RouteAuth, authorize, route_authorization
from tools.offline_aws import OfflineError, offline_aws

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
SERVICE_FUNCTION = "ProdFunction"  # logical-id prefix of the API's function
# API Gateway "Quotas for configuring and running an HTTP API": total combined size of request line and header
# values 10240 bytes; payload size 10 MB. The page gives the limits, not the answer; this server answers
# 431 / 413 in HTTP API's {"message": ...} shape and logs the request like any other.
MAX_REQUEST_LINE_AND_HEADERS = 10240
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# Lambda quotas: a synchronous invocation's request and response payloads are at most 6 MB each. What HTTP API
# then answers is not documented; threads on the REST API report 413 for the request and 502 for the response,
# which this server answers in HTTP API's {"message": ...} shape.
MAX_INVOCATION_BYTES = 6 * 1024 * 1024
# Where make serve answers the OpenAPI document of the table it serves (tools/openapi.py); the deployed API
# has no such route, and a route of the table with this path wins over it.
OPENAPI_PATH = "/openapi.json"
STATUS_MESSAGES = {
    400: "Bad Request",
    404: "Not Found",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


def stage_template() -> Path:
    """Where `make synth` wrote the configured stage's template (the `stage` setting); production's by default."""
    from prod_serverless.early import SETTINGS_ERROR
    from prod_serverless.settings import SettingsError, configured

    try:
        return Path(configured().names.template)
    except SettingsError as error:
        sys.exit(SETTINGS_ERROR.format(error))


def load_template(template_path: Path) -> dict[str, Any]:
    template: dict[str, Any] = json.loads(template_path.read_text())
    return template


def _resources(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def routes(template: dict[str, Any]) -> frozenset[str]:
    """Every RouteKey (for example "GET /") of the HTTP API in the synthesized template."""
    return frozenset(route["RouteKey"] for route in _resources(template, "AWS::ApiGatewayV2::Route"))


class RouteKeys:
    """HTTP API's route selection over the template's route keys: the most specific path that matches, for
    the request's method; path variables (`/items/{id}`) become the event's pathParameters."""

    def __init__(self, keys: frozenset[str]) -> None:
        self.keys = keys
        parsed = [(key, *key.split(" ", 1)) for key in keys]
        self._table = sorted(
            ((key, method, path_pattern(path)) for key, method, path in parsed),
            key=lambda row: specificity(row[0].split(" ", 1)[1]),
            reverse=True,
        )

    def match(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for key, route_method, pattern in self._table:
            found = pattern.fullmatch(path)
            if found and route_method == method:
                return key, found.groupdict()
        return None


def stage_access_log_format(template: dict[str, Any]) -> dict[str, str]:
    """The `$default` stage's access-log format: field name -> `$context` variable."""
    (stage,) = _resources(template, "AWS::ApiGatewayV2::Stage")
    fields: dict[str, str] = json.loads(stage["AccessLogSettings"]["Format"])
    return fields


def _function(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = [
        resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function" and logical_id.startswith(SERVICE_FUNCTION)
    ]
    return function  # type: ignore[no-any-return]


def function_runtime(template: dict[str, Any]) -> str:
    """The Lambda runtime the API's function is deployed on, e.g. python3.14."""
    return str(_function(template)["Runtime"])


def function_variables(template: dict[str, Any]) -> dict[str, object]:
    """The environment variables the stack gives the API's function, as the template writes them (a resource's
    name is a Ref): tools/offline_aws.py resolves them."""
    variables: dict[str, object] = _function(template).get("Environment", {}).get("Variables", {})
    return variables


def assembly_region(template_path: Path) -> str:
    """The Region of the stack in the cloud assembly beside the template (manifest.json: aws://account/region);
    without one, the configured Region."""
    manifest = template_path.parent / "manifest.json"
    artifacts = json.loads(manifest.read_text()).get("artifacts", {}) if manifest.exists() else {}
    for name, artifact in artifacts.items():
        if template_path.name in (f"{name}.template.json", artifact.get("properties", {}).get("templateFile")):
            region = str(artifact.get("environment", "")).rsplit("/", 1)[-1]
            if region and region != "unknown-region":
                return region
    from tools.aws import configured_region

    return configured_region()


def load_handler(environment: dict[str, str]) -> Handler:
    """The service's handler, imported afresh under `environment`: its modules read their configuration at
    import (a cold start), so every module of the package is imported again, as Lambda would.

    The process's own environment is left as it was: only the import sees the function's variables.
    """
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    try:
        for name in [name for name in sys.modules if name == "service" or name.startswith("service.")]:
            del sys.modules[name]
        module = importlib.import_module("service.handler")
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    handler: Handler = module.handler
    return handler


SERVICE_CODE = Path(__file__).resolve().parent.parent / "service"
Loaded = tuple[Handler, frozenset[str]]  # the handler, and the route keys of the table it was imported with


def code_stamp(directory: Path) -> tuple[tuple[str, int], ...]:
    """The code as it is now: each Python file under `directory` and its modification time."""
    return tuple(
        sorted((str(path.relative_to(directory)), path.stat().st_mtime_ns) for path in directory.rglob("*.py"))
    )


def load_service(environment: dict[str, str]) -> Loaded:
    """The handler imported afresh (load_handler) and the route keys of the table it now has."""
    handler = load_handler(environment)
    return handler, frozenset(route.key for route in sys.modules["service.routes"].ROUTES)


class Reloading:
    """The handler, imported again (a cold start, as a new Lambda version would be) when the code under `directory`
    changes between requests; what the template decides (routes, environment) still needs a new synth."""

    def __init__(
        self,
        load: Callable[[], Loaded],
        directory: Path,
        template_routes: frozenset[str],
        say: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    ) -> None:
        self.load, self.directory, self.template_routes, self.say = load, directory, template_routes, say
        self.lock = threading.Lock()
        self.stamp = code_stamp(directory)
        self.handler, _ = load()

    def current(self) -> Handler:
        """The handler for the next request: reloaded first if the code changed since the last one."""
        with self.lock:
            stamp = code_stamp(self.directory)
            if stamp != self.stamp:
                self.stamp = stamp
                try:
                    self.handler, keys = self.load()
                except Exception as error:  # a half-saved file: keep serving what worked, say what broke
                    self.say(f"make serve: service/ changed but does not import ({type(error).__name__}: {error}); "
                             "still serving the code from before")  # fmt: skip
                else:
                    self.say("make serve: service/ changed: reloaded the handler (a cold start)")
                    if keys != self.template_routes:
                        self.say(
                            "make serve: the route table now differs from the synthesized template's "
                            f"({', '.join(sorted(keys ^ self.template_routes))}): stop and run `make serve` again, "
                            "which synthesizes first"
                        )
            return self.handler

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self.current()(event, context)


class LocalApi(ThreadingHTTPServer):
    """A threading server that knows its routes, its handler and where to write access logs."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        *,
        routes: frozenset[str],
        access_log_format: dict[str, str],
        handler: Handler,
        access_log: Any = None,
        authorization: dict[str, RouteAuth] | None = None,
        keys: dict[str, Any] | None = None,
        contract: Callable[[str], dict[str, Any]] | None = None,
    ) -> None:
        self.contract = contract  # the OpenAPI document for this server's URL, served at OPENAPI_PATH
        self.on_close = ExitStack()  # what serve() opened for this server (the offline AWS), closed with it
        super().__init__(address, _RequestHandler)
        self.routes = routes
        self.authorization = authorization or {}  # route key -> its authorizer; public routes need none
        self.keys = keys or {}  # the trusted issuer's public keys by key id (JWT routes)
        self.route_keys = RouteKeys(routes)
        self.access_log_format = access_log_format
        self.handler = handler
        self.access_log = access_log if access_log is not None else sys.stderr
        self._log_lock = threading.Lock()

    def server_close(self) -> None:
        super().server_close()
        self.on_close.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-request is not the server's error: no traceback, as HTTP API prints none."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def write_access_log(self, context: dict[str, str]) -> None:
        """One line in the stage's own format; variables the local server cannot know are "-"."""
        line = render_access_line(self.access_log_format, context)
        with self._log_lock:
            self.access_log.write(line + "\n")
            self.access_log.flush()


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApi
    protocol_version = "HTTP/1.1"
    # Headers and body leave as two writes; with Nagle on, keep-alive clients wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def _request(self, received: float) -> dict[str, str]:
        """What the access line knows of any request, served or refused: its id, time, client and method."""
        return {
            "$context.requestId": uuid.uuid4().hex[:16],
            "$context.requestTimeEpoch": str(int(received * 1000)),
            "$context.identity.sourceIp": self.client_address[0],
            "$context.httpMethod": getattr(self, "command", None) or "-",  # unset when the request line is bad
        }

    def _serve(self) -> None:
        started, received = time.perf_counter(), time.time()
        parts = urlsplit(self.path)
        matched = self.server.route_keys.match(self.command, parts.path)
        context = {
            **self._request(received),
            "$context.requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(received)),
            "$context.routeKey": matched[0] if matched else "-",
            "$context.path": parts.path,
            "$context.protocol": self.request_version,
            "$context.identity.userAgent": self.headers.get("user-agent", "-"),
        }
        length = int(self.headers.get("content-length") or 0)
        over = self._over_quota(length)
        if over:
            self.close_connection = True  # the unread body must not be taken for the next request
            self._answer(over, _error(over), context, started)
            return
        raw = self.rfile.read(length) if length else b""
        body = raw.decode("utf-8", "replace") if length else None
        if matched is None and parts.path == OPENAPI_PATH and self.command in ("GET", "HEAD") and self.server.contract:
            document = json.dumps(self.server.contract(self.server.url), indent=2)
            self._answer(200, ({"content-type": "application/json"}, document), context, started)
            return
        if matched is None:
            self._answer(404, _error(404), context, started)
            return
        refusal, authorizer = authorize(
            self.server.authorization.get(matched[0]),
            method=self.command,
            url=f"http://{self.headers.get('host', self.server.url.removeprefix('http://'))}{self.path}",
            headers={name.lower(): value for name, value in self.headers.items()},
            body=raw,
            keys=self.server.keys,
        )
        if refusal is not None:  # refused before the function, as HTTP API's authorizer does: no invocation
            self._answer(refusal.status, (refusal.headers, refusal.body), context, started)
            return
        event = build_event(
            method=self.command,
            raw_path=parts.path,
            raw_query_string=parts.query,
            headers=self.headers.items(),
            source_ip=self.client_address[0],
            body=body,
            request_id=context["$context.requestId"],
            route_key=matched[0],
            path_parameters=matched[1],
            authorizer=authorizer,
        )
        if len(json.dumps(event)) > MAX_INVOCATION_BYTES:
            self._answer(413, _error(413), context, started)
            return
        lambda_context = LambdaContext()
        invoked = time.perf_counter()
        with invocation(lambda_context.aws_request_id):
            status, headers, payload = _invoke(self.server.handler, event, lambda_context)
        if len(payload.encode()) > MAX_INVOCATION_BYTES:
            status, (headers, payload) = 502, _error(502)
        context["$context.integrationLatency"] = str(round((time.perf_counter() - invoked) * 1000))
        context["$context.integrationStatus"] = "200"  # Lambda's Invoke answered, whatever the function did
        context["$context.awsEndpointRequestId"] = lambda_context.aws_request_id
        self._answer(status, (headers, payload), context, started)

    def _over_quota(self, length: int) -> int:
        """431 or 413 when the request is over HTTP API's size quotas; 0 when within them."""
        line_and_headers = len(self.requestline) + sum(len(value) for value in self.headers.values())
        if line_and_headers > MAX_REQUEST_LINE_AND_HEADERS:
            return 431
        return 413 if length > MAX_PAYLOAD_BYTES else 0

    def _answer(self, status: int, answer: tuple[dict[str, str], str], context: dict[str, str], started: float) -> None:
        headers, payload = answer
        data = payload.encode()
        context["$context.status"] = str(status)
        context["$context.responseLength"] = str(len(data))
        context["$context.responseLatency"] = str(round((time.perf_counter() - started) * 1000))
        # Logged before the answer goes out, so a client that has its answer can read its log line.
        self.server.write_access_log(context)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.send_header("apigw-requestid", context["$context.requestId"])
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a header line over 64 KiB, a malformed request line) in HTTP API's shape."""
        self.close_connection = True
        status = code if code in STATUS_MESSAGES else 400
        self._answer(status, _error(status), self._request(time.time()), time.perf_counter())

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the JSON access log above replaces http.server's own line."""


def _error(status: int) -> tuple[dict[str, str], str]:
    """HTTP API's own error answer: a JSON message and nothing else."""
    return {"content-type": "application/json"}, json.dumps({"message": STATUS_MESSAGES[status]}, separators=(",", ":"))


def _invoke(handler: Handler, event: dict[str, Any], context: LambdaContext) -> tuple[int, dict[str, str], str]:
    """Call the handler like the Lambda proxy integration; any failure is HTTP API's 500."""
    error = (500, *_error(500))
    try:
        result = handler(event, context)
    except Exception:  # the integration turns every function error into a 500
        return error
    if not isinstance(result, dict) or not isinstance(result.get("statusCode", 200), int):
        return error
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body", "")
    return int(result.get("statusCode", 200)), headers, body if isinstance(body, str) else json.dumps(body)


def local_contract(url: str) -> dict[str, Any]:
    """The OpenAPI document of the route table the handler now serves (reloaded with it), for make serve's URL."""
    from prod_serverless.settings import Settings, cdk_json_context, parse_pairs
    from tools.openapi import document

    table = importlib.import_module("service.routes").ROUTES  # the module the handler was last (re)loaded with
    settings = Settings.from_context({**cdk_json_context(), **parse_pairs(os.environ.get("CONTEXT", ""))})
    return document(table, settings, version=settings.app_version, server=url)


def serve(port: int, template_path: Path, handler: Handler | None = None, issuer: DevIssuer | None = None) -> LocalApi:
    """Bind 127.0.0.1:`port` (0 picks a free port); the caller runs serve_forever()."""
    template = load_template(template_path)
    with ExitStack() as offline:  # closed here if the server cannot start; else by the server's own close
        # The resources the function's variables name, in an in-memory AWS for as long as the server runs.
        environment = offline.enter_context(
            offline_aws(function_variables(template), template["Resources"], assembly_region(template_path))
        )
        if handler is None:
            handler = Reloading(lambda: load_service(environment), SERVICE_CODE, routes(template))
        authorization = route_authorization(template)
        api = LocalApi(
            ("127.0.0.1", port),
            routes=routes(template),
            access_log_format=stage_access_log_format(template),
            handler=handler,
            authorization=authorization,
            # Only an API with JWT routes makes (or reads) the development issuer's key.
            keys=(issuer or DevIssuer()).keys if any(a.kind == JWT for a in authorization.values()) else {},
            contract=local_contract,
        )
        api.on_close.push(offline.pop_all())
    return api


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--template", type=Path, help="default: the configured stage's (the `stage` setting)")
    args = parser.parse_args(argv)
    args.template = args.template or stage_template()
    if not args.template.exists():
        parser.error(f"{args.template} not found: run `make synth` first")
    if not 0 <= args.port <= 65535:
        print(
            f"make serve: PORT={args.port} is not a port; give 1024-65535, e.g. `make serve PORT=8080`", file=sys.stderr
        )
        return 1
    try:
        server = serve(args.port, args.template)
    except OfflineError as error:
        print(f"make serve: {error}", file=sys.stderr)
        return 1
    except OSError as error:
        reason = {
            errno.EADDRINUSE: "is in use; stop what holds it or",
            errno.EACCES: "needs privileges (below 1024); instead",
        }.get(error.errno or 0, f"cannot be bound ({error.strerror}); instead")
        print(f"make serve: port {args.port} {reason} run `make serve PORT=8080`", file=sys.stderr)
        return 1
    install(sys.stderr)  # the function's own log lines, as Lambda's JSON format writes them
    print(f"serving {sorted(server.routes)} on {server.url} (Ctrl-C stops)", file=sys.stderr)
    if server.keys:
        print(
            "note: JWT routes accept the local development issuer's tokens (`make token SCOPES=…`), not jwtIssuer's; "
            "IAM routes accept requests signed with the local development credentials (tools/local_auth.py)",
            file=sys.stderr,
        )
    template = load_template(args.template)
    named = [name for name, value in function_variables(template).items() if not isinstance(value, str)]
    if named:
        print(
            f"note: {', '.join(named)} name resources of an in-memory AWS (moto), made from the template's definitions "
            "with local credentials and no way out (tools/offline_aws.py); their data is gone when the server stops",
            file=sys.stderr,
        )
    print(
        f"note: the handler runs on this machine's Python {sys.version_info.major}.{sys.version_info.minor}; "
        f"the deployed function runs {function_runtime(template)}",
        file=sys.stderr,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
