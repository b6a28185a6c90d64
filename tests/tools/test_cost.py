"""`make cost`: the arithmetic as AWS bills it, and bytes that come from the real line formats."""

from __future__ import annotations

import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.alarms import alarm_specs
from prod_serverless.function import environment
from prod_serverless.log_formats import access_log_format
from prod_serverless.settings import Settings
from prod_serverless.workers import Queue, Schedule
from service.routes import ROUTES
from tests.conftest import Synthesized
from tests.infra.helpers import SETTINGS
from tools import cost, local_server
from tools.offline_aws import referenced
from workers.table import WORKERS

TRICKLE, STEADY = cost.TRAFFIC


def _items(items: list[cost.Item]) -> dict[str, float]:
    return {item.name: item.usd for item in items}


def _alarm_metrics() -> int:
    """Billed alarm metrics: one per alarm, or one per metric of its math."""
    return sum(len(spec.watches) if spec.expression else 1 for spec in _specs())


def _specs() -> tuple[Any, ...]:
    sources = ("api", "function", *(worker.name for worker in WORKERS))
    return alarm_specs(SETTINGS, sources, SETTINGS.function_timeout_seconds * 1000, ROUTES, WORKERS)


def _worker_costs() -> tuple[cost.WorkerCost, ...]:
    """The workers as the bill sees them, from workers/table.py's rows."""
    return tuple(
        cost.WorkerCost(
            name=worker.name,
            trigger=worker.trigger.kind,
            memory_mb=worker.memory_mb,
            timeout_seconds=worker.timeout_seconds,
            architecture="arm64",
            expression=worker.trigger.expression if isinstance(worker.trigger, Schedule) else "",
            batch_size=worker.trigger.batch_size if isinstance(worker.trigger, Queue) else 1,
        )
        for worker in WORKERS
    )


@pytest.fixture(scope="module")
def deployed() -> cost.Deployed:
    """What the default template deploys, written out from the settings and tables (the synth-free arithmetic
    tests use it; test_the_template_is_read_for_what_is_deployed proves it equals the template read)."""
    return cost.Deployed(
        access_log_format=json.loads(access_log_format(SETTINGS.access_log_format)),
        function_environment=environment(SETTINGS),
        application_log_level=SETTINGS.log_level,
        system_log_level=SETTINGS.system_log_level,
        memory_mb=SETTINGS.function_memory_mb,
        architecture="arm64",
        tracing=SETTINGS.tracing,
        log_retention_days=SETTINGS.log_retention_days,
        buffer_seconds=SETTINGS.firehose_buffer_seconds,
        buffer_mib=SETTINGS.firehose_buffer_mib,
        streams=2 + len(WORKERS),  # the API's, the function's, one per worker
        ia_after_days=SETTINGS.archive_infrequent_access_days,
        expire_after_days=SETTINGS.archive_expiration_days,
        metric_alarm_metrics=_alarm_metrics(),
        composite_alarms=len({spec.composite for spec in _specs() if spec.composite}),
        dashboards=1,
        keys=2,
        detailed_routes=0,
        checks=[route.check() for route in ROUTES],
        region=SETTINGS.region,
        log_query_widgets=1,  # the route table: one query whatever the number of routes
        dashboard_window_hours=3,
        metric_filters=int(any(route.authorization != "public" for route in ROUTES)),  # the authorizers' refusals
        workers=_worker_costs(),
    )


def test_the_template_is_read_for_what_is_deployed(synthesized: Synthesized, deployed: cost.Deployed) -> None:
    """The synth-free description is the template's, but for what a team's own resources add (keys, variables
    naming them): those are read from the template itself."""
    read = cost.Deployed.read(synthesized.template, SETTINGS.region)
    own = dataclasses.replace(
        read, keys=deployed.keys, function_environment=deployed.function_environment, function_resources={}
    )
    assert own == deployed
    assert read.keys == len(synthesized.of_type("AWS::KMS::Key"))
    assert {n: v for n, v in read.function_environment.items() if isinstance(v, str)} == deployed.function_environment
    assert read.function_resources == referenced(read.function_environment, synthesized.resources)
    assert (deployed.application_log_level, deployed.system_log_level, deployed.tracing) == (
        "INFO",
        "WARN",
        "PassThrough",
    )
    assert (deployed.memory_mb, deployed.architecture) == (SETTINGS.function_memory_mb, "arm64")
    assert deployed.log_retention_days == SETTINGS.log_retention_days
    assert (deployed.buffer_seconds, deployed.buffer_mib, deployed.streams) == (900, 5, 2 + len(WORKERS))
    assert (deployed.ia_after_days, deployed.expire_after_days) == (30, 365)
    assert deployed.access_log_format == json.loads(access_log_format("compact"))
    # Detailed (per-route) metrics are off: the dashboard's route rows read the access log (prod_serverless/api.py).
    assert (deployed.composite_alarms, deployed.dashboards, deployed.keys, deployed.detailed_routes) == (
        2 + len(WORKERS),  # the service's two, one per worker
        1,
        2,
        0,
    )


@pytest.mark.parametrize(
    ("size", "billed"), [(1, 5120), (3 * 1024, 5120), (5120, 5120), (5121, 10240), (12 * 1024, 15360)]
)
def test_firehose_bills_each_record_in_5_kb_steps(size: int, billed: int) -> None:
    assert cost.billed_record_bytes(size) == billed


