"""The Lambda entry point behind the API Gateway HTTP API (payload format 2.0): parse the event, dispatch it
over the route table (service/routes.py), build the answer in one place, log within an allow-list.

Standard library only and no work at import beyond reading configuration: on a 128 MB function every
millisecond of import is paid again, about fourteen-fold, at cold start.
"""

from __future__ import annotations

import json
import logging
import os
import time

from service import metrics
from service.routes import ROUTES
from service.routing import STATUS_MESSAGES, Body, HttpError, Request, Route, Router

TYPE_CHECKING = False  # typing only when checked: its import would cost every cold start (service/routing.py)
if TYPE_CHECKING:
    from typing import Any

# Anything copied from the request into a log line is capped: logs are not a free store.
MAX_LOGGED_CHARS = 256
RESPONSE_HEADERS = {
    "content-type": "application/json",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}

# The per-request line (DEBUG) carries only what the access line lacks: the API request id to join on and the
# function's own duration; the access line has the rest. Lambda adds timestamp, level and its request id.
LOGGED_FIELDS = ("apiRequestId", "status", "durationMs")

LOGGER = logging.getLogger("service")
try:
    LOGGER.setLevel(os.environ.get("LOG_LEVEL", "INFO").upper())
except ValueError:  # an unknown level name must not stop the function from serving
    LOGGER.setLevel(logging.INFO)

ROUTER = Router(ROUTES)


def _strings(value: object) -> dict[str, str]:
    """A header or query map as API Gateway sends it; anything else is empty."""
    if not isinstance(value, dict):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}


def parse_request(event: object, aws_request_id: str = "unknown") -> Request | None:
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
    body = event.get("body")
    headers = _strings(event.get("headers"))
    return Request(
        method=method[:16].upper(),
        path=path,
        api_request_id=request_id[:MAX_LOGGED_CHARS] if isinstance(request_id, str) else "",
        aws_request_id=aws_request_id,
        headers={name.lower(): value for name, value in headers.items()},
        query=_strings(event.get("queryStringParameters")),
        body=body if isinstance(body, str) else None,
        is_base64_encoded=event.get("isBase64Encoded") is True,
        authorizer=context.get("authorizer"),
    )


def error(status: int, aws_request_id: str, message: str | None = None) -> Body:
    """The body of every error answer: a message and the request id to quote to support."""
    return {"message": message or STATUS_MESSAGES[status], "requestId": aws_request_id}


def call(route: Route, request: Request) -> tuple[int, Body]:
    """Run the route's function; a client mistake it raises is answered, never logged (the body may hold anything)."""
    request.max_body_bytes = route.max_body_bytes
    try:
        if route.validates:
            from service.validation import validate  # only a route with a schema imports (and pays for) it

            problem = validate(route, request)
            if problem is not None:  # refused before the route runs: the message names where, not what was sent
                return 400, error(400, request.aws_request_id, problem)
        status, body = route.answer(request)
    except HttpError as refused:
        return refused.status, error(refused.status, request.aws_request_id, refused.message)
    if not isinstance(status, int) or not 100 <= status <= 599 or not isinstance(body, dict):
        raise TypeError(f"{route.key} must return (status, dict); got ({type(status).__name__}, {type(body).__name__})")
    return status, body


def respond(status: int, body: Body, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The one place a response is built, so every answer carries the same safe headers."""
    return {
        "statusCode": status,
        "headers": {**RESPONSE_HEADERS, **(headers or {})},
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def handle(router: Router, event: object, context: object) -> dict[str, Any]:
    """Answer `event` with `router`'s routes; never raises, whatever the event or a route function does."""
    started = time.perf_counter()
    aws_request_id = getattr(context, "aws_request_id", None)
    if not isinstance(aws_request_id, str):
        aws_request_id = "unknown"
    request = route = None
    extra: dict[str, str] = {}
    try:
        request = parse_request(event, aws_request_id)
        if request is None:
            # API Gateway never sends this: someone invoked the function directly (or `make verify` did).
            LOGGER.warning("event is not an HTTP API payload 2.0 request")
            status, body = 400, error(400, aws_request_id)
        else:
            route, parameters, allowed = router.find(request.method, request.path)
            if route is not None:
                request.path_parameters = parameters
                status, body = call(route, request)
            elif allowed:
                status, body, extra = 405, error(405, aws_request_id), {"allow": ", ".join(allowed)}
            else:
                status, body = 404, error(404, aws_request_id)
        answer = respond(status, body, extra)
    except Exception as failure:
        LOGGER.exception(
            "unhandled error",
            extra={"apiRequestId": request.api_request_id if request else "", "errorType": type(failure).__name__},
        )
        status = 500
        answer = respond(status, error(500, aws_request_id))
    if status >= 500:
        metrics.count(metrics.SERVER_ERRORS, route.key if route else "-")
    elif status >= 400 and route is not None and not route.client_errors_page:
        metrics.count(metrics.EXPECTED_CLIENT_ERRORS, route.key)
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
    return answer


def handler(event: object, context: object) -> dict[str, Any]:
    """Lambda entry point (`service.handler.handler`)."""
    return handle(ROUTER, event, context)
