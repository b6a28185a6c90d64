"""Typed, validated configuration, read once from CDK context at the app entry.

`SETTINGS` is the table of every context key: the field it fills, what it accepts, what it sets.
`Settings.from_context` and the README's configuration table (`make docs`) are both built from it,
so a key cannot be documented one way and parsed another.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from prod_serverless.log_formats import ACCESS_LOG_FORMATS

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
LOG_LEVELS = ("DEBUG", "INFO", "WARN", "ERROR")
# Lambda's system (platform) log levels; WARN keeps only the platform lines of failed invocations.
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
TRACING_MODES = ("PassThrough", "Active")
# CodeDeploy's predefined Lambda deployment configurations, without the "CodeDeployDefault.Lambda" prefix.
DEPLOYMENT_STRATEGIES = (
    "Canary10Percent5Minutes",
    "Canary10Percent10Minutes",
    "Canary10Percent15Minutes",
    "Canary10Percent30Minutes",
    "Linear10PercentEvery1Minute",
    "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes",
    "Linear10PercentEvery10Minutes",
    "AllAtOnce",
)
# Deliberately strict: one address, no display name, a dotted domain.
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


class SettingsError(ValueError):
    """A context value is not in its allowed form; the message names the key and what it accepts."""


@dataclass(frozen=True)
class Settings:
    """Everything the stack can be configured with; defaults are the production values."""

    environment_label: str = "prod"
    app_version: str = "1.0.0"
    log_level: str = "INFO"
    system_log_level: str = "WARN"
    access_log_format: str = "compact"
    tracing: str = "PassThrough"
    log_retention_days: int = 30
    # Firehose buffering: whichever limit is reached first flushes an object to S3.
    # 15 minutes: the archive is for Athena and the years after; CloudWatch Logs holds the last 30 days live.
    # At a trickle each flush is an S3 object (a PUT and a KMS request), so a longer buffer is a third the cost.
    firehose_buffer_seconds: int = 900
    firehose_buffer_mib: int = 5
    archive_infrequent_access_days: int = 30
    archive_expiration_days: int = 365
    archive_noncurrent_expiration_days: int = 30
    athena_results_expiration_days: int = 7
    archive_object_lock_days: int | None = None
    # Monitoring
    alarm_email: str | None = None
    api_5xx_threshold: int = 1
    api_4xx_rate_percent: int = 5
    api_latency_p99_ms: int = 2000
    function_throttles_threshold: int = 1
    firehose_freshness_seconds: int = 1800
    # Security
    throttle_rate_limit: int = 100
    throttle_burst_limit: int = 200
    reserved_concurrency: int | None = None
    # Releases
    deployment_strategy: str = "Canary10Percent5Minutes"
    provisioned_concurrency: int | None = None
    cors_allowed_origins: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> Settings:
        """Build settings from the app's whole context; any key that is not a setting is an error."""
        _refuse_unknown_keys(context)
        values = {spec.field: spec.read(context) for spec in SETTINGS if spec.key in context}
        settings = cls(**values)
        for check in RELATIONS:
            check(settings)
        return settings


class Kind(Protocol):
    """How one kind of value is parsed, and how the README says what it accepts."""

    @property
    def allowed(self) -> str: ...

    def parse(self, key: str, value: Any) -> Any: ...


@dataclass(frozen=True)
class WholeNumber:
    low: int
    high: int
    also: str = ""  # a relation to another key, for the README

    @property
    def allowed(self) -> str:
        return f"{self.low}-{self.high}{self.also}"

    def parse(self, key: str, value: Any) -> int:
        # bool is an int subclass; "true" is never a count.
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.isdigit())):
            raise SettingsError(
                f"context key '{key}' must be a whole number from {self.low} to {self.high}; got {value!r}"
            )
        number = int(value)
        if not self.low <= number <= self.high:
            raise SettingsError(
                f"context key '{key}' must be a whole number from {self.low} to {self.high}; got {number}"
            )
        return number


@dataclass(frozen=True)
class OneOf:
    values: tuple[Any, ...]
    shown: str = ""  # README text when the list is long

    @property
    def allowed(self) -> str:
        return self.shown or ", ".join(f"`{value}`" for value in self.values)

    def parse(self, key: str, value: Any) -> Any:
        """The allowed value equal to `value`; text compares without regard to case ("debug" is DEBUG)."""
        candidate: Any = None
        if isinstance(value, str) and isinstance(self.values[0], str):
            candidate = next((item for item in self.values if item.upper() == value.upper()), None)
        elif not isinstance(value, bool):
            try:
                candidate = type(self.values[0])(value)
            except (TypeError, ValueError):
                candidate = None
        if candidate not in self.values:
            raise SettingsError(f"context key '{key}' must be one of {', '.join(map(str, self.values))}; got {value!r}")
        return candidate


