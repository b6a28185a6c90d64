"""A stand-in for Lambda's JSON log format, so local runs and the benchmark pay for a real log line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

# The request id of the invocation running in this thread, as Lambda puts it in every line of that invocation.
REQUEST_ID: ContextVar[str] = ContextVar("lambda_request_id", default="local")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What `extra=` added to a record: the attributes a plain LogRecord does not have."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class LambdaJsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, message, logger, requestId, then the extra fields."""

    def __init__(self, request_id: str | None = None) -> None:
        super().__init__()
        self.request_id = request_id  # fixed, or the running invocation's (REQUEST_ID)

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": self.request_id or REQUEST_ID.get(),
        }
        line.update(extra_fields(record))
        if record.exc_info:
            line["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            line["stackTrace"] = self.formatException(record.exc_info).splitlines()
        return json.dumps(line, default=str)


@contextmanager
def invocation(request_id: str) -> Iterator[None]:
    """Lines logged inside carry `request_id`, as Lambda's lines carry their invocation's."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


def install(stream: TextIO, level: int = logging.INFO) -> logging.Handler:
    """Send the root logger's records to `stream` in the Lambda JSON format."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaJsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
