"""The alarms, as a table of small specs: `Monitoring` builds them and `make docs` writes the README's table.

A spec says what is watched, when it fires, how missing data counts, and what to do first; thresholds
come from the settings, so the same table describes the stack as configured.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from prod_serverless import metrics
from prod_serverless.metrics import Watch
from prod_serverless.settings import Settings
from prod_serverless.workers import Queue, Worker
from service.routing import PUBLIC, Route

GTE = "GreaterThanOrEqualToThreshold"
GT = "GreaterThanThreshold"
LT = "LessThanThreshold"
SYMBOLS = {GTE: "≥", GT: ">", LT: "<"}
# p99 duration alarm at 80% of the timeout: the function is close to being cut off.
DURATION_ALARM_FRACTION = 0.8
# The composite alarms that page for their members, one page per failure each. A composite already in ALARM pages
# no more when a second member fires (CloudWatch API "PutCompositeAlarm": AlarmActions run when the alarm
# "transitions to the ALARM state from any other state"), so failing requests have their own: an hours-long
# slowdown or 4xx wave in ALARM must not hide a new wave of errors. One incident pages at most twice.
UNHEALTHY = "ServiceUnhealthy"  # requests fail: the function's errors and throttles, 5xx answers
DEGRADED = "ServiceDegraded"  # requests are answered, badly: slow, or many refused as client errors
COMPOSITES = {
    UNHEALTHY: "requests are failing (errors, throttles, 5xx). First: the member alarm's own description.",
    DEGRADED: "requests are slow or refused (latency, duration, 4xx rate). First: the member alarm's own description.",
}
# Each worker has its own composite: a failing nightly job must not be hidden behind a queue consumer already in ALARM.
WORKER_COMPOSITE_RUNBOOK = (
    "a worker is failing (errors, throttles, dead letters, backlog, duration). "
    "First: the member alarm's own description."
)


def composite_runbook(name: str) -> str:
    """What a composite's description says: the service's two, or a worker's."""
    return COMPOSITES.get(name, WORKER_COMPOSITE_RUNBOOK)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm. `watches` holds one metric, or the named inputs of `expression`."""

    name: str
    watches: tuple[tuple[str, Watch], ...]
    statistic: str
    period_minutes: int
    comparison: str
    threshold: float
    runbook: str  # what to do first, written into the alarm description
    threshold_key: str | None = None  # the context key that sets the threshold, if any
    expression: str | None = None  # metric math over the named watches
    insights: bool = False  # a Metrics Insights query (metrics.insights_query) instead of one metric
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    treat_missing_data: str = "notBreaching"
    source: str | None = None  # the archived log source this alarm is about, if any
    route: str | None = None  # the route key this alarm is about, if any
    subject: str | None = None  # the worker (or `<worker>/dead-letters`) whose dimensions it reads, if any
    # The composite (COMPOSITES) this alarm is a member of, which alone notifies for it: one failure pages once.
    composite: str | None = None
    # Watched by CodeDeploy during a release, scoped to the new version; ALARM rolls the release back, and that
    # is its only action (a composite pages if the service is hurt).
    release: bool = False
    note: str = field(default="", compare=False)  # why it is built this way, for the README

    @property
    def service_health(self) -> bool:
        """Whether a composite pages for this alarm."""
        return self.composite is not None

    @property
    def notifies(self) -> bool:
        """Whether this alarm's own ALARM and OK reach the topic (the composite speaks for its members)."""
        return not (self.service_health or self.release)

    def construct_id(self, release: str = "") -> str:
        """The alarm's id; a release alarm's carries the release (the version fingerprint), so each release gets
        new alarms: PutMetricAlarm leaves an updated alarm's state unchanged (CloudWatch API "PutMetricAlarm"), and
        an alarm still in ALARM for the old version would stop the fix. A new alarm starts in INSUFFICIENT_DATA."""
        return f"{self.name}V{release}Alarm" if self.release and release else f"{self.name}Alarm"

    @property
    def watch(self) -> Watch:
        (only,) = self.watches
        return only[1]

    def describe(self) -> str:
        """What it watches, as the README says it."""
        if self.expression:
            inputs = "; ".join(f"{name} = {watch.describe()}" for name, watch in self.watches)
            return f"`{self.expression}` with {inputs}"
        return self.watch.describe() + (", by a Metrics Insights query" if self.insights else "")

    def condition(self) -> str:
        """When it fires, as the README says it."""
        value = f"`{self.threshold_key}` (default {self.threshold:g})" if self.threshold_key else f"{self.threshold:g}"
        window = f"{self.datapoints_to_alarm} of {self.evaluation_periods} periods"
        action = "; rolls the release back" if self.release else ""
        return f"{SYMBOLS[self.comparison]} {value}, {window}{action}"


