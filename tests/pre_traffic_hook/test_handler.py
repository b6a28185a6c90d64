"""The pre-traffic hook: it reports Succeeded only when every route's sample gets its healthy answer, Failed
for anything else (each condition of the verdict changed alone from a healthy answer), and signs like the SDK."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pre_traffic_hook import handler as hook
from service.routes import ROUTES
from tests.conftest import FakeContext, Synthesized, load_event
from tests.infra.helpers import SETTINGS
from tools.local_server import function_variables, load_handler
from tools.offline_aws import offline_aws

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:ProdServerlessStack-ProdFunction-1:7"
ENVIRON = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "session-token",
    "TARGET_VERSION_ARN": TARGET,
    "INVOKE_TIMEOUT_SECONDS": "20",
}
EVENT = {"DeploymentId": "d-ABCDEF123", "LifecycleEventHookExecutionId": "hook-execution-1"}
CHECKS = [route.check() for route in ROUTES]
Answer = tuple[int, Mapping[str, str], bytes]


class FakeAws:
    """Stands in for Lambda and CodeDeploy at the HTTP layer: records each signed request and its timeout, and
    answers each check's invocation with the answer at that check's place (the checks may run in any order)."""

    def __init__(self, invoke_answers: list[Answer], checks: list[dict[str, Any]] = CHECKS) -> None:
        self.requests: list[urllib.request.Request] = []
        self.timeouts: list[float] = []
        self.by_route = {check["route"]: answer for check, answer in zip(checks, invoke_answers, strict=False)}
        self.report_answer: Answer = (200, {}, b"{}")
        self.lock = threading.Lock()

    def __call__(self, request: urllib.request.Request, timeout: float) -> Answer:
        with self.lock:
            self.requests.append(request)
            self.timeouts.append(timeout)
        if "codedeploy" in request.full_url:
            return self.report_answer
        return self.by_route[json.loads(request.data)["routeKey"]]  # type: ignore[arg-type]

    def reported(self) -> dict[str, Any]:
        report = self.requests[-1]
        assert report.full_url == "https://codedeploy.us-east-1.amazonaws.com/"
        assert report.get_header("X-amz-target") == "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus"
        body: dict[str, Any] = json.loads(report.data)  # type: ignore[arg-type]
        return body


def _healthy(check: dict[str, Any]) -> dict[str, Any]:
    """A healthy answer to the check, as its route's row defines one (test_the_hook_expects_what_the_service_answers
    holds the real service to it): the hook is under test here, not the routes, which may need AWS."""
    body = {key: f"sample-{key}" for key in check["keys"]}
    return {"statusCode": check["status"], "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _invoked(result: Any, headers: Mapping[str, str] | None = None, status: int = 200) -> Answer:
    return status, headers or {}, json.dumps(result).encode()


def _run(answers: list[Answer], checks: list[dict[str, Any]] = CHECKS, parallel: int = 1) -> tuple[str, FakeAws]:
    fake = FakeAws(answers, checks)
    status = hook.run(EVENT, hook.Aws(ENVIRON, opener=fake), TARGET, checks, parallel)
    return status, fake


def test_a_version_that_answers_every_route_healthily_is_let_through() -> None:
    status, fake = _run([_invoked(_healthy(check)) for check in CHECKS])
    assert status == "Succeeded"
    invokes = fake.requests[:-1]
    assert len(invokes) == len(CHECKS)
    assert invokes[0].full_url == (
        "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/"
        "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3AProdServerlessStack-ProdFunction-1%3A7/invocations"
    )
    sent = [json.loads(request.data)["routeKey"] for request in invokes]  # type: ignore[arg-type]
    assert sent == [check["route"] for check in CHECKS]
    assert fake.reported() == {
        "deploymentId": "d-ABCDEF123",
        "lifecycleEventHookExecutionId": "hook-execution-1",
        "status": "Succeeded",
    }


def test_each_call_waits_only_as_long_as_it_may() -> None:
    _, fake = _run([_invoked(_healthy(check)) for check in CHECKS])
    assert fake.timeouts == [20.0] * len(CHECKS) + [hook.REPORT_TIMEOUT_SECONDS]


def _changed(change: str) -> Answer:
    """The first route's healthy answer with exactly one thing changed."""
    healthy = _healthy(CHECKS[0])
    if change == "status":
        return _invoked({**healthy, "statusCode": healthy["statusCode"] + 1})
    if change == "one-key-missing":
        body = json.loads(healthy["body"])
        body.pop(sorted(body)[0])
        return _invoked({**healthy, "body": json.dumps(body)})
    if change == "one-key-more":
        return _invoked({**healthy, "body": json.dumps({**json.loads(healthy["body"]), "extra": 1})})
    if change == "body-not-json":
        return _invoked({**healthy, "body": healthy["body"][:-1]})
    if change == "function-error":
        return _invoked(healthy, headers={"X-Amz-Function-Error": "Unhandled"})
    if change == "invoke-denied":
        return _invoked(healthy, status=403)
    raise AssertionError(change)


