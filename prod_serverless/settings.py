"""Typed, validated configuration, read once from CDK context at the app entry.

`SETTINGS` is the table of every context key: the field it fills, what it accepts, what it sets.
`Settings.from_context` and the README's configuration table (`make docs`) are both built from it,
so a key cannot be documented one way and parsed another.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from prod_serverless.log_formats import ACCESS_LOG_FORMATS
from prod_serverless.names import PRODUCTION, StageNames

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
# The commercial (aws partition) regions that have every service of the stack: Lambda, HTTP APIs, Firehose,
# CodeDeploy, Athena. tests/infra/test_settings.py keeps it equal to botocore's endpoint data.
REGIONS = (
    "af-south-1", "ap-east-1", "ap-east-2", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5",
    "ap-southeast-6", "ap-southeast-7", "ca-central-1", "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1",
    "eu-south-1", "eu-south-2", "eu-west-1", "eu-west-2", "eu-west-3", "il-central-1", "me-central-1",
    "me-south-1", "mx-central-1", "sa-east-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2",
)  # fmt: skip
# Lambda quotas: function memory 128 MB to 10,240 MB, in 1-MB increments.
FUNCTION_MEMORY_MB = (128, 10240)
# API Gateway "Quotas for configuring and running an HTTP API": integration timeout 30 seconds at most. The
# function must time out first, so its own timeout (and its report line) comes before the API's 503.
FUNCTION_TIMEOUT_SECONDS = (1, 29)
# Deliberately strict: one address, no display name, a dotted domain.
EMAIL_PATTERN = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
ORIGIN_PATTERN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
# API Gateway "Control access to HTTP APIs with JWT authorizers": the issuer is an https URL whose
# /.well-known/openid-configuration names the jwks_uri; `.invalid` (RFC 2606) is the local development issuer's.
ISSUER_PATTERN = re.compile(
    r"^https://(?![^/]*\.invalid(?::|/|$))[A-Za-z0-9.-]+\.[A-Za-z]{2,63}(:[0-9]{1,5})?(/[^\s?#]*)?$"
)


class SettingsError(ValueError):
    """A context value is not in its allowed form; the message names the key and what it accepts."""


@dataclass(frozen=True)
class Settings:
    """Everything the stack can be configured with; defaults are the production values."""

    # The function and where it runs
    region: str = "us-east-1"
    function_memory_mb: int = 128
    function_timeout_seconds: int = 15
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
    alarm_subscribers_outside_stack: bool = False
    api_5xx_threshold: int = 1
    api_4xx_rate_percent: int = 5
    # Below this many requests in the alarm's 5 minutes a 4xx share is noise (verify's two 404 probes in eight).
    api_4xx_min_requests: int = 50
    api_latency_p99_ms: int = 2000
    function_throttles_threshold: int = 1
    firehose_freshness_seconds: int = 1800
    # Security
    throttle_rate_limit: int = 100
    throttle_burst_limit: int = 200
    reserved_concurrency: int | None = None
    # Releases
    # Ten minutes at 10 %: a minute's metrics arrive and are evaluated several times before the full shift.
    deployment_strategy: str = "Canary10Percent10Minutes"
    release_ignore_alarms: bool = False
    provisioned_concurrency: int | None = None
    cors_allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    # An optional custom domain: the API answers there only (the execute-api endpoint is disabled).
    custom_domain_name: str | None = None
    custom_domain_certificate_arn: str | None = None
    custom_domain_hosted_zone_id: str | None = None
    custom_domain_hosted_zone_name: str | None = None
    # Verification
    verifier_role_name: str | None = None
    # Authorization of the routes that declare jwt=(…): the issuer HTTP API trusts and the audiences it accepts.
    jwt_issuer: str | None = None
    jwt_audiences: tuple[str, ...] = field(default_factory=tuple)
    # Which copy: production (its stack and names as always), or another stage beside it in the same account.
    stage: str = PRODUCTION

    @property
    def names(self) -> StageNames:
        """The stack name and the physical names of this stage (prod_serverless/names.py)."""
        return StageNames(self.stage)

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


class Flag:
    allowed = "`true` or `false`"

    def parse(self, key: str, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise SettingsError(f"context key '{key}' must be true or false; got {value!r}")


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


class HttpsUrl:
    allowed = (
        "an `https://` URL without query or fragment, e.g. `https://cognito-idp.us-east-1.amazonaws.com/<pool id>`"
    )

    def parse(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not ISSUER_PATTERN.fullmatch(value):
            raise SettingsError(
                f"context key '{key}' must be the issuer's https URL (no query, no fragment, not a .invalid host), "
                f"e.g. https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Example; got {value!r}"
            )
        return value


class Audiences:
    allowed = "comma-separated audiences (client ids or API identifiers)"

    def parse(self, key: str, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
            raise SettingsError(f"context key '{key}' must be a comma-separated list of audiences; got {value!r}")
        audiences = tuple(item.strip() for item in items)
        if not audiences or any(not item or any(c.isspace() for c in item) for item in audiences):
            raise SettingsError(
                f"context key '{key}' must list audiences without spaces or empty entries, e.g. 1example23456789,"
                f"https://api.example.com; got {value!r}"
            )
        return audiences


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
        "region",
        "region",
        OneOf(REGIONS, "an AWS Region with Lambda, HTTP APIs, Firehose, CodeDeploy and Athena, e.g. `eu-west-1`"),
        "the Region the stack is synthesized and deployed for; `make verify`, `make smoke` and the preflight use "
        "it too",
    ),
    Setting(
        "functionMemoryMb",
        "function_memory_mb",
        WholeNumber(*FUNCTION_MEMORY_MB),
        "memory of the API function, in MB (CPU scales with it)",
    ),
    Setting(
        "functionTimeoutSeconds",
        "function_timeout_seconds",
        WholeNumber(*FUNCTION_TIMEOUT_SECONDS),
        "timeout of the API function; below HTTP API's 30 s integration limit, so the function stops first",
    ),
    Setting(
        "environmentLabel",
        "environment_label",
        Matching(r"[a-z][a-z0-9-]{0,15}"),
        "the label the function reports as `environment` (`ENVIRONMENT_NAME`); a label only — another copy of the "
        "stack in the same account and Region is the `stage` setting",
    ),
    Setting(
        "stage",
        "stage",
        Matching(r"[a-z][a-z0-9]{0,11}"),
        f"which copy of the stack: `{PRODUCTION}` (the production stack, `ProdServerlessStack`) or another stage "
        "(`staging`, `dev`, `pr42`): another stack in the same account and Region, its name and every physical "
        "name derived from the stage (docs/configuration.md)",
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
    Setting(
        "alarmSubscribersOutsideStack",
        "alarm_subscribers_outside_stack",
        Flag(),
        "`true`: the alarm topic's subscribers are managed outside this stack (a pager, a chat bot), so synth "
        "does not warn that alarms reach no one",
    ),
    Setting("api5xxThreshold", "api_5xx_threshold", WholeNumber(1, 100000), "5xx per minute that alarm"),
    Setting(
        "api4xxRatePercent", "api_4xx_rate_percent", WholeNumber(1, 100), "4xx share of requests (5 min) that alarms"
    ),
    Setting(
        "api4xxMinRequests",
        "api_4xx_min_requests",
        WholeNumber(1, 1000000),
        "requests (5 min) below which the 4xx rate does not alarm: a few probes or a quiet hour never page",
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
        WholeNumber(1, 900),
        "opt-in reserved concurrency; Lambda keeps 100 of the account's quota unreserved, so it must stay 100 "
        "under the quota (new accounts have 10: none can be reserved; `make deploy` checks the account first)",
    ),
    Setting("corsAllowedOrigins", "cors_allowed_origins", Origins(), "CORS on the HTTP API (off when unset)"),
    Setting(
        "customDomainName",
        "custom_domain_name",
        Matching(r"(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}"),
        "optional custom domain of the API (e.g. `api.example.com`); with it the `execute-api` endpoint is "
        "disabled, so every request passes the stage's access logs and throttling",
    ),
    Setting(
        "customDomainCertificateArn",
        "custom_domain_certificate_arn",
        Matching(r"arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}"),
        "ACM certificate for `customDomainName`, issued in the stack's region (the stack neither creates nor "
        "validates certificates)",
    ),
    Setting(
        "customDomainHostedZoneId",
        "custom_domain_hosted_zone_id",
        Matching(r"Z[A-Z0-9]{1,31}"),
        "optional Route 53 hosted zone for alias A and AAAA records of `customDomainName`",
    ),
    Setting(
        "customDomainHostedZoneName",
        "custom_domain_hosted_zone_name",
        Matching(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]{2,63}"),
        "optional name of that hosted zone (e.g. `example.com`): synth then checks that `customDomainName` lies "
        "in it (the id alone does not say)",
    ),
    Setting(
        "verifierRoleName",
        "verifier_role_name",
        # IAM "IAM object quotas and requirements": role names are 1-64 of letters, digits and +=,.@_-.
        Matching(r"[A-Za-z0-9+=,.@_-]{1,64}"),
        "optional existing role of the account (e.g. the pipeline's deploy role) that the stack attaches its "
        "verifier policy to, so the first `make verify` already passes; deleting the stack detaches it",
    ),
    Setting(
        "jwtIssuer",
        "jwt_issuer",
        HttpsUrl(),
        "the OpenID Connect / OAuth 2.0 issuer whose tokens the `jwt` routes accept (its `iss`); needs "
        "`jwtAudiences`. `make serve` accepts the local issuer's tokens (`make token`) instead",
    ),
    Setting(
        "jwtAudiences",
        "jwt_audiences",
        Audiences(),
        "the audiences a token of `jwtIssuer` must name in `aud` (or `client_id` when it has no `aud`)",
    ),
    Setting(
        "deploymentStrategy",
        "deployment_strategy",
        OneOf(DEPLOYMENT_STRATEGIES, "`Canary10Percent10Minutes` and the other CodeDeploy Lambda configs below"),
        "how CodeDeploy shifts traffic to a new version (CodeDeployDefault.Lambda<value>)",
    ),
    Setting(
        "releaseIgnoreAlarms",
        "release_ignore_alarms",
        Flag(),
        "emergency switch: `true` ships a release while its alarms fire (a fix during an incident); the "
        "pre-traffic hook still runs. Deploy once with it, then without",
    ),
    Setting(
        "provisionedConcurrency",
        "provisioned_concurrency",
        WholeNumber(1, 1000, ", <= reservedConcurrency"),
        "opt-in provisioned concurrency on the `live` alias (billed while idle)",
    ),
)
SETTING_KEYS = tuple(spec.key for spec in SETTINGS)


CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def cdk_json_context() -> dict[str, Any]:
    """The feature flags and context of cdk.json, which the CLI passes to the app on every run."""
    context: dict[str, Any] = json.loads(CDK_JSON.read_text())["context"]
    return context


# How aws-cdk-lib's App reads the CLI's context (core/lib/app.js, loadContext): CDK_CONTEXT_JSON, then the file the
# CLI writes what does not fit in that variable to (aws/aws-cdk#21373), each over the App's own `context` prop.
CONTEXT_ENV = "CDK_CONTEXT_JSON"
CONTEXT_OVERFLOW_ENV = "CONTEXT_OVERFLOW_LOCATION_ENV"


def app_context(props: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The context an App given `props` as its `context` has when the CLI runs it with `environ`."""
    context = dict(props)
    if text := environ.get(CONTEXT_ENV):
        context.update(json.loads(text))
    if location := environ.get(CONTEXT_OVERFLOW_ENV):
        context.update(json.loads(Path(location).read_text()))
    return context


