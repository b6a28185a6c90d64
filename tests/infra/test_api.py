"""HttpEndpoint: one route per row of the route table, the `$default` stage's JSON access logs, throttling, CORS."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from prod_serverless.api import HttpEndpoint, cors_headers, cors_methods
from prod_serverless.compliance import REASON_RULE
from prod_serverless.log_formats import AUTH_REFUSAL_PATTERN, access_log_format
from prod_serverless.settings import Settings
from service.routes import ROUTES
from service.routing import Healthy, Route, RouteError
from tests.infra.helpers import KEPT, template_of

VENDED_LOGS_NAME = {
    "Fn::Join": [
        "",
        [
            "/aws/vendedlogs/ProdServerlessApiAccess-",
            {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]},
        ],
    ]
}
# What the README queries, the alarms' first steps and the join to the function's lines read, in either format.
REQUIRED_ACCESS_LOG_VARIABLES = {
    "$context.requestId",
    "$context.requestTimeEpoch",
    "$context.identity.sourceIp",
    "$context.httpMethod",
    "$context.routeKey",
    "$context.path",
    "$context.status",
    "$context.responseLatency",
    "$context.integrationLatency",
    "$context.integrationErrorMessage",
    "$context.error.message",
    "$context.awsEndpointRequestId",
}


# Settings with an issuer, so the table may hold JWT routes; a table without any has no authorizer all the same.
def _settings(**changes: Any) -> Settings:
    return dataclasses.replace(
        Settings(), jwt_issuer="https://issuer.example.com/", jwt_audiences=("test-audience",), **changes
    )


# The table's public rows: what the tests of an API without authorizers build.
PUBLIC_ROUTES = tuple(route for route in ROUTES if route.authorization == "public")
PUBLIC_REASON = PUBLIC_ROUTES[0].public


def _endpoint(settings: Settings, routes: tuple[Route, ...] = ROUTES) -> Template:
    def build(stack: Stack) -> None:
        function = lambda_.Function(
            stack,
            "ProdFn",
            runtime=lambda_.Runtime.PYTHON_3_14,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(e, c): return {}"),
        )
        HttpEndpoint(
            stack, "ProdApi", settings=settings, routes=routes, function=function, log_key=kms.Key(stack, "ProdKey")
        )

    return template_of(build)


@pytest.fixture(scope="module")
def endpoint() -> Template:
    return _endpoint(_settings())


@pytest.mark.parametrize("log_format", ["compact", "full"])
def test_access_log_format_is_json_with_every_required_field(log_format: str) -> None:
    fields = json.loads(access_log_format(log_format))
    assert set(fields.values()) >= REQUIRED_ACCESS_LOG_VARIABLES
    assert fields["id"] == "$context.requestId"


def test_the_full_format_adds_the_user_agent_the_response_length_and_more() -> None:
    compact, full = (set(json.loads(access_log_format(name)).values()) for name in ("compact", "full"))
    assert full - compact == {
        "$context.requestTime",
        "$context.protocol",
        "$context.responseLength",
        "$context.integrationStatus",
        "$context.identity.userAgent",
    }


def test_the_stage_writes_the_configured_format() -> None:
    (stage,) = _endpoint(_settings(access_log_format="full")).find_resources("AWS::ApiGatewayV2::Stage").values()
    assert stage["Properties"]["AccessLogSettings"]["Format"] == access_log_format("full")


def test_default_stage_writes_access_logs_to_its_own_encrypted_retained_group(endpoint: Template) -> None:
    (group_id,) = [g for g in endpoint.find_resources("AWS::Logs::LogGroup") if g.startswith("ProdApiAccessLogGroup")]
    (key_id,) = endpoint.find_resources("AWS::KMS::Key")
    endpoint.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "StageName": "$default",
            "AutoDeploy": True,
            "AccessLogSettings": {
                "DestinationArn": {"Fn::GetAtt": [group_id, "Arn"]},
                "Format": access_log_format("compact"),
            },
        },
    )
    group = endpoint.find_resources("AWS::Logs::LogGroup")[group_id]
    assert group["Properties"] == {
        "LogGroupName": VENDED_LOGS_NAME,
        "RetentionInDays": 30,
        "KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
    }
    assert {key: group[key] for key in KEPT} == KEPT


def test_access_log_group_is_a_vended_logs_group_named_after_the_stack_id() -> None:
    """Under /aws/vendedlogs/ stage creation works near the account's resource-policy limit; the stack UUID
    keeps a re-created stack from colliding with the retained group of a deleted one."""
    assert VENDED_LOGS_NAME == {
        "Fn::Join": [
            "",
            [
                "/aws/vendedlogs/ProdServerlessApiAccess-",
                {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]},
            ],
        ]
    }


def test_stage_throttling_defaults_and_configuration(endpoint: Template) -> None:
    endpoint.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "DefaultRouteSettings": {
                "DetailedMetricsEnabled": False,
                "ThrottlingRateLimit": 100,
                "ThrottlingBurstLimit": 200,
            }
        },
    )
    tuned = _endpoint(_settings(throttle_rate_limit=20, throttle_burst_limit=40))
    tuned.has_resource_properties(
        "AWS::ApiGatewayV2::Stage",
        {
            "DefaultRouteSettings": {
                "DetailedMetricsEnabled": False,
                "ThrottlingRateLimit": 20,
                "ThrottlingBurstLimit": 40,
            }
        },
    )


def test_cors_is_off_by_default_and_exact_when_configured(endpoint: Template) -> None:
    (api,) = endpoint.find_resources("AWS::ApiGatewayV2::Api").values()
    assert "CorsConfiguration" not in api["Properties"]
    with_cors = _endpoint(_settings(cors_allowed_origins=("https://app.example.com",)))
    with_cors.has_resource_properties(
        "AWS::ApiGatewayV2::Api",
        {
            "CorsConfiguration": {
                "AllowOrigins": ["https://app.example.com"],
                "AllowMethods": cors_methods(ROUTES),
                "AllowHeaders": cors_headers(ROUTES),
                "MaxAge": 3600,
            }
        },
    )


def test_cors_allows_exactly_the_methods_of_the_routes() -> None:
    assert cors_methods(ROUTES) == sorted({route.method for route in ROUTES})
    extra = Route("DELETE", "/x/{id}", ROUTES[0].answer, summary="s", public=PUBLIC_REASON, healthy=Healthy(204, ()))
    assert "DELETE" in cors_methods((*ROUTES, extra))


def test_every_route_is_an_api_route_invoking_the_function_from_that_route_only(endpoint: Template) -> None:
    routes = endpoint.find_resources("AWS::ApiGatewayV2::Route")
    assert sorted(r["Properties"]["RouteKey"] for r in routes.values()) == sorted(route.key for route in ROUTES)
    permissions = endpoint.find_resources("AWS::Lambda::Permission")
    assert len(permissions) == len(ROUTES)
    arns = sorted(json.dumps(p["Properties"]["SourceArn"]) for p in permissions.values())
    for route in ROUTES:
        # arn:…:execute-api:region:account:api-id/<any stage>/<the route's method><the route's path>
        assert sum(f'"/*/{route.method}{route.path}"' in arn for arn in arns) == 1, route.key
    for permission in permissions.values():
        assert permission["Properties"]["SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_a_route_without_a_specific_public_reason_stops_synth() -> None:
    vague = Route("GET", "/v", ROUTES[0].answer, summary="s", public="public by design", healthy=Healthy(200, ()))
    with pytest.raises(RouteError) as refused:
        _endpoint(_settings(), (*ROUTES, vague))
    # The refusal states the rule it applies (compliance.REASON_RULE), not another one.
    assert str(refused.value) == f"route GET /v: `public` {REASON_RULE}; got 'public by design'"


def test_a_public_table_has_no_authorizer_nor_refusal_metric() -> None:
    """With only public rows (the shipped table) the API is what it was before routes could be protected, even with
    an issuer configured."""
    endpoint = _endpoint(_settings(), PUBLIC_ROUTES)
    assert endpoint.find_resources("AWS::ApiGatewayV2::Authorizer") == {}
    assert endpoint.find_resources("AWS::Logs::MetricFilter") == {}
    routes = endpoint.find_resources("AWS::ApiGatewayV2::Route").values()
    assert {r["Properties"]["AuthorizationType"] for r in routes} == {"NONE"}


def test_a_jwt_route_without_an_issuer_stops_synth_naming_it() -> None:
    me = Route("GET", "/me", ROUTES[0].answer, summary="s", jwt=("profile:read",), healthy=Healthy(200, ()))
    with pytest.raises(RouteError, match=r"^route GET /me needs a JWT issuer: set jwtIssuer and jwtAudiences"):
        _endpoint(Settings(), (*PUBLIC_ROUTES, me))


def test_cors_headers_carry_credentials_only_when_a_route_needs_them() -> None:
    me = Route("GET", "/me", ROUTES[0].answer, summary="s", jwt=("profile:read",), healthy=Healthy(200, ()))
    who = Route("GET", "/who", ROUTES[0].answer, summary="s", iam=True, healthy=Healthy(200, ()))
    assert cors_headers(PUBLIC_ROUTES) == ["content-type"]
    assert cors_headers((*PUBLIC_ROUTES, me)) == ["content-type", "authorization"]
    assert set(cors_headers((*PUBLIC_ROUTES, who))) == {
        "content-type", "authorization", "x-amz-content-sha256", "x-amz-date", "x-amz-security-token"
    }  # fmt: skip


def test_the_refusal_filter_counts_only_the_authorizers_answers() -> None:
    """The metric filter's pattern, evaluated as CloudWatch Logs would on access lines the local server writes in the
    stage's format: a refused request (401/403, no integration) counts; the function's own 403 does not."""
    match = re.fullmatch(r'\{ \(\$\.s = "(\d+)" \|\| \$\.s = "(\d+)"\) && \$\.fn = "(-)" \}', AUTH_REFUSAL_PATTERN)
    assert match

    def counted(line: dict[str, str]) -> bool:
        return line["s"] in match.groups()[:2] and line["fn"] == match[3]

    assert counted({"s": "401", "fn": "-"}) and counted({"s": "403", "fn": "-"})
    assert not counted({"s": "403", "fn": "6f1c0e9a-1b2c-4d5e-8f90-a1b2c3d4e5f6"})  # the function answered 403
    assert not counted({"s": "404", "fn": "-"})
