"""The README's "Make it yours" recipes, run: their code is read from README.md itself and applied to the app,
and every consumer of the route table must pick the new routes up (API, permissions, CORS, compliance, handler,
local server, smoke, verify, the release hook, the dashboard, the alarms, the cost model, the docs)."""

from __future__ import annotations

import importlib
import io
import json
import re
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from pre_traffic_hook.handler import CHECKS_METADATA, INVOKE_TIMEOUT_ENV, route_event, verdict
from prod_serverless import function
from prod_serverless.alarms import worker_alarms
from prod_serverless.bundle import install
from prod_serverless.function import Variable
from prod_serverless.log_formats import routes_query
from prod_serverless.settings import Settings, cdk_json_context, parse_pairs
from prod_serverless.workers import Queue, Schedule, Worker
from service import handler
from service import metrics as service_metrics
from service.routes import ROUTES
from service.routing import PUBLIC, Healthy, IamCaller, JwtCaller, Request, Route, Router, Sample
from tests.changes import changed
from tests.conftest import TUNED, FakeContext, Synthesized
from tests.infra.helpers import SETTINGS, statements
from tests.infra.test_monitoring import _rate
from tests.tools.helpers import serving, verify_api_rows
from tests.tools.test_contract import GIVEN, fuzz
from tests.validators import use_validators
from tests.wheels import lock_line, make_wheel
from tests.workers import worker_code
from tools import cost, docs, invoke, smoke
from tools.callers import Callers
from tools.local_auth import DevIssuer
from tools.local_server import function_variables, serve
from tools.offline_aws import offline_aws

ROOT = Path(__file__).resolve().parent.parent
PAGES = (ROOT / "README.md", ROOT / "docs" / "recipes.md")
RECIPE = re.compile(r"<!-- recipe:(?P<name>[a-z]+) -->\n```\w+\n(?P<code>.*?)```", re.DOTALL)


def recipes() -> dict[str, str]:
    found = [(match["name"], match["code"]) for page in PAGES for match in RECIPE.finditer(page.read_text())]
    assert len({name for name, _ in found}) == len(found), "two recipes of the same name"
    return dict(found)


def test_every_recipe_in_the_readme_and_docs_is_run_here() -> None:
    assert set(recipes()) == {
        "endpoints", "routes", "signedin", "signedinroutes", "issuer", "variable", "reads", "context", "quote",
        "quoteroute", "staging", "nightly", "nightlyrow", "orders", "ordersrow",
        "items", "itemroutes", "itemimports", "itemtable", "library", "libraryuse",
        "secret", "secretroute", "secretimports", "secretstack",
    }  # fmt: skip


def test_every_recipe_line_fits_the_projects_line_length() -> None:
    """A recipe pasted as it stands passes `make lint` (ruff's line-length, pyproject.toml)."""
    import tomllib

    limit = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["line-length"]
    long = [(name, line) for name, code in recipes().items() for line in code.splitlines() if len(line) > limit]
    assert long == []


def _definitions(source: str) -> list[str]:
    """The name of each function and assignment at a module's top level."""
    import ast

    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [target.id for target in targets if isinstance(target, ast.Name)]
    return names


def test_the_recipes_pasted_into_one_module_define_each_name_once() -> None:
    """endpoints, signedin, quote and reads all go into service/endpoints.py: a name defined twice would be silently
    rebound (a schema would replace the variable the service reads). A team's module, recipes applied and edited
    as it likes, is held to the same."""
    for module in (
        [name for recipe in ("endpoints", "signedin", "quote", "reads") for name in _definitions(recipes()[recipe])],
        _definitions((ROOT / "service" / "endpoints.py").read_text()),
    ):
        assert sorted({name for name in module if module.count(name) > 1}) == []


def _body(name: str) -> str:
    """A recipe's code without its first line (the comment saying where it goes)."""
    return recipes()[name].split("\n", 1)[1]


# The modules the recipes add to service/, each executed into its own namespace; executed again under the offline
# AWS (_load_modules), so their variables are read as a cold start reads them, and the rows' functions see them.
MODULES: dict[str, dict[str, Any]] = {"items": {}, "partner": {}}  # by module name: service/items.py, …
MODULE_RECIPES = {"items": "items", "partner": "secret"}


def _load_modules() -> None:
    for name, namespace in MODULES.items():
        exec(recipes()[MODULE_RECIPES[name]], namespace)
        if f"service.{name}" in sys.modules:  # a team that has the module: its rows' functions read it again too
            importlib.reload(sys.modules[f"service.{name}"])


_load_modules()


def team_main() -> ModuleType:
    """main.py as a team has it after the recipes: their imports with the others, their resources under the marker."""
    source = (ROOT / "main.py").read_text()
    marker = "        statements: list[iam.PolicyStatement] = []\n"
    anchor = "from constructs import Construct\n"
    assert source.count(marker) == 1 and source.count(anchor) == 1
    # A team that has applied a recipe already has its blocks (its resources' ids): they are then built as they stand.
    blocks = [_body(name) for name in ("itemtable", "secretstack")]
    fresh = [block for block in blocks if re.findall(r'"Prod\w+"', block)[0] not in source]
    source = source.replace(marker, marker + textwrap.indent("".join(fresh), " " * 8))
    source = source.replace(anchor, anchor + _body("itemimports") + _body("secretimports"))
    module = ModuleType("team_main")
    module.__file__ = str(ROOT / "main.py")
    exec(compile(source, "main.py (with the recipes)", "exec"), module.__dict__)
    return module