def route_name(route: Route) -> str:
    """An alarm-name part for a route: `GET /items/{id}` -> `GetItemsId`."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", route.key.lower()) if part)


def alarm_specs(
    settings: Settings,
    sources: Sequence[str],
    timeout_ms: int,
    routes: Sequence[Route] = (),
    workers: Sequence[Worker] = (),
) -> tuple[AlarmSpec, ...]:
    """Every alarm of the stack, each from what it watches: the function, the API, each route that declares one,
    the releases, each archived source, each worker."""
    return (
        *function_alarms(settings, timeout_ms),
        *api_alarms(settings, routes),
        *(spec for route in routes for spec in route_alarms(route)),
        *release_alarms(settings),
        *(spec for source in sources for spec in delivery_alarms(settings, source)),
        *(spec for worker in workers for spec in worker_alarms(worker)),
    )


def dead_letters(worker: str) -> str:
    """The subject of a worker's dead-letter queue alarm (MonitoredService.subjects), by the worker's name."""
    return f"{worker}/dead-letters"


def worker_alarms(worker: Worker) -> list[AlarmSpec]:
    """A worker's: errors, throttles, duration near its timeout, its dead letters; a queue's backlog too. Each is a
    member of the worker's own composite, which pages."""
    name, composite = worker.title, f"{worker.title}Failing"
    timeout_ms = worker.timeout_seconds * 1000
    specs = [
        AlarmSpec(
            f"{name}Errors",
            (("m", metrics.LAMBDA_ERRORS),),
            "Sum",
            5,
            GTE,
            1,
            f"the {worker.name} worker raised or timed out. First: Logs Insights on its log group, level = 'ERROR' "
            "in the alarm window; then its dead-letter queue.",
            subject=worker.name,
            composite=composite,
        ),
        AlarmSpec(
            f"{name}Throttles",
            (("m", metrics.LAMBDA_THROTTLES),),
            "Sum",
            5,
            GTE,
            1,
            f"runs of the {worker.name} worker were refused for lack of concurrency. First: the account's "
            "ConcurrentExecutions against its quota; the API function shares it.",
            subject=worker.name,
            composite=composite,
        ),
        AlarmSpec(
            f"{name}Duration",
            (("m", metrics.LAMBDA_DURATION),),
            "Maximum",
            5,
            GT,
            round(timeout_ms * DURATION_ALARM_FRACTION),
            f"a run of the {worker.name} worker took more than {DURATION_ALARM_FRACTION:.0%} of its {timeout_ms} ms "
            "timeout. First: its REPORT lines; raise timeout_seconds in its row or split the work.",
            subject=worker.name,
            composite=composite,
            note=f"the longest run, {DURATION_ALARM_FRACTION:.0%} of the row's timeout",
        ),
        AlarmSpec(
            f"{name}DeadLetters",
            (("m", metrics.QUEUE_VISIBLE),),
            "Maximum",
            5,
            GTE,
            1,
            f"the {worker.name} worker's dead-letter queue holds work that failed every retry. First: read a "
            "message (its attributes carry the error); fix, then redrive it (SQS StartMessageMoveTask).",
            subject=dead_letters(worker.name),
            composite=composite,
            note="kept 14 days; stays in ALARM until the queue is emptied or redriven",
        ),
    ]
    if isinstance(worker.trigger, Queue):
        threshold = worker.trigger.oldest_message_minutes * 60
        specs.append(
            AlarmSpec(
                f"{name}QueueAge",
                (("m", metrics.QUEUE_OLDEST_AGE),),
                "Maximum",
                5,
                GT,
                threshold,
                f"a message has waited more than {threshold} s in the {worker.name} queue: the worker falls behind "
                "or keeps failing it. First: its Errors and Throttles, then max_concurrency in its row.",
                subject=worker.name,
                composite=composite,
                note="oldest_message_minutes in the worker's row",
            )
        )
    return specs