def test_one_access_line_alone_in_a_record_is_billed_as_5_kb(deployed: cost.Deployed) -> None:
    lines = cost.Lines.measure(deployed)
    assert cost.firehose_record_bytes(lines.access, 1) == 5120
    assert cost.firehose_record_bytes(lines.access, 200) > 5120  # many lines outgrow one step


def test_a_gb_is_2_to_the_30_bytes_and_a_lambda_gb_is_1024_mb(deployed: cost.Deployed) -> None:
    lines = cost.Lines(access=["x" * 1000], function=[], platform=[])
    items = _items(cost.per_million(deployed, lines, TRICKLE))
    assert items["CloudWatch Logs ingestion"] == pytest.approx(0.50 * (1000 + 26) * 1e6 / 2**30)
    gb_seconds = (
        deployed.memory_mb / 1024 * (cost.WARM_BILLED_MS + TRICKLE.cold_start_share * cost.INIT_BILLED_MS) / 1000 * 1e6
    )
    assert items["Lambda compute"] == pytest.approx(0.0000133334 * gb_seconds)


def test_the_access_bytes_are_the_stages_format_rendered(synthesized: Synthesized) -> None:
    deployed = cost.Deployed.read(synthesized.template)
    full = copy.deepcopy(synthesized.template)
    (stage,) = [r for r in full["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    stage["Properties"]["AccessLogSettings"]["Format"] = access_log_format("full")
    compact_line, full_line = (
        cost.Lines.measure(cost.Deployed.read(t)).access[0] for t in (synthesized.template, full)
    )
    assert set(json.loads(compact_line)) == set(json.loads(access_log_format("compact")))
    assert set(json.loads(full_line)) == set(json.loads(access_log_format("full")))
    before, after = (
        _items(cost.per_million(d, cost.Lines.measure(d), TRICKLE))["CloudWatch Logs ingestion"]
        for d in (deployed, cost.Deployed.read(full))
    )
    grown = len(full_line.encode()) - len(compact_line.encode())
    assert after - before == pytest.approx(0.50 * grown * 1e6 / 2**30)


def _served(deployed: cost.Deployed) -> dict[str, Any]:
    """The first route whose sample this synth-free description serves: one that needs no AWS resource. Those that do
    are measured from the template, under the offline AWS, in tests/test_recipes.py."""
    debug = cost.with_lever(deployed, cost.LEVERS[1])
    for check in deployed.checks:
        if [json.loads(line)["level"] for line in cost.function_lines(debug, "probe", check)] == ["DEBUG"]:
            return check
    raise AssertionError("no route's sample is served without AWS")


def test_the_function_lines_are_the_real_handlers_at_the_deployed_level(deployed: cost.Deployed) -> None:
    check = _served(deployed)
    assert cost.Lines.measure(deployed, check).function == []  # INFO: a served request writes no function line
    debug = cost.with_lever(deployed, cost.LEVERS[1])
    (line,) = cost.Lines.measure(debug, check).function
    assert set(json.loads(line)) == {
        "timestamp", "level", "message", "logger", "requestId", "apiRequestId", "status", "durationMs"
    }  # fmt: skip


@pytest.mark.parametrize(("level", "types"), [
    ("WARN", []),
    ("INFO", ["platform.start", "platform.report"]),
    ("DEBUG", ["platform.start", "platform.runtimeDone", "platform.report"]),
])  # fmt: skip
def test_platform_lines_follow_lambdas_event_mapping(level: str, types: list[str]) -> None:
    lines = [json.loads(line) for line in cost.platform_lines(level, "PassThrough", "r-1")]
    assert [line["type"] for line in lines] == types
    traced = cost.platform_lines(level, "Active", "r-1")
    assert all("tracing" in json.loads(line)["record"] for line in traced)


def test_xray_follows_lambdas_fixed_sampling(deployed: cost.Deployed) -> None:
    active = cost.with_lever(deployed, cost.LEVERS[3])
    lines = cost.Lines.measure(active)
    assert _items(cost.per_million(active, lines, TRICKLE))["X-Ray traces"] == pytest.approx(5.00)  # all traced
    steady = _items(cost.per_million(active, lines, STEADY))["X-Ray traces"]
    assert steady == pytest.approx(5.00 * (1 + 0.05 * 99) / 100)
    assert _items(cost.per_million(deployed, lines, TRICKLE))["X-Ray traces"] == 0


def test_the_default_configuration_costs_at_most_1_50_per_million_at_a_trickle(deployed: cost.Deployed) -> None:
    """The product's own default (Settings() and GET /, whatever a team's cdk.json and routes say) stays in budget."""
    default = dataclasses.replace(
        deployed, memory_mb=Settings().function_memory_mb, checks=[c for c in deployed.checks if c["route"] == "GET /"]
    )
    per_million = cost.total(cost.per_million(default, cost.Lines.measure(default), TRICKLE))
    assert 1.20 < per_million <= 1.50


def test_every_lever_costs_more_than_the_default(deployed: cost.Deployed) -> None:
    base = cost.total(cost.per_million(deployed, cost.Lines.measure(deployed), TRICKLE))
    for lever in cost.LEVERS:
        changed = cost.with_lever(deployed, lever)
        assert cost.total(cost.per_million(changed, cost.Lines.measure(changed), TRICKLE)) > base, lever.setting


def test_every_price_names_its_page() -> None:
    assert all(price.usd > 0 and price.source.startswith("aws.amazon.com/") for price in cost.PRICES.values())


def test_make_cost_prints_the_tables(template_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--template", str(template_file)]) == 0
    out = capsys.readouterr().out
    assert "Per million requests" in out and "Fixed per month" in out and "aws.amazon.com/firehose/pricing" in out


def test_without_a_template_make_cost_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cost.main(["--template", str(tmp_path / "none.json")]) == 1
    assert capsys.readouterr().err == f"make cost: {tmp_path / 'none.json'} not found: run `make synth` first\n"


def test_levers_change_only_what_they_name(deployed: cost.Deployed) -> None:
    for lever in cost.LEVERS:
        changed: dict[str, Any] = dataclasses.asdict(cost.with_lever(deployed, lever))
        unchanged = {k: v for k, v in dataclasses.asdict(deployed).items() if k not in lever.change}
        assert {k: changed[k] for k in unchanged} == unchanged


def test_prices_of_another_region_are_said_to_be_us_east_1s(
    tuned: Synthesized, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cost.main(["--template", str(tuned.template_file)]) == 0
    assert "Note: the stack is configured for eu-west-1; these are us-east-1's prices." in capsys.readouterr().out


def test_key_rotation_adds_a_dollar_a_month_per_key_for_two_years(deployed: cost.Deployed) -> None:
    (keys,) = [item for item in cost.fixed_monthly(deployed) if item.name == "KMS keys"]
    assert keys.usd == deployed.keys * 1.00
    assert f"${deployed.keys * 2}" in keys.basis and f"${deployed.keys * 3} in year 3+" in keys.basis


# Worked examples, computed here by hand from each price's unit as the AWS price page states it.
LINE = "x" * 200  # one 200-byte event per request


def _one_line(deployed: cost.Deployed, traffic: cost.Traffic = TRICKLE) -> dict[str, cost.Item]:
    items = cost.per_million(deployed, cost.Lines(access=[LINE], function=[], platform=[]), traffic)
    return {item.name: item for item in items}


def test_each_price_is_its_pages_figure_per_its_unit() -> None:
    assert {name: price.usd for name, price in cost.PRICES.items()} == pytest.approx(
        {
            "api_request": 1.00 / 1_000_000,  # $1.00 per million HTTP API requests
            "lambda_request": 0.20 / 1_000_000,  # $0.20 per million requests
            "lambda_gb_second_arm64": 0.0000133334,
            "lambda_gb_second_x86_64": 0.0000166667,
            "logs_ingested_gb": 0.50,
            "logs_stored_gb_month": 0.03,
            "firehose_gb": 0.029,
            "s3_put": 0.005 / 1_000,  # $0.005 per 1,000 PUT requests
            "s3_standard_gb_month": 0.023,
            "s3_ia_gb_month": 0.0125,
            "s3_transition": 0.01 / 1_000,  # $0.01 per 1,000 transitions
            "kms_request": 0.03 / 10_000,  # $0.03 per 10,000 requests
            "kms_key_month": 1.00,
            "athena_tb": 5.00,
            "xray_trace": 5.00 / 1_000_000,  # $5.00 per million traces recorded
            "alarm_metric_month": 0.10,
            "composite_alarm_month": 0.50,
            "dashboard_month": 3.00,
            "custom_metric_month": 0.30,
            "logs_insights_gb": 0.005,  # $0.005 per GB of data scanned by Logs Insights queries
            "scheduler_invocation": 1.00 / 1_000_000,  # $1.00 per million after 14 million free a month
            "sqs_request": 0.40 / 1_000_000,  # $0.40 per million standard-queue requests (first 100 billion)
        },
        rel=1e-12,
    )


def test_requests_and_compute_by_hand(deployed: cost.Deployed) -> None:
    deployed = dataclasses.replace(deployed, memory_mb=128, architecture="arm64")  # the worked example's function
    items = _one_line(deployed)
    assert items["API Gateway HTTP API requests"].usd == pytest.approx(1.00)
    assert items["Lambda requests"].usd == pytest.approx(0.20)
    # 128 MB = 0.125 GB; 2 ms warm, and 1 % of invocations add a 300 ms init: 5 ms on average -> 625 GB-s.
    assert items["Lambda compute"].usd == pytest.approx(625 * 0.0000133334)
    steady = _one_line(deployed, STEADY)["Lambda compute"].usd  # 0.01 % cold: 2.03 ms -> 253.75 GB-s
    assert steady == pytest.approx(253.75 * 0.0000133334)
    assert items["Lambda compute"].basis == "128 MB arm64, 2 ms warm, 1.00% cold starts of 300 ms"
    x86 = dataclasses.replace(deployed, architecture="x86_64")
    assert _one_line(x86)["Lambda compute"].usd == pytest.approx(625 * 0.0000166667)


def test_log_ingestion_storage_and_firehose_by_hand(deployed: cost.Deployed) -> None:
    items = _one_line(deployed)
    # 200 bytes + 26 bytes of event overhead, a million times, at $0.50 per GB of 2^30 bytes.
    assert items["CloudWatch Logs ingestion"].usd == pytest.approx(226e6 / 2**30 * 0.50)
    assert items["CloudWatch Logs ingestion"].basis == "1 event(s), 226 B a request (lines + 26 B each)"
    # A trickle puts each event in its own record, billed as 5 KB.
    assert items["Firehose ingestion"].usd == pytest.approx(5120e6 / 2**30 * 0.029)
    ratio = cost.gzip_ratio([LINE])
    stored = (ratio * 200 + 26) * 1e6 / 2**30 * 0.03 * 30 / 30.4375
    assert items["CloudWatch Logs storage"].usd == pytest.approx(stored)


def test_the_archive_by_hand(deployed: cost.Deployed) -> None:
    items = _one_line(deployed)
    per_request = cost.gzip_ratio([LINE]) * 201  # the line and its newline, gzip'd
    # At 0.38 requests a second a 900 s buffer flushes long before 5 MiB: one object per flush.
    rate = TRICKLE.requests_per_second
    objects = 1e6 / (rate * 900)
    assert items["S3 PUTs"].usd == pytest.approx(objects * 0.005 / 1000)
    assert items["KMS requests"].usd == pytest.approx(objects * 0.03 / 10000)
    # Objects that small never move to Standard-IA: a year in Standard.
    gb = per_request * 1e6 / 2**30
    assert items["S3 storage"].usd == pytest.approx(gb * 365 / 30.4375 * 0.023)
    assert items["S3 lifecycle transitions"].usd == 0
    assert items["S3 storage"].basis.endswith("in Standard (objects under 128 KB never move to IA)")


def test_large_objects_move_to_infrequent_access(deployed: cost.Deployed) -> None:
    busy = cost.Traffic("busy", 2000.0, events_per_record=50, cold_start_share=0.0)
    items = _one_line(deployed, busy)
    per_request = cost.gzip_ratio([LINE]) * 201
    gb = per_request * 1e6 / 2**30
    expected = gb * 30 / 30.4375 * 0.023 + gb * (365 - 30) / 30.4375 * 0.0125
    assert items["S3 storage"].usd == pytest.approx(expected)
    # 5 MiB fills in under 900 s: an object per 5 MiB, each transitioned once.
    objects = 1e6 * per_request / (5 * 2**20)
    assert items["S3 PUTs"].usd == pytest.approx(objects * 0.005 / 1000)
    assert items["S3 lifecycle transitions"].usd == pytest.approx(objects * 0.01 / 1000)


def test_athena_scans_each_table_a_query_reads_with_a_10_mb_minimum(deployed: cost.Deployed) -> None:
    items = _one_line(deployed)
    # Queries 1 and 2 read the access table, query 3 both: four scans, each under 10 MB, so 10 MB each.
    assert items["Athena"].usd == pytest.approx(4 * 10 * 2**20 / 2**40 * 5.00)


def test_viewing_the_dashboard_by_hand(deployed: cost.Deployed) -> None:
    """A view scans the window's access lines once per Logs Insights widget: $0.005 a GB, whatever the routes."""
    # The mean access line of the request mix (every route's sample an equal share).
    access = sum(len(cost.Lines.measure(deployed, c).access[0].encode()) for c in deployed.checks) / len(
        deployed.checks
    )
    for traffic in cost.TRAFFIC:
        per_view, per_month = cost.dashboard_views(deployed, traffic)
        scanned = access * traffic.requests_per_second * 3 * 3600
        assert per_view == pytest.approx(scanned / 2**30 * 0.005)
        assert per_month == pytest.approx(per_view * cost.DAYS_PER_MONTH * 24 * 12)
    twice = dataclasses.replace(deployed, log_query_widgets=2, dashboard_window_hours=6)
    assert cost.dashboard_views(twice, cost.TRAFFIC[1])[0] == pytest.approx(
        4 * cost.dashboard_views(deployed, cost.TRAFFIC[1])[0]
    )
    assert cost.dashboard_sentence(dataclasses.replace(deployed, log_query_widgets=0)) == ""
    steady = cost.dashboard_views(deployed, cost.TRAFFIC[1])
    assert f"${steady[1]:.2f} a month at steady" in cost.dashboard_sentence(deployed)
    assert "whatever the number of routes" in cost.cost_tables(deployed)


def test_fixed_costs_by_hand(deployed: cost.Deployed) -> None:
    fixed = {item.name: item for item in cost.fixed_monthly(deployed)}
    assert fixed["CloudWatch alarms"].usd == pytest.approx(deployed.metric_alarm_metrics * 0.10)
    assert fixed["Composite alarm"].usd == 0.50 * deployed.composite_alarms
    assert fixed["Dashboard"].usd == 3.00
    assert fixed["KMS keys"].usd == 2 * 1.00
    assert fixed["KMS keys"].basis == "2 keys, year one; with yearly rotation $2 in year 1, $4 in year 2, $6 in year 3+"
    assert fixed["Detailed route metrics"].usd == 0
    detailed = {i.name: i.usd for i in cost.fixed_monthly(dataclasses.replace(deployed, detailed_routes=2))}
    assert detailed["Detailed route metrics"] == pytest.approx(2 * 6 * 0.30)
    assert fixed["The function's error metrics"].usd == 0
    assert "$0.60 a month" in fixed["The function's error metrics"].basis
    # A protected route adds the authorizers' refusal count: one custom metric (the authorizers are free).
    assert fixed.get("Authorizer refusals metric", cost.Item("", 0.0, "")).usd == 0.30 * deployed.metric_filters
    assert cost.total(fixed.values()) == pytest.approx(
        deployed.metric_alarm_metrics * 0.10 + 0.50 * deployed.composite_alarms + 3.00 + 2.00
        + 0.30 * deployed.metric_filters
    )  # fmt: skip


def test_the_reference_design_by_hand(deployed: cost.Deployed) -> None:
    deployed = dataclasses.replace(deployed, memory_mb=128, architecture="arm64")  # the worked example's function
    reference = {item.name: item.usd for item in cost.reference_design(deployed)}
    assert reference == pytest.approx(
        {
            "API Gateway and Lambda requests": 1.20,
            "Lambda compute": 0.125 * 42 / 1000 * 1e6 * 0.0000133334,  # 2 ms + 40 ms for the PutObject
            "S3 PUTs": 5.00,
            "KMS requests": 3.00,
        }
    )


def test_the_request_mix_is_the_mean_of_every_routes_items(deployed: cost.Deployed) -> None:
    other = {**deployed.checks[0], "route": "GET /a/much/longer/route/key", "path": "/a/much/longer/route/key"}
    two = dataclasses.replace(deployed, checks=[deployed.checks[0], other])
    each = [
        {item.name: item.usd for item in cost.per_million(two, cost.Lines.measure(two, check), TRICKLE)}
        for check in two.checks
    ]
    assert each[0] != each[1]
    mean = {name: (each[0][name] + each[1][name]) / 2 for name in each[0]}
    assert {item.name: item.usd for item in cost.mixed(two, TRICKLE)} == pytest.approx(mean)


def test_the_report_states_its_lines_prices_region_and_mix(deployed: cost.Deployed) -> None:
    text = cost.render(dataclasses.replace(deployed, region="eu-west-1"))
    lines = text.splitlines()
    assert lines[0].startswith("Log lines of one served request, measured: access 1 line(s), ")
    assert lines[0].endswith(" (application INFO, system WARN)")
    assert "Total" in text and "Fixed per month" in text
    assert "Prices: us-east-1 list, read 2026-11-29 (stored copy): aws.amazon.com/api-gateway/pricing, " in text
    assert "Note: the stack is configured for eu-west-1; these are us-east-1's prices." in lines
    routes = ", ".join(check["route"] for check in deployed.checks)
    assert (
        lines[-1]
        == f"Request mix: an equal share for each route ({routes}); the log lines above are the first route's."
    )
    assert "Note:" not in cost.render(dataclasses.replace(deployed, region="us-east-1"))


def test_the_cost_page_leads_with_the_trickle_total(deployed: cost.Deployed) -> None:
    text = cost.cost_tables(deployed)
    total = cost.total(cost.mixed(deployed, TRICKLE))
    assert text.startswith(f"The default configuration costs **${total:.2f} per million requests** at a trickle")
    assert "| `tracing=Active` |" in text and "| **Total** |" in text


def test_the_region_of_the_cloud_assembly_is_read_from_its_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"artifacts": {"ProdServerlessStack": {"environment": "aws://unknown-account/ap-south-2"}}})
    )
    assert local_server.assembly_region(tmp_path / "ProdServerlessStack.template.json") == "ap-south-2"


def _template(*, detailed: bool = True, transition: bool = True) -> dict[str, Any]:
    """A small template with every resource make cost reads, each value unlike the defaults."""
    check: dict[str, Any] = {
        "route": "GET /x",
        "method": "GET",
        "path": "/x",
        "query": "",
        "body": None,
        "status": 200,
        "keys": [],
    }
    rule: dict[str, Any] = {"Id": "TierAndExpireLogs", "ExpirationInDays": 400}
    if transition:
        rule["Transitions"] = [{"StorageClass": "STANDARD_IA", "TransitionInDays": 60}]

    def resource(kind: str, **properties: Any) -> dict[str, Any]:
        return {"Type": kind, "Properties": properties}

    metric = {"Metric": {"Namespace": "n", "MetricName": "m"}, "Period": 60, "Stat": "Sum"}
    return {
        "Resources": {
            "ProdStage": resource(
                "AWS::ApiGatewayV2::Stage",
                AccessLogSettings={"Format": json.dumps({"s": "$context.status"})},
                DefaultRouteSettings={"DetailedMetricsEnabled": detailed},
            ),
            "ProdRouteA": resource("AWS::ApiGatewayV2::Route", RouteKey="GET /x"),
            "ProdRouteB": resource("AWS::ApiGatewayV2::Route", RouteKey="POST /y"),
            "ProdFunctionXYZ": resource(
                "AWS::Lambda::Function",
                MemorySize=512,
                Architectures=["x86_64"],
                TracingConfig={"Mode": "Active"},
                Environment={"Variables": {"A": "1", "HOME": {"Ref": "AWS::Region"}}},
                LoggingConfig={"ApplicationLogLevel": "DEBUG", "SystemLogLevel": "INFO", "LogGroup": {"Ref": "ProdG"}},
            ),
            "ProdHook": {
                "Type": "AWS::Lambda::Function",
                "Properties": {},
                "Metadata": {"prod:route-checks": json.dumps([check])},
            },
            "ProdG": resource("AWS::Logs::LogGroup", RetentionInDays=90),
            "ProdOther": resource("AWS::Logs::LogGroup", RetentionInDays=1),
            "ProdArchive": resource("AWS::S3::Bucket", LifecycleConfiguration={"Rules": [{"Id": "Other"}, rule]}),
            "ProdResults": resource("AWS::S3::Bucket", LifecycleConfiguration={"Rules": [{"Id": "Other"}]}),
            **{
                f"ProdStream{n}": resource(
                    "AWS::KinesisFirehose::DeliveryStream",
                    ExtendedS3DestinationConfiguration={"BufferingHints": {"IntervalInSeconds": s, "SizeInMBs": m}},
                )
                for n, (s, m) in enumerate([(300, 8), (120, 16), (600, 4)])
            },
            "ProdAlarmPlain": resource("AWS::CloudWatch::Alarm", MetricName="Errors"),
            "ProdAlarmMath": resource(
                "AWS::CloudWatch::Alarm",
                Metrics=[
                    {"Id": "e", "Expression": "a + b"},
                    {"Id": "a", "MetricStat": metric},
                    {"Id": "b", "MetricStat": metric},
                ],
            ),
            "ProdAlarmQuery": resource(
                "AWS::CloudWatch::Alarm",
                Metrics=[
                    {
                        "Id": "q",
                        "Expression": {"Fn::Join": ["", ['SELECT SUM("x") FROM "y" WHERE a = \'', {"Ref": "Z"}, "'"]]},
                    }
                ],
            ),
            "ProdComposite1": resource("AWS::CloudWatch::CompositeAlarm"),
            "ProdComposite2": resource("AWS::CloudWatch::CompositeAlarm"),
            "ProdDashboard": resource("AWS::CloudWatch::Dashboard"),
            **{f"ProdKey{n}": resource("AWS::KMS::Key") for n in range(3)},
        }
    }


def test_a_template_is_read_field_by_field() -> None:
    deployed = cost.Deployed.read(_template(), "ap-south-2")
    assert deployed == cost.Deployed(
        access_log_format={"s": "$context.status"},
        function_environment={"A": "1", "HOME": {"Ref": "AWS::Region"}},  # as written: resolved offline when run
        application_log_level="DEBUG",
        system_log_level="INFO",
        memory_mb=512,
        architecture="x86_64",
        tracing="Active",
        log_retention_days=90,
        buffer_seconds=120,
        buffer_mib=4,
        streams=3,
        ia_after_days=60,
        expire_after_days=400,
        metric_alarm_metrics=1 + 2 + 1,  # one metric, a math of two, one query
        composite_alarms=2,
        dashboards=1,
        keys=3,
        detailed_routes=2,
        checks=[
            {"route": "GET /x", "method": "GET", "path": "/x", "query": "", "body": None, "status": 200, "keys": []}
        ],
        region="ap-south-2",
    )


def test_a_template_without_transition_or_detailed_metrics_reads_so() -> None:
    deployed = cost.Deployed.read(_template(detailed=False, transition=False))
    assert (deployed.ia_after_days, deployed.detailed_routes, deployed.region) == (None, 0, "us-east-1")


def test_a_function_without_architecture_or_tracing_reads_the_defaults() -> None:
    template = _template()
    properties = template["Resources"]["ProdFunctionXYZ"]["Properties"]
    del properties["Architectures"], properties["TracingConfig"]
    deployed = cost.Deployed.read(template)
    assert (deployed.architecture, deployed.tracing) == ("x86_64", "PassThrough")


def test_a_template_without_the_hooks_samples_is_refused() -> None:
    template = _template()
    del template["Resources"]["ProdHook"]
    with pytest.raises(ValueError, match=r"^the template has no release hook with the routes' samples$"):
        cost.Deployed.read(template)


def test_main_reads_the_template_and_the_region_beside_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ProdServerlessStack.template.json"
    path.write_text(json.dumps(_template()))
    (tmp_path / "manifest.json").write_text(
        json.dumps({"artifacts": {"ProdServerlessStack": {"environment": "aws://unknown-account/eu-west-3"}}})
    )
    assert cost.main(["--template", str(path)]) == 0
    out = capsys.readouterr().out
    assert out == cost.render(cost.Deployed.read(_template(), "eu-west-3")) + "\n"
    assert "Note: the stack is configured for eu-west-3" in out


def test_the_resources_the_functions_variables_name_are_read_to_run_offline() -> None:
    template = _template()
    parameter = {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "t"}}
    template["Resources"]["ProdToken"] = parameter
    template["Resources"]["ProdFunctionXYZ"]["Properties"]["Environment"]["Variables"]["TOKEN"] = {"Ref": "ProdToken"}
    assert cost.Deployed.read(template).function_resources == {"ProdToken": parameter}