def test_the_variable_recipe_is_read_by_the_service_as_the_wiring_test_requires() -> None:
    """The row alone would fail tests/service/test_wiring.py (a variable nothing reads): the recipe reads it too."""
    row = _variable()
    reads = recipes()["reads"]
    assert f'"{row.name}"' in reads
    namespace: dict[str, Any] = {"os": __import__("os")}
    exec(reads, namespace)
    assert namespace[row.name] == row.value(SETTINGS)


def _routes() -> tuple[Route, ...]:
    """ROUTES with the recipe's two rows, answered by the recipe's two functions."""
    namespace: dict[str, Any] = {}
    exec(recipes()["endpoints"], namespace)
    exec(recipes()["signedin"], {**namespace, "JwtCaller": JwtCaller, "IamCaller": IamCaller}, namespace)
    exec(recipes()["quote"], namespace)
    endpoints = SimpleNamespace(**namespace)
    rows = eval(
        "("
        + "".join(recipes()[name] for name in ("routes", "signedinroutes", "quoteroute", "itemroutes", "secretroute"))
        + ")",
        {
            "Route": Route, "Healthy": Healthy, "Sample": Sample, "endpoints": endpoints,
            **{name: SimpleNamespace(**namespace) for name, namespace in MODULES.items()},
        },
    )  # fmt: skip
    # A team that has applied the recipe already has these rows: they are then checked as they stand. The new rows
    # come first, so every consumer below is checked with routes in another order than the shipped table's.
    return (*(row for row in rows if row.key not in {route.key for route in ROUTES}), *ROUTES)


EXTENDED = _routes()


@pytest.fixture(autouse=True)
def _recipe_validators(monkeypatch: pytest.MonkeyPatch) -> None:
    """The validators `make docs` would write for the team's table, in place of the shipped ones."""
    use_validators(EXTENDED, monkeypatch)


NEW = [route for route in EXTENDED if route.key in {"GET /hello/{name}", "POST /echo"}]
PROTECTED = [route for route in EXTENDED if route.authorization != PUBLIC]
CHECKS = [route.check() for route in EXTENDED]
ORIGIN = "https://app.example.com"
# What a team puts in its cdk.json beside the recipes: other memory, timeout and Region than the defaults, and the
# issuer recipe's two keys.
ISSUER_CONTEXT: dict[str, str] = json.loads("{" + recipes()["issuer"] + "}")
TEAM_CONTEXT = {
    "functionMemoryMb": "384", "functionTimeoutSeconds": "25", "region": "eu-central-1", "stage": "prod",
    **ISSUER_CONTEXT,
}  # fmt: skip
TEAM_SETTINGS = Settings.from_context({**cdk_json_context(), **TEAM_CONTEXT})


def _variable() -> Variable:
    row = eval(recipes()["variable"].split("\n", 1)[1].strip().rstrip(","), {"Variable": Variable})
    assert isinstance(row, Variable)
    return row


# The worker recipes: each package's handler.py, and the row it adds to workers/table.py.
WORKER_RECIPES = {"nightly": "nightlyrow", "orders": "ordersrow"}


@pytest.fixture(scope="module")
def team_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, ...]]:
    """The recipes' workers with the team's own rows; their packages are written where the repository lacks them, and
    stay readable while the module's tests run."""
    with worker_code(tmp_path_factory.mktemp("workers"), {name: _body(name) for name in WORKER_RECIPES}):
        from workers.table import WORKERS

        rows = eval(
            "(" + "".join(_body(row) for row in WORKER_RECIPES.values()) + ")",
            {"Worker": Worker, "Schedule": Schedule, "Queue": Queue},
        )
        yield (*(row for row in rows if row.name not in {worker.name for worker in WORKERS}), *WORKERS)


