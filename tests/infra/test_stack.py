"""ProdServerlessStack as a whole: the Prod prefix everywhere, the wiring (the defaults: tests/test_requirements.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_cdk.assertions import Match

from prod_serverless.names import physical_names, shown
from service.routes import ROUTES
from tests.conftest import Synthesized
from tests.infra.helpers import KEPT, REGION
from tests.infra.test_iam import STACK_KEYS
from workers.table import WORKERS

RESERVED_PATHS = ("alias/", "/aws/lambda/")


def test_every_logical_id_starts_with_prod(synthesized: Synthesized) -> None:
    template = synthesized.template
    sections = ("Resources", "Outputs", "Conditions", "Parameters", "Rules", "Mappings")
    ids = [logical_id for section in sections for logical_id in template.get(section, {})]
    assert ids, "template has no resources"
    assert [logical_id for logical_id in ids if not logical_id.startswith("Prod")] == []
    assert "CDKMetadata" not in template["Resources"]


def test_every_physical_name_set_starts_with_prod(synthesized: Synthesized) -> None:
    checked = []
    for logical_id, _, dotted, value in physical_names(synthesized.template):
        name = shown(value)  # a joined name from its literal start: "/aws/vendedlogs/ProdServerlessApiAccess-<…>"
        bare = next(
            (name[len(path) :] for path in (*RESERVED_PATHS, "/aws/vendedlogs/") if name.startswith(path)), name
        )
        checked.append(name)
        assert bare.lower().startswith("prod"), f"{logical_id}.{dotted} = {name!r}"
    assert "alias/ProdServerless/log-archive" in checked
    assert "prod_serverless_logs" in checked
    assert "ProdLive" in checked


def test_the_architecture_page_lists_every_physical_name(synthesized: Synthesized) -> None:
    """The page once said the alias was the one physical name; it lists them all, from the template (make docs)."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    for logical_id, _, dotted, value in physical_names(synthesized.template):
        assert f"| `{logical_id}` | `{dotted}` | `{shown(value)}` |" in page, logical_id
    assert "The one physical name" not in page


def test_no_physical_name_blocks_re_creating_stateful_resources(synthesized: Synthesized) -> None:
    """No fixed names: the only one, the vended-logs group, carries the stack id's UUID (test_api)."""
    named = []
    for kind, prop in (
        ("AWS::S3::Bucket", "BucketName"),
        ("AWS::Logs::LogGroup", "LogGroupName"),
        ("AWS::Lambda::Function", "FunctionName"),
    ):
        for logical_id, resource in synthesized.of_type(kind).items():
            name = resource.get("Properties", {}).get(prop)
            if name is not None:
                assert {"Ref": "AWS::StackId"} in name["Fn::Join"][1][1]["Fn::Select"][1]["Fn::Split"], logical_id
                named.append(logical_id)
    assert named == ["ProdApiAccessLogGroupE71D7629"]


