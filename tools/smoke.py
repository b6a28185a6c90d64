"""`make smoke URL=…`: call a deployed (or local) endpoint and check it answers like the stack should."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import urllib.error
import urllib.request

from tools.aws import STACK_NAME, AwsUnavailableError, client, session, stack_outputs

OUTPUT_KEY = "ProdApiUrl"
EXPECTED_HEADERS = {
    "content-type": "application/json",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


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
        raise SmokeError(f"stack {STACK_NAME} has no {OUTPUT_KEY} output")
    return outputs[OUTPUT_KEY]


def check_once(url: str, timeout: float = 10.0) -> tuple[float, str]:
    """One GET: returns (latency in ms, the request id from the body) or raises SmokeError."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        raise SmokeError(f"GET {url} answered {error.code}: {error.read()[:200]!r}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise SmokeError(f"GET {url} failed: {error}") from error
    latency_ms = (time.perf_counter() - started) * 1000
    if status != 200:
        raise SmokeError(f"GET {url} answered {status}, expected 200")
    for name, expected in EXPECTED_HEADERS.items():
        if (headers.get(name) or "").split(";")[0].strip() != expected:
            raise SmokeError(f"header {name} is {headers.get(name)!r}, expected {expected!r}")
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise SmokeError(f"body is not JSON: {raw[:200]!r}") from error
    request_id = body.get("requestId") if isinstance(body, dict) else None
    if not isinstance(request_id, str) or not request_id:
        raise SmokeError(f"body has no requestId: {body!r}")
    return latency_ms, request_id


def run(url: str, requests: int) -> list[float]:
    """`requests` GETs; each must pass and carry a fresh request id. Returns the latencies."""
    latencies, seen = [], set()
    for _ in range(requests):
        latency, request_id = check_once(url)
        if request_id in seen:
            raise SmokeError(f"request id {request_id} was repeated")
        seen.add(request_id)
        latencies.append(latency)
    return latencies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="endpoint to call; defaults to the stack's ProdApiUrl output")
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args(argv)
    try:
        url = args.url or url_from_stack()
        latencies = run(url, args.requests)
    except SmokeError as error:
        print(f"smoke: FAIL: {error}", file=sys.stderr)
        return 1
    print(
        f"smoke: OK {url}: {len(latencies)} requests, latency ms "
        f"min {min(latencies):.1f} / p50 {statistics.median(latencies):.1f} / max {max(latencies):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
