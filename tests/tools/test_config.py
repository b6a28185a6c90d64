"""`make config`: one line for a malformed CONTEXT, before anything else runs; the settings as they will be used."""

from __future__ import annotations

import pytest

from prod_serverless.settings import SETTINGS
from tools import config


@pytest.mark.parametrize(
    ("context", "line"),
    [
        ("logLevel", "Configuration error: CONTEXT: 'logLevel' is not key=value"),
        ("functionMemoryMb=100", "Configuration error: context key 'functionMemoryMb' must be a whole number from 128"),
        (
            "alarmEmal=ops@example.com",
            "Configuration error: unknown context key 'alarmEmal': did you mean 'alarmEmail'?",
        ),
    ],
)
def test_a_mistake_is_one_line_and_exit_1(
    context: str, line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTEXT", context)
    assert config.main([]) == 1
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1


def test_show_prints_every_setting_as_configured(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTEXT", "functionMemoryMb=256")
    assert config.main(["--show"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [spec.key for spec in SETTINGS]
    assert dict(line.split(maxsplit=1) for line in lines)["functionMemoryMb"] == "256"