def test_no_cdk_helper_functions_or_custom_resources(synthesized: Synthesized) -> None:
    kinds = {resource["Type"] for resource in synthesized.resources.values()}
    assert not any(kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource" for kind in kinds)
    functions = sorted(synthesized.of_type("AWS::Lambda::Function"))
    workers = [f for f in functions if f.startswith(tuple(worker.construct_id for worker in WORKERS))]
    assert len(workers) == len(WORKERS)  # one function per row of workers/table.py, and the API's and the hook's
    assert sorted(set(functions) - set(workers)) == [
        "ProdFunction481DA47F",
        "ProdReleasePreTrafficHookFunction6C1E09BD",
    ]


def test_stateful_logical_ids_are_pinned(synthesized: Synthesized) -> None:
    """Renaming these constructs would replace the resource and orphan its data."""
    for logical_id in (
        "ProdLogArchiveKey38D0B7C1",
        "ProdLogArchiveBucket17CCD0FA",
        "ProdLogArchiveAccessLogsBucketC5010829",
        "ProdFunctionLogGroup42B7F98C",
        "ProdApiAccessLogGroupE71D7629",
        "ProdLogArchiveDeliveryLogGroup206EB4D3",
        "ProdMonitoringTopicKey4AD2195B",
    ):
        assert logical_id in synthesized.resources


def test_outputs_api_url_bucket_function_topic(template: Any) -> None:
    outputs = template.to_json()["Outputs"]
    assert set(outputs) == {
        "ProdApiUrl",
        "ProdLogBucketName",
        "ProdLogArchiveKeyArn",
        "ProdFunctionName",
        "ProdLiveAliasArn",
        "ProdAlarmTopicArn",
        "ProdLogReaderPolicyArn",
        "ProdVerifierPolicyArn",
        *(f"Prod{worker.title}FunctionName" for worker in WORKERS),
        *(f"Prod{worker.title}QueueUrl" for worker in WORKERS if worker.trigger.kind == "queue"),
    }
    assert outputs["ProdLiveAliasArn"]["Value"] == {"Ref": "ProdFunctionLiveAlias8CFF3F3E"}
    assert outputs["ProdLogArchiveKeyArn"]["Value"] == {"Fn::GetAtt": ["ProdLogArchiveKey38D0B7C1", "Arn"]}
    assert outputs["ProdLogBucketName"]["Value"] == {"Ref": "ProdLogArchiveBucket17CCD0FA"}
    assert outputs["ProdFunctionName"]["Value"] == {"Ref": "ProdFunction481DA47F"}
    assert outputs["ProdAlarmTopicArn"]["Value"] == {"Ref": "ProdMonitoringAlarmTopic23682C3B"}
    assert "ProdApiHttpApi61C9E028" in json.dumps(outputs["ProdApiUrl"]["Value"])


def test_every_route_of_the_table_proxies_to_the_live_alias_with_payload_2(template: Any) -> None:
    template.resource_count_is("AWS::ApiGatewayV2::Api", 1)
    template.has_resource_properties("AWS::ApiGatewayV2::Api", {"ProtocolType": "HTTP"})
    routes = template.find_resources("AWS::ApiGatewayV2::Route")
    assert sorted(route["Properties"]["RouteKey"] for route in routes.values()) == sorted(r.key for r in ROUTES)
    (integration_id,) = template.find_resources("AWS::ApiGatewayV2::Integration")
    for route in routes.values():
        assert route["Properties"]["Target"] == {"Fn::Join": ["", ["integrations/", {"Ref": integration_id}]]}
    template.has_resource_properties(
        "AWS::ApiGatewayV2::Integration",
        {
            "IntegrationType": "AWS_PROXY",
            "PayloadFormatVersion": "2.0",
            # The live alias, never $LATEST or a bare version.
            "IntegrationUri": {"Ref": "ProdFunctionLiveAlias8CFF3F3E"},
        },
    )


def test_only_this_api_may_invoke_the_function_and_each_route_only_by_its_method_and_path(template: Any) -> None:
    permissions = template.find_resources("AWS::Lambda::Permission")
    assert len(permissions) == len(ROUTES)
    expected = {
        route.key: {
            "Action": "lambda:InvokeFunction",
            "Principal": "apigateway.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},  # Control Tower CT.LAMBDA.PR.2
            "FunctionName": {"Ref": "ProdFunctionLiveAlias8CFF3F3E"},
            "SourceArn": {
                "Fn::Join": [
                    "",
                    [
                        f"arn:aws:execute-api:{REGION}:",
                        {"Ref": "AWS::AccountId"},
                        ":",
                        {"Ref": "ProdApiHttpApi61C9E028"},
                        f"/*/{route.method}{route.path}",
                    ],
                ]
            },
        }
        for route in ROUTES
    }
    assert sorted((p["Properties"] for p in permissions.values()), key=json.dumps) == sorted(
        expected.values(), key=json.dumps
    )


def test_both_log_groups_feed_the_archive(template: Any) -> None:
    template.has_resource_properties(
        "AWS::Logs::SubscriptionFilter",
        {
            "LogGroupName": {"Ref": "ProdApiAccessLogGroupE71D7629"},
            "DestinationArn": {"Fn::GetAtt": ["ProdLogArchiveApiStream908EE00E", "Arn"]},
            "FilterPattern": "",
        },
    )
    template.has_resource_properties(
        "AWS::Logs::SubscriptionFilter",
        {
            "LogGroupName": {"Ref": "ProdFunctionLogGroup42B7F98C"},
            "DestinationArn": {"Fn::GetAtt": ["ProdLogArchiveFunctionStream0B1B317D", "Arn"]},
            "FilterPattern": "",
        },
    )
    template.resource_count_is("AWS::Logs::SubscriptionFilter", 2 + len(WORKERS))  # and one per worker


def test_firehose_error_log_group_is_never_subscribed(synthesized: Synthesized) -> None:
    groups = [
        filter_["Properties"]["LogGroupName"]
        for filter_ in synthesized.of_type("AWS::Logs::SubscriptionFilter").values()
    ]
    assert {"Ref": "ProdLogArchiveDeliveryLogGroup206EB4D3"} not in groups


def test_log_groups_and_bucket_use_the_archive_key(template: Any) -> None:
    key = {"Fn::GetAtt": ["ProdLogArchiveKey38D0B7C1", "Arn"]}
    template.all_resources_properties("AWS::Logs::LogGroup", {"KmsKeyId": key})
    template.has_resource_properties(
        "AWS::KinesisFirehose::DeliveryStream",
        {"DeliveryStreamEncryptionConfigurationInput": {"KeyType": "CUSTOMER_MANAGED_CMK", "KeyARN": key}},
    )
    template.has_resource_properties(
        "AWS::Glue::Table", Match.object_like({"TableInput": Match.object_like({"TableType": "EXTERNAL_TABLE"})})
    )


def test_every_log_group_is_encrypted_retained_and_kept_for_the_configured_days(
    synthesized: Synthesized, tuned: Synthesized
) -> None:
    groups = synthesized.of_type("AWS::Logs::LogGroup")
    assert len(groups) == 4 + len(WORKERS)  # API access, function, Firehose errors, release hook; each worker's
    # Firehose's error log and the release hook's log are not archived: they keep a year (CT.CLOUDWATCH.PR.2).
    kept_a_year = {"ProdLogArchiveDeliveryLogGroup206EB4D3", "ProdReleasePreTrafficHookLogGroup49190056"}
    for logical_id, group in groups.items():
        assert {key: group[key] for key in KEPT} == KEPT, logical_id
        assert group["Properties"]["RetentionInDays"] == (365 if logical_id in kept_a_year else 30), logical_id
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["ProdLogArchiveKey38D0B7C1", "Arn"]}, logical_id
    assert sorted(g["Properties"]["RetentionInDays"] for g in tuned.of_type("AWS::Logs::LogGroup").values()) == [
        *[90] * (2 + len(WORKERS)),
        365,
        365,
    ]


