"""`make docs`: write the README's generated tables from the code, so the two cannot drift.

Each table sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in README.md:
- `configuration`: the context keys (prod_serverless.settings.SETTINGS);
- `alarms`: the alarm specs as configured by default (prod_serverless.alarms);
- `inventory`: the stack's constructs and the CloudFormation resources each one holds;
- `exceptions`: every acknowledged rule-pack finding with its reason, from the synthesized validation report;
- `queries`: the Athena queries (prod_serverless.queries);
- `cost`: `make cost`'s tables for the synthesized template (tools.cost);
- `bench-targets`: the targets `make bench` judges by (tools.bench).
`make test` renders them again and fails when README.md differs (tests/tools/test_docs.py).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tools.markdown import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
MARKER = re.compile(r"(<!-- generated:(?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /generated:(?P=name) -->)", re.DOTALL)


def configuration_table() -> str:
    """Every context key: its default, what it accepts, what it sets."""
    from prod_serverless.settings import SETTINGS

    def shown(value: Any) -> str:
        if value is None or value == ():
            return "none"
        return f"`{value}`"

    return markdown_table(
        ("Context key", "Default", "Allowed", "What it sets"),
        ((f"`{s.key}`", shown(s.default), s.kind.allowed, s.meaning) for s in SETTINGS),
    )


def alarm_table(specs: Iterable[Any]) -> str:
    """Every alarm spec: what it watches, when it fires, and what to do first; then the composite."""
    specs = tuple(specs)
    rows = [
        (
            spec.name,
            spec.describe(),
            f"{spec.statistic} / {spec.period_minutes} min",
            spec.condition() + (f" ({spec.note})" if spec.note else ""),
            spec.runbook.split("First: ", 1)[-1],
        )
        for spec in specs
    ]
    members = ", ".join(spec.name for spec in specs if spec.service_health)
    rows.append(
        ("ServiceUnhealthy (composite)", f"any of {members}", "", "any member in ALARM", "the member's own row")
    )
    return markdown_table(
        ("Alarm", "Watches (namespace, dimensions)", "Statistic / period", "Fires when", "First"), rows
    )


def inventory_table(stack: Any) -> str:
    """Each construct the stack composes, what it is for (its docstring), and the resources it holds."""
    from aws_cdk import CfnOutput, CfnResource

    rows = []
    for child in stack.node.children:
        if isinstance(child, CfnOutput | CfnResource) or not type(child).__doc__:
            continue
        kinds = Counter(
            resource.cfn_resource_type for resource in child.node.find_all() if isinstance(resource, CfnResource)
        )
        held = ", ".join(
            f"{kind.removeprefix('AWS::')}" + (f" x{n}" if n > 1 else "") for kind, n in sorted(kinds.items())
        )
        purpose = (type(child).__doc__ or "").strip().splitlines()[0]
        rows.append((f"`{child.node.id}`", f"`{type(child).__name__}`", purpose, held))
    return markdown_table(("Construct", "Class", "What it is", "CloudFormation resources"), rows)


def exceptions_table(report: Mapping[str, Any], plugins: Iterable[str], decisions: Iterable[Any] = ()) -> str:
    """Every acknowledged finding of the rule packs and controls, as the validation report records it,
    then the design decisions that no rule flags."""
    rows = set()
    wanted = set(plugins)
    for plugin in report["pluginReports"]:
        if plugin["pluginName"] not in wanted:
            continue
        for finding in plugin.get("suppressedViolations", []):
            path = finding["acknowledgedAt"].removeprefix("ProdServerlessStack/")
            control = re.match(r"\[(CT\.[A-Z0-9.]+)\]", finding["description"])
            rule = f"`{control[1]}` `{finding['ruleName']}`" if control else f"`{finding['ruleName']}`"
            rows.add((rule, f"`{path}`", finding["reason"]))
    decided = [(f"Decision: {d.topic}", f"`{d.construct}`", d.reason) for d in decisions]
    return markdown_table(("Rule", "Construct", "Reason"), [*sorted(rows), *decided])


def queries_section() -> str:
    """The README's Athena queries, shown with example parameters."""
    from prod_serverless.queries import EXAMPLE, QUERIES

    return "".join(
        f"**{query.title}** (`{query.name}`):\n\n```sql\n{query.render(**EXAMPLE)}\n```\n\n" for query in QUERIES
    )


def render(stack: Any, report: Mapping[str, Any], specs: Iterable[Any], template: dict[str, Any]) -> dict[str, str]:
    """Every generated README section, by name."""
    from prod_serverless.compliance import DECISIONS, PLUGINS
    from tools.bench import targets_table
    from tools.cost import readme_section

    return {
        "configuration": configuration_table(),
        "alarms": alarm_table(specs),
        "inventory": inventory_table(stack),
        "exceptions": exceptions_table(report, PLUGINS, DECISIONS),
        "queries": queries_section(),
        "cost": readme_section(template),
        "bench-targets": targets_table(),
    }


def update(readme: str, sections: Mapping[str, str]) -> str:
    """README text with every generated section replaced; a section without its markers is an error."""
    missing = set(sections) - {match["name"] for match in MARKER.finditer(readme)}
    if missing:
        raise KeyError(f"README.md has no markers for {sorted(missing)}")
    replace: Callable[[re.Match[str]], str] = lambda m: m[1] + sections.get(m["name"], m["body"]) + m[4]  # noqa: E731
    return MARKER.sub(replace, readme)


def build() -> dict[str, str]:
    """Synthesize the app as `make synth` does (in a scratch directory) and render every section."""
    import json

    from main import STACK_NAME, build_app

    with tempfile.TemporaryDirectory() as outdir:
        app = build_app(outdir=outdir)
        app.synth()
        report = json.loads((Path(outdir) / "validation-report.json").read_text())
        template = json.loads((Path(outdir) / f"{STACK_NAME}.template.json").read_text())
        stack = app.node.find_child(STACK_NAME)
        specs = stack.node.find_child("ProdMonitoring").specs  # type: ignore[attr-defined]
        return render(stack, report, specs, template)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale, write nothing")
    args = parser.parse_args(argv)
    current = README.read_text()
    fresh = update(current, build())
    if args.check:
        if fresh != current:
            print("README.md is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    print("README.md: generated sections written" if fresh != current else "README.md: already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
