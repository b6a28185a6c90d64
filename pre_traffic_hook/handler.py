"""CodeDeploy's BeforeAllowTraffic hook: before any traffic shifts, send the new version each route's sample
request as a real HTTP API v2 event, and fail the deployment unless every answer is the healthy one.

The checks come from the route table (service/routes.py) through checks.json, which the stack writes beside this
file at synth (an environment variable would hold only about 30 routes' samples: Lambda allows 4 KB in all).
They run a few at a time (PARALLEL_CHECKS), so a hundred routes are checked well inside the hook's own timeout.
Standard library only, as the API function: the two AWS calls (Lambda Invoke, CodeDeploy
PutLifecycleEventHookExecutionStatus) are signed here with Signature Version 4 from the function's
credentials, so nothing is packaged and no SDK version can change under it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Set by the stack (prod_serverless/release.py): the new version (its qualified ARN), how long one call to the
# new version may take, and how many calls run at once; the checks are a file beside this one.
TARGET_ENV = "TARGET_VERSION_ARN"
INVOKE_TIMEOUT_ENV = "INVOKE_TIMEOUT_SECONDS"
PARALLEL_ENV = "PARALLEL_CHECKS"
CHECKS_FILE = Path(__file__).resolve().with_name("checks.json")
# The template's copy of the checks, on this function's resource (make cost and the tests read it there).
CHECKS_METADATA = "prod:route-checks"
CODEDEPLOY_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
# A call to CodeDeploy answers in well under a second; this bounds it so the hook always gets to report.
REPORT_TIMEOUT_SECONDS = 10

LOGGER = logging.getLogger("pre_traffic_hook")
LOGGER.setLevel(logging.INFO)

Opener = Callable[[urllib.request.Request, float], tuple[int, Mapping[str, str], bytes]]


def route_event(check: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event of one check, as the `$default` stage sends it."""
    method, path, query, body = check["method"], check["path"], check.get("query") or "", check.get("body")
    headers = {"accept": "application/json", "host": "pre-traffic-hook", "user-agent": "codedeploy-pre-traffic"}
    if body is not None:
        headers["content-type"] = "application/json"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": check["route"],
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "pre-traffic-hook",
            "domainName": "pre-traffic-hook",
            "domainPrefix": "pre-traffic-hook",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "codedeploy-pre-traffic",
            },
            "requestId": f"pre-traffic-{int(now * 1000)}",
            "routeKey": check["route"],
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if check.get("authorizer"):
        # A protected route's event, as HTTP API sends it after its authorizer accepted the caller (payload 2.0).
        event["requestContext"]["authorizer"] = check["authorizer"]
    if query:
        event["queryStringParameters"] = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    if body is not None:
        event["body"] = body
    return event


def verdict(result: Any, check: Mapping[str, Any]) -> str | None:
    """None when the function answered the check's healthy answer (its status and exactly its body keys)."""
    if not isinstance(result, dict):
        return f"the answer is not an object: {str(result)[:200]}"
    if result.get("statusCode") != check["status"]:
        return f"statusCode is {result.get('statusCode')!r}, expected {check['status']}"
    try:
        body = json.loads(result.get("body") or "")
    except (TypeError, ValueError):
        return f"body is not JSON: {str(result.get('body'))[:200]}"
    if not isinstance(body, dict) or sorted(body) != sorted(check["keys"]):
        shown = sorted(body) if isinstance(body, dict) else body
        return f"body keys are {shown!r}, expected {sorted(check['keys'])}"
    return None


