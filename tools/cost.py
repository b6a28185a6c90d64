"""`make cost`: what the stack as configured costs per million requests, all-in, and what it costs per month
whatever the traffic.

Three inputs, none typed in by hand:
- what is deployed, read from the synthesized template: the stage's access-log format, the function's log
  levels, memory, architecture and tracing, retention, Firehose buffers, the archive's lifecycle, the alarms;
- the bytes of each log line, measured on real lines: the access line rendered from the stage's own format,
  the function's lines written by the real handler through Lambda's JSON log format at the deployed level, and
  Lambda's platform lines at the deployed system log level;
- a price table as data (PRICES), each price with the page it was read from and when.

Conventions, as AWS bills them: a GB is 2^30 bytes, a TB 2^40 (Lambda's GB-second counts 1,024 MB as a GB);
Firehose rounds each record up to a multiple of 5 KB (5,120 bytes); list prices in us-east-1, no free tier.
What depends on traffic is computed for two profiles (TRAFFIC): a trickle, where every log event is its own
Firehose record (the worst case, and the README's figure), and steady traffic, where events share records.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import gzip
import importlib
import io
import json
import logging
import math
import random
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pre_traffic_hook.handler import CHECKS_METADATA
from prod_serverless.log_formats import access_log_format, render_access_line
from prod_serverless.names import WORKER_METADATA, worker_construct_id
from prod_serverless.queries import QUERIES
from prod_serverless.settings import SYSTEM_LOG_LEVELS
from tools.local_server import (
    SERVICE_FUNCTION,
    assembly_region,
    function_variables,
    stage_access_log_format,
    stage_template,
)
from tools.markdown import markdown_table
from tools.offline_aws import OfflineError, referenced

GB = 2**30
TB = 2**40
FIREHOSE_RECORD_STEP = 5 * 1024
# CloudWatch Logs counts 26 bytes per event beside the message (PutLogEvents quota); counted in ingestion as an
# upper bound, and in storage as the pricing page says ("26 bytes of metadata per log event").
EVENT_OVERHEAD_BYTES = 26
DAYS_PER_MONTH = 30.4375
# S3 Lifecycle does not transition objects smaller than 128 KB by default (S3 "Transitioning objects").
S3_MIN_TRANSITION_BYTES = 128 * 1024
READ_ON = "2026-11-29 (stored copy)"
PRICED_REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float
    per: str
    source: str


PRICES = {
    "api_request": Price(
        1.00 / 1e6, "HTTP API request (first 300 million a month)", "aws.amazon.com/api-gateway/pricing"
    ),
    "lambda_request": Price(0.20 / 1e6, "Lambda request", "aws.amazon.com/lambda/pricing"),
    "lambda_gb_second_arm64": Price(0.0000133334, "GB-second, arm64", "aws.amazon.com/lambda/pricing"),
    "lambda_gb_second_x86_64": Price(0.0000166667, "GB-second, x86_64", "aws.amazon.com/lambda/pricing"),
    "logs_ingested_gb": Price(0.50, "GB ingested, Standard log class", "aws.amazon.com/cloudwatch/pricing"),
    "logs_stored_gb_month": Price(0.03, "GB-month stored (compressed)", "aws.amazon.com/cloudwatch/pricing"),
    "firehose_gb": Price(0.029, "GB ingested, Direct PUT, 5 KB records", "aws.amazon.com/firehose/pricing"),
    "s3_put": Price(0.005 / 1000, "PUT request, S3 Standard", "aws.amazon.com/s3/pricing"),
    "s3_standard_gb_month": Price(0.023, "GB-month, S3 Standard (first 50 TB)", "aws.amazon.com/s3/pricing"),
    "s3_ia_gb_month": Price(0.0125, "GB-month, S3 Standard-IA", "aws.amazon.com/s3/pricing"),
    "s3_transition": Price(0.01 / 1000, "lifecycle transition to Standard-IA", "aws.amazon.com/s3/pricing"),
    "kms_request": Price(0.03 / 10000, "KMS request", "aws.amazon.com/kms/pricing"),
    "kms_key_month": Price(1.00, "customer managed key-month", "aws.amazon.com/kms/pricing"),
    "athena_tb": Price(5.00, "TB scanned, 10 MB minimum per query", "aws.amazon.com/athena/pricing"),
    "xray_trace": Price(5.00 / 1e6, "trace recorded", "aws.amazon.com/xray/pricing"),
    "alarm_metric_month": Price(0.10, "standard-resolution alarm metric-month", "aws.amazon.com/cloudwatch/pricing"),
    "composite_alarm_month": Price(0.50, "composite alarm-month", "aws.amazon.com/cloudwatch/pricing"),
    "dashboard_month": Price(3.00, "dashboard-month", "aws.amazon.com/cloudwatch/pricing"),
    "custom_metric_month": Price(0.30, "metric-month (detailed route metrics)", "aws.amazon.com/cloudwatch/pricing"),
    "logs_insights_gb": Price(0.005, "GB scanned by a Logs Insights query", "aws.amazon.com/cloudwatch/pricing"),
    "scheduler_invocation": Price(
        1.00 / 1e6, "EventBridge Scheduler invocation (after 14 million free)", "aws.amazon.com/eventbridge/pricing"
    ),
    "sqs_request": Price(0.40 / 1e6, "SQS standard request, 64 KB chunk", "aws.amazon.com/sqs/pricing"),
}
# A screen left open on the dashboard, refreshing every 5 minutes: each refresh runs its Logs Insights widgets again.
SCREEN_REFRESH_MINUTES = 5
# Firehose's price page lists four usage types (ingestion, format conversion, VPC delivery, dynamic
# partitioning); decompressing CloudWatch Logs records is not one of them, so it is priced at nothing here.
# HTTP API publishes these six metrics per route when detailed metrics are on.
DETAILED_ROUTE_METRICS = 6
# KMS pricing: a key is $1 a month, and each of its first two automatic rotations adds $1 a month (rotation is
# yearly): $1 in its first year, $2 in its second, $3 from its third on.
KEY_MONTHS_BY_YEAR = {1: 1, 2: 2, 3: 3}
# The function's own metrics (service/metrics.py) are written only when it answers 5xx (or a 4xx a route declares
# normal): a healthy month publishes none. Each version that fails, and each failing route, is a custom metric
# billed for the hours it has data.
ERROR_METRICS_PER_FAILURE = 2
ATHENA_MIN_QUERY_BYTES = 10 * 2**20
# Lambda's X-Ray sampling, fixed: the first request each second and 5% of the rest (Lambda "Using AWS Lambda
# with AWS X-Ray": "This sampling rate cannot be configured for Lambda functions").
XRAY_RESERVOIR_PER_SECOND, XRAY_RATE = 1.0, 0.05


@dataclass(frozen=True)
class Traffic:
    """A traffic profile: what Firehose batching, S3 object sizes and X-Ray sampling depend on."""

    name: str
    requests_per_second: float
    events_per_record: int  # log events CloudWatch Logs puts in one Firehose record
    cold_start_share: float  # invocations that start an execution environment


TRAFFIC = (
    # A million requests a month is 0.38 per second: assume nothing is batched.
    Traffic("a trickle", 1e6 / (DAYS_PER_MONTH * 86400), events_per_record=1, cold_start_share=0.01),
    # Assumed, not documented: at 100 requests/s a log stream's events arrive together, ~50 to a record.
    Traffic("steady", 100.0, events_per_record=50, cold_start_share=0.0001),
)
# Assumptions about the function's time, stated: the handler's own work is microseconds (`make bench`); Lambda
# bills whole milliseconds, and the runtime's per-invoke work brings a warm invocation to about 2 ms. Since
# August 2025 the INIT phase is billed too; about 300 ms for this stdlib-only handler at 128 MB.
WARM_BILLED_MS = 2
INIT_BILLED_MS = 300


# --------------------------------------------------------------------------------------------------- workers
# Assumed, not documented: Lambda keeps about five pollers long-polling (20 s) an idle SQS queue, about 15 empty
# receives a minute; the SQS page bills each empty receive as a request.
IDLE_RECEIVES_PER_MINUTE = 15
# A worker's own work is unknown here: its compute is priced per 100 ms of each invocation, at its memory.
WORKER_UNIT_MS = 100
# SQS requests per message at a trickle: the producer's SendMessage, Lambda's ReceiveMessage and DeleteMessage.
SQS_REQUESTS_PER_MESSAGE = 3
MINUTES_PER_MONTH = DAYS_PER_MONTH * 24 * 60
CRON_RANGES = {"minute": (0, 59), "hour": (0, 23), "day": (1, 31), "month": (1, 12), "weekday": (1, 7)}
CRON_NAMES = {
    **{name: n for n, name in enumerate(("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV",
                                          "DEC"), start=1)},
    **{name: n for n, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"), start=1)},
}  # fmt: skip


@dataclass(frozen=True)
class WorkerCost:
    """A worker as the bill sees it: its trigger, its size."""

    name: str
    trigger: str  # "schedule" or "queue"
    memory_mb: int
    timeout_seconds: int
    architecture: str
    expression: str = ""  # a schedule's
    batch_size: int = 1  # a queue's


def cron_field_count(text: str, unit: str) -> float:
    """How many values a cron field matches: `*`, `?`, `a`, `a-b`, `*/n`, `a/n`, lists, names; L, W and # as one."""
    low, high = CRON_RANGES[unit]
    count = 0.0
    for part in text.split(","):
        base, _, step = part.partition("/")
        base = str(CRON_NAMES.get(base.upper(), base))
        if base in ("*", "?"):
            start, end = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, end = int(CRON_NAMES.get(first.upper(), first)), int(CRON_NAMES.get(last.upper(), last))
        elif base.isdigit():
            start = end = int(base)
            if step:
                end = high
        else:  # L, W, 3#2: one day
            count += 1
            continue
        count += math.ceil((end - start + 1) / int(step)) if step else end - start + 1
    return count