def test_the_app_reads_cdk_json_itself_so_python_main_py_builds_what_the_cli_builds(synthesized: Synthesized) -> None:
    from prod_serverless.names import PRODUCTION
    from prod_serverless.settings import app_context, cdk_json_context

    app = synthesized.stack.node.root  # build_app's, given only the stage (tests/conftest.py's synthesize)
    flags = cdk_json_context()
    assert flags, "cdk.json has no context"
    for flag, value in flags.items():
        if flag != "stage":
            assert app.node.try_get_context(flag) == value, flag
    # App adds and drops nothing: the context main.py's early check reads is the one build_app's settings read.
    assert app.node.get_all_context() == app_context({**flags, "stage": PRODUCTION}, {})


def test_every_kms_key_is_kept_and_rotates(synthesized: Synthesized) -> None:
    """The README promises the CMKs outlive the stack: a deleted key would make the archive unreadable."""
    keys = synthesized.of_type("AWS::KMS::Key")
    assert len([i for i in keys if i.startswith(STACK_KEYS)]) == len(STACK_KEYS)  # and every key a team adds
    for logical_id, key in keys.items():
        assert {name: key[name] for name in KEPT} == KEPT, logical_id
        assert key["Properties"]["EnableKeyRotation"] is True, logical_id


def test_termination_protection_is_on(synthesized: Synthesized) -> None:
    assert synthesized.stack.termination_protection is True


def test_the_log_cost_levers_reach_the_template(synthesized: Synthesized, tuned: Synthesized) -> None:
    from prod_serverless.log_formats import access_log_format

    for app, (application, system, tracing, log_format) in (
        (synthesized, ("INFO", "WARN", "PassThrough", "compact")),
        (tuned, ("DEBUG", "INFO", "Active", "full")),
    ):
        _, function = app.one("AWS::Lambda::Function", "ProdFunction")
        properties = function["Properties"]
        assert properties["LoggingConfig"]["ApplicationLogLevel"] == application
        assert properties["Environment"]["Variables"]["LOG_LEVEL"] == application
        assert properties["LoggingConfig"]["SystemLogLevel"] == system
        assert properties["TracingConfig"] == {"Mode": tracing}
        _, stage = app.one("AWS::ApiGatewayV2::Stage")
        assert stage["Properties"]["AccessLogSettings"]["Format"] == access_log_format(log_format)