@pytest.fixture(scope="module")
def extended(tmp_path_factory: pytest.TempPathFactory, team_workers: tuple[Worker, ...]) -> Iterator[Synthesized]:
    """The app with the recipes' routes, variable and workers, and CORS on: every rule pack and Control Tower control
    run."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(function, "ENVIRONMENT", (*function.ENVIRONMENT, _variable()))
        outdir = tmp_path_factory.mktemp("cdk.out.extended")
        app = team_main().build_app(
            {"corsAllowedOrigins": ORIGIN, **TEAM_CONTEXT}, outdir=str(outdir), routes=EXTENDED, workers=team_workers
        )
        yield Synthesized.of(app, outdir)  # fails on any unacknowledged finding: the routes need no compliance step


def test_the_recipe_adds_a_get_with_a_path_parameter_and_a_post_with_a_json_body() -> None:
    assert [(r.method, "{" in r.path, r.sample.body is not None) for r in NEW] == [
        ("GET", True, False),
        ("POST", False, True),
    ]


def test_the_api_routes_each_row_with_its_own_permission(extended: Synthesized) -> None:
    keys = sorted(r["Properties"]["RouteKey"] for r in extended.of_type("AWS::ApiGatewayV2::Route").values())
    assert keys == sorted(route.key for route in EXTENDED)
    arns = [json.dumps(p["Properties"]["SourceArn"]) for p in extended.of_type("AWS::Lambda::Permission").values()]
    assert sorted(arn.rsplit('"', 2)[-2] for arn in arns) == sorted(f"/*/{r.method}{r.path}" for r in EXTENDED)


def test_cors_allows_the_new_methods(extended: Synthesized) -> None:
    (api,) = extended.of_type("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["CorsConfiguration"]["AllowMethods"] == sorted({r.method for r in EXTENDED})


def test_each_route_is_acknowledged_with_its_own_public_reason(extended: Synthesized) -> None:
    reasons = {
        finding["reason"]
        for plugin in extended.report["pluginReports"]
        for finding in plugin.get("suppressedViolations", [])
        if finding["ruleName"] in ("AwsSolutions-APIG4", "api_gw_v2_authorization_type_configured_check")
    }
    assert reasons == {route.public for route in EXTENDED if route.authorization == PUBLIC}


def test_protected_routes_have_the_authorizer_and_no_acknowledgment(extended: Synthesized) -> None:
    """The recipe's JWT and IAM rows: synth passed with no acknowledgment for them, the JWT routes share one
    authorizer of the configured issuer, each route carries its authorization type and scopes."""
    (authorizer_id, authorizer), *more = extended.of_type("AWS::ApiGatewayV2::Authorizer").items()
    assert more == []
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Issuer": TEAM_SETTINGS.jwt_issuer,
        "Audience": list(TEAM_SETTINGS.jwt_audiences),
    }
    routes = {r["Properties"]["RouteKey"]: r for r in extended.of_type("AWS::ApiGatewayV2::Route").values()}
    for route in EXTENDED:
        properties = routes[route.key]["Properties"]
        kind = {"jwt": "JWT", "iam": "AWS_IAM", "public": "NONE"}[route.authorization]
        assert properties["AuthorizationType"] == kind, route.key
        assert properties.get("AuthorizationScopes") == (list(route.jwt) if route.jwt else None), route.key
        assert ("AuthorizerId" in properties) == (route.jwt is not None), route.key
        if route.jwt:
            assert properties["AuthorizerId"] == {"Ref": authorizer_id}
    # The synth's report: only the public rows' routes are acknowledged (a protected one needs no reason).
    acknowledged = [
        construct["constructPath"]
        for plugin in extended.report["pluginReports"]
        for finding in plugin.get("suppressedViolations", [])
        if finding["ruleName"] == "AwsSolutions-APIG4"
        for construct in finding["violatingConstructs"]
    ]
    assert len(acknowledged) == len(EXTENDED) - len(PROTECTED)
    assert {route.authorization for route in PROTECTED} == {"jwt", "iam"}


def test_the_verifier_may_call_exactly_the_iam_routes(extended: Synthesized) -> None:
    (policy,) = [p for i, p in extended.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith("ProdVerifier")]
    (invoke,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == "CallTheIamRoutes"]
    arns = invoke["Resource"] if isinstance(invoke["Resource"], list) else [invoke["Resource"]]
    tails = sorted(json.dumps(arn).rsplit('"', 2)[-2] for arn in arns)
    assert tails == sorted(
        "/*/" + route.method + re.sub(r"{[^}]+}", "*", route.path) for route in EXTENDED if route.iam
    )
    assert invoke["Action"] == "execute-api:Invoke"


def test_cors_lets_a_browser_send_credentials(extended: Synthesized) -> None:
    (api,) = extended.of_type("AWS::ApiGatewayV2::Api").values()
    allowed = api["Properties"]["CorsConfiguration"]["AllowHeaders"]
    assert {"authorization", "content-type", "x-amz-date", "x-amz-security-token"} <= set(allowed)


@contextmanager
def _offline(extended: Synthesized) -> Iterator[dict[str, str]]:
    """The recipes' table and secret in the offline AWS, as make serve has them, and the recipes' modules loaded."""
    variables = function_variables(extended.template)
    with offline_aws(variables, extended.resources, TEAM_SETTINGS.region) as environment:
        _load_modules()
        yield environment


def test_the_handler_answers_every_sample_healthily_and_refuses_a_bad_body(extended: Synthesized) -> None:
    router = Router(EXTENDED)
    with _offline(extended):
        for check in CHECKS:
            assert verdict(handler.handle(router, route_event(check, 0.0), FakeContext()), check) is None
        (echo,) = [check for check in CHECKS if check["route"] == "POST /echo"]  # wherever the rows stand
        bad = route_event({**echo, "body": "{not json"}, 0.0)
        assert handler.handle(router, bad, FakeContext())["statusCode"] == 400


def test_an_item_put_is_the_item_got_and_the_secret_is_read_once_per_cache_period(extended: Synthesized) -> None:
    router = Router(EXTENDED)
    checks = {check["route"]: check for check in CHECKS}
    with _offline(extended) as environment:
        put = route_event({**checks["PUT /items/{id}"], "path": "/items/7", "body": '{"name": "seven"}'}, 0.0)
        assert handler.handle(router, put, FakeContext())["statusCode"] == 200
        got = handler.handle(router, route_event({**checks["GET /items/{id}"], "path": "/items/7"}, 0.0), FakeContext())
        assert (got["statusCode"], json.loads(got["body"])["name"]) == (200, "seven")
        import boto3

        stored = boto3.client("dynamodb").get_item(TableName=environment["ITEMS_TABLE"], Key={"id": {"S": "7"}})
        assert stored["Item"]["name"] == {"S": "seven"}  # in the table the template declares, not in memory
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=environment["PARTNER_KEY_ARN"])
        status = handler.handle(router, route_event(checks["GET /partner/status"], 0.0), FakeContext())
        assert json.loads(status["body"])["keyLength"] == len(secret["SecretString"])
        boto3.client("secretsmanager").put_secret_value(SecretId=environment["PARTNER_KEY_ARN"], SecretString="x")
        again = handler.handle(router, route_event(checks["GET /partner/status"], 0.0), FakeContext())
        assert json.loads(again["body"])["keyLength"] == len(secret["SecretString"])  # cached, not fetched again


def test_the_release_hook_checks_every_route(extended: Synthesized) -> None:
    (checks,) = [
        f["Metadata"][CHECKS_METADATA]
        for f in extended.of_type("AWS::Lambda::Function").values()
        if CHECKS_METADATA in f.get("Metadata", {})
    ]
    assert json.loads(checks) == CHECKS


def test_the_variable_reaches_the_function(extended: Synthesized) -> None:
    (service_function,) = [
        f for i, f in extended.of_type("AWS::Lambda::Function").items() if i.startswith("ProdFunction")
    ]
    row = _variable()
    assert service_function["Properties"]["Environment"]["Variables"][row.name] == row.value(SETTINGS)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer(tmp_path_factory.mktemp("issuer") / "key.pem")


@pytest.fixture
def local_api(extended: Synthesized, issuer: DevIssuer) -> Iterator[Any]:
    router = Router(EXTENDED)
    template = extended.template_file
    api = serve(0, template, lambda e, c: handler.handle(router, e, c), issuer=issuer)
    _load_modules()  # under the offline AWS the server opened: the recipes' modules read its variables
    api.access_log = io.StringIO()
    with serving(api):
        yield api


def _callers(issuer: DevIssuer) -> Callers:
    return Callers(
        local=True, region=TEAM_SETTINGS.region, audiences=TEAM_SETTINGS.jwt_audiences, issuer=lambda: issuer
    )


def test_the_local_server_serves_and_smoke_checks_every_route(local_api: Any, issuer: DevIssuer) -> None:
    smoke.run(local_api.url, 1, CHECKS, _callers(issuer))
    lines = [json.loads(line) for line in local_api.access_log.getvalue().splitlines()]
    # Each protected route refused first (anonymous; a JWT route also a token without its scope), unserved.
    refused = [(route.key, status) for route in PROTECTED for status in (["401", "403"] if route.jwt else ["403"])]
    assert [(line["r"], line["s"]) for line in lines[: len(refused)]] == refused
    assert all(line["fn"] == "-" for line in lines[: len(refused)])
    assert [line["r"] for line in lines[len(refused) :]] == [route.key for route in EXTENDED]


def test_verify_checks_every_route_and_the_unrouted_ones(local_api: Any, issuer: DevIssuer) -> None:
    rows = verify_api_rows(local_api.url, CHECKS, _callers(issuer))
    checked = [row.check for row in rows]
    answers = [check for check in checked if check.endswith("answers its healthy sample")]
    assert [f"{route.key} answers its healthy sample" for route in EXTENDED] == answers
    assert [f"{route.key} refuses an anonymous request" for route in PROTECTED] == [
        check for check in checked if check.endswith("refuses an anonymous request")
    ]
    assert all(row.ok for row in rows), [row for row in rows if not row.ok]


def test_the_dashboard_has_a_row_per_route(extended: Synthesized) -> None:
    """One route table (one Logs Insights scan per view, whatever the routes), tall enough for every route."""
    (dashboard,) = extended.of_type("AWS::CloudWatch::Dashboard").values()
    text = "".join(part for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(part, str))
    query = json.dumps("\n| ".join(routes_query(refusals=bool(PROTECTED))))[1:-1]  # as inside the dashboard's JSON
    assert text.count(query) == 1 and text.count('"type":"log"') == 1
    assert f'"height":{2 + len(EXTENDED)}' in text.split(query)[0].rsplit('"type":"log"', 1)[-1]


def test_the_routes_own_alarms(extended: Synthesized) -> None:
    alarms = {i.removeprefix("ProdMonitoring").split("Alarm")[0]: a["Properties"] for i, a in
              extended.of_type("AWS::CloudWatch::Alarm").items()}  # fmt: skip
    echo = alarms["RoutePostEcho5xx"]
    assert (echo["MetricName"], echo["Threshold"]) == ("ServerErrors", 1)
    assert {"Name": "Route", "Value": "POST /echo"} in echo["Dimensions"]
    assert "RouteGetItemsId5xx" not in alarms  # declared by the POST row only
    rate = {query["Id"]: query for query in alarms["Api4xxRate"]["Metrics"]}
    assert rate["expected"]["MetricStat"]["Metric"]["MetricName"] == "ExpectedClientErrors"
    # The authorizers' refusals, counted from the access log, are taken out of the paging rate.
    assert rate["refused"]["MetricStat"]["Metric"]["MetricName"] == "Refusals"
    (expression,) = [query["Expression"] for query in rate.values() if "Expression" in query]
    assert "- FILL(refused, 0)" in expression
    # A flood of refused credentials alone is no 4xx rate; the same 4xx answered by the function is.
    floor = TEAM_SETTINGS.api_4xx_min_requests
    assert _rate(expression, floor * 2, floor, refused=floor) == 0
    assert _rate(expression, floor * 2, floor, refused=0) == 50
    (refusals,) = extended.of_type("AWS::Logs::MetricFilter").values()
    assert refusals["Properties"]["MetricTransformations"][0]["MetricName"] == "Refusals"
    (unhealthy,) = [c for i, c in extended.of_type("AWS::CloudWatch::CompositeAlarm").items() if "Unhealthy" in i]
    assert "RoutePostEcho5xx" in json.dumps(unhealthy["Properties"]["AlarmRule"])


def test_the_cost_model_mixes_every_route(extended: Synthesized) -> None:
    deployed = cost.Deployed.read(extended.template)
    assert deployed.checks == CHECKS
    items = cost.mixed(deployed, cost.TRAFFIC[0])
    assert len(items) == len(cost.per_million(deployed, cost.Lines.measure(deployed), cost.TRAFFIC[0]))


def test_the_docs_list_every_route() -> None:
    table = docs.routes_table(EXTENDED)
    for route in EXTENDED:
        assert f"| `{route.key}` | {route.summary} |" in table


def test_the_context_recipes_are_what_the_tuned_synth_proves(tuned: Synthesized) -> None:
    pairs: dict[str, str] = {}
    for line in recipes()["context"].splitlines():
        pairs |= parse_pairs(line.split('CONTEXT="', 1)[1].split('"', 1)[0])
    assert pairs.items() <= TUNED.items()
    settings = Settings.from_context(pairs)
    (service_function,) = [f for i, f in tuned.of_type("AWS::Lambda::Function").items() if i.startswith("ProdFunction")]
    assert service_function["Properties"]["MemorySize"] == settings.function_memory_mb
    assert service_function["Properties"]["Timeout"] == settings.function_timeout_seconds
    # Every ARN, principal and endpoint follows the Region: the mission's default appears nowhere (but in the URL of
    # a team's own issuer, whose Region is the identity provider's).
    issuer = Settings.from_context({**cdk_json_context(), **TUNED}).jwt_issuer or "-"
    assert "us-east-1" not in json.dumps(tuned.template).replace(issuer, "")
    manifest = json.loads((tuned.outdir / "manifest.json").read_text())
    assert manifest["artifacts"][tuned.stack.stack_name]["environment"].endswith(f"/{settings.region}")


def test_the_function_may_do_exactly_what_the_recipes_code_does(extended: Synthesized) -> None:
    """The statements the recipes add, on the table, the secret and their keys only, and their variables."""
    (table_id,) = extended.of_type("AWS::DynamoDB::GlobalTable")
    (secret_id,) = extended.of_type("AWS::SecretsManager::Secret")
    keys = {i.split("Key")[0] + "Key": i for i in extended.of_type("AWS::KMS::Key")}
    (function_id, function) = next((i, f) for i, f in extended.of_type("AWS::Lambda::Function").items()
                                   if i.startswith("ProdFunction"))  # fmt: skip
    variables = function["Properties"]["Environment"]["Variables"]
    assert (variables["ITEMS_TABLE"], variables["PARTNER_KEY_ARN"]) == ({"Ref": table_id}, {"Ref": secret_id})
    (policy_id,) = [i for i in extended.of_type("AWS::IAM::ManagedPolicy") if i.startswith("ProdFunctionPolicy")]
    granted = {s["Sid"]: s for i, s in statements(extended.template) if i == policy_id}

    def via(service: str) -> dict[str, Any]:
        return {"StringEquals": {"kms:ViaService": f"{service}.{TEAM_SETTINGS.region}.amazonaws.com"}}

    assert {sid: (s["Action"], s["Resource"], s.get("Condition")) for sid, s in granted.items()
            if sid not in ("WriteOwnLogGroup", "SendTraces")} == {
        "ReadAndWriteItems": (["dynamodb:GetItem", "dynamodb:PutItem"], {"Fn::GetAtt": [table_id, "Arn"]}, None),
        "DecryptItemsThroughDynamoDB": ("kms:Decrypt", {"Fn::GetAtt": [keys["ProdItemsKey"], "Arn"]}, via("dynamodb")),
        "ReadPartnerKey": ("secretsmanager:GetSecretValue", {"Ref": secret_id}, None),
        "DecryptSecretsThroughSecretsManager": (
            "kms:Decrypt", {"Fn::GetAtt": [keys["ProdSecretsKey"], "Arn"]}, via("secretsmanager")),
    }  # fmt: skip
    assert function_id.startswith("ProdFunction")


def test_the_table_is_encrypted_with_its_own_key_recoverable_and_kept(extended: Synthesized) -> None:
    (table,) = extended.of_type("AWS::DynamoDB::GlobalTable").values()
    (key_id,) = [i for i in extended.of_type("AWS::KMS::Key") if i.startswith("ProdItemsKey")]
    (replica,) = table["Properties"]["Replicas"]
    assert replica["SSESpecification"] == {"KMSMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    assert replica["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert replica["DeletionProtectionEnabled"] is True
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")


def test_the_secret_rotation_is_acknowledged_with_the_recipes_reason(extended: Synthesized) -> None:
    reasons = {
        (finding["ruleName"], finding["reason"])
        for plugin in extended.report["pluginReports"]
        for finding in plugin.get("suppressedViolations", [])
        if "Rotation" in finding["ruleName"] or finding["ruleName"] == "AwsSolutions-SMG4"
    }
    assert {rule for rule, _ in reasons} == {
        "AwsSolutions-SMG4",
        "NIST.800.53.R5-SecretsManagerRotationEnabled",
        "HIPAA.Security-SecretsManagerRotationEnabled",
    }
    assert {reason for _, reason in reasons} == {
        "The partner issues this key: it is rotated when the partner issues a new one."
    }


def test_a_teams_context_reaches_every_consumer_of_the_template(extended: Synthesized) -> None:
    """The recipes' app is also synthesized with a team's memory, timeout and Region: the function, the release
    hook's timeouts, the duration alarm, the cost model and the Region of every ARN follow them."""
    settings = Settings.from_context({**cdk_json_context(), **TEAM_CONTEXT})
    (function,) = [
        f["Properties"] for i, f in extended.of_type("AWS::Lambda::Function").items() if i.startswith("ProdFunction")
    ]
    assert (function["MemorySize"], function["Timeout"]) == (
        settings.function_memory_mb,
        settings.function_timeout_seconds,
    )
    (hook,) = [f["Properties"] for f in extended.of_type("AWS::Lambda::Function").values()
               if CHECKS_METADATA in f.get("Metadata", {})]  # fmt: skip
    assert hook["Environment"]["Variables"][INVOKE_TIMEOUT_ENV] == str(settings.function_timeout_seconds + 5)
    (duration,) = [
        a["Properties"] for i, a in extended.of_type("AWS::CloudWatch::Alarm").items() if "FunctionDuration" in i
    ]
    assert duration["Threshold"] == round(settings.function_timeout_seconds * 1000 * 0.8)
    assert cost.Deployed.read(extended.template, settings.region).memory_mb == settings.function_memory_mb
    # The issuer is the team's own URL (the recipe's names its Cognito Region): everything else follows `region`.
    elsewhere = json.dumps(extended.template).replace(str(settings.jwt_issuer), "")
    assert settings.region != Settings().region and Settings().region not in elsewhere


