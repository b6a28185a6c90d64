"""The smoke test passes against the local server and fails clearly when there is nothing to call."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.routes import ROUTES
from tests.tools.helpers import serving
from tools import smoke
from tools.local_server import LocalApi, serve

# A public route of the table: its check needs no credentials (tests/tools/test_local_auth.py has protected ones).
PUBLIC = next(route for route in ROUTES if route.authorization == "public")


@pytest.fixture
def local_api(template_file: Path) -> Iterator[LocalApi]:
    api = serve(0, template_file)
    api.access_log = io.StringIO()
    with serving(api):
        yield api


def test_smoke_passes_against_the_local_server(local_api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--url", local_api.url + "/", "--requests", "3"]) == 0
    assert "smoke: OK" in capsys.readouterr().out


def test_smoke_fails_on_a_wrong_answer(local_api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--url", local_api.url + "/missing", "--requests", "1"]) == 1
    # Smoke first asks each protected route to refuse an anonymous caller, then sends the samples in table order.
    first = next((route for route in ROUTES if route.authorization != "public"), ROUTES[0])
    assert f"smoke: FAIL: {first.key}: " in capsys.readouterr().err


def test_smoke_sends_every_routes_sample(local_api: LocalApi) -> None:
    smoke.run(local_api.url, 2)
    routes = [json.loads(line)["r"] for line in local_api.access_log.getvalue().splitlines()]  # type: ignore[union-attr]
    # A protected route is first refused: anonymously, and (a JWT route, locally) with a token without its scope.
    refused = [route.key for route in ROUTES for _ in range({"public": 0, "iam": 1, "jwt": 2}[route.authorization])]
    assert routes == refused + [route.key for route in ROUTES] * 2


@pytest.mark.parametrize("change", ["status", "keys", "header", "request-id"])
def test_each_condition_of_the_smoke_verdict_fails_alone(change: str, monkeypatch: pytest.MonkeyPatch) -> None:
    check = PUBLIC.check()
    body = {key: "x" for key in check["keys"]}
    headers = {**smoke.EXPECTED_HEADERS, "apigw-requestid": "id-1"}
    status = check["status"]
    if change == "status":
        status += 1
    elif change == "keys":
        body["extra"] = "x"
    elif change == "header":
        headers["x-content-type-options"] = "sniff"
    else:
        del headers["apigw-requestid"]
    monkeypatch.setattr(smoke, "send", lambda request, timeout: (status, headers, json.dumps(body).encode()))
    with pytest.raises(smoke.SmokeError):
        smoke.check_once("https://example.com", check)


def test_the_healthy_answer_passes_the_smoke_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    check = PUBLIC.check()
    body = json.dumps({key: "x" for key in check["keys"]}).encode()
    headers = {**smoke.EXPECTED_HEADERS, "apigw-requestid": "id-1"}
    monkeypatch.setattr(smoke, "send", lambda request, timeout: (check["status"], headers, body))
    assert smoke.check_once("https://example.com", check)[1] == "id-1"


@pytest.mark.usefixtures("no_aws_credentials")
def test_without_url_or_credentials_the_error_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main([]) == 1
    assert capsys.readouterr().err == (
        "smoke: FAIL: no URL given, and the stack's URL cannot be read: no AWS credentials found: set AWS_PROFILE "
        "(or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), or run `aws sso login` with the AWS CLI; "
        "or pass URL=https://...\n"
    )


def test_a_missing_profile_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nonexistent")
    assert smoke.main([]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "AWS profile 'nonexistent' is not configured" in line


@pytest.mark.usefixtures("no_aws_credentials")
def test_unreachable_aws_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert smoke.main([]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "cannot reach http://127.0.0.1:9/: check the network, proxy or VPN" in line
