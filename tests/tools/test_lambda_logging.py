"""The stand-in for Lambda's JSON log format writes one JSON object with the extra fields."""

from __future__ import annotations

import io
import json
import logging

from tools.lambda_logging import LambdaJsonFormatter


def test_a_record_becomes_one_json_line_with_its_extra_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LambdaJsonFormatter(request_id="r-1"))
    logger = logging.getLogger("tests.lambda_logging")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("request", extra={"status": 200, "path": "/"})
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "message", "logger", "requestId", "status", "path")} == {
        "level": "WARNING",
        "message": "request",
        "logger": "tests.lambda_logging",
        "requestId": "r-1",
        "status": 200,
        "path": "/",
    }
    assert record["timestamp"].endswith("Z")