def sign(
    request: urllib.request.Request,
    *,
    service: str,
    region: str,
    credentials: Mapping[str, str],
    now: datetime,
) -> urllib.request.Request:
    """Add AWS Signature Version 4 headers to `request` (AWS General Reference, "Signature Version 4")."""
    url = urllib.parse.urlsplit(request.full_url)
    body = request.data if isinstance(request.data, bytes) else b""
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    request.add_header("X-Amz-Date", stamp)
    if credentials.get("token"):
        request.add_header("X-Amz-Security-Token", credentials["token"])
    headers = {name.lower(): " ".join(str(value).split()) for name, value in request.header_items()}
    headers["host"] = url.netloc
    signed = ";".join(sorted(headers))
    # Every service but S3 signs the path URI-encoded once more than it is sent.
    path = "/".join(urllib.parse.quote(segment, safe="-_.~") for segment in url.path.split("/"))
    canonical = "\n".join(
        [
            request.get_method(),
            path or "/",
            url.query,
            "".join(f"{name}:{headers[name]}\n" for name in sorted(headers)),
            signed,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{credentials['secret']}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    request.add_header(
        "Authorization",
        f"AWS4-HMAC-SHA256 Credential={credentials['key']}/{scope}, SignedHeaders={signed}, Signature={signature}",
    )
    return request


def urlopen(request: urllib.request.Request, timeout: float) -> tuple[int, Mapping[str, str], bytes]:
    """Send `request`; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - AWS endpoints only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Aws:
    """The two calls this hook makes, signed with the function's own credentials."""

    def __init__(self, environ: Mapping[str, str], opener: Opener = urlopen) -> None:
        self.region = environ["AWS_REGION"]
        self.invoke_timeout = float(environ[INVOKE_TIMEOUT_ENV])
        self.credentials = {
            "key": environ["AWS_ACCESS_KEY_ID"],
            "secret": environ["AWS_SECRET_ACCESS_KEY"],
            "token": environ.get("AWS_SESSION_TOKEN", ""),
        }
        self.opener = opener

    def _call(
        self, service: str, path: str, body: bytes, headers: Mapping[str, str], timeout: float
    ) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"https://{service}.{self.region}.amazonaws.com{path}", data=body, method="POST", headers=dict(headers)
        )
        signed = sign(request, service=service, region=self.region, credentials=self.credentials, now=_now())
        status, response_headers, payload = self.opener(signed, timeout)
        if status >= 300:
            raise RuntimeError(f"{service} answered {status}: {payload[:300]!r}")
        if response_headers.get("X-Amz-Function-Error") or response_headers.get("x-amz-function-error"):
            raise RuntimeError(f"the new version raised: {payload[:300]!r}")
        return status, payload

    def invoke(self, function_arn: str, event: Mapping[str, Any]) -> Any:
        """Lambda Invoke (RequestResponse) of exactly `function_arn`, a qualified version ARN."""
        path = f"/2015-03-31/functions/{urllib.parse.quote(function_arn, safe='')}/invocations"
        headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}
        _, payload = self._call("lambda", path, json.dumps(event).encode(), headers, self.invoke_timeout)
        return json.loads(payload)

    def report(self, deployment_id: str, execution_id: str, status: str) -> None:
        """CodeDeploy PutLifecycleEventHookExecutionStatus: Succeeded lets traffic shift, Failed rolls back."""
        body = {"deploymentId": deployment_id, "lifecycleEventHookExecutionId": execution_id, "status": status}
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": CODEDEPLOY_TARGET}
        self._call("codedeploy", "/", json.dumps(body).encode(), headers, REPORT_TIMEOUT_SECONDS)


def _now() -> datetime:
    return datetime.now(UTC)


def check_one(aws: Aws, target: str, check: Mapping[str, Any]) -> str | None:
    """None when `target` answers the check healthily, else what is wrong; never raises."""
    try:
        return verdict(aws.invoke(target, route_event(check, time.time())), check)
    except Exception as error:  # any failure to test is a failed test
        return f"could not run: {str(error)[:300]}"


def run(event: Mapping[str, Any], aws: Aws, target: str, checks: list[dict[str, Any]], parallel: int = 1) -> str:
    """Send `target` every check, `parallel` at a time, report the result to CodeDeploy, and return it
    ("Succeeded" or "Failed")."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        problems = list(pool.map(lambda check: check_one(aws, target, check), checks))
    for check, problem in zip(checks, problems, strict=True):
        LOGGER.info("pre-traffic check", extra={"target": target, "route": check["route"], "problem": problem})
    # No check is no proof.
    status = "Succeeded" if checks and all(problem is None for problem in problems) else "Failed"
    aws.report(str(event["DeploymentId"]), str(event["LifecycleEventHookExecutionId"]), status)
    return status


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    """Lambda entry point, invoked by CodeDeploy with DeploymentId and LifecycleEventHookExecutionId."""
    parallel = int(os.environ.get(PARALLEL_ENV) or "1")
    return {"status": run(event, Aws(os.environ), os.environ[TARGET_ENV], read_checks(CHECKS_FILE), parallel)}


def read_checks(path: Path) -> list[dict[str, Any]]:
    """The checks the stack wrote; none (so a failed release, reported at once) when they are unreadable."""
    try:
        checks = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return checks if isinstance(checks, list) and all(isinstance(c, dict) for c in checks) else []