@pytest.mark.parametrize(
    "change", ["status", "one-key-missing", "one-key-more", "body-not-json", "function-error", "invoke-denied"]
)
def test_one_thing_wrong_fails_the_release(change: str) -> None:
    rest = [_invoked(_healthy(check)) for check in CHECKS[1:]]
    status, fake = _run([_changed(change), *rest])
    assert status == "Failed"
    assert fake.reported()["status"] == "Failed"


def test_a_failing_later_route_fails_the_release() -> None:
    checks = [*CHECKS, {**CHECKS[0], "route": "GET /again"}]
    answers = [_invoked(_healthy(check)) for check in CHECKS] + [_changed("status")]
    assert _run(answers, checks)[0] == "Failed"


def test_no_checks_is_no_proof() -> None:
    status, fake = _run([], [])
    assert status == "Failed" and fake.reported()["status"] == "Failed"


@pytest.mark.parametrize("written", ["", "not json", '{"a": 1}', "[1]", None])
def test_unreadable_checks_are_none(written: str | None, tmp_path: Path) -> None:
    path = tmp_path / "checks.json"
    if written is not None:  # None: no file at all
        path.write_text(written)
    assert hook.read_checks(path) == []


def test_the_checks_the_stack_writes_are_read_back(tmp_path: Path) -> None:
    (tmp_path / "checks.json").write_text(json.dumps(CHECKS))
    assert hook.read_checks(tmp_path / "checks.json") == CHECKS


def test_many_checks_run_at_once_and_one_bad_answer_among_them_fails_the_release() -> None:
    checks = [{**CHECKS[0], "route": f"GET /r{n}"} for n in range(25)]
    healthy = _invoked(_healthy(CHECKS[0]))
    status, fake = _run([healthy] * 25, checks, parallel=10)
    assert status == "Succeeded" and len(fake.requests) == 26
    sent = sorted(json.loads(r.data)["routeKey"] for r in fake.requests[:-1])  # type: ignore[arg-type]
    assert sent == sorted(check["route"] for check in checks)
    assert _run([healthy] * 24 + [_changed("status")], checks, parallel=10)[0] == "Failed"


def test_checks_run_at_most_parallel_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    real = hook.check_one
    # The first three checks wait for each other: they meet only if three really run at once, so a loaded machine
    # cannot make this flaky (with fewer at once the barrier breaks and the run raises); a fourth at once would
    # raise `most` above three.
    first_three = threading.Barrier(3, timeout=5)

    def counting(aws: Any, target: str, check: Any) -> str | None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        if check["route"] in ("GET /r0", "GET /r1", "GET /r2"):
            first_three.wait()
        time.sleep(0.01)
        with lock:
            running -= 1
        return real(aws, target, check)

    monkeypatch.setattr(hook, "check_one", counting)
    checks = [{**CHECKS[0], "route": f"GET /r{n}"} for n in range(12)]
    assert _run([_invoked(_healthy(CHECKS[0]))] * 12, checks, parallel=3)[0] == "Succeeded"
    assert most == 3


