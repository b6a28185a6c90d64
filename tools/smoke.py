"""`make smoke URL=…`: send every route's sample (service/routes.py) to a deployed or local endpoint and check
each answer is the healthy one: status, exact body keys, the safe headers, a fresh API request id. A protected
route must first refuse an anonymous request (HTTP API's 401 or 403) and, locally, a token without its scope
(403); then its sample is sent with credentials (tools/callers.py: a token, or a Signature Version 4)."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request
from typing import Any

from pre_traffic_hook.handler import verdict
from prod_serverless.settings import SettingsError
from service.routes import ROUTES
from service.routing import JWT
from tools.aws import AwsUnavailableError, client, session, stack_name, stack_outputs
from tools.callers import NO_SUCH_SCOPE, CallerError, Callers, callers_for

OUTPUT_KEY = "ProdApiUrl"
EXPECTED_HEADERS = {
    "content-type": "application/json",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
# HTTP API's answers to a caller its authorizer refused: the status and the message of its JSON body.
REFUSALS = {401: "Unauthorized", 403: "Forbidden"}


class SmokeError(Exception):
    """The endpoint did not answer as expected, or there is nothing to call."""


def url_from_stack() -> str:
    """The stack's ProdApiUrl output, read with the caller's AWS credentials."""
    try:
        outputs = stack_outputs(client(session(), "cloudformation"))
    except AwsUnavailableError as error:
        raise SmokeError(
            f"no URL given, and the stack's URL cannot be read: {error}; or pass URL=https://..."
        ) from error
    if OUTPUT_KEY not in outputs:
        raise SmokeError(f"stack {stack_name()} has no {OUTPUT_KEY} output")
    return outputs[OUTPUT_KEY]


def request_for(base_url: str, check: dict[str, Any]) -> urllib.request.Request:
    """The HTTP request of one check (a route's sample) against `base_url`."""
    url = base_url.rstrip("/") + check["path"] + (f"?{check['query']}" if check.get("query") else "")
    body = check["body"].encode() if check.get("body") is not None else None
    headers = {"content-type": "application/json"} if body is not None else {}
    return urllib.request.Request(url, data=body, method=check["method"], headers=headers)


def send(request: urllib.request.Request, timeout: float) -> tuple[int, dict[str, str], bytes]:
    """One request; an HTTP error status is an answer, not an exception."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def refusal(status: int, raw: bytes) -> bool:
    """Whether an answer is HTTP API's refusal of a caller: 401 or 403 with its own JSON message."""
    try:
        message = json.loads(raw).get("message")
    except (ValueError, AttributeError):
        return False
    return status in REFUSALS and isinstance(message, str) and bool(message)


def check_refusals(base_url: str, check: dict[str, Any], callers: Callers, timeout: float = 10.0) -> list[str]:
    """A protected route refuses an anonymous request, and (locally, where tokens are minted) a token without any of
    its scopes with 403. Returns the API request ids of those answers, or raises SmokeError."""
    probes: list[tuple[str, urllib.request.Request, tuple[int, ...]]] = [
        ("an anonymous request", request_for(base_url, check), tuple(REFUSALS))
    ]
    if check.get("authorization") == JWT and callers.local:
        request = request_for(base_url, check)
        callers.authenticate(request, check, scopes=[NO_SUCH_SCOPE])
        probes.append((f"a token with scope {NO_SUCH_SCOPE} only", request, (403,)))
    ids = []
    for what, request, expected in probes:
        try:
            status, headers, raw = send(request, timeout)
        except (urllib.error.URLError, TimeoutError) as error:
            raise SmokeError(f"{check['route']}: {request.get_method()} {request.full_url} failed: {error}") from error
        if status not in expected or not refusal(status, raw):
            raise SmokeError(
                f"{check['route']}: {what} got {status} {raw[:80]!r}; a {check['authorization']} route must be refused "
                f"by HTTP API with {' or '.join(map(str, expected))}"
            )
        ids.append(headers.get("apigw-requestid", ""))
    return ids


def check_once(
    base_url: str, check: dict[str, Any], timeout: float = 10.0, callers: Callers | None = None
) -> tuple[float, str]:
    """One route's sample, with its credentials: returns (latency in ms, the API request id) or raises SmokeError."""
    request = request_for(base_url, check)
    if check.get("authorization"):
        if callers is None:
            raise SmokeError(f"{check['route']}: a {check['authorization']} route needs credentials (tools/callers.py)")
        try:
            callers.authenticate(request, check)
        except (CallerError, AwsUnavailableError) as error:
            raise SmokeError(f"{check['route']}: {error}") from error
    started = time.perf_counter()
    try:
        status, headers, raw = send(request, timeout)
    except (urllib.error.URLError, TimeoutError) as error:
        raise SmokeError(f"{check['route']}: {request.get_method()} {request.full_url} failed: {error}") from error
    latency_ms = (time.perf_counter() - started) * 1000
    problem = verdict({"statusCode": status, "body": raw.decode("utf-8", "replace")}, check)
    if problem:
        raise SmokeError(f"{check['route']}: {request.get_method()} {request.full_url}: {problem}")
    for name, expected in EXPECTED_HEADERS.items():
        if (headers.get(name) or "").split(";")[0].strip() != expected:
            raise SmokeError(f"{check['route']}: header {name} is {headers.get(name)!r}, expected {expected!r}")
    request_id = headers.get("apigw-requestid", "")
    if not request_id:
        raise SmokeError(f"{check['route']}: the answer has no apigw-requestid header (is this the API?)")
    return latency_ms, request_id


def run(
    url: str, requests: int, checks: list[dict[str, Any]] | None = None, callers: Callers | None = None
) -> list[float]:
    """`requests` rounds over every route's check; each must pass with a fresh request id, a protected route's
    refusals first. Returns latencies."""
    checks = checks if checks is not None else [route.check() for route in ROUTES]
    if callers is None and any(check.get("authorization") for check in checks):
        try:
            callers = callers_for(url)
        except SettingsError as error:
            raise SmokeError(f"configuration error: {error}") from error
    latencies, seen = [], set()
    for check in checks:
        if check.get("authorization") and callers is not None:
            seen.update(check_refusals(url, check, callers))
    for _ in range(requests):
        for check in checks:
            latency, request_id = check_once(url, check, callers=callers)
            if request_id in seen:
                raise SmokeError(f"request id {request_id} was repeated")
            seen.add(request_id)
            latencies.append(latency)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="endpoint to call; defaults to the stack's ProdApiUrl output")
    parser.add_argument("--requests", type=int, default=5, help="rounds over every route")
    args = parser.parse_args(argv)
    try:
        url = args.url or url_from_stack()
        latencies = run(url, args.requests)
    except SmokeError as error:
        print(f"smoke: FAIL: {error}", file=sys.stderr)
        return 1
    print(
        f"smoke: OK {url}: {len(ROUTES)} route(s), {len(latencies)} requests, latency ms "
        f"min {min(latencies):.1f} / p50 {statistics.median(latencies):.1f} / max {max(latencies):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
