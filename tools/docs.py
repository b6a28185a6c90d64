"""`make docs`: write the generated sections of the README and of the reference pages in docs/ from the code,
so the prose cannot drift from what is built.

Each section sits between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` in its file (SECTIONS):
- `facts` (README): the numbers the front page states (routes, memory, timeout, Region, alarms, resources);
- `routes`: the route table (service/routes.py); `configuration` and `environment`: the context keys and the
  function's variables (prod_serverless.settings, prod_serverless.function);
- `alarms`: the alarm specs as configured by default (prod_serverless.alarms);
- `inventory`: the stack's constructs and the CloudFormation resources each one holds;
- `exceptions`: every acknowledged rule-pack finding with its reason, from the synthesized validation report;
- `queries`: the Athena queries (prod_serverless.queries);
- `cost`: `make cost`'s tables for the synthesized template (tools.cost);
- `bench-targets`: the targets `make bench` judges by (tools.bench).
`make test` renders them again and fails when a file differs (tests/tools/test_docs.py).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from tools.markdown import markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
# Where each generated section lives.
SECTIONS = {
    "facts": README,
    "routes": DOCS / "routes.md",
    "configuration": DOCS / "configuration.md",
    "environment": DOCS / "configuration.md",
    "alarms": DOCS / "alarms.md",
    "diagram": DOCS / "architecture.md",
    "inventory": DOCS / "architecture.md",
    "physical-names": DOCS / "architecture.md",
    "exceptions": DOCS / "compliance.md",
    "queries": DOCS / "queries.md",
    "cost": DOCS / "cost.md",
    "bench-targets": DOCS / "local.md",
    "openapi": DOCS / "openapi.json",  # a whole generated file, not a marked section
}
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


def routes_table(routes: Iterable[Any]) -> str:
    """Every route: its key, what it answers, its sample and healthy answer, who may call it, its alarms."""
    rows = []
    for route in routes:
        check = route.check()
        sample = f"`{check['method']} {check['path']}{'?' + check['query'] if check['query'] else ''}`"
        if check["body"] is not None:
            sample += f" with `{check['body']}`"
        alarms = []
        if not route.client_errors_page:
            alarms.append("its 4xx never page")
        if route.alarm_5xx is not None:
            alarms.append(f"own 5xx alarm at {route.alarm_5xx}/min")
        rows.append(
            (
                f"`{route.key}`",
                route.summary,
                sample,
                f"{check['status']}, keys {', '.join(f'`{k}`' for k in check['keys']) or 'none'}",
                authorization(route),
                "; ".join(alarms) or "API-wide alarms",
            )
        )
    return markdown_table(("Route", "Answers", "Sample", "Healthy answer", "Who may call", "Alarms"), rows)


def authorization(route: Any) -> str:
    """Who may call a route, as docs/routes.md says it."""
    if route.jwt is not None:
        return f"JWT of `jwtIssuer` with scope {' or '.join(f'`{scope}`' for scope in route.jwt)}"
    if route.iam:
        return "IAM: a SigV4-signed caller with `execute-api:Invoke` on it"
    return f"anyone: {route.public}"


def environment_table() -> str:
    """The function's environment variables (prod_serverless.function.ENVIRONMENT)."""
    from prod_serverless.function import ENVIRONMENT

    return markdown_table(("Variable", "What it is"), ((f"`{row.name}`", row.meaning) for row in ENVIRONMENT))


def service_function(resources: Mapping[str, Any]) -> dict[str, Any]:
    """The API function's properties in the template (ProdFunction; the hook is another function)."""
    (function,) = [
        r["Properties"]
        for i, r in resources.items()
        if i.startswith("ProdFunction") and r["Type"] == "AWS::Lambda::Function"
    ]
    properties: dict[str, Any] = function
    return properties


# The front page names this many routes and counts the rest: its word budget (tests/tools/test_docs.py) must not
# shrink as a team's table grows; docs/routes.md lists every one.
FACTS_ROUTES = 5