def _alarm_reads(extended: Synthesized) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(alarm, namespace, metric, dimensions) of every metric an alarm reads in the function's own namespace."""
    reads = []
    for logical_id, alarm in extended.of_type("AWS::CloudWatch::Alarm").items():
        properties = alarm["Properties"]
        stats = [properties] if "MetricName" in properties else [
            q["MetricStat"]["Metric"] for q in properties.get("Metrics", []) if "MetricStat" in q
        ]  # fmt: skip
        for stat in stats:
            if stat["Namespace"] == service_metrics.NAMESPACE:
                dimensions = {d["Name"]: d["Value"] for d in stat["Dimensions"]}
                reads.append((logical_id, stat["Namespace"], stat["MetricName"], dimensions))
    return reads


def test_every_alarm_on_the_functions_metrics_reads_what_the_function_really_writes(
    extended: Synthesized, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The two components joined: the real handler's output for a 5xx and for a quiet route's 4xx, as Lambda would
    run it (its name and version in the variables Lambda sets), against each alarm's namespace, metric name, exact
    dimension set and the values the template gives those dimensions."""
    (function_id,) = [i for i in extended.of_type("AWS::Lambda::Function") if i.startswith("ProdFunction")]
    (version_id,) = [i for i in extended.of_type("AWS::Lambda::Version") if i.startswith("ProdFunctionVersion")]
    # What Lambda sets (AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION) stands for what the template refers to.
    stands_for = {"fn-name": {"Ref": function_id}, "7": {"Fn::GetAtt": [version_id, "Version"]}}
    monkeypatch.setattr(service_metrics, "FUNCTION_NAME", "fn-name")
    monkeypatch.setattr(service_metrics, "FUNCTION_VERSION", "7")

    def boom(request: Any) -> Any:
        raise RuntimeError("boom")

    echo = next(route for route in EXTENDED if route.key == "POST /echo")
    failing = Route(echo.method, echo.path, boom, summary="s", public=echo.public, healthy=echo.healthy, alarm_5xx=1)
    capsys.readouterr()
    handler.handle(Router((failing,)), route_event({**echo.check(), "body": "{}"}, 0.0), FakeContext())
    handler.handle(Router(EXTENDED), route_event({**echo.check(), "body": "{bad"}, 0.0), FakeContext())
    written = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    published = {
        (directive["Namespace"], metric["Name"], tuple(sorted(dimensions))): {
            name: stands_for.get(document[name], document[name]) for name in dimensions
        }
        for document in written if "_aws" in document
        for directive in document["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
        for dimensions in directive["Dimensions"]
    }  # fmt: skip
    reads = _alarm_reads(extended)
    assert {alarm.split("Alarm")[0] for alarm, *_ in reads} >= {
        "ProdMonitoringReleaseVersion5xxV" + extended.stack.node.find_child("ProdFunction").fingerprint,
        "ProdMonitoringRoutePostEcho5xx",
        "ProdMonitoringApi4xxRate",
    }
    for alarm, namespace, metric, dimensions in reads:
        key = (namespace, metric, tuple(sorted(dimensions)))
        assert key in published, f"{alarm} reads {key}, which the function never writes"
        assert published[key] == dimensions, alarm


def test_the_cost_model_prices_what_protection_adds(extended: Synthesized) -> None:
    """The JWT and IAM authorizers cost nothing (HTTP API pricing); the refusals' metric is one custom metric."""
    (item,) = [item for item in cost.fixed_monthly(cost.Deployed.read(extended.template)) if "Authorizer" in item.name]
    assert item.usd == cost.PRICES["custom_metric_month"].usd


def test_the_library_recipe_bundles_its_wheel_and_the_route_imports_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe's line, locked and bundled as make lock and make synth would, from a wheel made here (the
    project's tests reach no index): the package lands in the asset's root and the route's function imports it."""
    from packaging.requirements import Requirement

    (line,) = [line for line in _body("library").splitlines() if line and not line.startswith("#")]
    wanted = Requirement(line)
    version = "3.1.0"
    assert version in wanted.specifier
    source = "class ULID:\n    def __str__(self) -> str:\n        return '01KBR3W8Z0Q0000000000000000'\n"
    distribution = wanted.name.replace("-", "_")
    wheel = make_wheel(tmp_path, distribution, version, source, package="ulid")
    lock = tmp_path / "function-requirements.lock"
    lock.write_text(lock_line(wheel))
    installed = install(lock, cache=tmp_path / "build", find_links=tmp_path)
    assert installed is not None
    assert (installed.directory / "ulid" / "__init__.py").exists()
    assert [(item["name"], item["version"]) for item in installed.installed] == [
        (wanted.name.replace("-", "_"), version)
    ]
    monkeypatch.syspath_prepend(str(installed.directory))  # Lambda's /var/task, where the asset's root lands
    monkeypatch.delitem(sys.modules, "ulid", raising=False)
    namespace: dict[str, Any] = {"Request": Request, "Answer": Any}
    exec(recipes()["libraryuse"], namespace)
    request = Request(method="POST", path="/ids", api_request_id="a", aws_request_id="r")
    assert namespace["new_id"](request) == (200, {"id": "01KBR3W8Z0Q0000000000000000", "requestId": "r"})


@pytest.mark.parametrize(
    ("route_key", "path", "value", "message"),
    [
        ("POST /quotes", ("lines", 0, "qty"), 0, "/lines/0/qty: must be ≥ 1"),
        ("POST /quotes", ("currency",), "GBP", "/currency: must be one of EUR, USD"),
        ("POST /quotes", ("lines", 0, "gift"), True, "/lines/0/gift: is not allowed"),
        ("PUT /items/{id}", ("name",), "x" * 201, "/name: must be at most 200 characters"),
        ("PUT /items/{id}", ("name",), 7, "/name: must be string"),
    ],
)
def test_a_recipes_body_that_breaks_its_schema_is_refused_locally_and_through_the_handler(
    local_api: Any, issuer: DevIssuer, route_key: str, path: tuple[Any, ...], value: Any, message: str
) -> None:
    import urllib.error
    import urllib.request

    (route,) = [route for route in EXTENDED if route.key == route_key]
    body = json.dumps(changed(route.sample.body, path, value))
    answer = handler.handle(Router(EXTENDED), route_event({**route.check(), "body": body}, 0.0), FakeContext())
    assert (answer["statusCode"], json.loads(answer["body"])["message"]) == (400, message)
    request = urllib.request.Request(
        local_api.url + route.sample_path,
        data=body.encode(),
        method=route.method,
        headers={"content-type": "application/json"},
    )
    _callers(issuer).authenticate(request, route.check())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert (refused.value.code, json.loads(refused.value.read())["message"]) == (400, message)


def test_the_recipes_add_their_operations_to_the_contract_and_change_nothing_else() -> None:
    from openapi_spec_validator import validate

    from tools.openapi import document

    shipped = json.loads((ROOT / "docs" / "openapi.json").read_text())
    team = document(EXTENDED, SETTINGS, version=SETTINGS.app_version)
    validate(team)
    added = {f"{m.upper()} {p}" for p, item in team["paths"].items() for m in item} - {r.key for r in ROUTES}
    assert added == {route.key.replace("+}", "}") for route in EXTENDED} - {r.key for r in ROUTES}
    assert {key: team[key] for key in shipped if key != "paths" and key != "components"} == {
        key: shipped[key] for key in shipped if key != "paths" and key != "components"
    }
    assert {path: team["paths"][path] for path in shipped["paths"]} == shipped["paths"]
    for kind, entries in shipped["components"].items():
        assert {name: team["components"][kind][name] for name in entries} == entries
    quotes = team["paths"]["/quotes"]["post"]
    assert quotes["requestBody"]["content"]["application/json"]["schema"] == MODULE_SCHEMAS()["ORDER"]
    assert team["paths"]["/items/{id}"]["put"]["security"] == [{"jwt": ["items:write"]}]


def MODULE_SCHEMAS() -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(recipes()["endpoints"], namespace)
    exec(recipes()["quote"], namespace)
    return namespace


def test_the_fuzzer_finds_nothing_in_the_recipes_routes(local_api: Any, issuer: DevIssuer) -> None:
    """schemathesis against make serve's server with every recipe's route, valid and invalid requests alike."""
    import schemathesis

    from tools.openapi import document

    contract = schemathesis.openapi.from_dict(document(EXTENDED, TEAM_SETTINGS, version="1", server=local_api.url))
    fuzz(contract, local_api.url, _callers(issuer), examples=GIVEN or 4)


def test_the_staging_recipe_confirms_the_stack_its_stage_names() -> None:
    from prod_serverless.names import StageNames

    lines = recipes()["staging"].splitlines()[1:]
    stages = {re.search(r'CONTEXT="stage=([a-z0-9]+)"', line)[1] for line in lines}  # type: ignore[index]
    (stage,) = stages
    assert [line.split()[1] for line in lines] == ["deploy", "verify", "destroy"]
    assert lines[-1].endswith(f"CONFIRM={StageNames(stage).stack}")


# ------------------------------------------------------------------------------------------------ the workers
def _by_worker(extended: Synthesized, kind: str, worker: Worker) -> dict[str, Any]:
    return {i: r for i, r in extended.of_type(kind).items() if i.startswith(worker.construct_id)}


def test_the_worker_recipes_add_a_nightly_job_and_a_queue_consumer(team_workers: tuple[Worker, ...]) -> None:
    kinds = {worker.name: type(worker.trigger) for worker in team_workers}
    assert (kinds["nightly"], kinds["orders"]) == (Schedule, Queue)


def test_each_worker_pages_through_its_own_alarms(extended: Synthesized, team_workers: tuple[Worker, ...]) -> None:
    alarms = {i.removeprefix("ProdMonitoring").split("Alarm")[0] for i in extended.of_type("AWS::CloudWatch::Alarm")}
    composites = {i.removeprefix("ProdMonitoring"): c["Properties"] for i, c in
                  extended.of_type("AWS::CloudWatch::CompositeAlarm").items()}  # fmt: skip
    for worker in team_workers:
        own = {spec.name for spec in worker_alarms(worker)}
        assert own <= alarms, worker.name
        ((_, composite),) = [(i, c) for i, c in composites.items() if i.startswith(f"{worker.title}Failing")]
        assert all(f"ProdMonitoring{name}Alarm" in json.dumps(composite["AlarmRule"]) for name in own)
        assert composite["AlarmActions"] == [{"Ref": _topic(extended)}]


def _topic(extended: Synthesized) -> str:
    (topic,) = [i for i in extended.of_type("AWS::SNS::Topic") if i.startswith("ProdMonitoringAlarmTopic")]
    return topic


def test_each_workers_alarms_read_its_own_function_and_queues(
    extended: Synthesized, team_workers: tuple[Worker, ...]
) -> None:
    alarms = {i.removeprefix("ProdMonitoring").split("Alarm")[0]: a["Properties"] for i, a in
              extended.of_type("AWS::CloudWatch::Alarm").items()}  # fmt: skip
    for worker in team_workers:
        (function,) = _by_worker(extended, "AWS::Lambda::Function", worker)
        queues = _by_worker(extended, "AWS::SQS::Queue", worker)
        (dead,) = [i for i, q in queues.items() if "RedriveAllowPolicy" in q["Properties"]]
        assert alarms[f"{worker.title}Errors"]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function}}]
        assert alarms[f"{worker.title}DeadLetters"]["Dimensions"] == [
            {"Name": "QueueName", "Value": {"Fn::GetAtt": [dead, "QueueName"]}}
        ]
        if isinstance(worker.trigger, Queue):
            (source,) = set(queues) - {dead}
            assert alarms[f"{worker.title}QueueAge"]["Dimensions"] == [
                {"Name": "QueueName", "Value": {"Fn::GetAtt": [source, "QueueName"]}}
            ]


