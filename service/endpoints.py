"""The functions that answer the routes: each takes a `Request` and returns (status, JSON body), or raises
`HttpError` for a client mistake. Plain functions: tested without an event, a context or a server."""

from __future__ import annotations

import os

from service.routing import Answer, Request, Schema

# Read once per cold start; the stack sets them (prod_serverless/function.py, ENVIRONMENT).
ENVIRONMENT_NAME = os.environ.get("ENVIRONMENT_NAME", "local")
APP_VERSION = os.environ.get("APP_VERSION", "0.0.0")


_TEXT = {"type": "string"}
HELLO: Schema = {
    "type": "object",
    "properties": {"message": _TEXT, "requestId": _TEXT, "environment": _TEXT, "version": _TEXT},
    "required": ["message", "requestId", "environment", "version"],
    "additionalProperties": False,
}


def hello(request: Request) -> Answer:
    """GET /: who answered, in which environment and version."""
    return 200, {
        "message": "Hello from Prod",
        "requestId": request.aws_request_id,
        "environment": ENVIRONMENT_NAME,
        "version": APP_VERSION,
    }
