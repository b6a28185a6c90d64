"""A local server running for a test, and a tool run against it."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from tools import verify
from tools.callers import Callers
from tools.local_server import LocalApi


@contextmanager
def serving(api: LocalApi) -> Iterator[LocalApi]:
    """`api` answering on its own thread while the block runs, then shut down and closed."""
    threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    try:
        yield api
    finally:
        api.shutdown()
        api.server_close()


def verify_api_rows(url: str, checks: list[dict[str, Any]], callers: Callers | None = None) -> list[verify.Row]:
    """`make verify`'s API section against `url`: every check's sample, the unrouted probes, and a direct invocation
    of the alias (stubbed: answered 400, as the function answers an event that is not from API Gateway)."""
    lambda_client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(lambda_client)
    answer = json.dumps({"statusCode": 400, "body": json.dumps({"message": "Bad Request", "requestId": "d"})})
    stub.add_response(
        "invoke", {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(answer.encode()), len(answer))}, {
            "FunctionName": "alias", "Payload": ANY})  # fmt: skip
    stack = verify.Stack(url=url, bucket="", key_arn="", topic_arn="", alias_arn="alias", alarms={})
    verifier = verify.Verifier(clients={"lambda": lambda_client}, stack=stack, checks=checks, callers=callers)
    with stub:
        assert verifier.check_api()
    return verifier.rows
