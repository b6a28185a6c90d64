"""The README's generated tables are exactly what the code renders: `make docs` keeps them, this test checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from prod_serverless.compliance import PLUGINS
from tests.conftest import Synthesized
from tools import docs

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_generated_readme_section_is_current(synthesized: Synthesized) -> None:
    specs = synthesized.stack.node.find_child("ProdMonitoring").specs
    sections = docs.render(synthesized.stack, synthesized.report, specs, synthesized.template)
    readme = README.read_text()
    stale = [name for name, body in sections.items() if docs.update(readme, {name: body}) != readme]
    assert stale == [], f"README sections {stale} are stale: run `make docs`"


def test_update_replaces_only_the_marked_section() -> None:
    text = "intro\n<!-- generated:alarms -->\nold\n<!-- /generated:alarms -->\noutro\n"
    assert (
        docs.update(text, {"alarms": "new\n"})
        == "intro\n<!-- generated:alarms -->\nnew\n<!-- /generated:alarms -->\noutro\n"
    )


def test_a_section_without_markers_is_an_error() -> None:
    with pytest.raises(KeyError, match="no markers for \\['cost'\\]"):
        docs.update("no markers here", {"cost": "x"})


def test_the_exceptions_table_lists_every_acknowledged_finding_once(synthesized: Synthesized) -> None:
    table = docs.exceptions_table(synthesized.report, PLUGINS)
    findings = {
        (f["ruleName"], f["acknowledgedAt"].removeprefix("ProdServerlessStack/"))
        for r in synthesized.report["pluginReports"]
        for f in r.get("suppressedViolations", [])
    }
    rows = table.splitlines()[2:]
    assert len(rows) == len(findings)
    for rule, path in findings:
        assert any(f"`{rule}` | `{path}` |" in row for row in rows), rule