def runs_per_month(expression: str) -> float:
    """An EventBridge Scheduler expression's runs in an average month (an `at()` runs once: 0 a month)."""
    rate = re.fullmatch(r"rate\((\d+) (minute|hour|day)s?\)", expression)
    if rate:
        minutes = int(rate[1]) * {"minute": 1, "hour": 60, "day": 1440}[rate[2]]
        return MINUTES_PER_MONTH / minutes
    cron = re.fullmatch(r"cron\((\S+) (\S+) (\S+) (\S+) (\S+) \S+\)", expression)
    if not cron:
        return 0.0
    minute, hour, day, month, weekday = cron.groups()
    per_day = cron_field_count(minute, "minute") * cron_field_count(hour, "hour")
    if day in ("*", "?") and weekday in ("*", "?"):
        days = DAYS_PER_MONTH
    elif day in ("*", "?"):
        days = DAYS_PER_MONTH * cron_field_count(weekday, "weekday") / 7
    else:
        days = cron_field_count(day, "day")
    return per_day * days * cron_field_count(month, "month") / 12


def deployed_workers(template: dict[str, Any]) -> tuple[WorkerCost, ...]:
    """Each worker's function (its WORKER_METADATA) and its trigger, found by the worker's logical-id prefix."""
    resources = template["Resources"]
    found = []
    for resource in resources.values():
        name = resource.get("Metadata", {}).get(WORKER_METADATA)
        if resource["Type"] != "AWS::Lambda::Function" or not name:
            continue
        properties = resource["Properties"]
        prefix = worker_construct_id(name)
        schedules = [r["Properties"] for i, r in resources.items()
                     if i.startswith(prefix) and r["Type"] == "AWS::Scheduler::Schedule"]  # fmt: skip
        mappings = [r["Properties"] for i, r in resources.items()
                    if i.startswith(prefix) and r["Type"] == "AWS::Lambda::EventSourceMapping"]  # fmt: skip
        found.append(
            WorkerCost(
                name=name,
                trigger="schedule" if schedules else "queue",
                memory_mb=properties["MemorySize"],
                timeout_seconds=properties["Timeout"],
                architecture=properties.get("Architectures", ["x86_64"])[0],
                expression=schedules[0]["ScheduleExpression"] if schedules else "",
                batch_size=mappings[0].get("BatchSize", 10) if mappings else 1,
            )
        )
    return tuple(found)