def test_each_worker_has_a_dashboard_row(extended: Synthesized, team_workers: tuple[Worker, ...]) -> None:
    (dashboard,) = extended.of_type("AWS::CloudWatch::Dashboard").values()
    text = json.dumps(dashboard["Properties"]["DashboardBody"])
    for worker in team_workers:
        assert text.count(f"Worker {worker.name}:") == 3, worker.name


def test_each_workers_logs_are_archived_and_have_their_glue_table(
    extended: Synthesized, team_workers: tuple[Worker, ...]
) -> None:
    filters = [f["Properties"] for f in extended.of_type("AWS::Logs::SubscriptionFilter").values()]
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"] for t in extended.of_type("AWS::Glue::Table").values()
    }
    for worker in team_workers:
        (group,) = _by_worker(extended, "AWS::Logs::LogGroup", worker)
        (stream,) = [i for i in extended.of_type("AWS::KinesisFirehose::DeliveryStream") if worker.title in i]
        (subscription,) = [f for f in filters if f["LogGroupName"] == {"Ref": group}]
        assert (subscription["DestinationArn"], subscription["FilterPattern"]) == ({"Fn::GetAtt": [stream, "Arn"]}, "")
        location = json.dumps(tables[f"prod_{worker.name}_logs"]["TableInput"]["StorageDescriptor"]["Location"])
        assert f"/{worker.name}/" in location