def test_the_hooks_event_is_a_real_http_api_event() -> None:
    sample = load_event("http_api_get_root.json")
    built = hook.route_event(CHECKS[0], 1_764_410_400.0)
    assert set(built) <= set(sample) | {"queryStringParameters", "body"}
    # A protected route's event also has what its authorizer passes (tests/service/test_authorization.py).
    assert set(built["requestContext"]) == set(sample["requestContext"]) | (
        {"authorizer"} if CHECKS[0].get("authorizer") else set()
    )
    assert set(built["requestContext"]["http"]) == set(sample["requestContext"]["http"])
    assert (built["routeKey"], built["rawPath"], built["requestContext"]["http"]["method"]) == (
        CHECKS[0]["route"],
        CHECKS[0]["path"],
        CHECKS[0]["method"],
    )


def test_a_check_with_a_body_and_a_query_sends_both_as_json() -> None:
    check = {**CHECKS[0], "method": "POST", "query": "a=1&b=2", "body": '{"x":1}'}
    built = hook.route_event(check, 0.0)
    assert (built["body"], built["headers"]["content-type"]) == ('{"x":1}', "application/json")
    assert (built["rawQueryString"], built["queryStringParameters"]) == ("a=1&b=2", {"a": "1", "b": "2"})


def test_the_hook_expects_what_the_service_answers(synthesized: Synthesized) -> None:
    """The real service, under the offline AWS of the resources its variables name, answers every check healthily."""
    variables = function_variables(synthesized.template)
    with offline_aws(variables, synthesized.resources, SETTINGS.region) as environment:
        real = load_handler(environment)
        for check in CHECKS:
            assert hook.verdict(real(hook.route_event(check, 1_764_410_400.0), FakeContext()), check) is None


class FrozenDatetime(datetime):
    """botocore's clock, stopped at the instant the signatures under test are made."""

    @classmethod
    def now(cls, tz: Any = None) -> FrozenDatetime:
        return cls(2026, 11, 29, 10, 0, 0, tzinfo=tz)

    @classmethod
    def utcnow(cls) -> FrozenDatetime:
        return cls(2026, 11, 29, 10, 0, 0)


def _freeze_botocores_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    import botocore.auth

    monkeypatch.setattr(botocore.auth.datetime, "datetime", FrozenDatetime)


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

    _freeze_botocores_clock(monkeypatch)
    theirs = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    botocore.auth.SigV4Auth(
        Credentials(ENVIRON["AWS_ACCESS_KEY_ID"], ENVIRON["AWS_SECRET_ACCESS_KEY"], "t"), service_name, "us-east-1"
    ).add_auth(theirs)
    assert ours.get_header("Authorization") == theirs.headers["Authorization"]
    assert ours.get_header("X-amz-date") == theirs.headers["X-Amz-Date"]


# The exact wire contracts: the event the new version gets, the two signed calls, and every verdict's words.
def test_the_event_of_a_check_is_exactly_what_the_default_stage_sends() -> None:
    check = {"route": "POST /items/{id}", "method": "POST", "path": "/items/7", "query": "a=1&b=", "body": '{"x":1}'}
    assert hook.route_event(check, 1_764_410_400.123) == {
        "version": "2.0",
        "routeKey": "POST /items/{id}",
        "rawPath": "/items/7",
        "rawQueryString": "a=1&b=",
        "headers": {
            "accept": "application/json",
            "host": "pre-traffic-hook",
            "user-agent": "codedeploy-pre-traffic",
            "content-type": "application/json",
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "pre-traffic-hook",
            "domainName": "pre-traffic-hook",
            "domainPrefix": "pre-traffic-hook",
            "http": {
                "method": "POST",
                "path": "/items/7",
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "codedeploy-pre-traffic",
            },
            "requestId": "pre-traffic-1764410400123",
            "routeKey": "POST /items/{id}",
            "stage": "$default",
            "time": "29/Nov/2025:10:00:00 +0000",
            "timeEpoch": 1764410400123,
        },
        "isBase64Encoded": False,
        "queryStringParameters": {"a": "1", "b": ""},
        "body": '{"x":1}',
    }