def configured_context(environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The context as `make` gives it to every target: cdk.json's, then CONTEXT."""
    return {**cdk_json_context(), **parse_pairs(environ.get("CONTEXT", ""))}


def configured(environ: Mapping[str, str] = os.environ) -> Settings:
    """The settings of `configured_context` (the tools use this, so `make verify CONTEXT="region=eu-west-1"` looks
    where `make deploy` with the same CONTEXT deployed)."""
    return Settings.from_context(configured_context(environ))


def parse_pairs(text: str) -> dict[str, str]:
    """`CONTEXT="key=value key=value"` as make passes it: every word must be key=value, or nothing is used.

    Quotes keep a value whole (`corsAllowedOrigins='https://a.example.com, https://b.example.com'`); a word
    without `=` (a key alone, spaces around `=`, a list split by a space) is an error, never dropped.
    """
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise SettingsError(f"CONTEXT: {error} in {text!r}") from error
    pairs: dict[str, str] = {}
    for word in words:
        key, equals, value = word.partition("=")
        if not equals or not key:
            raise SettingsError(
                f"CONTEXT: {word!r} is not key=value (parsed {words!r}); write key=value with no spaces around "
                "'=', and a list without spaces (a,b) or quoted (key='a, b')"
            )
        if key in pairs:
            raise SettingsError(f"CONTEXT: key '{key}' is given twice")
        pairs[key] = value
    return pairs


def _refuse_unknown_keys(context: Mapping[str, Any]) -> None:
    """A mistyped key must stop synth: silently ignored, it would deploy something the user did not ask for."""
    by_lower = {key.lower(): key for key in SETTING_KEYS}
    for key in context:
        # The CDK's own keys: feature flags (@aws-cdk/...), aws:cdk:… switches, lookup cache entries.
        if key.startswith("@") or ":" in key or key in SETTING_KEYS:
            continue
        close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
        hint = f"did you mean '{by_lower[close[0]]}'? " if close else ""
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


def _domain_complete(settings: Settings) -> None:
    domain, certificate = settings.custom_domain_name, settings.custom_domain_certificate_arn
    if domain and not certificate:
        raise SettingsError("context key 'customDomainName' needs 'customDomainCertificateArn' (an ACM certificate)")
    if certificate and not domain:
        raise SettingsError("context key 'customDomainCertificateArn' needs 'customDomainName', the domain it is for")
    if settings.custom_domain_hosted_zone_id and not domain:
        raise SettingsError("context key 'customDomainHostedZoneId' needs 'customDomainName', the record to create")
    zone = settings.custom_domain_hosted_zone_name
    if zone and not settings.custom_domain_hosted_zone_id:
        raise SettingsError("context key 'customDomainHostedZoneName' needs 'customDomainHostedZoneId', the zone's id")
    # Route 53: a record's name must be the zone's name or a name under it.
    if zone and domain and not (domain == zone or domain.endswith(f".{zone}")):
        raise SettingsError(
            f"context key 'customDomainName' must lie in the hosted zone 'customDomainHostedZoneName' ({zone}), "
            f"e.g. api.{zone}; got {domain!r}"
        )


def _certificate_in_region(settings: Settings) -> None:
    # API Gateway "Custom domain names for HTTP APIs": a regional domain's certificate is in the API's region.
    certificate = settings.custom_domain_certificate_arn
    if certificate and certificate.split(":")[3] != settings.region:
        raise SettingsError(
            f"context key 'customDomainCertificateArn' must be a certificate in the stack's region ({settings.region}) "
            f"for a regional API; got one in {certificate.split(':')[3]}"
        )


def _issuer_with_audiences(settings: Settings) -> None:
    if settings.jwt_issuer and not settings.jwt_audiences:
        raise SettingsError("context key 'jwtIssuer' needs 'jwtAudiences', the audiences its tokens must name")
    if settings.jwt_audiences and not settings.jwt_issuer:
        raise SettingsError("context key 'jwtAudiences' needs 'jwtIssuer', the issuer of the tokens")


RELATIONS = (
    _issuer_with_audiences,
    _expiry_after_transition,
    _freshness_after_buffer,
    _lock_within_expiry,
    _provisioned_within_reserved,
    _domain_complete,
    _certificate_in_region,
)
