"""A stand-in for Lambda's JSON log format, so local runs and the benchmark pay for a real log line."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

# Lambda "Log-level filtering": the application log levels, least severe first, and the timestamp it accepts.
LAMBDA_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
RFC_3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

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


def delivered(line: str, application_level: str) -> bool:
    """Whether Lambda's log-level filtering sends a line written to stdout on to CloudWatch Logs: a JSON object's
    `level` counts only with a valid RFC 3339 `timestamp`; any other line is INFO (Lambda "Log-level filtering")."""
    level = "INFO"
    try:
        document = json.loads(line)
    except ValueError:
        document = None
    if isinstance(document, dict):
        named, stamp = document.get("level"), document.get("timestamp")
        if isinstance(named, str) and named.upper() in LAMBDA_LEVELS and isinstance(stamp, str):
            level = named.upper() if RFC_3339.fullmatch(stamp) else "INFO"
    return LAMBDA_LEVELS.index(level) >= LAMBDA_LEVELS.index(application_level)


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
