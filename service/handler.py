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

# The one structured line per request carries exactly these fields (plus Lambda's own).
LOGGED_FIELDS = ("apiRequestId", "method", "path", "sourceIp", "userAgent", "status", "durationMs")

LOGGER = logging.getLogger("service")
try:
    LOGGER.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
except ValueError:  # an unknown level name must not stop the function from serving
    LOGGER.setLevel(logging.INFO)


class Request:
    """The parts of an HTTP API v2 event this function uses, already type-checked."""

    __slots__ = ("api_request_id", "method", "path", "source_ip", "user_agent")

    def __init__(self, method: str, path: str, api_request_id: str, source_ip: str, user_agent: str) -> None:
        self.method = method
        self.path = path
        self.api_request_id = api_request_id
        self.source_ip = source_ip
        self.user_agent = user_agent


def _text(mapping: dict[str, Any], key: str) -> str:
    value = mapping.get(key)
    return value[:MAX_LOGGED_CHARS] if isinstance(value, str) else ""


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
    return Request(
        method=method[:16].upper(),
        path=path[:MAX_LOGGED_CHARS],
        api_request_id=_text(context, "requestId"),
        source_ip=_text(http, "sourceIp"),
        user_agent=_text(http, "userAgent"),
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
            status, body = 400, {"message": STATUS_MESSAGES[400], "requestId": aws_request_id}
        else:
            status, body = route(request, aws_request_id)
    except Exception:
        LOGGER.exception("unhandled error")
        status, body = 500, {"message": STATUS_MESSAGES[500], "requestId": aws_request_id}
    # Only allow-listed fields: headers, cookies, query strings and bodies never reach the log.
    LOGGER.info(
        "request",
        extra={
            "apiRequestId": request.api_request_id if request else "",
            "method": request.method if request else "",
            "path": request.path if request else "",
            "sourceIp": request.source_ip if request else "",
            "userAgent": request.user_agent if request else "",
            "status": status,
            "durationMs": round((time.perf_counter() - started) * 1000, 3),
        },
    )
    return respond(status, body)
