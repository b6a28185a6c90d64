"""`make cost`: the arithmetic as AWS bills it, and bytes that come from the real line formats."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.log_formats import access_log_format
from tests.conftest import Synthesized
from tests.infra.helpers import SETTINGS
from tools import cost

TRICKLE, STEADY = cost.TRAFFIC


def _items(items: list[cost.Item]) -> dict[str, float]:
    return {item.name: item.usd for item in items}


@pytest.fixture(scope="module")
def deployed(synthesized: Synthesized) -> cost.Deployed:
    return cost.Deployed.read(synthesized.template)


def test_the_template_is_read_for_what_is_deployed(deployed: cost.Deployed) -> None:
    assert (deployed.application_log_level, deployed.system_log_level, deployed.tracing) == (
        "INFO",
        "WARN",
        "PassThrough",
    )
    assert (deployed.memory_mb, deployed.architecture) == (SETTINGS.function_memory_mb, "arm64")
    assert deployed.log_retention_days == SETTINGS.log_retention_days
    assert (deployed.buffer_seconds, deployed.buffer_mib, deployed.streams) == (900, 5, 2)
    assert (deployed.ia_after_days, deployed.expire_after_days) == (30, 365)
    assert deployed.access_log_format == json.loads(access_log_format("compact"))
    # Detailed (per-route) metrics are off: the dashboard's route rows read the access log (prod_serverless/api.py).
    assert (deployed.composite_alarms, deployed.dashboards, deployed.keys, deployed.detailed_routes) == (1, 1, 2, 0)


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
    gb_seconds = 128 / 1024 * (cost.WARM_BILLED_MS + TRICKLE.cold_start_share * cost.INIT_BILLED_MS) / 1000 * 1e6
    assert items["Lambda compute"] == pytest.approx(0.0000133334 * gb_seconds)


def test_the_access_bytes_are_the_stages_format_rendered(synthesized: Synthesized, deployed: cost.Deployed) -> None:
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


def test_the_function_lines_are_the_real_handlers_at_the_deployed_level(deployed: cost.Deployed) -> None:
    assert cost.Lines.measure(deployed).function == []  # INFO: a served request writes no function line
    debug = cost.with_lever(deployed, cost.LEVERS[1])
    (line,) = cost.Lines.measure(debug).function
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
    per_million = cost.total(cost.per_million(deployed, cost.Lines.measure(deployed), TRICKLE))
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
    assert cost.main(["--template", str(tuned.outdir / "ProdServerlessStack.template.json")]) == 0
    assert "Note: the stack is configured for eu-west-1; these are us-east-1's prices." in capsys.readouterr().out


def test_key_rotation_adds_a_dollar_a_month_per_key_for_two_years(deployed: cost.Deployed) -> None:
    (keys,) = [item for item in cost.fixed_monthly(deployed) if item.name == "KMS keys"]
    assert keys.usd == deployed.keys * 1.00
    assert f"${deployed.keys * 2}" in keys.basis and f"${deployed.keys * 3} in year 3+" in keys.basis
