"""A hundred routes deploy: the alias's resource policy stays inside Lambda's 20 KB (one permission for the API
once a statement per route would not fit twice over), and the release hook checks them all within its 900 s,
a few at a time, from a file rather than its 4 KB environment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pre_traffic_hook.handler import CHECKS_FILE, CHECKS_METADATA, PARALLEL_ENV
from prod_serverless.api import (
    RESOURCE_POLICY_MAX_BYTES,
    per_route_permissions_fit,
    resource_policy_bytes,
    route_source_arn,
)
from prod_serverless.names import PRODUCTION
from prod_serverless.release import HOOK_PARALLEL_CHECKS, LAMBDA_MAX_TIMEOUT_SECONDS, hook_parallelism
from service.routes import ROUTES
from tests.conftest import Synthesized
from tests.infra.many_routes import MANY, routes


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app with a hundred routes and every cdk-nag pack; not the Control Tower controls, which add seconds at
    this size and check these rows with the same code (and acknowledgments) as the shipped table's."""
    from main import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.many")
    return Synthesized.of(
        build_app({"stage": PRODUCTION}, outdir=str(outdir), routes=routes(MANY), control_tower=False), outdir
    )


def test_a_hundred_routes_share_one_permission_and_the_policy_fits(many: Synthesized) -> None:
    assert len(many.of_type("AWS::ApiGatewayV2::Route")) == MANY
    (permission,) = many.of_type("AWS::Lambda::Permission").values()
    arn = json.dumps(permission["Properties"]["SourceArn"])
    assert re.search(r'"Ref": "ProdApiHttpApi[0-9A-F]{8}"\}, "/\*"\]', arn), arn  # this API, any route
    assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}
    # The alias's policy as deployed (each SourceArn after its API id), twice over, with the longest names.
    suffixes = [p["Properties"]["SourceArn"]["Fn::Join"][1][-1].removeprefix("/") for p in
                many.of_type("AWS::Lambda::Permission").values()]  # fmt: skip
    assert suffixes == ["*"]
    assert resource_policy_bytes(suffixes * 2) <= RESOURCE_POLICY_MAX_BYTES


def test_a_statement_per_route_is_kept_while_it_fits_twice_over() -> None:
    """The default table keeps a permission per route (nothing wider); the switch comes before the limit."""
    assert per_route_permissions_fit(ROUTES)
    fits = {n: per_route_permissions_fit(routes(n)) for n in range(1, 40)}
    first = min(n for n, fit in fits.items() if not fit)
    assert all(fits[n] for n in range(1, first)) and not any(fits[n] for n in range(first, 40))

    def doubled(count: int) -> int:
        return resource_policy_bytes([route_source_arn(route) for route in routes(count)] * 2)

    assert doubled(first) > RESOURCE_POLICY_MAX_BYTES >= doubled(first - 1)


def test_the_hook_checks_a_hundred_routes_in_time_from_its_asset(many: Synthesized) -> None:
    (hook_id, hook) = next(
        (i, f) for i, f in many.of_type("AWS::Lambda::Function").items() if CHECKS_METADATA in f.get("Metadata", {})
    )
    checks = json.loads(hook["Metadata"][CHECKS_METADATA])
    assert [check["route"] for check in checks] == [route.key for route in routes(MANY)]
    variables = hook["Properties"]["Environment"]["Variables"]
    assert variables[PARALLEL_ENV] == str(HOOK_PARALLEL_CHECKS)
    assert len(json.dumps(variables)) < 4096  # Lambda's environment quota, whatever the route count
    assert hook["Properties"]["Timeout"] <= LAMBDA_MAX_TIMEOUT_SECONDS
    # The asset holds exactly the checks the template records.
    staged = Path(many.outdir) / f"asset.{hook['Properties']['Code']['S3Key'].removesuffix('.zip')}"
    assert (staged / "pre_traffic_hook" / CHECKS_FILE.name).read_text() == hook["Metadata"][CHECKS_METADATA], hook_id


@pytest.mark.parametrize(("reserved", "parallel"), [(None, 10), (5, 1), (10, 1), (35, 3), (100, 10), (900, 10)])
def test_the_hook_takes_at_most_a_tenth_of_a_reservation(reserved: int | None, parallel: int) -> None:
    assert hook_parallelism(reserved) == parallel