def worker_item(worker: WorkerCost) -> Item:
    """A worker's line: a schedule's month at most (each run billed its whole timeout), a queue's per million
    messages at a trickle (one message a batch) with WORKER_UNIT_MS of work each, and its idle polling."""
    gb_second = f"lambda_gb_second_{worker.architecture}"
    if worker.trigger == "schedule":
        runs = runs_per_month(worker.expression)
        per_run = (
            _usd("lambda_request", 1)
            + _usd("scheduler_invocation", 1)
            + _usd(gb_second, worker.memory_mb / 1024 * worker.timeout_seconds)
        )
        return Item(
            f"Worker {worker.name}",
            runs * per_run,
            f"a month at most: {runs:.4g} runs ({worker.expression}), each billed its whole {worker.timeout_seconds} s "
            f"at {worker.memory_mb} MB, ${per_run:.6f} a run",
        )
    million = 1e6
    messages = (
        _usd("sqs_request", SQS_REQUESTS_PER_MESSAGE * million)
        + _usd("lambda_request", million)
        + _usd(gb_second, worker.memory_mb / 1024 * WORKER_UNIT_MS / 1000 * million)
    )
    idle = _usd("sqs_request", IDLE_RECEIVES_PER_MINUTE * MINUTES_PER_MONTH)
    return Item(
        f"Worker {worker.name}",
        messages,
        f"per million messages, one a batch, {WORKER_UNIT_MS} ms each at {worker.memory_mb} MB "
        f"({SQS_REQUESTS_PER_MESSAGE} SQS requests a message); batches of {worker.batch_size} cost less; plus about "
        f"${idle:.2f} a month of Lambda's empty receives on an idle queue "
        f"(assumed {IDLE_RECEIVES_PER_MINUTE} a minute)",
    )


# --------------------------------------------------------------------------------------------------- template
@dataclass(frozen=True)
class Deployed:
    """What the template deploys, as far as the bill is concerned."""

    access_log_format: dict[str, str]
    function_environment: Mapping[str, object]  # as the template writes them: a resource's name is a Ref
    application_log_level: str
    system_log_level: str
    memory_mb: int
    architecture: str
    tracing: str
    log_retention_days: int
    buffer_seconds: int
    buffer_mib: int
    streams: int
    ia_after_days: int | None
    expire_after_days: int
    metric_alarm_metrics: int
    composite_alarms: int
    dashboards: int
    keys: int
    detailed_routes: int
    checks: list[dict[str, Any]]  # every route's sample: the request mix, one equal share each
    region: str
    log_query_widgets: int = 0  # the dashboard's Logs Insights widgets: each view scans their log groups again
    dashboard_window_hours: float = 3.0  # how much log a view scans: the dashboard's default time range
    metric_filters: int = 0  # each publishes one custom metric (the authorizers' refusals, when a route is protected)
    function_resources: Mapping[str, Any] = field(default_factory=dict)  # what the variables name, run offline
    workers: tuple[WorkerCost, ...] = ()  # the functions no route calls (workers/table.py), as the template has them

    @classmethod
    def read(cls, template: dict[str, Any], region: str = "us-east-1") -> Deployed:
        resources = template["Resources"]

        def of_type(kind: str) -> list[tuple[str, dict[str, Any]]]:
            return [(i, r.get("Properties", {})) for i, r in resources.items() if r["Type"] == kind]

        ((_, stage),) = of_type("AWS::ApiGatewayV2::Stage")
        ((_, function),) = [(i, p) for i, p in of_type("AWS::Lambda::Function") if i.startswith(SERVICE_FUNCTION)]
        logging_config = function["LoggingConfig"]
        groups = {i: p for i, p in of_type("AWS::Logs::LogGroup")}
        (archive,) = [
            p for _, p in of_type("AWS::S3::Bucket") if _rule(p, "TierAndExpireLogs") is not None
        ]  # the log archive
        rule = _rule(archive, "TierAndExpireLogs") or {}
        transitions = rule.get("Transitions", [])
        hints = [
            p["ExtendedS3DestinationConfiguration"]["BufferingHints"]
            for _, p in of_type("AWS::KinesisFirehose::DeliveryStream")
        ]
        routes = len(of_type("AWS::ApiGatewayV2::Route"))
        dashboards = [_dashboard_text(p) for _, p in of_type("AWS::CloudWatch::Dashboard")]
        detailed = stage.get("DefaultRouteSettings", {}).get("DetailedMetricsEnabled", False)
        return cls(
            access_log_format=stage_access_log_format(template),
            function_environment=function_variables(template),
            function_resources=referenced(function_variables(template), resources),
            application_log_level=logging_config["ApplicationLogLevel"],
            system_log_level=logging_config["SystemLogLevel"],
            memory_mb=function["MemorySize"],
            architecture=function.get("Architectures", ["x86_64"])[0],
            tracing=function.get("TracingConfig", {}).get("Mode", "PassThrough"),
            log_retention_days=groups[logging_config["LogGroup"]["Ref"]]["RetentionInDays"],
            buffer_seconds=min(h["IntervalInSeconds"] for h in hints),
            buffer_mib=min(h["SizeInMBs"] for h in hints),
            streams=len(hints),
            ia_after_days=transitions[0]["TransitionInDays"] if transitions else None,
            expire_after_days=rule["ExpirationInDays"],
            metric_alarm_metrics=sum(_alarm_metrics(p) for _, p in of_type("AWS::CloudWatch::Alarm")),
            composite_alarms=len(of_type("AWS::CloudWatch::CompositeAlarm")),
            dashboards=len(of_type("AWS::CloudWatch::Dashboard")),
            keys=len(of_type("AWS::KMS::Key")),
            detailed_routes=routes if detailed else 0,
            checks=_route_checks(template),
            region=region,
            log_query_widgets=sum(text.count('"type":"log"') for text in dashboards),
            dashboard_window_hours=max(
                [float(h) for text in dashboards for h in re.findall(r'"start":"-PT(\d+)H"', text)] or [3.0]
            ),
            metric_filters=len(of_type("AWS::Logs::MetricFilter")),
            workers=deployed_workers(template),
        )


