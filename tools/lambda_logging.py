"""A stand-in for Lambda's JSON log format, so local runs and the benchmark pay for a real log line."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class LambdaJsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, message, logger, requestId, then the extra fields."""

    def __init__(self, request_id: str = "local") -> None:
        super().__init__()
        self.request_id = request_id

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": self.request_id,
        }
        line.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            line["errorType"] = record.exc_info[0].__name__ if record.exc_info[0] else "Exception"
            line["stackTrace"] = self.formatException(record.exc_info).splitlines()
        return json.dumps(line, default=str)


def install(stream: TextIO, level: int = logging.INFO) -> logging.Handler:
    """Send the root logger's records to `stream` in the Lambda JSON format."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaJsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    return handler
