"""`make serve`: the HTTP API on 127.0.0.1, in-process, with routes read from the synthesized template.

Each request becomes a payload 2.0 event for the real handler; unknown routes get HTTP API's
404 `{"message":"Not Found"}`, a handler exception its 500 `{"message":"Internal Server Error"}`,
and every request is logged like the stage's JSON access log. No Docker, no AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tools.events import LambdaContext, build_event
from tools.lambda_logging import install

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
DEFAULT_TEMPLATE = Path("cdk.out/ProdServerlessStack.template.json")


def _resources(template_path: Path, kind: str) -> list[dict[str, Any]]:
    template = json.loads(template_path.read_text())
    return [r["Properties"] for r in template["Resources"].values() if r["Type"] == kind]


def routes_from_template(template_path: Path) -> frozenset[str]:
    """Every RouteKey (for example "GET /") of the HTTP API in the synthesized template."""
    return frozenset(route["RouteKey"] for route in _resources(template_path, "AWS::ApiGatewayV2::Route"))


def access_log_format_from_template(template_path: Path) -> dict[str, str]:
    """The `$default` stage's access-log format: field name -> `$context` variable."""
    (stage,) = _resources(template_path, "AWS::ApiGatewayV2::Stage")
    fields: dict[str, str] = json.loads(stage["AccessLogSettings"]["Format"])
    return fields


def default_handler() -> Handler:
    from service.handler import handler

    return handler


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
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.routes = routes
        self.access_log_format = access_log_format
        self.handler = handler
        self.access_log = access_log if access_log is not None else sys.stderr
        self._log_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def write_access_log(self, context: dict[str, str]) -> None:
        """One line in the stage's own format; variables the local server cannot know are "-"."""
        entry = {name: context.get(variable, "-") for name, variable in self.access_log_format.items()}
        with self._log_lock:
            self.access_log.write(json.dumps(entry, separators=(",", ":")) + "\n")
            self.access_log.flush()


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApi
    protocol_version = "HTTP/1.1"
    # Headers and body leave as two writes; with Nagle on, keep-alive clients wait ~40 ms for a delayed ACK.
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        started, received = time.perf_counter(), time.time()
        request_id = uuid.uuid4().hex[:16]
        parts = urlsplit(self.path)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else None
        route_key = f"{self.command} {parts.path}"
        integration_latency = "-"
        if route_key not in self.server.routes:
            status, headers, payload = 404, {"content-type": "application/json"}, '{"message":"Not Found"}'
        else:
            event = build_event(
                method=self.command,
                raw_path=parts.path,
                raw_query_string=parts.query,
                headers=self.headers.items(),
                source_ip=self.client_address[0],
                body=body,
                request_id=request_id,
            )
            invoked = time.perf_counter()
            status, headers, payload = _invoke(self.server.handler, event)
            integration_latency = str(round((time.perf_counter() - invoked) * 1000))
        data = payload.encode()
        # Logged before the answer goes out, so a client that has its answer can read its log line.
        self.server.write_access_log(
            {
                "$context.requestId": request_id,
                "$context.requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(received)),
                "$context.requestTimeEpoch": str(int(received * 1000)),
                "$context.identity.sourceIp": self.client_address[0],
                "$context.httpMethod": self.command,
                "$context.routeKey": route_key if route_key in self.server.routes else "-",
                "$context.path": parts.path,
                "$context.protocol": self.request_version,
                "$context.status": str(status),
                "$context.responseLength": str(len(data)),
                "$context.responseLatency": str(round((time.perf_counter() - started) * 1000)),
                "$context.integrationLatency": integration_latency,
                "$context.integrationStatus": str(status) if integration_latency != "-" else "-",
                "$context.identity.userAgent": self.headers.get("user-agent", "-"),
            }
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.send_header("apigw-requestid", request_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: the JSON access log above replaces http.server's own line."""


def _invoke(handler: Handler, event: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """Call the handler like the Lambda proxy integration; any failure is HTTP API's 500."""
    error = (500, {"content-type": "application/json"}, '{"message":"Internal Server Error"}')
    try:
        result = handler(event, LambdaContext())
    except Exception:  # the integration turns every function error into a 500
        return error
    if not isinstance(result, dict) or not isinstance(result.get("statusCode", 200), int):
        return error
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body", "")
    return int(result.get("statusCode", 200)), headers, body if isinstance(body, str) else json.dumps(body)


def serve(port: int, template: Path, handler: Handler | None = None) -> LocalApi:
    """Bind 127.0.0.1:`port` (0 picks a free port); the caller runs serve_forever()."""
    return LocalApi(
        ("127.0.0.1", port),
        routes=routes_from_template(template),
        access_log_format=access_log_format_from_template(template),
        handler=handler or default_handler(),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    args = parser.parse_args(argv)
    if not args.template.exists():
        parser.error(f"{args.template} not found: run `make synth` first")
    install(sys.stderr)  # the function's own log lines, as Lambda's JSON format writes them
    server = serve(args.port, args.template)
    print(f"serving {sorted(server.routes)} on {server.url} (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