def function_alarms(settings: Settings, timeout_ms: int) -> list[AlarmSpec]:
    """The API function's: errors, throttles, duration near its timeout."""
    duration_threshold = round(timeout_ms * DURATION_ALARM_FRACTION)
    return [
        AlarmSpec(
            "FunctionErrors",
            (("m", metrics.LAMBDA_ERRORS),),
            "Sum",
            1,
            GTE,
            1,
            "the API function raised or timed out. First: Logs Insights on the function's log group, "
            "level = 'ERROR' in the alarm window; if a release went out in that window, roll it back.",
            composite=UNHEALTHY,
        ),
        AlarmSpec(
            "FunctionThrottles",
            (("m", metrics.LAMBDA_THROTTLES),),
            "Sum",
            1,
            GTE,
            settings.function_throttles_threshold,
            "requests were refused for lack of concurrency. First: compare ConcurrentExecutions with the "
            "account's concurrency quota and reservedConcurrency.",
            threshold_key="functionThrottlesThreshold",
            composite=UNHEALTHY,
        ),
        AlarmSpec(
            "FunctionDuration",
            (("m", metrics.LAMBDA_DURATION),),
            "p99",
            5,
            GT,
            duration_threshold,
            f"p99 duration is above {DURATION_ALARM_FRACTION:.0%} of the {timeout_ms} ms timeout. First: the "
            "report lines of timed-out invocations in the function's log group (logged at every systemLogLevel); "
            "for init time, deploy with systemLogLevel=INFO while you look.",
            composite=DEGRADED,
            note=f"{DURATION_ALARM_FRACTION:.0%} of the timeout",
        ),
    ]


def api_alarms(settings: Settings, routes: Sequence[Route]) -> list[AlarmSpec]:
    """The API's: 5xx answers, the 4xx rate (without the routes' expected refusals), p99 latency."""
    quiet = sorted(route.key for route in routes if not route.client_errors_page)
    client_errors: tuple[tuple[str, Watch], ...] = (("clientErrors", metrics.API_4XX), ("requests", metrics.API_COUNT))
    # A volume floor: below it the rate is 0, so a handful of requests (make verify's 404 probes) cannot page.
    floor = settings.api_4xx_min_requests
    rate = f"IF(requests >= {floor}, 100 * clientErrors / requests, 0)"
    paged = "clientErrors"
    if quiet:
        # The function counts the 4xx answers of these routes (ExpectedClientErrors); they are not paged on.
        client_errors += (("expected", metrics.EXPECTED_CLIENT_ERRORS),)
        paged += " - FILL(expected, 0)"
    protected = any(route.authorization != PUBLIC for route in routes)
    if protected:
        # A flood of missing or bad credentials is refused by the authorizer: seen on the dashboard, never paged.
        client_errors += (("refused", metrics.AUTH_REFUSALS),)
        paged += " - FILL(refused, 0)"
    if paged != "clientErrors":
        rate = f"IF(requests >= {floor}, 100 * ({paged}) / requests, 0)"
    return [
        AlarmSpec(
            "Api5xx",
            (("m", metrics.API_5XX),),
            "Sum",
            1,
            GTE,
            settings.api_5xx_threshold,
            "the API answered with server errors. First: the access log's status, integrationError and "
            "errorMessage for those requests (README query 1), then FunctionErrors.",
            threshold_key="api5xxThreshold",
            composite=UNHEALTHY,
        ),
        AlarmSpec(
            "Api4xxRate",
            client_errors,
            "Sum",
            5,
            GT,
            settings.api_4xx_rate_percent,
            f"more than {settings.api_4xx_rate_percent}% of requests got a 4xx answer. First: the access log's "
            "path and sourceIp of the 4xx lines: a client bug, a scan, or throttling (429).",
            threshold_key="api4xxRatePercent",
            expression=rate,
            composite=DEGRADED,
            note=f"a rate, so a traffic spike alone does not fire it; 0 under {floor} requests (`api4xxMinRequests`)"
            + (f"; without the 4xx of {', '.join(quiet)} (client_errors_page=False)" if quiet else "")
            + ("; without the authorizers' 401 and 403 answers (counted from the access log)" if protected else ""),
        ),
        AlarmSpec(
            "ApiLatency",
            (("m", metrics.API_LATENCY),),
            "p99",
            5,
            GT,
            settings.api_latency_p99_ms,
            f"p99 API latency is above {settings.api_latency_p99_ms} ms. First: integrationLatency against "
            "responseLatency in the access log (README query 2): the function or API Gateway.",
            threshold_key="apiLatencyP99Ms",
            composite=DEGRADED,
        ),
    ]


def route_alarms(route: Route) -> list[AlarmSpec]:
    """A route's own, when its row declares one (alarm_5xx)."""
    if route.alarm_5xx is None:
        return []
    return [
        AlarmSpec(
            f"Route{route_name(route)}5xx",
            (("m", metrics.ROUTE_SERVER_ERRORS),),
            "Sum",
            1,
            GTE,
            route.alarm_5xx,
            f"{route.key} answered with server errors. First: the function's ERROR lines for that route in the "
            "alarm window, then the access log's integrationError for it.",
            route=route.key,
            composite=UNHEALTHY,
            note="declared by the route (alarm_5xx); counts the function's own 5xx answers",
        ),
    ]


