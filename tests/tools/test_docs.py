"""The generated sections of the README and docs/ are exactly what the code renders: `make docs` keeps them, this
test checks; and the front page stays a front page."""

from __future__ import annotations

from pathlib import Path

import pytest

from prod_serverless.compliance import PLUGINS
from tests.conftest import Synthesized
from tools import docs

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_generated_section_is_current(synthesized: Synthesized) -> None:
    specs = synthesized.stack.node.find_child("ProdMonitoring").specs
    sections = docs.render(synthesized.stack, synthesized.report, specs, synthesized.template)
    assert set(sections) == set(docs.SECTIONS)
    stale = [str(path) for path, (current, fresh) in docs.updated_files(sections).items() if current != fresh]
    assert stale == [], f"{stale} are stale: run `make docs`"


def test_the_readme_reads_in_ten_minutes_and_links_every_reference_page() -> None:
    text = README.read_text()
    assert len(text.split()) <= 2000
    for page in sorted((README.parent / "docs").glob("*.md")):
        assert f"(docs/{page.name})" in text, page.name


def test_the_front_pages_facts_name_a_few_routes_and_count_the_rest() -> None:
    """The README's word budget holds however many routes a team adds: docs/routes.md lists them all."""
    from tests.infra.many_routes import MANY, routes

    template = {
        "Resources": {
            "ProdFunctionX": {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": 128, "Timeout": 15}}
        }
    }
    table = routes(MANY)
    line = docs.facts(template, table, "us-east-1")
    assert [f"`{route.key}`" in line for route in table] == [True] * docs.FACTS_ROUTES + [False] * (
        MANY - docs.FACTS_ROUTES
    )
    assert f" and {MANY - docs.FACTS_ROUTES} more (docs/routes.md);" in line
    few = table[: docs.FACTS_ROUTES]
    few_line = docs.facts(template, few, "us-east-1")
    assert all(f"`{route.key}`" in few_line for route in few) and "more" not in few_line


def test_the_routes_table_has_a_row_per_route() -> None:
    from service.routes import ROUTES

    table = docs.routes_table(ROUTES)
    assert len(table.splitlines()) == 2 + len(ROUTES)
    for route in ROUTES:
        assert f"| `{route.key}` | {route.summary} |" in table


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


def test_the_diagram_follows_the_route_table_and_the_function() -> None:
    """Not a drawing of the defaults: the routes (six, then a count) and the function as the template has them."""
    from types import SimpleNamespace

    function = {"Runtime": "python3.14", "Architectures": ["arm64"], "MemorySize": 512, "Timeout": 20}
    template = {
        "Resources": {
            "ProdFunctionABC": {"Type": "AWS::Lambda::Function", "Properties": function},
            "ProdMonitoringX": {"Type": "AWS::CloudWatch::CompositeAlarm", "Properties": {}},
        }
    }
    routes = [SimpleNamespace(key=f"GET /r{n}") for n in range(8)]
    text = docs.diagram(template, routes)
    assert '-->|"HTTPS GET /r0<br/>GET /r1<br/>GET /r2<br/>GET /r3<br/>GET /r4<br/>GET /r5<br/>+2 more"|' in text
    assert '"Lambda ProdFunction<br/>python3.14 arm64 512 MB 20 s"' in text
    assert "+ 1 composites + dashboard" in text