def test_make_cost_prices_each_worker(extended: Synthesized, team_workers: tuple[Worker, ...]) -> None:
    deployed = cost.Deployed.read(extended.template)
    assert {(w.name, w.trigger) for w in deployed.workers} == {(w.name, w.trigger.kind) for w in team_workers}
    report = cost.render(deployed)
    for worker in team_workers:
        assert f"Worker {worker.name}" in report


def test_make_invoke_runs_each_worker_offline_with_its_sample(
    extended: Synthesized, team_workers: tuple[Worker, ...]
) -> None:
    for worker in team_workers:
        healthy, answer = invoke.run(worker, worker.sample_event(), extended.template, TEAM_SETTINGS.region)
        assert healthy, (worker.name, answer)


def test_the_queue_recipe_returns_a_bad_message_alone_to_the_queue(team_workers: tuple[Worker, ...]) -> None:
    (orders,) = [worker for worker in team_workers if worker.name == "orders"]
    assert isinstance(orders.trigger, Queue)
    good, bad = orders.sample_event()["Records"][0], dict(orders.sample_event()["Records"][0])
    bad |= {"messageId": "bad", "body": json.dumps({**orders.trigger.message, "id": None})}
    sys.path.insert(0, str(workers_code()))
    try:
        module = importlib.import_module("orders.handler")
    finally:
        sys.path.pop(0)
    assert module.handler({"Records": [good, bad]}, None) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def workers_code() -> Path:
    from prod_serverless import workers

    return workers.WORKERS_CODE


