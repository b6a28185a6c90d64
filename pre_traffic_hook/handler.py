"""CodeDeploy's BeforeAllowTraffic hook: before any traffic shifts, invoke the new version with a real
HTTP API v2 `GET /` event and fail the deployment unless it answers 200 with the documented body.

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
from datetime import UTC, datetime
from typing import Any

# The new version, set by CloudFormation to the Version resource being deployed (its qualified ARN).
TARGET_ENV = "TARGET_VERSION_ARN"
EXPECTED_STATUS = 200
EXPECTED_MESSAGE = "Hello from Prod"
EXPECTED_BODY_KEYS = frozenset({"message", "requestId", "environment", "version"})
CODEDEPLOY_TARGET = "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"

LOGGER = logging.getLogger("pre_traffic_hook")
LOGGER.setLevel(logging.INFO)

Opener = Callable[[urllib.request.Request], tuple[int, Mapping[str, str], bytes]]


def get_root_event(now: float) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) `GET /` event, as the `$default` stage sends it."""
    return {
        "version": "2.0",
        "routeKey": "GET /",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"accept": "application/json", "host": "pre-traffic-hook", "user-agent": "codedeploy-pre-traffic"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "pre-traffic-hook",
            "domainName": "pre-traffic-hook",
            "domainPrefix": "pre-traffic-hook",
            "http": {
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "codedeploy-pre-traffic",
            },
            "requestId": f"pre-traffic-{int(now * 1000)}",
            "routeKey": "GET /",
            "stage": "$default",
            "time": datetime.fromtimestamp(now, UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }


def verdict(result: Any) -> str | None:
    """None when the function answered as documented, else what is wrong."""
    if not isinstance(result, dict):
        return f"the answer is not an object: {str(result)[:200]}"
    if result.get("statusCode") != EXPECTED_STATUS:
        return f"statusCode is {result.get('statusCode')!r}, expected {EXPECTED_STATUS}"
    try:
        body = json.loads(result.get("body") or "")
    except (TypeError, ValueError):
        return f"body is not JSON: {str(result.get('body'))[:200]}"
    if not isinstance(body, dict) or set(body) != EXPECTED_BODY_KEYS:
        return (
            f"body keys are {sorted(body) if isinstance(body, dict) else body!r}, expected {sorted(EXPECTED_BODY_KEYS)}"
        )
    if body["message"] != EXPECTED_MESSAGE:
        return f"message is {body['message']!r}, expected {EXPECTED_MESSAGE!r}"
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


def urlopen(request: urllib.request.Request) -> tuple[int, Mapping[str, str], bytes]:
    """Send `request`; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - AWS endpoints only
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class Aws:
    """The two calls this hook makes, signed with the function's own credentials."""

    def __init__(self, environ: Mapping[str, str], opener: Opener = urlopen) -> None:
        self.region = environ["AWS_REGION"]
        self.credentials = {
            "key": environ["AWS_ACCESS_KEY_ID"],
            "secret": environ["AWS_SECRET_ACCESS_KEY"],
            "token": environ.get("AWS_SESSION_TOKEN", ""),
        }
        self.opener = opener

    def _call(self, service: str, path: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"https://{service}.{self.region}.amazonaws.com{path}", data=body, method="POST", headers=dict(headers)
        )
        signed = sign(request, service=service, region=self.region, credentials=self.credentials, now=_now())
        status, response_headers, payload = self.opener(signed)
        if status >= 300:
            raise RuntimeError(f"{service} answered {status}: {payload[:300]!r}")
        if response_headers.get("X-Amz-Function-Error") or response_headers.get("x-amz-function-error"):
            raise RuntimeError(f"the new version raised: {payload[:300]!r}")
        return status, payload

    def invoke(self, function_arn: str, event: Mapping[str, Any]) -> Any:
        """Lambda Invoke (RequestResponse) of exactly `function_arn`, a qualified version ARN."""
        path = f"/2015-03-31/functions/{urllib.parse.quote(function_arn, safe='')}/invocations"
        headers = {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"}
        _, payload = self._call("lambda", path, json.dumps(event).encode(), headers)
        return json.loads(payload)

    def report(self, deployment_id: str, execution_id: str, status: str) -> None:
        """CodeDeploy PutLifecycleEventHookExecutionStatus: Succeeded lets traffic shift, Failed rolls back."""
        body = {"deploymentId": deployment_id, "lifecycleEventHookExecutionId": execution_id, "status": status}
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": CODEDEPLOY_TARGET}
        self._call("codedeploy", "/", json.dumps(body).encode(), headers)


def _now() -> datetime:
    return datetime.now(UTC)


def run(event: Mapping[str, Any], aws: Aws, target: str) -> str:
    """Test `target`, report the result to CodeDeploy, and return it ("Succeeded" or "Failed")."""
    status = "Failed"
    try:
        problem = verdict(aws.invoke(target, get_root_event(time.time())))
        status = "Succeeded" if problem is None else "Failed"
        LOGGER.info("pre-traffic check", extra={"target": target, "status": status, "problem": problem})
    except Exception as error:  # any failure to test is a failed test
        LOGGER.error("pre-traffic check could not run", extra={"target": target, "error": str(error)[:300]})
    aws.report(str(event["DeploymentId"]), str(event["LifecycleEventHookExecutionId"]), status)
    return status


def handler(event: dict[str, Any], context: object) -> dict[str, str]:
    """Lambda entry point, invoked by CodeDeploy with DeploymentId and LifecycleEventHookExecutionId."""
    return {"status": run(event, Aws(os.environ), os.environ[TARGET_ENV])}
