"""Rule packs (cdk-nag v3 policy-validation plugins): zero unacknowledged findings, every exception reasoned.

The README's exceptions table is generated from the same report (tests/tools/test_docs.py keeps it current).
"""

from __future__ import annotations

import pytest

from prod_serverless.compliance import PACKS, acknowledge
from tests.conftest import Synthesized


def _pack_reports(synthesized: Synthesized) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["pluginName"]: r for r in synthesized.report["pluginReports"] if r["pluginName"] in PACKS}


def test_every_pack_ran_and_found_nothing_unacknowledged(synthesized: Synthesized) -> None:
    reports = _pack_reports(synthesized)
    assert set(reports) == set(PACKS)
    for name, report in reports.items():
        assert report["violations"] == [], name
        assert report["conclusion"] == "success", name


def test_the_only_construct_annotation_is_the_missing_alarm_recipient(synthesized: Synthesized) -> None:
    assert synthesized.warnings == ["Annotation::prod:no-alarm-recipient"]


def test_every_acknowledgment_has_a_specific_reason(synthesized: Synthesized) -> None:
    suppressed = [s for report in _pack_reports(synthesized).values() for s in report["suppressedViolations"]]
    assert suppressed
    for finding in suppressed:
        assert len(finding["reason"]) >= 40, finding["ruleName"]


def test_acknowledge_refuses_a_vague_reason_or_an_unchecked_pack() -> None:
    from aws_cdk import App, Stack

    stack = Stack(App(), "ProdCheck")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(stack, "AwsSolutions-IAM5", "needed")
    with pytest.raises(ValueError, match="not from a checked pack"):
        acknowledge(stack, "PCI.DSS.321-IAMNoInlinePolicy", "a reason that is long enough to pass")
