"""The smoke test passes against the local server and fails clearly when there is nothing to call."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools import smoke
from tools.local_server import LocalApi, serve


@pytest.fixture
def local_api(template_file: Path) -> Iterator[LocalApi]:
    api = serve(0, template_file)
    api.access_log = io.StringIO()
    threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()
    yield api
    api.shutdown()
    api.server_close()


def test_smoke_passes_against_the_local_server(local_api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--url", local_api.url + "/", "--requests", "3"]) == 0
    assert "smoke: OK" in capsys.readouterr().out


def test_smoke_fails_on_a_wrong_answer(local_api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main(["--url", local_api.url + "/missing", "--requests", "1"]) == 1
    assert "answered 404" in capsys.readouterr().err


@pytest.mark.usefixtures("no_aws_credentials")
def test_without_url_or_credentials_the_error_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert smoke.main([]) == 1
    assert capsys.readouterr().err == (
        "smoke: FAIL: no URL given, and the stack's URL cannot be read: no AWS credentials found: set AWS_PROFILE "
        "(or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), or run `aws sso login`; or pass URL=https://...\n"
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