def test_main_names_a_variable_it_cannot_resolve_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    template = _template()
    template["Resources"]["ProdFunctionXYZ"]["Properties"]["Environment"]["Variables"]["TOKEN"] = {"Ref": "Elsewhere"}
    path = tmp_path / "ProdServerlessStack.template.json"
    path.write_text(json.dumps(template))
    assert cost.main(["--template", str(path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith('make cost: environment variable TOKEN = {"Ref": "Elsewhere"} cannot be resolved offline')


@pytest.mark.parametrize(
    ("level", "tracing", "expected"),
    [
        ("WARN", "PassThrough", []),
        (
            "DEBUG",
            "Active",
            [
                {"time": "2026-11-29T10:00:00.123Z", "type": "platform.start",
                 "record": {"requestId": "r-1", "version": "12", "tracing": "T"}},
                {"time": "2026-11-29T10:00:00.123Z", "type": "platform.runtimeDone",
                 "record": {"requestId": "r-1", "status": "success", "tracing": "T",
                            "metrics": {"durationMs": 1.4, "producedBytes": 107}}},
                {"time": "2026-11-29T10:00:00.123Z", "type": "platform.report",
                 "record": {"requestId": "r-1", "metrics": {"durationMs": 1.52, "billedDurationMs": 2,
                            "memorySizeMB": 128, "maxMemoryUsedMB": 38}, "tracing": "T", "status": "success"}},
            ],
        ),
    ],
)  # fmt: skip
def test_platform_lines_are_exactly_lambdas_json_events(level: str, tracing: str, expected: list[Any]) -> None:
    trace = {"spanId": "a1b2c3d4e5f60718", "type": "X-Amzn-Trace-Id", "value": f"Root=1-6749a0e0-{'0' * 24};Sampled=1"}
    lines = cost.platform_lines(level, tracing, "r-1")
    assert all(", " not in line and ": " not in line for line in lines)  # compact, as Lambda writes them
    decoded = [json.loads(line) for line in lines]
    for event in expected:
        if event["record"].get("tracing") == "T":
            event["record"]["tracing"] = trace
    assert decoded == expected


def test_the_debug_function_line_is_exactly_what_lambda_writes(deployed: cost.Deployed) -> None:
    debug = cost.with_lever(deployed, cost.LEVERS[1])
    check = _served(deployed)
    (line,) = cost.function_lines(debug, "lambda-id", check)
    record = json.loads(line)
    assert {k: v for k, v in record.items() if k != "timestamp"} == {
        "level": "DEBUG",
        "message": "request",
        "logger": "service",
        "requestId": "lambda-id",
        "apiRequestId": cost.SAMPLE_REQUEST["$context.requestId"],
        "status": check["status"],
        "durationMs": 1.5,
    }


def test_a_record_of_many_events_is_billed_by_its_compressed_envelope() -> None:
    assert cost.firehose_record_bytes(["x" * 100], 1) == 5120
    assert cost.firehose_record_bytes(["0123456789" * 50], 60) == 20480  # 60 varied lines, gzip'd: four 5 KB steps
    assert cost.firehose_record_bytes([], 1) == 5120
    assert cost._variants(["a1"], 2) == ["aa0", "a41"]


@pytest.mark.parametrize(
    "lines",
    [
        ['{"id":"c6af9ac6-7b61","t":1712345678901}'] * 3,
        ["100% of 2%s", "", "no digits", "²3٣"],  # a literal % and %s, an empty line, digits beyond 0-9
        [],
    ],
)
@pytest.mark.parametrize("count", [1, 400])
def test_the_varied_lines_are_those_random_choice_draws_digit_by_digit(lines: list[str], count: int) -> None:
    """The sample's digits are drawn in bulk: the same lines as one rng.choice per digit, so the ratios stand."""
    import random

    rng = random.Random(7)  # the reference the sample reproduces
    expected = [
        "".join(rng.choice(cost.HEX_DIGITS) if c.isdigit() else c for c in line) + str(number)
        for number in range(count)
        for line in lines
    ]
    assert cost._variants(lines, count) == expected


def test_the_digits_are_exact_at_the_edges_of_each_bulk_draw() -> None:
    """A draw of DRAWN_WORDS words gives as many digits as its words' top bits allow: counts either side of that
    number take one draw or two, and give the same digits as one rng.choice each."""
    import random

    words = random.Random(7)  # the first draw's words, one at a time
    first_draw = sum(words.getrandbits(32) < 2**31 for _ in range(cost.DRAWN_WORDS))
    for count in (first_draw - 1, first_draw, first_draw + 1):
        rng = random.Random(7)
        assert cost._hex_digits(random.Random(7), count) == "".join(rng.choice(cost.HEX_DIGITS) for _ in range(count))


def test_the_page_and_the_report_state_the_mix_and_the_levers(deployed: cost.Deployed) -> None:
    tables = cost.cost_tables(deployed).splitlines()
    assert tables[2:4] == ["| Per million requests | a trickle (0.38 req/s) | steady (100 req/s) |", "|---|---|---|"]
    assert [row.split(" | ")[0] for row in tables if row.startswith("| `")] == [
        f"| `{lever.setting}`" for lever in cost.LEVERS
    ]
    report = cost.render(deployed).splitlines()
    assert report[2].startswith("Per million requests") and report[2].endswith("  basis (first profile)")
    assert report[3].split() == ["0.38", "req/s", "100", "req/s"]


GOLDEN = Path(__file__).resolve().parent / "golden"


def _golden_outputs() -> dict[str, str]:
    """make cost's report and the cost page's tables for the small template, in eu-west-3."""
    deployed = cost.Deployed.read(_template(), "eu-west-3")
    return {"cost_report.txt": cost.render(deployed) + "\n", "cost_tables.md": cost.cost_tables(deployed)}


def write_golden() -> None:
    """After an intended change of the report's words or layout: rewrite the golden files, then read the diff."""
    for name, text in _golden_outputs().items():
        (GOLDEN / name).write_text(text)


def test_the_report_and_the_page_are_word_for_word_what_they_were() -> None:
    """Every label, basis and figure for a fixed deployment (an intended change: tests.tools.test_cost.write_golden)."""
    for name, text in _golden_outputs().items():
        assert text == (GOLDEN / name).read_text(), name


def test_a_record_is_the_gzipd_envelope_cloudwatch_logs_sends() -> None:
    """The sizes the 5 KB steps are taken of, for fixed lines (the envelope's keys and sample values count)."""
    assert cost.record_bytes(["x" * 100], 1) == 267
    assert cost.record_bytes(["0123456789" * 50], 60) == 18228


def test_the_function_lines_come_from_the_routes_sample_as_lambda_gets_it(
    deployed: cost.Deployed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every part of the sample reaches the handler: what it logs is measured, whatever a team's route logs."""
    import logging as logging_module

    import service.handler

    seen: list[tuple[dict[str, Any], Any]] = []

    def probe(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append((event, context))
        logging_module.getLogger("service").warning("probe", extra={"status": 201})
        return {"statusCode": 201}

    monkeypatch.setattr("tools.local_server.load_handler", lambda environment: probe)
    check = {
        "route": "POST /p/{id}",
        "method": "POST",
        "path": "/p/7",
        "query": "q=1",
        "body": '{"a":1}',
        "status": 201,
    }
    warn = dataclasses.replace(deployed, application_log_level="WARN")
    (line,) = cost.function_lines(warn, "lambda-id", check)
    ((event, context),) = seen
    assert (event["routeKey"], event["rawPath"], event["rawQueryString"], event["body"]) == (
        "POST /p/{id}",
        "/p/7",
        "q=1",
        '{"a":1}',
    )
    assert event["headers"] == {"user-agent": "t/1", "content-type": "application/json"}
    assert event["requestContext"]["http"]["sourceIp"] == cost.SAMPLE_REQUEST["$context.identity.sourceIp"]
    assert event["requestContext"]["requestId"] == cost.SAMPLE_REQUEST["$context.requestId"]
    assert event["requestContext"]["timeEpoch"] == 1795946400123
    assert context.aws_request_id == "lambda-id"
    record = json.loads(line)
    assert (record["level"], record["message"], record["requestId"], record["status"]) == (
        "WARNING",
        "probe",
        "lambda-id",
        201,
    )
    assert sys.modules["service.handler"].time.__name__ == "time"  # the real clock is back
    assert logging_module.getLogger("service").level == service.handler.LOGGER.level


def test_at_error_a_warning_is_not_measured(deployed: cost.Deployed, monkeypatch: pytest.MonkeyPatch) -> None:
    import logging as logging_module

    def probe(event: dict[str, Any], context: Any) -> dict[str, Any]:
        logging_module.getLogger("service").warning("probe")
        return {}

    monkeypatch.setattr("tools.local_server.load_handler", lambda environment: probe)
    error = dataclasses.replace(deployed, application_log_level="ERROR")
    assert cost.function_lines(error, "id", deployed.checks[0]) == []
    warn = dataclasses.replace(deployed, application_log_level="WARN")
    assert len(cost.function_lines(warn, "id", deployed.checks[0])) == 1


@pytest.mark.parametrize(
    ("expression", "runs"),
    [
        ("rate(1 day)", cost.DAYS_PER_MONTH),
        ("rate(2 days)", cost.DAYS_PER_MONTH / 2),
        ("rate(1 hour)", cost.DAYS_PER_MONTH * 24),
        ("rate(5 minutes)", cost.DAYS_PER_MONTH * 24 * 12),
        ("cron(0 3 * * ? *)", cost.DAYS_PER_MONTH),
        ("cron(0/15 * * * ? *)", cost.DAYS_PER_MONTH * 24 * 4),
        ("cron(0 9,17 ? * MON-FRI *)", cost.DAYS_PER_MONTH * 2 * 5 / 7),
        ("cron(30 6 1 * ? *)", 1),
        ("cron(0 0 1,15 JAN-JUN ? *)", 2 * 6 / 12),
        ("cron(0 12 L * ? *)", 1),
        ("cron(0 12 15,L * ? *)", 2),
        ("cron(0 12 L,15 * ? *)", 2),
        ("cron(0 0 1-7 * ? *)", 7),
        ("cron(0 8 ? * MON/2 *)", cost.DAYS_PER_MONTH * 3 / 7),
        ("cron(0 8 ? * mon-wed *)", cost.DAYS_PER_MONTH * 3 / 7),
        ("at(2027-01-01T00:00:00)", 0),
    ],
)
def test_a_schedules_runs_a_month_follow_its_expression(expression: str, runs: float) -> None:
    assert cost.runs_per_month(expression) == pytest.approx(runs)


def test_a_workers_line_prices_its_trigger() -> None:
    nightly = cost.WorkerCost("nightly", "schedule", 128, 300, "arm64", expression="rate(1 day)")
    line = cost.worker_item(nightly)
    per_run = 0.20 / 1e6 + 1.00 / 1e6 + 0.0000133334 * 0.125 * 300
    assert line.usd == pytest.approx(cost.DAYS_PER_MONTH * per_run)
    assert line.name == "Worker nightly" and "30.44 runs (rate(1 day))" in line.basis
    orders = cost.WorkerCost("orders", "queue", 256, 30, "x86_64", batch_size=10)
    per_million = 3 * 0.40 + 0.20 + 0.0000166667 * 0.25 * 0.1 * 1e6
    assert cost.worker_item(orders).usd == pytest.approx(per_million)
    assert cost.worker_item(orders).name == "Worker orders" and "per million messages" in cost.worker_item(orders).basis
    idle = 15 * cost.MINUTES_PER_MONTH * 0.40 / 1e6
    assert f"${idle:.2f} a month" in cost.worker_item(orders).basis