def facts(template: dict[str, Any], routes: Iterable[Any], region: str) -> str:
    """The numbers the README states, read from the synthesized template."""
    resources = template["Resources"]
    function = service_function(resources)
    alarms = sum(r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm") for r in resources.values())
    keys = [f"`{route.key}`" for route in routes]
    named = ", ".join(keys[:FACTS_ROUTES])
    if len(keys) > FACTS_ROUTES:
        named += f" and {len(keys) - FACTS_ROUTES} more (docs/routes.md)"
    return (
        f"As configured by default: route(s) {named}; the function has {function['MemorySize']} MB and a "
        f"{function['Timeout']} s timeout; Region `{region}`; {alarms} alarms; {len(resources)} CloudFormation "
        "resources.\n"
    )


def diagram(template: dict[str, Any], routes: Iterable[Any]) -> str:
    """The architecture as a mermaid flowchart, its routes and function read from the table and the template."""
    resources = template["Resources"]
    function = service_function(resources)
    keys = [route.key for route in routes]
    shown_keys = "<br/>".join(keys[:6]) + (f"<br/>+{len(keys) - 6} more" if len(keys) > 6 else "")
    composites = sum(r["Type"] == "AWS::CloudWatch::CompositeAlarm" for r in resources.values())
    runtime = (
        f"{function['Runtime']} {function['Architectures'][0]} {function['MemorySize']} MB {function['Timeout']} s"
    )
    return "\n".join(
        [
            "```mermaid",
            "flowchart LR",
            f'  client([Client]) -->|"HTTPS {shown_keys}"| api[HTTP API<br/>$default stage<br/>throttled]',
            f'  api -->|AWS_PROXY, payload 2.0| fn["Lambda ProdFunction<br/>{runtime}"]',
            "  api -. JSON access logs .-> apilogs[(Log group<br/>API access)]",
            "  fn -. native JSON logs .-> fnlogs[(Log group<br/>function)]",
            "  apilogs -->|subscription filter| fhapi[Firehose<br/>api stream]",
            "  fnlogs -->|subscription filter| fhfn[Firehose<br/>function stream]",
            "  fhapi -->|decompress, extract,<br/>GZIP, SSE-KMS| bucket[(S3 log archive<br/>api/ function/)]",
            "  fhfn --> bucket",
            "  fhapi -. delivery errors .-> fherr[(Log group<br/>Firehose errors)]",
            "  fhfn -. delivery errors .-> fherr",
            "  bucket --- glue[Glue tables<br/>partition projection]"
            " --- athena[Athena workgroup<br/>encrypted results]",
            "  key{{KMS CMK<br/>log archive}} -.-> apilogs & fnlogs & fherr & fhapi & fhfn & bucket & athena",
            f"  fn & api & fhapi & fhfn & apilogs & fnlogs --> alarms[CloudWatch alarms<br/>+ {composites} composites"
            " + dashboard]",
            "  alarms --> topic[SNS topic<br/>KMS, TLS only] --> email([alarmEmail])",
            "```",
            "",
        ]
    )


def names_table(template: dict[str, Any]) -> str:
    """Every physical name the template sets (the others CloudFormation generates from the stack's name)."""
    from prod_serverless.names import physical_names, shown

    rows = [
        (f"`{logical_id}`", f"`{dotted}`", f"`{shown(value)}`", kind.removeprefix("AWS::"))
        for logical_id, kind, dotted, value in physical_names(template)
    ]
    return markdown_table(("Logical id", "Property", "Name", "Type"), rows)


def alarm_table(specs: Iterable[Any]) -> str:
    """Every alarm spec: what it watches, when it fires, and what to do first; then the composites."""
    from prod_serverless.alarms import COMPOSITES

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
    for composite, runbook in COMPOSITES.items():
        members = ", ".join(spec.name for spec in specs if spec.composite == composite)
        if members:
            rows.append(
                (f"{composite} (composite)", f"any of {members}", "", "any member in ALARM", runbook.split(". ")[0])
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
    """Every generated section, by name."""
    from prod_serverless.compliance import DECISIONS, PLUGINS
    from prod_serverless.settings import Settings
    from service.routes import ROUTES
    from tools.bench import targets_table
    from tools.cost import readme_section
    from tools.openapi import document, rendered

    settings = Settings.from_context(stack.node.get_all_context())

    return {
        "facts": facts(template, ROUTES, stack.region),
        "routes": routes_table(ROUTES),
        "environment": environment_table(),
        "configuration": configuration_table(),
        "alarms": alarm_table(specs),
        "diagram": diagram(template, ROUTES),
        "inventory": inventory_table(stack),
        "physical-names": names_table(template),
        "exceptions": exceptions_table(report, PLUGINS, DECISIONS),
        "queries": queries_section(),
        "cost": readme_section(template),
        "bench-targets": targets_table(),
        "openapi": rendered(document(ROUTES, settings, version=settings.app_version)),
    }


def update(readme: str, sections: Mapping[str, str]) -> str:
    """A file's text with each of `sections` replaced; a section without its markers is an error."""
    missing = set(sections) - {match["name"] for match in MARKER.finditer(readme)}
    if missing:
        raise KeyError(f"no markers for {sorted(missing)}")
    replace: Callable[[re.Match[str]], str] = lambda m: m[1] + sections.get(m["name"], m["body"]) + m[4]  # noqa: E731
    return MARKER.sub(replace, readme)


def build() -> dict[str, str]:
    """Synthesize the app as `make synth` does (in a scratch directory) and render every section."""
    import json

    from main import build_app
    from prod_serverless.names import PRODUCTION, StageNames

    # Into cdk.out, as `make synth` writes it: the report path synth prints is one that exists afterwards. The pages
    # describe production's stack whatever stage cdk.json sets (docs/configuration.md says what a stage changes).
    outdir = ROOT / "cdk.out"
    app = build_app({"stage": PRODUCTION}, outdir=str(outdir))
    app.synth()
    name = StageNames(PRODUCTION).stack
    report = json.loads((outdir / "validation-report.json").read_text())
    template = json.loads((outdir / f"{name}.template.json").read_text())
    stack = app.node.find_child(name)
    specs = stack.node.find_child("ProdMonitoring").specs  # type: ignore[attr-defined]
    return render(stack, report, specs, template)


def updated_files(sections: Mapping[str, str]) -> dict[Path, tuple[str, str]]:
    """Each file that holds generated sections: (its text now, its text with every section rendered)."""
    files: dict[Path, tuple[str, str]] = {}
    for path in sorted(set(SECTIONS.values())):
        current = path.read_text() if path.exists() else ""
        if path.suffix == ".json":  # generated whole
            (name,) = (name for name, where in SECTIONS.items() if where == path)
            files[path] = (current, sections[name])
            continue
        mine = {name: body for name, body in sections.items() if SECTIONS[name] == path}
        files[path] = (current, update(current, mine))
    return files


def route_table() -> tuple[Any, ...]:
    from service.routes import ROUTES

    return ROUTES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated section is stale, write nothing")
    args = parser.parse_args(argv)
    from prod_serverless import schemas
    from prod_serverless.early import ROUTES_ERROR
    from service.routing import RouteError

    try:  # the function's validators first: synth refuses stale ones
        table = route_table()
        schemas.check(table)
        validators = schemas.stale(table) if args.check else schemas.write(table)
    except RouteError as error:
        print(ROUTES_ERROR.format(error), file=sys.stderr)
        return 1
    files = updated_files(build())
    stale = [path.relative_to(ROOT).as_posix() for path, (current, fresh) in files.items() if current != fresh]
    stale += [f"service/validators/{name}" for name in validators]
    if args.check:
        if stale:
            print(f"stale: {', '.join(stale)}: run `make docs`", file=sys.stderr)
            return 1
        return 0
    for path, (_, fresh) in files.items():
        path.write_text(fresh)
    print(f"make docs: wrote {', '.join(stale)}" if stale else "make docs: every generated section is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