def test_a_check_without_query_or_body_sends_neither() -> None:
    built = hook.route_event({"route": "GET /", "method": "GET", "path": "/"}, 0.0)
    assert (built["rawQueryString"], "queryStringParameters" in built, "body" in built) == ("", False, False)
    assert "content-type" not in built["headers"]


def test_the_two_calls_are_exactly_invoke_and_report() -> None:
    _, fake = _run([_invoked(_healthy(check)) for check in CHECKS])
    invoke, report = fake.requests[0], fake.requests[-1]
    assert (invoke.get_method(), report.get_method()) == ("POST", "POST")
    assert invoke.get_header("Content-type") == "application/json"
    assert invoke.get_header("X-amz-invocation-type") == "RequestResponse"
    assert report.get_header("Content-type") == "application/x-amz-json-1.1"
    assert report.get_header("X-amz-security-token") == "session-token"
    assert json.loads(invoke.data)["routeKey"] == CHECKS[0]["route"]  # type: ignore[arg-type]


def test_without_a_session_token_none_is_sent() -> None:
    environ = {k: v for k, v in ENVIRON.items() if k != "AWS_SESSION_TOKEN"}
    assert hook.Aws(environ).credentials["token"] == ""
    fake = FakeAws([])
    hook.Aws(environ, opener=fake).report("d", "e", "Succeeded")
    assert fake.requests[0].get_header("X-amz-security-token") is None


@pytest.mark.parametrize(("status", "raises"), [(299, False), (300, True)])
def test_an_aws_answer_of_300_or_more_is_a_failure(status: int, raises: bool) -> None:
    aws = hook.Aws(ENVIRON, opener=lambda request, timeout: (status, {}, b'{"a": 1}'))
    if raises:
        with pytest.raises(RuntimeError, match=r"^lambda answered 300: b'\{\"a\": 1\}'$"):
            aws.invoke(TARGET, {})
    else:
        assert aws.invoke(TARGET, {}) == {"a": 1}


@pytest.mark.parametrize("header", ["X-Amz-Function-Error", "x-amz-function-error"])
def test_a_function_error_in_either_spelling_is_a_failure(header: str) -> None:
    aws = hook.Aws(ENVIRON, opener=lambda request, timeout: (200, {header: "Unhandled"}, b"x" * 400))
    with pytest.raises(RuntimeError) as raised:
        aws.invoke(TARGET, {})
    assert str(raised.value) == f"the new version raised: {(b'x' * 300)!r}"


def test_the_invoke_path_quotes_the_whole_arn() -> None:
    fake = FakeAws([(200, {}, b"{}")], [{"route": "GET /"}])
    hook.Aws(ENVIRON, opener=fake).invoke("arn:aws:lambda:r:1:function:f:7", {"routeKey": "GET /"})
    assert fake.requests[0].full_url.endswith("/functions/arn%3Aaws%3Alambda%3Ar%3A1%3Afunction%3Af%3A7/invocations")


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        ("x" * 300, f"the answer is not an object: {'x' * 200}"),
        ({"statusCode": 500}, "statusCode is 500, expected 200"),
        ({"statusCode": 200, "body": "y" * 300}, f"body is not JSON: {'y' * 200}"),
        ({"statusCode": 200}, "body is not JSON: None"),
        ({"statusCode": 200, "body": "[1]"}, "body keys are [1], expected ['a', 'b']"),
        ({"statusCode": 200, "body": '{"b": 1, "c": 2}'}, "body keys are ['b', 'c'], expected ['a', 'b']"),
    ],
)
def test_each_verdict_says_exactly_what_is_wrong(result: Any, problem: str) -> None:
    assert hook.verdict(result, {"status": 200, "keys": ["b", "a"]}) == problem


