"""Configuration is read once, validated, and a bad value names its key and what it accepts."""

from __future__ import annotations

from typing import Any

import pytest

from prod_serverless.settings import Settings, SettingsError


def settings_from(**context: Any) -> Settings:
    return Settings.from_context(context.get)


def test_defaults_are_the_production_values() -> None:
    settings = settings_from()
    assert settings == Settings()
    assert settings.log_retention_days == 30
    assert settings.reserved_concurrency is None
    assert settings.cors_allowed_origins == ()
    assert settings.alarm_email is None


def test_command_line_strings_are_parsed() -> None:
    settings = settings_from(
        logRetentionDays="90",
        firehoseBufferSeconds="60",
        logLevel="debug",
        reservedConcurrency="5",
        corsAllowedOrigins="https://a.example.com, https://b.example.com:8443",
        alarmEmail="ops@example.com",
    )
    assert settings.log_retention_days == 90
    assert settings.firehose_buffer_seconds == 60
    assert settings.log_level == "DEBUG"
    assert settings.reserved_concurrency == 5
    assert settings.cors_allowed_origins == ("https://a.example.com", "https://b.example.com:8443")
    assert settings.alarm_email == "ops@example.com"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("logRetentionDays", "8", "'logRetentionDays' must be one of 1, 3, 5, 7, 14, 30"),
        ("logRetentionDays", True, "'logRetentionDays' must be one of"),
        ("logLevel", "TRACE", "'logLevel' must be one of DEBUG, INFO, WARN, ERROR"),
        ("firehoseBufferSeconds", "901", "'firehoseBufferSeconds' must be a whole number from 0 to 900"),
        ("firehoseBufferMiB", "0", "'firehoseBufferMiB' must be a whole number from 1 to 128"),
        ("firehoseBufferMiB", "five", "'firehoseBufferMiB' must be a whole number from 1 to 128; got 'five'"),
        ("archiveInfrequentAccessDays", "29", "'archiveInfrequentAccessDays' must be a whole number from 30"),
        ("archiveExpirationDays", "30", "'archiveExpirationDays' must be"),
        ("athenaResultsExpirationDays", "-1", "'athenaResultsExpirationDays' must be a whole number from 1 to 90"),
        ("throttleRateLimit", "0", "'throttleRateLimit' must be a whole number from 1 to 10000"),
        ("reservedConcurrency", "0", "'reservedConcurrency' must be a whole number from 1 to 1000"),
        ("alarmEmail", "not-an-email", "'alarmEmail' must be one email address"),
        ("alarmEmail", "ops@example", "'alarmEmail' must be one email address"),
        ("corsAllowedOrigins", "*", "'corsAllowedOrigins' must list exact origins"),
        ("corsAllowedOrigins", "https://*.example.com", "wildcard"),
        ("corsAllowedOrigins", "example.com", "scheme://host"),
        ("environmentName", "Prod Env", "'environmentName' must match"),
    ],
)
def test_bad_values_stop_with_the_key_and_allowed_values(key: str, value: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace("*", r"\*")):
        settings_from(**{key: value})


def test_expiry_must_follow_the_transition() -> None:
    with pytest.raises(
        SettingsError, match="'archiveExpirationDays' must be greater than 'archiveInfrequentAccessDays'"
    ):
        settings_from(archiveInfrequentAccessDays="90", archiveExpirationDays="60")


def test_freshness_alarm_must_exceed_the_buffer_interval() -> None:
    with pytest.raises(SettingsError, match="'firehoseFreshnessSeconds' must be greater than 'firehoseBufferSeconds'"):
        settings_from(firehoseBufferSeconds="600", firehoseFreshnessSeconds="300")


def test_synth_stops_with_a_clear_message_on_bad_context(tmp_path: Any) -> None:
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "main.py"],
        cwd=root,
        env={
            "PATH": str(Path(sys.executable).parent),
            "CDK_CONTEXT_JSON": '{"alarmEmail": "nope"}',
            "CDK_OUTDIR": str(tmp_path),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Configuration error: context key 'alarmEmail' must be one email address" in result.stderr
    assert "Traceback" not in result.stderr