@dataclass(frozen=True)
class Matching:
    pattern: str

    @property
    def allowed(self) -> str:
        return f"`{self.pattern}`"

    def parse(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not re.fullmatch(self.pattern, value):
            raise SettingsError(f"context key '{key}' must match {self.pattern}; got {value!r}")
        return value


class EmailAddress:
    allowed = "one e-mail address"

    def parse(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not EMAIL_PATTERN.fullmatch(value):
            raise SettingsError(f"context key '{key}' must be one email address such as ops@example.com; got {value!r}")
        return value


class Origins:
    allowed = "comma-separated exact origins; `*` refused"

    def parse(self, key: str, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            raise SettingsError(f"context key '{key}' must be a comma-separated list of origins; got {value!r}")
        origins = tuple(str(item).strip() for item in items if str(item).strip())
        for origin in origins:
            if "*" in origin:
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


@dataclass(frozen=True)
class Setting:
    """One context key: the Settings field it fills, what it accepts, and what it sets (for the README)."""

    key: str
    field: str
    kind: Kind
    meaning: str

    @property
    def default(self) -> Any:
        spec = next(f for f in dataclasses.fields(Settings) if f.name == self.field)
        return spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default

    def read(self, context: Mapping[str, Any]) -> Any:
        value = context[self.key]
        value = value.strip() if isinstance(value, str) else value
        if value is None or value == "":
            raise SettingsError(
                f"context key '{self.key}' is empty; give {self.kind.allowed.replace('`', '')}, or leave the key out "
                f"for the default"
            )
        return self.kind.parse(self.key, value)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "environmentLabel",
        "environment_label",
        Matching(r"[a-z][a-z0-9-]{0,15}"),
        "the label the function reports as `environment` (`ENVIRONMENT_NAME`); a label only — the stack is one "
        "copy per account and region",
    ),
    Setting("appVersion", "app_version", Matching(r"[0-9A-Za-z.+-]{1,32}"), "`APP_VERSION` of the function"),
    Setting(
        "logLevel",
        "log_level",
        OneOf(LOG_LEVELS),
        "Lambda application log level and `LOG_LEVEL`; `DEBUG` adds the handler's line per request",
    ),
    Setting(
        "systemLogLevel",
        "system_log_level",
        OneOf(SYSTEM_LOG_LEVELS),
        "Lambda platform lines: `WARN` only failed invocations' report, `INFO` a start and report line per "
        "request (memory used, init duration), `DEBUG` every platform event",
    ),
    Setting(
        "accessLogFormat",
        "access_log_format",
        OneOf(ACCESS_LOG_FORMATS),
        "API access-log line: `compact` (short keys: what the queries, runbooks and join read) or `full` (adds "
        "request time text, protocol, response length, integration status, user agent)",
    ),
    Setting(
        "tracing",
        "tracing",
        OneOf(TRACING_MODES),
        "X-Ray on the function: `Active` traces 1 request/s + 5% of the rest (fixed by Lambda), `PassThrough` "
        "only requests that arrive sampled",
    ),
    Setting(
        "logRetentionDays",
        "log_retention_days",
        OneOf(LOG_RETENTION_DAYS, "CloudWatch Logs retention values"),
        "retention of every log group",
    ),
    Setting("firehoseBufferSeconds", "firehose_buffer_seconds", WholeNumber(0, 900), "Firehose buffering interval"),
    Setting("firehoseBufferMiB", "firehose_buffer_mib", WholeNumber(1, 128), "Firehose buffering size"),
    Setting(
        "archiveInfrequentAccessDays",
        "archive_infrequent_access_days",
        WholeNumber(30, 3650),
        "transition of archived logs to S3 Standard-IA",
    ),
    Setting(
        "archiveExpirationDays",
        "archive_expiration_days",
        WholeNumber(31, 36500, ", > transition"),
        "expiry of archived logs",
    ),
    Setting(
        "archiveNoncurrentExpirationDays",
        "archive_noncurrent_expiration_days",
        WholeNumber(1, 3650),
        "expiry of noncurrent object versions",
    ),
    Setting(
        "athenaResultsExpirationDays",
        "athena_results_expiration_days",
        WholeNumber(1, 90),
        "expiry of Athena query results",
    ),
    Setting(
        "archiveObjectLockDays",
        "archive_object_lock_days",
        WholeNumber(1, 36500, ", <= archiveExpirationDays"),
        "opt-in S3 Object Lock (GOVERNANCE) default retention of the archive; cannot be turned off once on",
    ),
    Setting("alarmEmail", "alarm_email", EmailAddress(), "e-mail subscription to the alarm topic"),
    Setting("api5xxThreshold", "api_5xx_threshold", WholeNumber(1, 100000), "5xx per minute that alarm"),
    Setting(
        "api4xxRatePercent", "api_4xx_rate_percent", WholeNumber(1, 100), "4xx share of requests (5 min) that alarms"
    ),
    Setting("apiLatencyP99Ms", "api_latency_p99_ms", WholeNumber(50, 30000), "API p99 latency (5 min) that alarms"),
    Setting(
        "functionThrottlesThreshold",
        "function_throttles_threshold",
        WholeNumber(1, 100000),
        "throttles per minute that alarm",
    ),
    Setting(
        "firehoseFreshnessSeconds",
        "firehose_freshness_seconds",
        WholeNumber(60, 86400, ", > buffer interval"),
        "age of the oldest undelivered log record that alarms",
    ),
    Setting(
        "throttleRateLimit", "throttle_rate_limit", WholeNumber(1, 10000), "stage steady-state requests per second"
    ),
    Setting("throttleBurstLimit", "throttle_burst_limit", WholeNumber(1, 5000), "stage burst"),
    Setting(
        "reservedConcurrency",
        "reserved_concurrency",
        WholeNumber(1, 1000),
        "opt-in reserved concurrency (new accounts have a quota of 10)",
    ),
    Setting("corsAllowedOrigins", "cors_allowed_origins", Origins(), "CORS on the HTTP API (off when unset)"),
    Setting(
        "deploymentStrategy",
        "deployment_strategy",
        OneOf(DEPLOYMENT_STRATEGIES, "`Canary10Percent5Minutes` and the other CodeDeploy Lambda configs below"),
        "how CodeDeploy shifts traffic to a new version (CodeDeployDefault.Lambda<value>)",
    ),
    Setting(
        "provisionedConcurrency",
        "provisioned_concurrency",
        WholeNumber(1, 1000, ", <= reservedConcurrency"),
        "opt-in provisioned concurrency on the `live` alias (billed while idle)",
    ),
)
SETTING_KEYS = tuple(spec.key for spec in SETTINGS)


def _refuse_unknown_keys(context: Mapping[str, Any]) -> None:
    """A mistyped key must stop synth: silently ignored, it would deploy something the user did not ask for."""
    for key in context:
        # The CDK's own keys: feature flags (@aws-cdk/...), aws:cdk:… switches, lookup cache entries.
        if key.startswith("@") or ":" in key or key in SETTING_KEYS:
            continue
        close = difflib.get_close_matches(key, SETTING_KEYS, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise SettingsError(f"unknown context key '{key}': {hint}valid keys are {', '.join(SETTING_KEYS)}")


def _expiry_after_transition(settings: Settings) -> None:
    if settings.archive_expiration_days <= settings.archive_infrequent_access_days:
        raise SettingsError(
            f"context key 'archiveExpirationDays' must be greater than 'archiveInfrequentAccessDays' "
            f"({settings.archive_infrequent_access_days}); got {settings.archive_expiration_days}"
        )


def _freshness_after_buffer(settings: Settings) -> None:
    if settings.firehose_freshness_seconds <= settings.firehose_buffer_seconds:
        raise SettingsError(
            f"context key 'firehoseFreshnessSeconds' must be greater than 'firehoseBufferSeconds' "
            f"({settings.firehose_buffer_seconds}), or the alarm fires on every normal flush; "
            f"got {settings.firehose_freshness_seconds}"
        )


def _lock_within_expiry(settings: Settings) -> None:
    if settings.archive_object_lock_days and settings.archive_object_lock_days > settings.archive_expiration_days:
        raise SettingsError(
            f"context key 'archiveObjectLockDays' must not exceed 'archiveExpirationDays' "
            f"({settings.archive_expiration_days}): a locked log could not expire; "
            f"got {settings.archive_object_lock_days}"
        )


def _provisioned_within_reserved(settings: Settings) -> None:
    provisioned, reserved = settings.provisioned_concurrency, settings.reserved_concurrency
    if provisioned and reserved and provisioned > reserved:
        raise SettingsError(
            f"context key 'provisionedConcurrency' must not exceed 'reservedConcurrency' ({reserved}); "
            f"got {provisioned}"
        )


RELATIONS = (_expiry_after_transition, _freshness_after_buffer, _lock_within_expiry, _provisioned_within_reserved)