def test_each_check_is_logged_with_its_route_target_and_problem(caplog: pytest.LogCaptureFixture) -> None:
    def failing(request: urllib.request.Request, timeout: float) -> Answer:
        if "codedeploy" in request.full_url:
            return 200, {}, b"{}"
        raise OSError("z" * 400)

    with caplog.at_level("INFO", logger="pre_traffic_hook"):
        assert hook.run(EVENT, hook.Aws(ENVIRON, opener=failing), TARGET, CHECKS[:1]) == "Failed"
    (record,) = caplog.records
    assert record.getMessage() == "pre-traffic check"
    assert (record.target, record.route, record.problem) == (  # type: ignore[attr-defined]
        TARGET,
        CHECKS[0]["route"],
        f"could not run: {'z' * 300}",
    )


def test_the_lambda_entry_point_reads_its_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    answers = [_invoked(_healthy(check)) for check in CHECKS]
    fake = FakeAws(answers)
    for name, value in {**ENVIRON, hook.PARALLEL_ENV: "4"}.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "checks.json").write_text(json.dumps(CHECKS))
    monkeypatch.setattr(hook, "CHECKS_FILE", tmp_path / "checks.json")
    ran: list[int] = []
    real_run = hook.run

    def run(*args: Any) -> str:
        ran.append(args[-1])
        return real_run(*args)

    monkeypatch.setattr(hook, "run", run)
    real = hook.Aws
    monkeypatch.setattr(hook, "Aws", lambda environ: real(environ, opener=fake))
    assert hook.handler(EVENT, FakeContext()) == {"status": "Succeeded"}
    assert len(fake.requests) == len(CHECKS) + 1 and TARGET.replace(":", "%3A") in fake.requests[0].full_url
    assert fake.reported()["deploymentId"] == EVENT["DeploymentId"]
    assert ran == [4]


def test_the_clock_is_utc() -> None:
    assert hook._now().tzinfo is UTC


def test_urlopen_answers_an_http_error_status_instead_of_raising() -> None:
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            code = 200 if self.path == "/ok" else 403
            self.send_response(code)
            self.send_header("x-seen", "yes")
            self.end_headers()
            self.wfile.write(b"ok" if code == 200 else b"no")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        status, headers, body = hook.urlopen(urllib.request.Request(base + "/ok", data=b"", method="POST"), 5)
        assert (status, headers["x-seen"], body) == (200, "yes", b"ok")
        status, headers, body = hook.urlopen(urllib.request.Request(base + "/no", data=b"", method="POST"), 5)
        assert (status, headers["x-seen"], body) == (403, "yes", b"no")
    finally:
        server.shutdown()
        server.server_close()


def test_signature_version_4_matches_botocore_without_a_body_with_odd_paths_and_spaced_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    url = "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/a b~c:d/configuration"
    headers = {"X-Custom": "two  spaces   here"}
    ours = hook.sign(
        urllib.request.Request(url, headers=dict(headers)),
        service="lambda",
        region="us-east-1",
        credentials={"key": ENVIRON["AWS_ACCESS_KEY_ID"], "secret": ENVIRON["AWS_SECRET_ACCESS_KEY"], "token": ""},
        now=datetime(2026, 11, 29, 10, 0, 0, tzinfo=UTC),
    )

    _freeze_botocores_clock(monkeypatch)
    theirs = AWSRequest(method="GET", url=url, data=b"", headers=dict(headers))
    botocore.auth.SigV4Auth(
        Credentials(ENVIRON["AWS_ACCESS_KEY_ID"], ENVIRON["AWS_SECRET_ACCESS_KEY"]), "lambda", "us-east-1"
    ).add_auth(theirs)
    assert ours.get_header("Authorization") == theirs.headers["Authorization"]
    assert ours.get_header("X-amz-security-token") is None
