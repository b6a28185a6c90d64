"""The pre-traffic hook: it reports Succeeded only for a 200 with the documented body, Failed for anything
else (wrong status, wrong body, an error in the new version, a failed call), and signs like the AWS SDK."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from pre_traffic_hook import handler as hook
from service import handler as service
from tests.conftest import FakeContext, load_event

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:ProdServerlessStack-ProdFunction-1:7"
ENVIRON = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "session-token",
    "TARGET_VERSION_ARN": TARGET,
}
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}


class FakeAws:
    """Stands in for Lambda and CodeDeploy at the HTTP layer: records each signed request, answers in order."""

    def __init__(self, invoke_answer: tuple[int, Mapping[str, str], bytes]) -> None:
        self.requests: list[urllib.request.Request] = []
        self.answers = [invoke_answer, (200, {}, b"{}")]

    def __call__(self, request: urllib.request.Request) -> tuple[int, Mapping[str, str], bytes]:
        self.requests.append(request)
        return self.answers.pop(0)

    def reported(self) -> dict[str, Any]:
        report = self.requests[-1]
        assert report.full_url == "https://codedeploy.us-east-1.amazonaws.com/"
        assert report.get_header("X-amz-target") == "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
        body: dict[str, Any] = json.loads(report.data)  # type: ignore[arg-type]
        return body


def _run(invoke_answer: tuple[int, Mapping[str, str], bytes]) -> tuple[str, FakeAws]:
    fake = FakeAws(invoke_answer)
    status = hook.run(EVENT, hook.Aws(ENVIRON, opener=fake), TARGET)
    return status, fake


def _answer(status: int, body: Any) -> bytes:
    return json.dumps({"statusCode": status, "headers": {}, "body": json.dumps(body)}).encode()


def test_a_version_that_answers_as_documented_is_let_through() -> None:
    real = service.handler(hook.get_root_event(1_764_410_400.0), FakeContext())
    status, fake = _run((200, {}, json.dumps(real).encode()))
    assert status == "Succeeded"
    invoke = fake.requests[0]
    assert invoke.full_url == (
        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/"
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AProdServerlessStack-ProdFunction-1%3A7/invocations"
    )
    assert fake.reported() == {
        "deploymentId": "d-ABCDEF123",
        "lifecycleEventHookExecutionId": "hook-execution-1",
        "status": "Succeeded",
    }


@pytest.mark.parametrize(
    "answer",
    [
        (200, {}, _answer(500, {"message": "Internal Server Error", "requestId": "r"})),  # wrong status
        (
            200,
            {},
            _answer(200, {"message": "Hello from Staging", "requestId": "r", "environment": "p", "version": "1"}),
        ),
        (200, {}, _answer(200, {"message": "Hello from Prod"})),  # wrong body: keys missing
        (200, {}, json.dumps({"statusCode": 200, "body": "not json"}).encode()),
        (200, {"X-Amz-Function-Error": "Unhandled"}, b'{"errorMessage":"boom"}'),  # the new version raised
        (403, {}, b'{"Message":"not authorized to invoke"}'),  # the invoke itself failed
    ],
    ids=["status-500", "wrong-message", "missing-keys", "body-not-json", "function-error", "invoke-denied"],
)
def test_anything_else_fails_the_release(answer: tuple[int, Mapping[str, str], bytes]) -> None:
    status, fake = _run(answer)
    assert status == "Failed"
    assert fake.reported()["status"] == "Failed"


def test_the_hooks_event_is_a_real_http_api_get_root_event() -> None:
    sample = load_event("http_api_get_root.json")
    built = hook.get_root_event(1_764_410_400.0)
    assert set(built) == set(sample) - {"cookies", "queryStringParameters", "body"}
    assert set(built["requestContext"]) == set(sample["requestContext"])
    assert set(built["requestContext"]["http"]) == set(sample["requestContext"]["http"])
    assert (built["routeKey"], built["rawPath"], built["requestContext"]["http"]["method"]) == ("GET /", "/", "GET")


def test_the_hook_expects_what_the_service_answers() -> None:
    answer = service.handler(hook.get_root_event(1_764_410_400.0), FakeContext())
    assert hook.verdict(answer) is None
    assert json.loads(answer["body"])["message"] == hook.EXPECTED_MESSAGE


@pytest.mark.parametrize(
    ("service_name", "url", "headers"),
    [
        (
            "lambda",
            "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A1%3Afunction%3Af%3A7/invocations",
            {"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse"},
        ),
        (
            "codedeploy",
            "https://codedeploy.us-east-1.amazonaws.com/",
            {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": hook.CODEDEPLOY_TARGET},
        ),
    ],
)
def test_signature_version_4_matches_botocore(
    service_name: str, url: str, headers: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-written signer gives botocore's exact Authorization header for the same request and time."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    now = datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC)
    body = b'{"k": "v"}'
    ours = hook.sign(
        urllib.request.Request(url, data=body, method="POST", headers=dict(headers)),
        service=service_name,
        region="us-east-1",
        credentials={"key": ENVIRON["AWS_ACCESS_KEY_ID"], "secret": ENVIRON["AWS_SECRET_ACCESS_KEY"], "token": "t"},
        now=now,
    )

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FrozenDatetime:
            return cls(2026, 11, 29, 10, 0, 0, tzinfo=tz)

        @classmethod
        def utcnow(cls) -> FrozenDatetime:
            return cls(2026, 11, 29, 10, 0, 0)

    monkeypatch.setattr(botocore.auth.datetime, "datetime", FrozenDatetime)
    theirs = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(
        Credentials(ENVIRON["AWS_ACCESS_KEY_ID"], ENVIRON["AWS_SECRET_ACCESS_KEY"], "t"), service_name, "us-east-1"
    ).add_auth(theirs)
    assert ours.get_header("Authorization") == theirs.headers["Authorization"]
    assert ours.get_header("X-amz-date") == theirs.headers["X-Amz-Date"]
