"""GET / behind the API Gateway HTTP API (payload format 2.0).

Standard library only and no work at import beyond reading configuration: on a 128 MB
function every millisecond of import is paid again, about fourteen-fold, at cold start.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

ENVIRONMENT_NAME = os.environ.get("ENVIRONMENT_NAME", "local")
APP_VERSION = os.environ.get("APP_VERSION", "0.0.0")
# Anything copied from the request into a log line is capped: logs are not a free store.
MAX_LOGGED_CHARS = 256
RESPONSE_HEADERS = {
    "content-type": "application/json",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
STATUS_MESSAGES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}

# The per-request line (DEBUG) carries only what the access line lacks: the API request id to join on and the
# function's own duration; the access line has the rest. Lambda adds timestamp, level and its request id.
LOGGED_FIELDS = ("apiRequestId", "status", "durationMs")

LOGGER = logging.getLogger("service")
try:
    LOGGER.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
except ValueError:  # an unknown level name must not stop the function from serving
    LOGGER.setLevel(logging.INFO)


class Request:
    """The parts of an HTTP API v2 event this function uses, already type-checked."""

    __slots__ = ("api_request_id", "method", "path")

    def __init__(self, method: str, path: str, api_request_id: str) -> None:
        self.method = method
        self.path = path
        self.api_request_id = api_request_id


def parse_request(event: object) -> Request | None:
    """Return the request, or None when the event is not an HTTP API v2 request."""
    if not isinstance(event, dict):
        return None
    context = event.get("requestContext")
    http = context.get("http") if isinstance(context, dict) else None
    if not isinstance(context, dict) or not isinstance(http, dict):
        return None
    method = http.get("method")
    path = http.get("path", event.get("rawPath"))
    if not isinstance(method, str) or not isinstance(path, str):
        return None
    request_id = context.get("requestId")
    return Request(
        method=method[:16].upper(),
        path=path,
        api_request_id=request_id[:MAX_LOGGED_CHARS] if isinstance(request_id, str) else "",
    )


def route(request: Request, aws_request_id: str) -> tuple[int, dict[str, str]]:
    """Answer one request: the status code and the JSON body."""
    if request.path != "/":
        return 404, {"message": STATUS_MESSAGES[404], "requestId": aws_request_id}
    if request.method != "GET":
        return 405, {"message": STATUS_MESSAGES[405], "requestId": aws_request_id}
    return 200, {
        "message": "Hello from Prod",
        "requestId": aws_request_id,
        "environment": ENVIRONMENT_NAME,
        "version": APP_VERSION,
    }


def respond(status: int, body: dict[str, str]) -> dict[str, Any]:
    """The one place a response is built, so every answer carries the same safe headers."""
    return {
        "statusCode": status,
        "headers": dict(RESPONSE_HEADERS),
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def handler(event: object, context: object) -> dict[str, Any]:
    """Lambda entry point; never raises, whatever the event."""
    started = time.perf_counter()
    aws_request_id = getattr(context, "aws_request_id", None)
    if not isinstance(aws_request_id, str):
        aws_request_id = "unknown"
    request = None
    try:
        request = parse_request(event)
        if request is None:
            # API Gateway never sends this: someone invoked the function directly (or `make verify` did).
            LOGGER.warning("event is not an HTTP API payload 2.0 request")
            status, body = 400, {"message": STATUS_MESSAGES[400], "requestId": aws_request_id}
        else:
            status, body = route(request, aws_request_id)
    except Exception:
        api_request_id = request.api_request_id if request else ""
        LOGGER.exception("unhandled error", extra={"apiRequestId": api_request_id})
        status, body = 500, {"message": STATUS_MESSAGES[500], "requestId": aws_request_id}
    # Only allow-listed fields: headers, cookies, query strings and bodies never reach the log.
    if LOGGER.isEnabledFor(logging.DEBUG):
        LOGGER.debug(
            "request",
            extra={
                "apiRequestId": request.api_request_id if request else "",
                "status": status,
                "durationMs": round((time.perf_counter() - started) * 1000, 3),
            },
        )
    return respond(status, body)
