"""The function's own metrics, in CloudWatch embedded metric format: a JSON line on standard output that
CloudWatch turns into metrics, with no API call and no permission (Lambda "Publishing custom metrics with the
embedded metric format"; CloudWatch "Specification: Embedded metric format").

Written only when something is worth counting (a 5xx answer, or a 4xx a route declared normal), so a healthy
request writes nothing. The names and dimensions are the ones prod_serverless/metrics.py alarms on.
"""

from __future__ import annotations

import json
import os
import sys
import time

NAMESPACE = "ProdServerless"
# Set by Lambda for every function (Defined runtime environment variables); the version is the published
# version an alias invocation runs, so a release's alarm sees the new version alone.
FUNCTION_NAME = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
FUNCTION_VERSION = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
SERVER_ERRORS = "ServerErrors"
EXPECTED_CLIENT_ERRORS = "ExpectedClientErrors"
DIMENSIONS = {
    SERVER_ERRORS: [["FunctionName", "FunctionVersion"], ["FunctionName", "Route"]],
    EXPECTED_CLIENT_ERRORS: [["FunctionName"]],
}
# Lambda "Log-level filtering": a JSON line without a valid `level` (or RFC 3339 `timestamp`) is taken as INFO and
# dropped at WARN or ERROR. So each line says its level: its own, or the function's threshold if that is higher.
LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
OWN_LEVEL = {SERVER_ERRORS: "ERROR", EXPECTED_CLIENT_ERRORS: "INFO"}
# The function's application log level: the stack sets LOG_LEVEL and Lambda's filter from the same setting.
THRESHOLD = os.environ.get("LOG_LEVEL", "INFO").upper().replace("WARNING", "WARN")


def level(name: str, threshold: str | None = None) -> str:
    """The line's level: the metric's own, raised to `threshold` (the function's, THRESHOLD, unless given) so
    Lambda's filter always lets it through."""
    own = OWN_LEVEL[name]
    threshold = THRESHOLD if threshold is None else threshold
    if threshold not in LEVELS:
        return own
    return max(own, threshold, key=LEVELS.index)


def line(name: str, route: str, now: float | None = None) -> str:
    """One EMF document counting one `name` for `route` (`-` when the request matched none)."""
    milliseconds = int((time.time() if now is None else now) * 1000)
    seconds, fraction = divmod(milliseconds, 1000)
    document = {
        "level": level(name),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:03d}Z",
        "_aws": {
            "Timestamp": milliseconds,
            "CloudWatchMetrics": [
                {"Namespace": NAMESPACE, "Dimensions": DIMENSIONS[name], "Metrics": [{"Name": name, "Unit": "Count"}]}
            ],
        },
        "FunctionName": FUNCTION_NAME,
        "FunctionVersion": FUNCTION_VERSION,
        "Route": route,
        name: 1,
    }
    return json.dumps(document, separators=(",", ":"))


def count(name: str, route: str) -> None:
    """Write the document, followed by a newline, straight to standard output, as the Lambda page says."""
    sys.stdout.write(line(name, route) + "\n")
    sys.stdout.flush()
