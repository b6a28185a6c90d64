"""ServiceFunction alone: size, runtime, code as an asset, logging, its role."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Match, Template

from prod_serverless import function
from prod_serverless.function import ENVIRONMENT, RESERVED_VARIABLES, ServiceFunction, Variable, environment
from prod_serverless.settings import Settings, SettingsError
from tests.infra.helpers import KEPT, template_of

WARN = Settings(log_level="WARN")


def _function(settings: Settings) -> Template:
    def build(stack: Stack) -> None:
        ServiceFunction(stack, "ProdFunction", settings=settings, log_key=kms.Key(stack, "ProdKey"))

    return template_of(build)


@pytest.fixture(scope="module")
def function_template() -> Template:
    return _function(WARN)


def test_function_size_runtime_architecture_and_environment(function_template: Template) -> None:
    function_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "MemorySize": WARN.function_memory_mb,
            "Timeout": WARN.function_timeout_seconds,
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": "service.handler.handler",
            "TracingConfig": {"Mode": "PassThrough"},
            "Environment": {"Variables": {row.name: row.value(WARN) for row in ENVIRONMENT}},
        },
    )


def test_memory_and_timeout_follow_their_settings() -> None:
    tuned = _function(Settings(function_memory_mb=256, function_timeout_seconds=20))
    (function,) = tuned.find_resources("AWS::Lambda::Function").values()
    assert (function["Properties"]["MemorySize"], function["Properties"]["Timeout"]) == (256, 20)


def test_the_environment_is_the_table_plus_resources_and_refuses_reserved_or_repeated_names() -> None:
    assert environment(WARN, {"TABLE_NAME": "t"}) == {
        **{row.name: row.value(WARN) for row in ENVIRONMENT},
        "TABLE_NAME": "t",
    }
    assert "AWS_REGION" in RESERVED_VARIABLES and "_HANDLER" in RESERVED_VARIABLES
    with pytest.raises(SettingsError, match="AWS_REGION is reserved by Lambda"):
        environment(WARN, {"AWS_REGION": "x"})
    with pytest.raises(SettingsError, match=f"{ENVIRONMENT[0].name} is set both"):
        environment(WARN, {ENVIRONMENT[0].name: "x"})


def test_runtime_is_python_3_13_or_newer(function_template: Template) -> None:
    (function,) = function_template.find_resources("AWS::Lambda::Function").values()
    major, minor = function["Properties"]["Runtime"].removeprefix("python").split(".")
    assert (int(major), int(minor)) >= (3, 13)


def test_code_ships_as_an_asset_never_inline(function_template: Template) -> None:
    (function,) = function_template.find_resources("AWS::Lambda::Function").values()
    code = function["Properties"]["Code"]
    assert "ZipFile" not in code
    assert code["S3Key"].endswith(".zip")


def test_native_json_logs_to_its_own_log_group_at_the_configured_level(function_template: Template) -> None:
    (group_id,) = function_template.find_resources("AWS::Logs::LogGroup")
    function_template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "LoggingConfig": {
                "LogFormat": "JSON",
                "ApplicationLogLevel": "WARN",
                "SystemLogLevel": "WARN",
                "LogGroup": {"Ref": group_id},
            }
        },
    )
    function_template.has_resource(
        "AWS::Logs::LogGroup",
        {"Properties": {"RetentionInDays": 30, "KmsKeyId": Match.any_value()}, **KEPT},
    )


def test_tracing_and_platform_lines_follow_their_settings() -> None:
    def build(stack: Stack) -> None:
        settings = Settings(tracing="Active", system_log_level="INFO")
        ServiceFunction(stack, "ProdFunction", settings=settings, log_key=kms.Key(stack, "ProdKey"))

    (function,) = template_of(build).find_resources("AWS::Lambda::Function").values()
    assert function["Properties"]["TracingConfig"] == {"Mode": "Active"}
    assert function["Properties"]["LoggingConfig"]["SystemLogLevel"] == "INFO"


def test_role_is_its_own_with_no_aws_managed_policy(function_template: Template) -> None:
    function_template.resource_count_is("AWS::IAM::Role", 1)
    (role,) = function_template.find_resources("AWS::IAM::Role").values()
    assert "ManagedPolicyArns" not in role["Properties"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


def test_role_writes_only_its_own_log_group_and_xray(function_template: Template) -> None:
    (group_id,) = function_template.find_resources("AWS::Logs::LogGroup")
    (policy,) = function_template.find_resources("AWS::IAM::ManagedPolicy").values()
    assert policy["Properties"]["Roles"] == [{"Ref": next(iter(function_template.find_resources("AWS::IAM::Role")))}]
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    by_sid = {statement["Sid"]: statement for statement in statements}
    assert sorted(by_sid["WriteOwnLogGroup"]["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    # The LogGroup Arn attribute is "arn:…:log-group:NAME:*": this group's streams and nothing else.
    assert by_sid["WriteOwnLogGroup"]["Resource"] == {"Fn::GetAtt": [group_id, "Arn"]}
    assert sorted(by_sid["SendTraces"]["Action"]) == ["xray:PutTelemetryRecords", "xray:PutTraceSegments"]
    assert by_sid["SendTraces"]["Resource"] == "*"
    assert len(statements) == 2


def test_reserved_concurrency_is_opt_in() -> None:
    def build(stack: Stack, settings: Settings) -> None:
        ServiceFunction(stack, "ProdFunction", settings=settings, log_key=kms.Key(stack, "ProdKey"))

    default = template_of(lambda stack: build(stack, Settings()))
    (function,) = default.find_resources("AWS::Lambda::Function").values()
    assert "ReservedConcurrentExecutions" not in function["Properties"]
    reserved = template_of(lambda stack: build(stack, Settings(reserved_concurrency=5)))
    reserved.has_resource_properties("AWS::Lambda::Function", {"ReservedConcurrentExecutions": 5})


@pytest.mark.parametrize("source", ["table", "resources"])
@pytest.mark.parametrize("name", sorted(RESERVED_VARIABLES))
def test_a_reserved_name_is_refused_from_every_source_a_variable_comes_from(
    source: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENVIRONMENT rows and the resource-derived variables (a table's name) are both checked, for every name."""
    resources: dict[str, str] = {}
    if source == "table":
        monkeypatch.setattr(function, "ENVIRONMENT", (*ENVIRONMENT, Variable(name, lambda s: "x", "a team's row")))
    else:
        resources[name] = "x"
    with pytest.raises(SettingsError, match=rf"^environment variable {name} is reserved by Lambda"):
        function.environment(WARN, resources)
