"""The optional custom domain: TLS 1.2, mapped to the `$default` stage, alias records when a zone is given, and
the execute-api endpoint disabled so nothing bypasses the stage; without the settings, none of it exists."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Template

from prod_serverless.api import HttpEndpoint
from prod_serverless.settings import Settings
from service.routes import ROUTES
from tests.infra.helpers import REGION, template_of

DOMAIN = "api.example.com"
CERTIFICATE = f"arn:aws:acm:{REGION}:123456789012:certificate/11111111-2222-3333-4444-555555555555"
ZONE = "Z0123456789ABCDEFGHIJ"
WITH_DOMAIN = {"customDomainName": DOMAIN, "customDomainCertificateArn": CERTIFICATE, "region": REGION}
# The domain does not depend on the routes: the table's public ones need no issuer in these settings.
PUBLIC_ROUTES = tuple(route for route in ROUTES if route.authorization == "public")


def _endpoint(settings: Settings) -> tuple[Template, Any]:
    built: list[Any] = []

    def build(stack: Stack) -> None:
        function = lambda_.Function(
            stack, "ProdFn", runtime=lambda_.Runtime.PYTHON_3_14, handler="i.h", code=lambda_.Code.from_inline("x")
        )
        built.append(
            HttpEndpoint(
                stack,
                "ProdApi",
                settings=settings,
                routes=PUBLIC_ROUTES,
                function=function,
                log_key=kms.Key(stack, "ProdKey"),
            )
        )

    template = template_of(build)
    return template, built[0]


def test_the_domain_serves_the_default_stage_with_tls_1_2_and_the_default_endpoint_is_off() -> None:
    template, endpoint = _endpoint(Settings.from_context({**WITH_DOMAIN, "customDomainHostedZoneId": ZONE}))
    (domain_id, domain) = next(iter(template.find_resources("AWS::ApiGatewayV2::DomainName").items()))
    assert domain["Properties"] == {
        "DomainName": DOMAIN,
        "DomainNameConfigurations": [
            {
                "CertificateArn": CERTIFICATE,
                "EndpointType": "REGIONAL",
                "SecurityPolicy": "TLS_1_2",
                # The AAAA record needs an IPv6 address to point at: dualstack, not the IPv4 default.
                "IpAddressType": "dualstack",
            }
        ],
    }
    (mapping,) = template.find_resources("AWS::ApiGatewayV2::ApiMapping").values()
    (api_id,) = template.find_resources("AWS::ApiGatewayV2::Api")
    assert mapping["Properties"] == {"ApiId": {"Ref": api_id}, "DomainName": {"Ref": domain_id}, "Stage": "$default"}
    (api,) = template.find_resources("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["DisableExecuteApiEndpoint"] is True
    records = template.find_resources("AWS::Route53::RecordSet").values()
    alias = {
        "DNSName": {"Fn::GetAtt": [domain_id, "RegionalDomainName"]},
        "HostedZoneId": {"Fn::GetAtt": [domain_id, "RegionalHostedZoneId"]},
    }
    assert sorted(r["Properties"]["Type"] for r in records) == ["A", "AAAA"]
    for record in records:
        assert record["Properties"] | {"Type": "-"} == {
            "AliasTarget": alias, "HostedZoneId": ZONE, "Name": f"{DOMAIN}.", "Type": "-"}  # fmt: skip
    assert Stack.of(endpoint).resolve(endpoint.url) == {"Fn::Join": ["", ["https://", {"Ref": domain_id}, "/"]]}


def test_without_a_zone_no_record_is_made() -> None:
    template, _ = _endpoint(Settings.from_context(WITH_DOMAIN))
    assert template.find_resources("AWS::Route53::RecordSet") == {}
    assert len(template.find_resources("AWS::ApiGatewayV2::DomainName")) == 1


def test_without_the_settings_there_is_no_domain_and_the_default_endpoint_is_explicitly_on() -> None:
    template, endpoint = _endpoint(Settings())
    for kind in ("AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping", "AWS::Route53::RecordSet"):
        assert template.find_resources(kind) == {}
    (api,) = template.find_resources("AWS::ApiGatewayV2::Api").values()
    # Written as false, not omitted: removing a domain must re-enable the endpoint it had disabled.
    assert api["Properties"]["DisableExecuteApiEndpoint"] is False
    assert endpoint.domain is None