def test_the_verifier_may_read_exactly_each_workers_trigger_and_dead_letters(
    extended: Synthesized, team_workers: tuple[Worker, ...]
) -> None:
    (policy,) = [
        p for i, p in extended.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith("ProdVerifierPolicy")
    ]
    by_sid = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    dead, schedules, mappings = [], [], []
    for worker in team_workers:
        queues = _by_worker(extended, "AWS::SQS::Queue", worker)
        dead += [{"Fn::GetAtt": [i, "Arn"]} for i, q in queues.items() if "RedriveAllowPolicy" in q["Properties"]]
        schedules += [{"Fn::GetAtt": [i, "Arn"]} for i in _by_worker(extended, "AWS::Scheduler::Schedule", worker)]
        mappings += [
            {"Fn::GetAtt": [i, "EventSourceMappingArn"]}
            for i in _by_worker(extended, "AWS::Lambda::EventSourceMapping", worker)
        ]
    assert (by_sid["ReadTheWorkersDeadLetters"]["Action"], by_sid["ReadTheWorkersDeadLetters"]["Resource"]) == (
        "sqs:GetQueueAttributes",
        dead,
    )
    assert by_sid["ReadTheWorkersSchedules"]["Resource"] == (schedules[0] if len(schedules) == 1 else schedules)
    assert by_sid["ReadTheWorkersQueueMappings"]["Resource"] == (mappings[0] if len(mappings) == 1 else mappings)
