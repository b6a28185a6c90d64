"""Safe releases: the API invokes the live alias, CodeDeploy shifts it with the configured strategy, the
pre-traffic hook and the three release alarms guard it, and every role is exactly what it needs."""

from __future__ import annotations

from typing import Any

from pre_traffic_hook.handler import TARGET_ENV
from tests.conftest import Synthesized

FUNCTION_ARN = {"Fn::GetAtt": ["ProdFunction481DA47F", "Arn"]}
HOOK = "ProdReleasePreTrafficHookFunction6C1E09BD"
ALIAS = "ProdFunctionLiveAlias8CFF3F3E"


def _one(synthesized: Synthesized, kind: str) -> tuple[str, dict[str, Any]]:
    (item,) = synthesized.of_type(kind).items()
    return item


def _policy(synthesized: Synthesized, prefix: str) -> dict[str, dict[str, Any]]:
    (policy,) = [p for i, p in synthesized.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith(prefix)]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_one_version_behind_one_live_alias_and_only_the_current_version_is_kept(synthesized: Synthesized) -> None:
    version_id, version = _one(synthesized, "AWS::Lambda::Version")
    assert version["Properties"] == {"FunctionName": {"Ref": "ProdFunction481DA47F"}}
    # Delete: CloudFormation removes the previous version once the alias has moved, or the new one on rollback.
    assert version["DeletionPolicy"] == "Delete" and version["UpdateReplacePolicy"] == "Delete"
    alias_id, alias = _one(synthesized, "AWS::Lambda::Alias")
    assert alias_id == ALIAS
    assert alias["Properties"]["Name"] == "live"
    assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version_id, "Version"]}
    assert "ProvisionedConcurrencyConfig" not in alias["Properties"]


def test_codedeploy_shifts_the_alias_after_the_pre_traffic_hook(synthesized: Synthesized) -> None:
    application, _ = _one(synthesized, "AWS::CodeDeploy::Application")
    group_id, _ = _one(synthesized, "AWS::CodeDeploy::DeploymentGroup")
    alias = synthesized.resources[ALIAS]
    assert alias["UpdatePolicy"] == {
        "CodeDeployLambdaAliasUpdate": {
            "ApplicationName": {"Ref": application},
            "DeploymentGroupName": {"Ref": group_id},
            "BeforeAllowTrafficHook": {"Ref": HOOK},
        }
    }
    # Every permission the deployment uses exists before the alias update starts it.
    assert sorted(alias["DependsOn"]) == sorted(
        i
        for i in synthesized.of_type("AWS::IAM::ManagedPolicy")
        if i.startswith(("ProdReleasePreTrafficHookPolicy", "ProdReleaseDeploymentPolicy"))
    )


def test_the_deployment_group_uses_the_strategy_the_release_alarms_and_rolls_back(synthesized: Synthesized) -> None:
    _, group = _one(synthesized, "AWS::CodeDeploy::DeploymentGroup")
    properties = group["Properties"]
    assert properties["DeploymentConfigName"] == "CodeDeployDefault.LambdaCanary10Percent5Minutes"
    assert properties["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}
    assert properties["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    alarms = [str(alarm["Name"]) for alarm in properties["AlarmConfiguration"]["Alarms"]]
    assert properties["AlarmConfiguration"]["Enabled"] is True
    assert len(alarms) == 3
    for name in ("ReleaseVersionErrors", "ReleaseApi5xx", "ReleaseApiLatency"):
        assert len([a for a in alarms if f"ProdMonitoring{name}Alarm" in a]) == 1, name
    assert "ManagedPolicyArns" not in synthesized.resources[properties["ServiceRoleArn"]["Fn::GetAtt"][0]]["Properties"]


def test_strategy_and_provisioned_concurrency_follow_the_configuration(tuned: Synthesized) -> None:
    _, group = _one(tuned, "AWS::CodeDeploy::DeploymentGroup")
    assert group["Properties"]["DeploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    _, alias = _one(tuned, "AWS::Lambda::Alias")
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert (
        "lambda:GetProvisionedConcurrencyConfig"
        in _policy(tuned, "ProdReleaseDeploymentPolicy")["ShiftTheLiveAlias"]["Action"]
    )


def test_the_hook_tests_exactly_the_version_being_released(synthesized: Synthesized) -> None:
    hook = synthesized.resources[HOOK]["Properties"]
    version_id, _ = _one(synthesized, "AWS::Lambda::Version")
    assert hook["Environment"]["Variables"] == {TARGET_ENV: {"Ref": version_id}}  # the name the hook reads
    assert hook["TracingConfig"] == {"Mode": "Active"}
    assert hook["LoggingConfig"]["LogFormat"] == "JSON"
    _, invoke_config = _one(synthesized, "AWS::Lambda::EventInvokeConfig")
    assert invoke_config["Properties"] == {
        "FunctionName": {"Ref": HOOK},
        "MaximumRetryAttempts": 0,
        "Qualifier": "$LATEST",
    }


def test_the_hook_may_invoke_this_functions_versions_and_report_to_this_group_only(synthesized: Synthesized) -> None:
    group_id, _ = _one(synthesized, "AWS::CodeDeploy::DeploymentGroup")
    application, _ = _one(synthesized, "AWS::CodeDeploy::Application")
    by_sid = _policy(synthesized, "ProdReleasePreTrafficHookPolicy")
    assert set(by_sid) == {
        "WriteOwnLogGroup",
        "SendTraces",
        "InvokeThisFunctionsVersions",
        "ReportToThisDeploymentGroup",
    }
    assert by_sid["InvokeThisFunctionsVersions"]["Action"] == "lambda:InvokeFunction"
    assert by_sid["InvokeThisFunctionsVersions"]["Resource"] == {"Fn::Join": ["", [FUNCTION_ARN, ":*"]]}
    assert by_sid["ReportToThisDeploymentGroup"]["Action"] == "codedeploy:PutLifecycleEventHookExecutionStatus"
    assert by_sid["ReportToThisDeploymentGroup"]["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:aws:codedeploy:us-east-1:",
                {"Ref": "AWS::AccountId"},
                ":deploymentgroup:",
                {"Ref": application},
                "/",
                {"Ref": group_id},
            ],
        ]
    }


def test_codedeploys_role_shifts_only_the_live_alias_and_runs_only_the_hook(synthesized: Synthesized) -> None:
    by_sid = _policy(synthesized, "ProdReleaseDeploymentPolicy")
    assert set(by_sid) == {"ShiftTheLiveAlias", "RunThePreTrafficHook", "ReadTheRollbackAlarms"}
    assert sorted(by_sid["ShiftTheLiveAlias"]["Action"]) == ["lambda:GetAlias", "lambda:UpdateAlias"]
    assert by_sid["ShiftTheLiveAlias"]["Resource"] == [FUNCTION_ARN, {"Fn::Join": ["", [FUNCTION_ARN, ":live"]]}]
    assert by_sid["RunThePreTrafficHook"]["Resource"] == {"Fn::GetAtt": [HOOK, "Arn"]}
    assert by_sid["ReadTheRollbackAlarms"] == {
        "Sid": "ReadTheRollbackAlarms",
        "Effect": "Allow",
        "Action": "cloudwatch:DescribeAlarms",
        "Resource": "*",
    }