def _route_checks(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The routes' samples, as the template records what the release hook's asset holds (the template is the truth)."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function" and CHECKS_METADATA in resource.get("Metadata", {}):
            checks: list[dict[str, Any]] = json.loads(resource["Metadata"][CHECKS_METADATA])
            return checks
    raise ValueError("the template has no release hook with the routes' samples")


def _dashboard_text(dashboard: dict[str, Any]) -> str:
    """A dashboard's JSON body, its references left out (an Fn::Join of text and tokens in the template)."""
    body = dashboard.get("DashboardBody", "")
    if isinstance(body, dict):
        return "".join(part for part in body.get("Fn::Join", ["", []])[1] if isinstance(part, str))
    return str(body)


def _rule(bucket: dict[str, Any], rule_id: str) -> dict[str, Any] | None:
    rules = bucket.get("LifecycleConfiguration", {}).get("Rules", [])
    return next((rule for rule in rules if rule.get("Id") == rule_id), None)


def _alarm_metrics(alarm: dict[str, Any]) -> int:
    """Metrics an alarm is billed for: one, or each metric of its math (a Metrics Insights query: one series)."""
    queries = alarm.get("Metrics")
    if not queries:
        return 1
    # A query naming a resource is an Fn::Join in the template; its text still starts with SELECT.
    return sum(1 for query in queries if "MetricStat" in query or '"SELECT ' in json.dumps(query.get("Expression")))


# ------------------------------------------------------------------------------------------------ log lines
# One request as API Gateway would describe it: a browser on IPv4, answered in a few ms.
SAMPLE_REQUEST = {
    "$context.requestId": "JKJaXmPLvHcESHA=",
    "$context.requestTime": "29/Nov/2026:10:00:00 +0000",
    "$context.requestTimeEpoch": "1795946400123",
    "$context.identity.sourceIp": "198.51.100.23",
    "$context.httpMethod": "GET",
    "$context.routeKey": "GET /",
    "$context.path": "/",
    "$context.protocol": "HTTP/1.1",
    "$context.status": "200",
    "$context.responseLength": "107",
    "$context.responseLatency": "14",
    "$context.integrationLatency": "12",
    "$context.integrationStatus": "200",
    "$context.identity.userAgent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    ),
    "$context.awsEndpointRequestId": "8f5e2b1c-3d4a-4e6f-9b8c-7a6d5e4f3c2b",
}


def platform_lines(system_log_level: str, tracing: str, request_id: str) -> list[str]:
    """Lambda's platform lines for one successful warm invocation at `system_log_level` (JSON log format).

    Lambda "Log-level filtering", event mapping: start and report are INFO, runtimeDone is DEBUG; with status
    other than success, runtimeDone and report are WARN (so a failed invocation keeps them at every level).
    """
    trace = {"spanId": "a1b2c3d4e5f60718", "type": "X-Amzn-Trace-Id", "value": f"Root=1-6749a0e0-{'0' * 24};Sampled=1"}
    traced = {"tracing": trace} if tracing == "Active" else {}
    time = "2026-11-29T10:00:00.123Z"
    metrics = {"durationMs": 1.52, "billedDurationMs": 2, "memorySizeMB": 128, "maxMemoryUsedMB": 38}
    events = [
        (
            "INFO",
            {"time": time, "type": "platform.start", "record": {"requestId": request_id, "version": "12", **traced}},
        ),
        (
            "DEBUG",
            {
                "time": time,
                "type": "platform.runtimeDone",
                "record": {
                    "requestId": request_id,
                    "status": "success",
                    **traced,
                    "metrics": {"durationMs": 1.4, "producedBytes": 107},
                },
            },
        ),
        (
            "INFO",
            {
                "time": time,
                "type": "platform.report",
                "record": {"requestId": request_id, "metrics": metrics, **traced, "status": "success"},
            },
        ),
    ]
    # SYSTEM_LOG_LEVELS runs from most to least detail: a level keeps its own events and the less detailed ones.
    keep = SYSTEM_LOG_LEVELS[SYSTEM_LOG_LEVELS.index(system_log_level) :]
    return [json.dumps(event, separators=(",", ":")) for level, event in events if level in keep]


_OFFLINE_LINES: dict[tuple[str, str], list[str]] = {}


def function_lines(deployed: Deployed, request_id: str, check: dict[str, Any]) -> list[str]:
    """What the real handler writes for one route's sample, through Lambda's JSON format at the deployed level."""
    from tools.local_server import load_handler
    from tools.offline_aws import offline_aws

    # What decides the lines: the function's environment and resources, the application's level, the sample.
    inputs = [
        deployed.function_environment,
        deployed.function_resources,
        deployed.region,
        deployed.application_log_level,
    ]
    key = json.dumps([inputs, request_id], sort_keys=True, default=str)

    def sample(each: dict[str, Any]) -> tuple[str, str]:
        return key, json.dumps(each, sort_keys=True)

    if deployed.function_resources and sample(check) in _OFFLINE_LINES:
        return list(_OFFLINE_LINES[sample(check)])  # a fixed clock: the same lines again
    offline = offline_aws(deployed.function_environment, deployed.function_resources, deployed.region)
    with offline as environment:  # a route's table or secret, in memory, as make serve has them
        handler = load_handler(environment)
        if not deployed.function_resources:
            return _function_lines(handler, request_id, check, deployed)
        # An in-memory AWS takes a second to build: every sample runs in it once, in table order, as the release
        # hook and make smoke send them (a sample may read what an earlier one wrote: a PUT before its GET).
        for each in [*deployed.checks, *([] if check in deployed.checks else [check])]:
            _OFFLINE_LINES[sample(each)] = _function_lines(handler, request_id, each, deployed)
    return list(_OFFLINE_LINES[sample(check)])


def _function_lines(handler: Any, request_id: str, check: dict[str, Any], deployed: Deployed) -> list[str]:
    from tools.events import LambdaContext, build_event
    from tools.lambda_logging import LambdaJsonFormatter, invocation

    module = importlib.import_module("service.handler")  # the one load_handler imported (a probe, in tests)
    # A fixed 1.5 ms instead of the real clock: the same lines, byte for byte, on every run.
    ticks = iter(range(1_000_000))
    clock = type("Clock", (), {"perf_counter": staticmethod(lambda: next(ticks) * 0.0015)})
    real_time, module.time = module.time, clock  # type: ignore[attr-defined]
    stream = io.StringIO()
    capture = logging.StreamHandler(stream)
    # The service's own lines: at DEBUG an SDK would add its own per call (botocore), which vary with the offline
    # AWS's answers run to run; docs/cost.md says they are not priced.
    capture.addFilter(lambda record: record.name == "service" or record.name.startswith("service."))
    capture.setFormatter(LambdaJsonFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(capture)
    # Lambda filters the application's lines at the deployed level (it lowers WARNING to WARN in its names).
    root.setLevel(deployed.application_log_level.replace("WARN", "WARNING"))
    service = logging.getLogger("service")
    service_level = service.level
    service.setLevel(logging.NOTSET)
    try:
        event = build_event(
            method=check["method"],
            raw_path=check["path"],
            raw_query_string=check.get("query") or "",
            headers=[("user-agent", "t/1"), *([("content-type", "application/json")] if check.get("body") else [])],
            source_ip=SAMPLE_REQUEST["$context.identity.sourceIp"],
            body=check.get("body"),
            request_id=SAMPLE_REQUEST["$context.requestId"],
            now=1795946400.123,
            route_key=check["route"],
            authorizer=check.get("authorizer"),  # a protected route's sample, as its authorizer accepted it
        )
        context = LambdaContext()
        context.aws_request_id = request_id
        # The function's metric lines (service/metrics.py) go to stdout, which Lambda also sends to the log group.
        with invocation(request_id), contextlib.redirect_stdout(stream):
            handler(event, context)
    finally:
        module.time = real_time  # type: ignore[attr-defined]
        root.removeHandler(capture)
        root.setLevel(previous)
        service.setLevel(service_level)
    return stream.getvalue().splitlines()


@dataclass(frozen=True)
class Lines:
    """The log events one served request writes, per log group."""

    access: list[str]
    function: list[str]
    platform: list[str]

    @classmethod
    def measure(cls, deployed: Deployed, check: dict[str, Any] | None = None) -> Lines:
        """The lines of one request: `check`'s sample (a route of the template), or the first route's."""
        check = check or deployed.checks[0]
        request_id = SAMPLE_REQUEST["$context.awsEndpointRequestId"]
        values = {
            **SAMPLE_REQUEST,
            "$context.httpMethod": check["method"],
            "$context.routeKey": check["route"],
            "$context.path": check["path"],
            "$context.status": str(check["status"]),
        }
        return cls(
            access=[render_access_line(deployed.access_log_format, values)],
            function=function_lines(deployed, request_id, check),
            platform=platform_lines(deployed.system_log_level, deployed.tracing, request_id),
        )

    def by_stream(self) -> dict[str, list[str]]:
        return {"api": self.access, "function": self.function + self.platform}


HEX_DIGITS = "0123456789abcdef"
# random.choice(HEX_DIGITS) draws getrandbits(5), a 32-bit word's top 5 bits, until one is below 16. Words drawn in
# bulk give the same digits: of each word's top byte, those of 128 or more are deleted, the rest map to HEX_DIGITS.
ACCEPTED_DIGIT = bytes(HEX_DIGITS.encode()[byte >> 3] if byte < 128 else 0 for byte in range(256))
REJECTED_DRAW = bytes(range(128, 256))
DRAWN_WORDS = 1024  # per draw: about 512 digits, so a sample of any size takes several


def _hex_digits(rng: random.Random, count: int) -> str:
    """The next `count` digits that `count` calls of rng.choice(HEX_DIGITS) would give (little-endian hosts)."""
    batches: list[bytes] = []
    found = 0
    while found < count:
        top_bytes = rng.getrandbits(32 * DRAWN_WORDS).to_bytes(4 * DRAWN_WORDS, "little")[3::4]
        batches.append(top_bytes.translate(ACCEPTED_DIGIT, REJECTED_DRAW))
        found += len(batches[-1])
    return b"".join(batches)[:count].decode()


def _variants(lines: list[str], count: int) -> list[str]:
    """`count` copies of each line with its ids and digits varied, as a day of real lines would be."""
    # Each line as a %-template with a slot per digit, filled from one string of random hex digits.
    templates = [
        ("".join("%s" if c.isdigit() else c for c in line.replace("%", "%%")), sum(c.isdigit() for c in line))
        for line in lines
    ]
    digits = _hex_digits(random.Random(7), count * sum(slots for _, slots in templates))  # noqa: S311 - sample data
    out = []
    position = 0
    for number in range(count):
        for template, slots in templates:
            out.append(template % tuple(digits[position : position + slots]) + str(number))
            position += slots
    return out


def gzip_ratio(lines: list[str], level: int = 6) -> float:
    """Compressed / raw size of a realistic batch of these lines."""
    return _gzip_ratio(tuple(lines), level)


@functools.lru_cache(maxsize=1024)  # a few hundred line sets in make docs and the tests together
def _gzip_ratio(lines: tuple[str, ...], level: int) -> float:
    if not lines:
        return 0.0
    # 400 copies, or about 1 MB of text for long lines (a stack trace): far past gzip's 32 KB window either way.
    copies = min(400, max(50, 1_000_000 // sum(len(line) for line in lines)))
    text = "\n".join(_variants(list(lines), copies)).encode()
    return len(gzip.compress(text, compresslevel=level)) / len(text)


def firehose_record_bytes(lines: list[str], events: int) -> int:
    """The billed size of one subscription record holding `events` events: gzip'd envelope, 5 KB steps."""
    return billed_record_bytes(record_bytes(lines, events))


def record_bytes(lines: list[str], events: int) -> int:
    """The size of one subscription record holding `events` events, as CloudWatch Logs sends it: gzip'd JSON."""
    batch = _variants(lines, math.ceil(events / max(1, len(lines))))[:events]
    envelope = {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/lambda/ProdServerlessStack-ProdFunction481DA47F-AbCdEfGhIjKl",
        "logStream": "2026/11/29/[12]0123456789abcdef0123456789abcdef",
        "subscriptionFilters": ["ProdServerlessStack-ProdLogArchiveSubscription-AbCdEfGhIjKl"],
        "logEvents": [{"id": "3" * 56, "timestamp": 1795946400123, "message": message} for message in batch],
    }
    return len(gzip.compress(json.dumps(envelope).encode(), mtime=0))


def billed_record_bytes(size: int) -> int:
    """Firehose bills each record rounded up to the next 5 KB ("a 3KB record is billed as 5KB")."""
    return max(1, math.ceil(size / FIREHOSE_RECORD_STEP)) * FIREHOSE_RECORD_STEP


# --------------------------------------------------------------------------------------------------- costs
@dataclass(frozen=True)
class Item:
    name: str
    usd: float
    basis: str


def _usd(price: str, quantity: float) -> float:
    return PRICES[price].usd * quantity


def per_million(deployed: Deployed, lines: Lines, traffic: Traffic) -> list[Item]:
    """Every cost that grows with requests, for one million of them."""
    million = 1e6
    streams = {name: batch for name, batch in lines.by_stream().items() if batch}
    events = sum(len(batch) for batch in streams.values())
    raw = sum(len(line.encode()) for batch in streams.values() for line in batch)
    ingested = raw + EVENT_OVERHEAD_BYTES * events
    items = [
        Item("API Gateway HTTP API requests", _usd("api_request", million), "1 request each"),
        Item("Lambda requests", _usd("lambda_request", million), "1 invocation each"),
    ]
    gb_seconds = (
        deployed.memory_mb / 1024 * (WARM_BILLED_MS + traffic.cold_start_share * INIT_BILLED_MS) / 1000 * million
    )
    items.append(
        Item(
            "Lambda compute",
            _usd(f"lambda_gb_second_{deployed.architecture}", gb_seconds),
            f"{deployed.memory_mb} MB {deployed.architecture}, {WARM_BILLED_MS} ms warm, "
            f"{traffic.cold_start_share:.2%} cold starts of {INIT_BILLED_MS} ms",
        )
    )
    items.append(
        Item(
            "CloudWatch Logs ingestion",
            _usd("logs_ingested_gb", ingested * million / GB),
            f"{events} event(s), {ingested} B a request (lines + {EVENT_OVERHEAD_BYTES} B each)",
        )
    )
    stored = sum(
        (gzip_ratio(batch) * len(line.encode()) + EVENT_OVERHEAD_BYTES) for batch in streams.values() for line in batch
    )
    months = deployed.log_retention_days / DAYS_PER_MONTH
    items.append(
        Item(
            "CloudWatch Logs storage",
            _usd("logs_stored_gb_month", stored * million / GB * months),
            f"{stored:.0f} B compressed a request, {deployed.log_retention_days} days",
        )
    )
    records = {name: firehose_record_bytes(batch, traffic.events_per_record) for name, batch in streams.items()}
    firehose_bytes = sum(records[name] * len(batch) / traffic.events_per_record for name, batch in streams.items())
    items.append(
        Item(
            "Firehose ingestion",
            _usd("firehose_gb", firehose_bytes * million / GB),
            f"{traffic.events_per_record} event(s) per record, {', '.join(f'{n} {b} B' for n, b in records.items())}"
            " billed per record",
        )
    )
    archived = {
        name: gzip_ratio(batch) * sum(len(line.encode()) + 1 for line in batch) for name, batch in streams.items()
    }
    objects, standard_gb_months, ia_gb_months, transitions = 0.0, 0.0, 0.0, 0.0
    life_months = deployed.expire_after_days / DAYS_PER_MONTH
    for per_request in archived.values():
        seconds = min(
            deployed.buffer_seconds, deployed.buffer_mib * 2**20 / (per_request * traffic.requests_per_second)
        )
        object_bytes = per_request * traffic.requests_per_second * seconds
        count = million * per_request / object_bytes
        objects += count
        gb = per_request * million / GB
        if deployed.ia_after_days is None or object_bytes < S3_MIN_TRANSITION_BYTES:
            standard_gb_months += gb * life_months
        else:
            standard_gb_months += gb * deployed.ia_after_days / DAYS_PER_MONTH
            ia_gb_months += gb * (deployed.expire_after_days - deployed.ia_after_days) / DAYS_PER_MONTH
            transitions += count
    archive_bytes = sum(archived.values())
    items += [
        Item("S3 PUTs", _usd("s3_put", objects), f"{objects:,.0f} objects (one per stream per buffer flush)"),
        Item(
            "S3 storage",
            _usd("s3_standard_gb_month", standard_gb_months) + _usd("s3_ia_gb_month", ia_gb_months),
            f"{archive_bytes:.0f} B gzip a request, {deployed.expire_after_days} days"
            + ("" if ia_gb_months else " in Standard (objects under 128 KB never move to IA)"),
        ),
        Item("S3 lifecycle transitions", _usd("s3_transition", transitions), f"{transitions:,.0f} objects to IA"),
        # With S3 Bucket Keys, S3 asks KMS far less than once per object; once per object is the bound used.
        Item("KMS requests", _usd("kms_request", objects), "at most one per archived object (S3 Bucket Key)"),
    ]
    # Each README query scans every table it reads (each with Athena's 10 MB minimum).
    tables = {"api": "{api}", "function": "{fn}"}
    scanned = sum(
        max(ATHENA_MIN_QUERY_BYTES, archived.get(source, 0.0) * million)
        for query in QUERIES
        for source, placeholder in tables.items()
        if placeholder in query.sql
    )
    items.append(Item("Athena", _usd("athena_tb", scanned / TB), "each README query once over these requests"))
    traced = 0.0
    if deployed.tracing == "Active":
        rate = traffic.requests_per_second
        traced = 1.0 if rate <= XRAY_RESERVOIR_PER_SECOND else (1 + XRAY_RATE * (rate - 1)) / rate
    items.append(
        Item("X-Ray traces", _usd("xray_trace", traced * million), f"tracing {deployed.tracing}, {traced:.1%} traced")
    )
    return items


def fixed_monthly(deployed: Deployed) -> list[Item]:
    """What the stack costs a month whatever the traffic."""
    return [
        Item(
            "CloudWatch alarms",
            _usd("alarm_metric_month", deployed.metric_alarm_metrics),
            f"{deployed.metric_alarm_metrics} alarm metrics (Metrics Insights alarms count one each and have no free "
            "tier)",
        ),
        Item(
            "Composite alarm", _usd("composite_alarm_month", deployed.composite_alarms), f"{deployed.composite_alarms}"
        ),
        Item("Dashboard", _usd("dashboard_month", deployed.dashboards), f"{deployed.dashboards}"),
        Item(
            "KMS keys",
            _usd("kms_key_month", deployed.keys * KEY_MONTHS_BY_YEAR[1]),
            f"{deployed.keys} keys, year one; with yearly rotation "
            + ", ".join(
                f"${_usd('kms_key_month', deployed.keys * months):.0f} in year {year}{'+' if year == 3 else ''}"
                for year, months in KEY_MONTHS_BY_YEAR.items()
            ),
        ),
        Item(
            "Detailed route metrics",
            _usd("custom_metric_month", DETAILED_ROUTE_METRICS * deployed.detailed_routes),
            f"{DETAILED_ROUTE_METRICS} metrics x {deployed.detailed_routes} route(s)",
        ),
        Item(
            "The function's error metrics",
            0.0,
            f"none while healthy; up to ${_usd('custom_metric_month', ERROR_METRICS_PER_FAILURE):.2f} a month for a "
            "version or route that answers 5xx all month",
        ),
    ] + [
        # HTTP API pricing has no charge for JWT or IAM authorization: the metric filter's metric is what it adds.
        Item(
            "Authorizer refusals metric",
            _usd("custom_metric_month", deployed.metric_filters),
            f"{deployed.metric_filters} custom metric from the access log; the authorizers themselves cost nothing",
        )
        for _ in range(1 if deployed.metric_filters else 0)
    ]


def dashboard_views(deployed: Deployed, traffic: Traffic) -> tuple[float, float]:
    """(USD per view of the dashboard, USD a month for a screen refreshing every SCREEN_REFRESH_MINUTES): each
    Logs Insights widget scans the window's access lines, whatever the number of routes (one query for them all)."""
    access_bytes = sum(
        sum(len(line.encode()) for line in Lines.measure(deployed, check).access) for check in deployed.checks
    ) / len(deployed.checks)
    scanned = (
        deployed.log_query_widgets * access_bytes * traffic.requests_per_second * deployed.dashboard_window_hours * 3600
    )
    per_view = _usd("logs_insights_gb", scanned / GB)
    return per_view, per_view * DAYS_PER_MONTH * 24 * 60 / SCREEN_REFRESH_MINUTES


def dashboard_sentence(deployed: Deployed) -> str:
    """What viewing the dashboard costs at each traffic profile, in one sentence (empty without a query widget)."""
    if not deployed.log_query_widgets:
        return ""
    views = [(traffic, *dashboard_views(deployed, traffic)) for traffic in TRAFFIC]
    return (
        f"Viewing the dashboard: its {deployed.log_query_widgets} Logs Insights widget(s) scan the last "
        f"{deployed.dashboard_window_hours:g} h of access lines at each view, whatever the number of routes: "
        + ", ".join(f"${view:.6f} a view at {traffic.name} ({_rate(traffic)})" for traffic, view, _ in views)
        + f"; a screen left open, refreshing every {SCREEN_REFRESH_MINUTES} minutes: "
        + ", ".join(f"${month:.2f} a month at {traffic.name}" for traffic, _, month in views)
        + "."
    )


def total(items: Iterable[Item]) -> float:
    return sum(item.usd for item in items)


def reference_design(deployed: Deployed) -> list[Item]:
    """The design this stack replaces, per million requests: the handler puts one S3 object per request."""
    million = 1e6
    # Assumed: an S3 PutObject from a 128 MB function takes 30-50 ms; 40 ms is used.
    s3_call_ms = 40
    gb_seconds = deployed.memory_mb / 1024 * (WARM_BILLED_MS + s3_call_ms) / 1000 * million
    return [
        Item("API Gateway and Lambda requests", _usd("api_request", million) + _usd("lambda_request", million), ""),
        Item("Lambda compute", _usd(f"lambda_gb_second_{deployed.architecture}", gb_seconds), f"+{s3_call_ms} ms"),
        Item("S3 PUTs", _usd("s3_put", million), "one object per request"),
        Item("KMS requests", _usd("kms_request", million), "one data key per object"),
    ]


# -------------------------------------------------------------------------------------------------- levers
@dataclass(frozen=True)
class Lever:
    """A context key that changes the log bill, and what the template would hold with it set."""

    setting: str
    change: dict[str, Any]


LEVERS = (
    Lever("accessLogFormat=full", {"access_log_format": json.loads(access_log_format("full"))}),
    Lever("logLevel=DEBUG", {"application_log_level": "DEBUG", "function_environment": {"LOG_LEVEL": "DEBUG"}}),
    Lever("systemLogLevel=INFO", {"system_log_level": "INFO"}),
    Lever("tracing=Active", {"tracing": "Active"}),
)


def with_lever(deployed: Deployed, lever: Lever) -> Deployed:
    change = dict(lever.change)
    if "function_environment" in change:
        change["function_environment"] = {**deployed.function_environment, **change["function_environment"]}
    return dataclasses.replace(deployed, **change)


def mixed(deployed: Deployed, traffic: Traffic) -> list[Item]:
    """Per-million items for the request mix: every route's sample an equal share of the requests."""
    per_route = [per_million(deployed, Lines.measure(deployed, check), traffic) for check in deployed.checks]
    return [
        Item(item.name, sum(items[row].usd for items in per_route) / len(per_route), item.basis)
        for row, item in enumerate(per_route[0])
    ]


def estimate(deployed: Deployed) -> tuple[Lines, list[tuple[Traffic, list[Item]]]]:
    """The lines the first route's request writes, and each traffic profile's per-million items."""
    return Lines.measure(deployed), [(traffic, mixed(deployed, traffic)) for traffic in TRAFFIC]


def readme_section(template: dict[str, Any]) -> str:
    """The cost page's tables for `template`."""
    return cost_tables(Deployed.read(template))


def cost_tables(deployed: Deployed) -> str:
    """The cost page's tables: per million at each traffic profile, what each lever adds, the fixed costs."""
    lines, profiles = estimate(deployed)
    header = ["Per million requests", *(f"{t.name} ({_rate(t)})" for t, _ in profiles)]
    rows = [
        [item.name, *(f"${items[row].usd:.4f}" for _, items in profiles)] for row, item in enumerate(profiles[0][1])
    ]
    rows.append(["**Total**", *(f"**${total(items):.2f}**" for _, items in profiles)])
    floor = _usd("api_request", 1e6) + _usd("lambda_request", 1e6)
    out = [
        f"The default configuration costs **${total(profiles[0][1]):.2f} per million requests** at a trickle, of which "
        f"${floor:.2f} is the floor any HTTP API + Lambda design pays (its requests). A served request writes "
        f"{len(lines.access) + len(lines.function) + len(lines.platform)} log event(s): the access line is "
        f"{sum(len(line.encode()) for line in lines.access)} bytes.\n",
        markdown_table(header, rows),
        "",
    ]
    lever_rows = []
    for lever in LEVERS:
        changed = with_lever(deployed, lever)
        lever_rows.append(
            [f"`{lever.setting}`", *(f"+${total(mixed(changed, t)) - total(items):.4f}" for t, items in profiles)]
        )
    out += [markdown_table(["Lever (context key)", *header[1:]], lever_rows), ""]
    fixed = fixed_monthly(deployed)
    fixed_rows = [[item.name, item.basis, f"${item.usd:.2f}"] for item in fixed]
    fixed_rows.append(["**Total**", "", f"**${total(fixed):.2f}**"])
    out.append(markdown_table(["Fixed per month", "", "USD"], fixed_rows))
    if deployed.log_query_widgets:
        out.append("\n" + dashboard_sentence(deployed))
    if deployed.workers:
        out += ["", markdown_table(["Worker", "USD", "basis"], [
            [item.name, f"${item.usd:.4f}", item.basis] for item in map(worker_item, deployed.workers)
        ])]  # fmt: skip
    reference = reference_design(deployed)
    out.append(
        f"\nThe reference design (one `PutObject` per request from the handler, no access logs archived) costs "
        f"**${total(reference):.2f}** per million before any logging: "
        + ", ".join(f"{item.name} ${item.usd:.2f}" for item in reference)
        + ".\n"
    )
    return "\n".join(out)


def _rate(traffic: Traffic) -> str:
    rate = traffic.requests_per_second
    return f"{rate:.2f} req/s" if rate < 1 else f"{rate:.0f} req/s"


# -------------------------------------------------------------------------------------------------- report
def report(template: dict[str, Any], region: str = "us-east-1") -> str:
    """`make cost`'s report for `template`, deployed in `region`."""
    return render(Deployed.read(template, region))


def render(deployed: Deployed) -> str:
    """`make cost`'s report: the lines, per million at each profile with its basis, the fixed costs, the prices."""
    lines, profiles = estimate(deployed)
    width = max(len(item.name) for item in profiles[0][1]) + 2
    out = [
        "Log lines of one served request, measured: "
        + ", ".join(
            f"{name} {len(batch)} line(s), {sum(len(line.encode()) for line in batch)} B"
            for name, batch in (("access", lines.access), ("function", lines.function), ("platform", lines.platform))
        )
        + f" (application {deployed.application_log_level}, system {deployed.system_log_level})",
        "",
        f"{'Per million requests':<{width}}"
        + "".join(f"{traffic.name:>12}" for traffic, _ in profiles)
        + "  basis (first profile)",
        f"{'':<{width}}" + "".join(f"{_rate(t):>12}" for t, _ in profiles),
    ]
    for row, item in enumerate(profiles[0][1]):
        out.append(
            f"{item.name:<{width}}"
            + "".join(f"{f'${items[row].usd:.4f}':>12}" for _, items in profiles)
            + f"  {item.basis}"
        )
    out.append(f"{'Total':<{width}}" + "".join(f"{f'${total(items):.4f}':>12}" for _, items in profiles))
    fixed = fixed_monthly(deployed)
    out += ["", "Fixed per month"]
    out += [f"{item.name:<{width}}{f'${item.usd:.2f}':>12}  {item.basis}" for item in fixed]
    out.append(f"{'Total':<{width}}{f'${total(fixed):.2f}':>12}")
    if deployed.log_query_widgets:
        out += ["", dashboard_sentence(deployed)]
    if deployed.workers:
        out += ["", "Workers (their log lines are priced as the function's are, per event)"]
        out += [
            f"{item.name:<{width}}{f'${item.usd:.4f}':>12}  {item.basis}" for item in map(worker_item, deployed.workers)
        ]
    reference = reference_design(deployed)
    out += ["", f"Reference design (a PutObject per request): ${total(reference):.2f} per million before any logging"]
    out += ["", f"Prices: us-east-1 list, read {READ_ON}: " + ", ".join(sorted({p.source for p in PRICES.values()}))]
    if deployed.region != PRICED_REGION:
        out.append(f"Note: the stack is configured for {deployed.region}; these are {PRICED_REGION}'s prices.")
    routes = ", ".join(check["route"] for check in deployed.checks)
    out.append(f"Request mix: an equal share for each route ({routes}); the log lines above are the first route's.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--template", type=Path, help="default: the configured stage's (the `stage` setting)")
    args = parser.parse_args(argv)
    args.template = args.template or stage_template()
    if not args.template.exists():
        print(f"make cost: {args.template} not found: run `make synth` first", file=sys.stderr)
        return 1
    try:
        print(report(json.loads(args.template.read_text()), assembly_region(args.template)))
    except OfflineError as error:
        print(f"make cost: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
