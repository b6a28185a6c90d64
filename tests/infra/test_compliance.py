"""cdk-nag (v3, policy-validation plugins): zero unacknowledged findings, every exception reasoned and listed."""

from __future__ import annotations

from pathlib import Path

import pytest

from prod_serverless.compliance import PACKS, acknowledge
from tests.conftest import Synthesized

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_pack_ran_and_found_nothing_unacknowledged(synthesized: Synthesized) -> None:
    reports = {report["pluginName"]: report for report in synthesized.report["pluginReports"]}
    assert set(reports) == set(PACKS)
    for name, report in reports.items():
        assert report["violations"] == [], name
        assert report["conclusion"] == "success", name


def test_every_acknowledgment_has_a_specific_reason(synthesized: Synthesized) -> None:
    suppressed = [s for report in synthesized.report["pluginReports"] for s in report["suppressedViolations"]]
    assert suppressed
    for finding in suppressed:
        assert len(finding["reason"]) >= 40, finding["ruleName"]


def test_readme_lists_every_exception_with_its_reason(synthesized: Synthesized) -> None:
    """The README's exception table is checked against the report, so it cannot drift."""
    readme = README.read_text()
    rows = set()
    for report in synthesized.report["pluginReports"]:
        for finding in report["suppressedViolations"]:
            path = finding["acknowledgedAt"].removeprefix("ProdServerlessStack/")
            rows.add(f"| `{finding['ruleName']}` | `{path}` | {finding['reason']} |")
    missing = sorted(row for row in rows if row not in readme)
    assert missing == [], "add these rows to the README's exceptions table:\n" + "\n".join(missing)
    section = readme[readme.index("## Compliance") :]
    listed = {line for line in section.splitlines() if line.startswith("| `")}
    stale = sorted(row for row in listed - rows if "(only with" not in row)
    assert stale == [], "remove these rows from the README's exceptions table:\n" + "\n".join(stale)


def test_acknowledge_refuses_a_vague_reason_or_an_unchecked_pack() -> None:
    from aws_cdk import App, Stack

    stack = Stack(App(), "ProdCheck")
    with pytest.raises(ValueError, match="specific reason"):
        acknowledge(stack, "AwsSolutions-IAM5", "needed")
    with pytest.raises(ValueError, match="not from a checked pack"):
        acknowledge(stack, "PCI.DSS.321-IAMNoInlinePolicy", "a reason that is long enough to pass")
