"""The HTTP API: every route of the route table (service/routes.py) proxied to the function's alias, each with
its row's authorization (public, JWT with scopes, IAM), CORS for the table's methods, compact JSON access logs,
stage throttling."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import jsii
from aws_cdk import Aws, Duration, Fn, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from constructs import Construct

from prod_serverless import metrics
from prod_serverless.compliance import REASON_RULE, acknowledge, is_specific
from prod_serverless.function import ALIAS
from prod_serverless.log_formats import AUTH_REFUSAL_PATTERN, access_log_format
from prod_serverless.log_groups import encrypted_log_group
from prod_serverless.names import StageNames
from prod_serverless.settings import Settings
from service.routing import IAM, JWT, PUBLIC, Route, RouteError

VENDED_LOGS_PREFIX = "/aws/vendedlogs/"
# Lambda quotas: "Function resource-based policy: 20 KB" (every permission on the alias is a statement in it).
RESOURCE_POLICY_MAX_BYTES = 20 * 1024
# The longest each part of a statement can be: Lambda's StatementId (100), a function name (64), a Region.
_WORST = {
    "sid": "S" * 100,
    "function": "F" * 64,
    "region": "ap-southeast-7",
    "account": "123456789012",
    "api": "a" * 10,
}


def permission_statement(source_arn: str) -> dict[str, Any]:
    """A permission on the live alias as Lambda's GetPolicy renders it, with the longest names it can have."""
    w = _WORST
    return {
        "Sid": w["sid"],
        "Effect": "Allow",
        "Principal": {"Service": "apigateway.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": f"arn:aws:lambda:{w['region']}:{w['account']}:function:{w['function']}:{ALIAS}",
        "Condition": {
            "StringEquals": {"AWS:SourceAccount": w["account"]},
            "ArnLike": {"AWS:SourceArn": f"arn:aws:execute-api:{w['region']}:{w['account']}:{w['api']}/{source_arn}"},
        },
    }


def resource_policy_bytes(source_arns: Sequence[str]) -> int:
    """The worst-case size of the alias's resource policy holding one statement per source ARN."""
    policy = {"Version": "2012-10-17", "Id": "default", "Statement": [permission_statement(a) for a in source_arns]}
    return len(json.dumps(policy, separators=(",", ":")))


def per_route_permissions_fit(routes: Sequence[Route]) -> bool:
    """Whether one permission per route fits the alias's policy twice over: an update that replaces them all (a new
    API id, a SourceArn that CloudFormation can only replace) creates the new ones before deleting the old."""
    return resource_policy_bytes([route_source_arn(route) for route in routes] * 2) <= RESOURCE_POLICY_MAX_BYTES


def iam_route_resource(route: Route) -> str:
    """The part of an IAM route's execute-api ARN after the API id, for its callers' policies: any stage, the
    route's method, its path with each variable any value (API Gateway "Control access for invoking an API")."""
    return f"*/{route.method}{re.sub(r'{[^}]+}', '*', route.path)}"


def route_source_arn(route: Route) -> str:
    """The part of the route's execute-api ARN after the API id: `*/METHOD/path` (any stage)."""
    return f"*/{route.method}{route.path}"


def access_log_group_name(prefix: str = StageNames().prefix) -> str:
    """`/aws/vendedlogs/<prefix>ApiAccess-<stack UUID>` (the stage's prefix, production's by default): works near
    the account's resource-policy limit.

    API Gateway delivers access logs through CloudWatch Logs' account-wide resource policy, which is limited
    to 5,120 characters; near the limit, creating the stage fails with "Insufficient permissions to enable
    logging" unless the group is under /aws/vendedlogs/ (CloudWatch Logs "Enabling logging from certain AWS
    services", API Gateway "Configure logging for HTTP APIs"). The UUID of the stack id keeps the name free
    when the stack is created again beside the retained group of a deleted one; it never changes for the
    life of a stack, so this group cannot be replaced in place (a new construct id would be needed).
    """
    stack_uuid = Fn.select(2, Fn.split("/", Aws.STACK_ID))
    return Fn.join("", [f"{VENDED_LOGS_PREFIX}{prefix}ApiAccess-", stack_uuid])


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    """HttpStage's access_log_settings takes an object implementing IAccessLogSettings."""

    def __init__(self, log_group: logs.ILogGroup, log_format: str) -> None:
        self._destination = apigwv2.LogGroupLogDestination(log_group)
        self._format = apigw.AccessLogFormat.custom(access_log_format(log_format))

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


def cors_methods(routes: tuple[Route, ...]) -> list[str]:
    """The methods a browser may send cross-origin: exactly those of the routes (the preflight is API Gateway's)."""
    return sorted({route.method for route in routes})


def cors_headers(routes: tuple[Route, ...]) -> list[str]:
    """The request headers a browser may send: the body's type, and the credentials a protected route needs (the
    preflight itself stays anonymous: API Gateway answers it before any authorizer)."""
    kinds = {route.authorization for route in routes}
    headers = ["content-type"]
    if kinds - {PUBLIC}:
        headers.append("authorization")
    if IAM in kinds:  # a Signature Version 4 request's own headers
        headers += ["x-amz-content-sha256", "x-amz-date", "x-amz-security-token"]
    return headers


class HttpEndpoint(Construct):
    """HTTP API with each route → Lambda proxy (payload 2.0) on an explicitly configured `$default` stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        routes: tuple[Route, ...],
        function: lambda_.IFunction,  # the live alias: the API never invokes $LATEST or a bare version
        log_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        for route in routes:
            if route.authorization == PUBLIC and not is_specific(str(route.public)):
                raise RouteError(f"route {route.key}: `public` {REASON_RULE}; got {route.public!r}")
        jwt_routes = [route.key for route in routes if route.authorization == JWT]
        if jwt_routes and not settings.jwt_issuer:
            raise RouteError(
                f"route {jwt_routes[0]} needs a JWT issuer: set jwtIssuer and jwtAudiences in cdk.json "
                "(docs/configuration.md)"
            )

        self.access_log_group = encrypted_log_group(
            self,
            "AccessLogGroup",
            retention_days=settings.log_retention_days,
            key=log_key,
            name=access_log_group_name(settings.names.prefix),
        )

        self.protected = any(route.authorization != PUBLIC for route in routes)
        if self.protected:
            # CloudWatch Logs "Creating metrics from log events using filters": free; the metric is a custom one.
            logs.MetricFilter(
                self,
                "AuthorizerRefusals",
                log_group=self.access_log_group,
                filter_pattern=logs.FilterPattern.literal(AUTH_REFUSAL_PATTERN),
                metric_namespace=metrics.AUTH_REFUSALS.namespace,
                metric_name=metrics.AUTH_REFUSALS.name,
                metric_value="1",
            )

        cors = None
        if settings.cors_allowed_origins:
            cors = apigwv2.CorsPreflightOptions(
                allow_origins=list(settings.cors_allowed_origins),
                allow_methods=[apigwv2.CorsHttpMethod(method) for method in cors_methods(routes)],
                allow_headers=cors_headers(routes),
                max_age=Duration.hours(1),
            )

        # The default stage is built below, so its access logs and throttling are ours to set.
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=settings.names.api,
            description="Prod serverless API",
            create_default_stage=False,
            cors_preflight=cors,
            # API Gateway "Disable the default endpoint for HTTP APIs": with a custom domain, clients reach the API
            # only there. Always written (False without one): an update leaves an omitted property as it was, so a
            # stack whose domain was removed would keep its only endpoint disabled.
            disable_execute_api_endpoint=bool(settings.custom_domain_name),
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=_AccessLogSettings(self.access_log_group, settings.access_log_format),
            throttle=apigwv2.ThrottleSettings(
                rate_limit=settings.throttle_rate_limit,
                burst_limit=settings.throttle_burst_limit,
            ),
            # Off: per-route metrics are billed per metric, and their dimension set is documented two ways
            # (ApiId, Stage, Route / ApiId, Method, Resource, Stage), so an alarm on them could watch a series
            # never published. The dashboard's route table reads the access log's routeKey instead.
            detailed_metrics_enabled=False,
        )
        integration = integrations.HttpLambdaIntegration(
            "FunctionIntegration",
            function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        # One authorizer for every JWT route (API Gateway "Control access to HTTP APIs with JWT authorizers"): HTTP
        # API checks the signature against the issuer's jwks_uri, then iss, aud or client_id, exp, nbf, iat, and one
        # of the route's scopes, before the function runs, at no charge of its own.
        jwt_authorizer = (
            authorizers.HttpJwtAuthorizer(
                "JwtAuthorizer",
                str(settings.jwt_issuer),
                jwt_audience=list(settings.jwt_audiences),
                authorizer_name="ProdJwtAuthorizer",
            )
            if jwt_routes
            else None
        )
        self.routes: dict[str, apigwv2.HttpRoute] = {}
        for route in routes:
            protection: dict[str, Any] = {}
            if route.authorization == JWT:
                protection = {"authorizer": jwt_authorizer, "authorization_scopes": list(route.jwt or ())}
            elif route.authorization == IAM:
                # "Control access to HTTP APIs with IAM authorization": SigV4-signed callers with execute-api:Invoke.
                protection = {"authorizer": authorizers.HttpIamAuthorizer()}
            (self.routes[route.key],) = self.http_api.add_routes(
                path=route.path, methods=[apigwv2.HttpMethod(route.method)], integration=integration, **protection
            )
        per_route = per_route_permissions_fit(routes)
        for route in routes:
            added = self.routes[route.key]
            if route.authorization == PUBLIC:  # a protected route has the authorization these rules ask for
                for rule in ("AwsSolutions-APIG4", "CT.APIGATEWAY.PR.5"):
                    acknowledge(added, rule, str(route.public))
            for permission in [c for c in added.node.children if isinstance(c, lambda_.CfnPermission)]:
                if per_route:
                    # The route's own method, not any: execute-api ARNs are api-id/stage/METHOD/path (API Gateway
                    # "Control access to an HTTP API with IAM authorization"; the path as the route declares it).
                    self._scope_permission(permission, route_source_arn(route))
                else:
                    added.node.try_remove_child(permission.node.id)
        if not per_route:
            # Too many routes for a statement each in the alias's 20 KB policy: one for this API's routes, any stage.
            function.add_permission(
                "InvokeFromThisApi", principal=iam.ServicePrincipal("apigateway.amazonaws.com"), scope=self
            )
            (permission,) = [c for c in self.node.children if isinstance(c, lambda_.CfnPermission)]
            self._scope_permission(permission, "*")

        self.domain = self._custom_domain(settings) if settings.custom_domain_name else None
        # What a caller of the IAM routes needs execute-api:Invoke on: this API, any stage, each route's method
        # and path (a path variable matches any segment; API Gateway "Control access for invoking an API").
        self._iam_routes = [iam_route_resource(route) for route in routes if route.authorization == IAM]
        self.iam_route_arns = [
            Stack.of(self).format_arn(service="execute-api", resource=self.http_api.api_id, resource_name=name)
            for name in self._iam_routes
        ]

    def acknowledge_iam_route_wildcards(self, policy: iam.ManagedPolicy) -> None:
        """The reason for the `*` of the IAM routes' ARNs (any stage, a path variable's value), on `policy`."""
        stack = Stack.of(self)
        api = stack.get_logical_id(self.http_api.node.default_child)  # type: ignore[arg-type]
        prefix = f"arn:{stack.resolve(stack.partition)}:execute-api:{stack.region}:<AWS::AccountId>:<{api}>"
        for name in self._iam_routes:
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{prefix}/{name}]",
                "execute-api:Invoke on one IAM route of this API: its method and path; the wildcards are the stage "
                "(the API has one, $default) and the values of its path variables.",
            )

    def _scope_permission(self, permission: lambda_.CfnPermission, source_arn: str) -> None:
        """This API (and `source_arn` after its id) in this account only (Control Tower CT.LAMBDA.PR.2)."""
        permission.source_account = Aws.ACCOUNT_ID
        permission.source_arn = Stack.of(self).format_arn(
            service="execute-api", resource=self.http_api.api_id, resource_name=source_arn
        )
        acknowledge(
            permission,
            "CT.LAMBDA.PR.2",
            "SourceAccount and SourceArn are both set, as references; the synth-time rule accepts only "
            "literal strings, while the Control Tower hook checks the resolved values at deploy time.",
        )

    def _custom_domain(self, settings: Settings) -> apigwv2.DomainName:
        """The custom domain (TLS 1.2 at least) mapped to the `$default` stage, and its alias records if a hosted
        zone is given."""
        name = str(settings.custom_domain_name)
        domain = apigwv2.DomainName(
            self,
            "Domain",
            domain_name=name,
            certificate=acm.Certificate.from_certificate_arn(
                self, "Certificate", str(settings.custom_domain_certificate_arn)
            ),
            security_policy=apigwv2.SecurityPolicy.TLS_1_2,
            # API Gateway "IP address types for custom domain names for HTTP APIs": IPv4 unless dualstack; the AAAA
            # alias record below would otherwise point at a name with no IPv6 address.
            ip_address_type=apigwv2.IpAddressType.DUAL_STACK,
        )
        apigwv2.ApiMapping(self, "DomainMapping", api=self.http_api, domain_name=domain, stage=self.stage)
        if settings.custom_domain_hosted_zone_id:
            zone = route53.HostedZone.from_hosted_zone_id(self, "HostedZone", settings.custom_domain_hosted_zone_id)
            target = route53.RecordTarget.from_alias(
                route53_targets.ApiGatewayv2DomainProperties(
                    domain.regional_domain_name, domain.regional_hosted_zone_id
                )
            )
            # A fully qualified name (trailing dot): the zone's own name is not known here, only its id.
            route53.ARecord(self, "DomainRecord", zone=zone, record_name=f"{name}.", target=target)
            route53.AaaaRecord(self, "DomainRecordIpv6", zone=zone, record_name=f"{name}.", target=target)
        return domain

    @property
    def url(self) -> str:
        """The URL clients use (ends in /): the custom domain's when there is one, else the stage's."""
        if self.domain is not None:
            return f"https://{self.domain.name}/"
        return self.stage.url
