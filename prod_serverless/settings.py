"""Typed, validated configuration for the stack, read once from CDK context at the app entry."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
# Deliberately strict: one address, no display name, a dotted domain.
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class SettingsError(ValueError):
    """A context value is missing its allowed form; the message names the key and what it accepts."""


@dataclass(frozen=True)
class Settings:
    """Everything the stack can be configured with; defaults are the production values."""

    environment_name: str = "prod"
    app_version: str = "1.0.0"
    log_level: str = "INFO"
    log_retention_days: int = 30
    # Firehose buffering: whichever limit is reached first flushes an object to S3.
    firehose_buffer_seconds: int = 300
    firehose_buffer_mib: int = 5
    archive_infrequent_access_days: int = 30
    archive_expiration_days: int = 365
    archive_noncurrent_expiration_days: int = 30
    athena_results_expiration_days: int = 7
    # Monitoring
    alarm_email: str | None = None
    api_5xx_threshold: int = 1
    api_4xx_rate_percent: int = 5
    api_latency_p99_ms: int = 2000
    function_throttles_threshold: int = 1
    firehose_freshness_seconds: int = 900
    # Security
    throttle_rate_limit: int = 100
    throttle_burst_limit: int = 200
    reserved_concurrency: int | None = None
    cors_allowed_origins: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_context(cls, get: Callable[[str], Any]) -> Settings:
        """Build settings from a context getter such as ``app.node.try_get_context``."""
        defaults = cls()
        settings = cls(
            environment_name=_text(get, "environmentName", defaults.environment_name, r"^[a-z][a-z0-9-]{0,15}$"),
            app_version=_text(get, "appVersion", defaults.app_version, r"^[0-9A-Za-z.+-]{1,32}$"),
            log_level=_choice(get, "logLevel", defaults.log_level, LOG_LEVELS),
            log_retention_days=_choice(get, "logRetentionDays", defaults.log_retention_days, LOG_RETENTION_DAYS),
            firehose_buffer_seconds=_integer(get, "firehoseBufferSeconds", defaults.firehose_buffer_seconds, 0, 900),
            firehose_buffer_mib=_integer(get, "firehoseBufferMiB", defaults.firehose_buffer_mib, 1, 128),
            archive_infrequent_access_days=_integer(
                get, "archiveInfrequentAccessDays", defaults.archive_infrequent_access_days, 30, 3650
            ),
            archive_expiration_days=_integer(get, "archiveExpirationDays", defaults.archive_expiration_days, 31, 36500),
            archive_noncurrent_expiration_days=_integer(
                get, "archiveNoncurrentExpirationDays", defaults.archive_noncurrent_expiration_days, 1, 3650
            ),
            athena_results_expiration_days=_integer(
                get, "athenaResultsExpirationDays", defaults.athena_results_expiration_days, 1, 90
            ),
            alarm_email=_email(get, "alarmEmail"),
            api_5xx_threshold=_integer(get, "api5xxThreshold", defaults.api_5xx_threshold, 1, 100000),
            api_4xx_rate_percent=_integer(get, "api4xxRatePercent", defaults.api_4xx_rate_percent, 1, 100),
            api_latency_p99_ms=_integer(get, "apiLatencyP99Ms", defaults.api_latency_p99_ms, 50, 30000),
            function_throttles_threshold=_integer(
                get, "functionThrottlesThreshold", defaults.function_throttles_threshold, 1, 100000
            ),
            firehose_freshness_seconds=_integer(
                get, "firehoseFreshnessSeconds", defaults.firehose_freshness_seconds, 60, 86400
            ),
            throttle_rate_limit=_integer(get, "throttleRateLimit", defaults.throttle_rate_limit, 1, 10000),
            throttle_burst_limit=_integer(get, "throttleBurstLimit", defaults.throttle_burst_limit, 1, 5000),
            reserved_concurrency=_optional_integer(get, "reservedConcurrency", 1, 1000),
            cors_allowed_origins=_origins(get, "corsAllowedOrigins"),
        )
        _check_relations(settings)
        return settings


def _check_relations(settings: Settings) -> None:
    if settings.archive_expiration_days <= settings.archive_infrequent_access_days:
        raise SettingsError(
            f"context key 'archiveExpirationDays' must be greater than 'archiveInfrequentAccessDays' "
            f"({settings.archive_infrequent_access_days}); got {settings.archive_expiration_days}"
        )
    if settings.firehose_freshness_seconds <= settings.firehose_buffer_seconds:
        raise SettingsError(
            f"context key 'firehoseFreshnessSeconds' must be greater than 'firehoseBufferSeconds' "
            f"({settings.firehose_buffer_seconds}), or the alarm fires on every normal flush; "
            f"got {settings.firehose_freshness_seconds}"
        )


def _raw(get: Callable[[str], Any], key: str) -> Any:
    value = get(key)
    return value.strip() if isinstance(value, str) else value


def _integer(get: Callable[[str], Any], key: str, default: int, low: int, high: int) -> int:
    value = _raw(get, key)
    if value is None or value == "":
        return default
    # bool is an int subclass; "true" is never a count.
    if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
        raise SettingsError(f"context key '{key}' must be a whole number from {low} to {high}; got {value!r}")
    number = int(value)
    if not low <= number <= high:
        raise SettingsError(f"context key '{key}' must be a whole number from {low} to {high}; got {number}")
    return number


def _optional_integer(get: Callable[[str], Any], key: str, low: int, high: int) -> int | None:
    value = _raw(get, key)
    if value is None or value == "":
        return None
    return _integer(lambda _key: value, key, low, low, high)


def _choice(get: Callable[[str], Any], key: str, default: Any, allowed: Collection[Any]) -> Any:
    value = _raw(get, key)
    if value is None or value == "":
        return default
    kind = type(next(iter(allowed)))
    try:
        candidate = kind(value.upper() if isinstance(value, str) and kind is str else value)
    except (TypeError, ValueError):
        candidate = None
    if isinstance(value, bool) or candidate not in allowed:
        shown = ", ".join(str(item) for item in allowed)
        raise SettingsError(f"context key '{key}' must be one of {shown}; got {value!r}")
    return candidate


def _text(get: Callable[[str], Any], key: str, default: str, pattern: str) -> str:
    value = _raw(get, key)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or not re.fullmatch(pattern, value):
        raise SettingsError(f"context key '{key}' must match {pattern}; got {value!r}")
    return value


def _email(get: Callable[[str], Any], key: str) -> str | None:
    value = _raw(get, key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not EMAIL_PATTERN.fullmatch(value):
        raise SettingsError(f"context key '{key}' must be one email address such as ops@example.com; got {value!r}")
    return value


def _origins(get: Callable[[str], Any], key: str) -> tuple[str, ...]:
    value = _raw(get, key)
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise SettingsError(f"context key '{key}' must be a comma-separated list of origins; got {value!r}")
    origins = tuple(str(item).strip() for item in items if str(item).strip())
    for origin in origins:
        if origin == "*" or "*" in origin:
            raise SettingsError(
                f"context key '{key}' must list exact origins such as https://app.example.com; "
                f"a wildcard ('*') would let any site call the API from a browser; got {origin!r}"
            )
        if not ORIGIN_PATTERN.fullmatch(origin):
            raise SettingsError(
                f"context key '{key}' must list exact origins of the form scheme://host[:port] "
                f"such as https://app.example.com; got {origin!r}"
            )
    return origins
