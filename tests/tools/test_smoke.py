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


def test_without_url_or_credentials_the_error_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert smoke.main([]) == 1
    assert "no URL given and no AWS credentials found: pass URL=https://..." in capsys.readouterr().err
