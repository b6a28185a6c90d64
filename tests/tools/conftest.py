"""Fixtures for the tools: the synthesized template as a file, as `make synth` leaves it."""

from __future__ import annotations

from pathlib import Path

import pytest

from prod_serverless.names import PRODUCTION
from tests.conftest import Synthesized


@pytest.fixture(autouse=True)
def production_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tools work on production's stack, as the stubbed AWS answers for it, whatever stage cdk.json sets; a test
    of another stage sets its own CONTEXT (tests/infra/test_stages.py checks that every tool follows it)."""
    monkeypatch.setenv("CONTEXT", f"stage={PRODUCTION}")


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No credential source at all: environment, files, container or instance metadata."""
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


@pytest.fixture(scope="module")
def template_file(synthesized: Synthesized, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesized.template_file