def release_alarms(settings: Settings) -> list[AlarmSpec]:
    """The new version's own, for CodeDeploy to roll back on."""
    # Release alarms: CodeDeploy watches them while it shifts traffic, and each sees the new version alone, so
    # the old version's failures (the reason for a hotfix) can never stop the fix (CodeDeploy "Monitoring
    # deployments with CloudWatch alarms": any alarm in ALARM stops the deployment). One bad minute is enough
    # (2 of 2 for duration, which one cold start must not fail); missing data is not breaching, because a
    # canary at low traffic may get no request at all: the pre-traffic hook has already proven the version
    # answers. Their action is the rollback; they notify no one.
    return [
        AlarmSpec(
            "ReleaseVersionErrors",
            (("m", metrics.VERSION_ERRORS),),
            "Sum",
            1,
            GTE,
            1,
            "the new version raised, timed out or ran out of memory during a release. First: the function's "
            "log lines of that version (Logs Insights: @logStream like '[<version>]').",
            insights=True,
            release=True,
            note="by FunctionName and ExecutedVersion: the new version's own crashes",
        ),
        AlarmSpec(
            "ReleaseVersion5xx",
            (("m", metrics.VERSION_SERVER_ERRORS),),
            "Sum",
            1,
            GTE,
            1,
            "the new version answered 5xx during a release (a handled error Lambda does not count). First: its "
            "ERROR lines (errorType) in the function's log group.",
            release=True,
            note="the function's own count, by FunctionName and FunctionVersion (embedded metric format)",
        ),
        AlarmSpec(
            "ReleaseVersionDuration",
            (("m", metrics.VERSION_DURATION),),
            "Average",
            1,
            GT,
            settings.api_latency_p99_ms,
            "the new version's average duration was above the API latency target for two minutes during a "
            "release. First: its Duration against the old version's (AWS/Lambda, by ExecutedVersion).",
            threshold_key="apiLatencyP99Ms",
            insights=True,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            release=True,
            note="by FunctionName and ExecutedVersion; an average, as Metrics Insights has no percentiles",
        ),
    ]


def delivery_alarms(settings: Settings, source: str) -> list[AlarmSpec]:
    """An archived log source's: Firehose's freshness and success, the subscription's errors and throttling."""
    name = source.capitalize()
    return [
        AlarmSpec(
            f"{name}DeliveryFreshness",
            (("m", metrics.DELIVERY_FRESHNESS),),
            "Maximum",
            5,
            GT,
            settings.firehose_freshness_seconds,
            f"{source} logs wait too long to reach S3: this is the log-loss signal. First: the Firehose "
            "error log group (ProdLogArchive/DeliveryLogGroup) and the errors/ prefix of the archive.",
            threshold_key="firehoseFreshnessSeconds",
            source=source,
            note="the oldest record inside Firehose: logs that never reach Firehose are not seen",
        ),
        AlarmSpec(
            f"{name}DeliverySuccess",
            (("m", metrics.DELIVERY_SUCCESS),),
            "Average",
            5,
            LT,
            1,
            f"Firehose has failed to put {source} logs into S3 for 15 minutes. First: the Firehose error "
            "log group; a KMS or S3 access denial there means a changed key or bucket policy.",
            evaluation_periods=3,
            datapoints_to_alarm=3,
            source=source,
            note="sustained failure only: Firehose retries a failed put; freshness is the loss signal",
        ),
        AlarmSpec(
            f"{name}SubscriptionErrors",
            (("m", metrics.SUBSCRIPTION_ERRORS),),
            "Sum",
            5,
            GTE,
            1,
            f"CloudWatch Logs could not forward {source} logs to Firehose. First: the subscription role's "
            "policy and the stream's state (DescribeDeliveryStream).",
            insights=True,
            source=source,
            note="by LogGroupName alone: right whichever documented dimension set is published",
        ),
        AlarmSpec(
            f"{name}SubscriptionThrottling",
            (("m", metrics.SUBSCRIPTION_THROTTLING),),
            "Sum",
            5,
            GTE,
            1,
            f"forwarding of {source} logs to Firehose is throttled; throttled deliveries are dropped after "
            "24 hours. First: the stream's throughput quota (Firehose Service Quotas).",
            insights=True,
            source=source,
            note="by LogGroupName alone: right whichever documented dimension set is published",
        ),
    ]
