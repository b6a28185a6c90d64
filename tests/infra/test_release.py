"""Safe releases: the API invokes the live alias, CodeDeploy shifts it with the configured strategy, the
pre-traffic hook and the release alarms (the new version's only) guard it, and every role is exactly what it needs."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from pre_traffic_hook.handler import CHECKS_METADATA, INVOKE_TIMEOUT_ENV, PARALLEL_ENV, TARGET_ENV
from prod_serverless.function import ALIAS as ALIAS_NAME
from prod_serverless.release import HOOK_OVERHEAD_SECONDS, INVOKE_MARGIN_SECONDS, SafeRelease, hook_parallelism
from prod_serverless.settings import SettingsError
from service.routes import ROUTES
from tests.conftest import TUNED, Synthesized
from tests.infra.helpers import REGION, SETTINGS
from workers.table import WORKERS

FUNCTION_ARN = {"Fn::GetAtt": ["ProdFunction481DA47F", "Arn"]}
HOOK = "ProdReleasePreTrafficHookFunction6C1E09BD"
ALIAS = "ProdFunctionLiveAlias8CFF3F3E"


def _one(synthesized: Synthesized, kind: str) -> tuple[str, dict[str, Any]]:
    """The one `kind` of the API function's release (a worker's version and alias are not CodeDeploy's)."""
    workers = tuple(worker.construct_id for worker in WORKERS)
    (item,) = [(i, r) for i, r in synthesized.of_type(kind).items() if not workers or not i.startswith(workers)]
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
    assert alias["Properties"]["Name"] == ALIAS_NAME and ALIAS_NAME.startswith("Prod")
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
    # Every permission the deployment uses exists, and the hook names the new version, before the alias update
    # starts the deployment (a Ref inside an UpdatePolicy orders nothing).
    expected = [
        i
        for i in synthesized.of_type("AWS::IAM::ManagedPolicy")
        if i.startswith(("ProdReleasePreTrafficHookPolicy", "ProdReleaseDeploymentPolicy"))
    ]
    assert len(expected) == 2
    assert set(alias["DependsOn"]) >= {*expected, HOOK}
    # The emergency switch and this release's alarms are in the deployment group before the shift starts.
    assert group_id in alias["DependsOn"]


def test_the_deployment_group_uses_the_strategy_the_release_alarms_and_rolls_back(synthesized: Synthesized) -> None:
    _, group = _one(synthesized, "AWS::CodeDeploy::DeploymentGroup")
    properties = group["Properties"]
    assert properties["DeploymentConfigName"] == f"CodeDeployDefault.Lambda{SETTINGS.deployment_strategy}"
    assert properties["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}
    assert properties["AutoRollbackConfiguration"] == {
        "Enabled": True,
        "Events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
    }
    alarms = [json.dumps(alarm["Name"]) for alarm in properties["AlarmConfiguration"]["Alarms"]]
    assert properties["AlarmConfiguration"]["Enabled"] is True
    assert properties["AlarmConfiguration"].get("IgnorePollAlarmFailure", False) is False
    assert len(alarms) == 3
    fingerprint = synthesized.stack.node.find_child("ProdFunction").fingerprint
    for name in ("ReleaseVersionErrors", "ReleaseVersion5xx", "ReleaseVersionDuration"):
        assert len([a for a in alarms if f"ProdMonitoring{name}V{fingerprint}Alarm" in a]) == 1, name
    assert "ManagedPolicyArns" not in synthesized.resources[properties["ServiceRoleArn"]["Fn::GetAtt"][0]]["Properties"]


def test_every_alarm_that_can_roll_back_is_scoped_to_the_new_version(synthesized: Synthesized) -> None:
    """The old version's failures (the reason for a hotfix) must not stop the fix: each rollback alarm names
    the version being released, in its dimensions or its query."""
    _, group = _one(synthesized, "AWS::CodeDeploy::DeploymentGroup")
    (version_id, _) = _one(synthesized, "AWS::Lambda::Version")
    version = {"Fn::GetAtt": [version_id, "Version"]}
    alarms = synthesized.of_type("AWS::CloudWatch::Alarm")
    for named in group["Properties"]["AlarmConfiguration"]["Alarms"]:
        logical_id = next(i for i in alarms if f'"{i}"' in json.dumps(named["Name"]))
        watched = json.dumps(alarms[logical_id]["Properties"].get("Dimensions") or alarms[logical_id]["Properties"])
        assert json.dumps(version) in watched, logical_id
        assert "AWS/ApiGateway" not in watched, logical_id


def test_each_release_gets_new_alarms_and_only_the_release_alarms_are_new(
    synthesized: Synthesized, tuned: Synthesized
) -> None:
    """PutMetricAlarm leaves an updated alarm's state as it was: an alarm in ALARM for the old version would stop
    the fix. A new version (another fingerprint) must bring release alarms with new logical ids, and nothing else
    of the monitoring may move."""

    def alarm_ids(synth: Synthesized) -> tuple[set[str], set[str]]:
        ids = set(synth.of_type("AWS::CloudWatch::Alarm"))
        release = {i for i in ids if i.startswith("ProdMonitoringReleaseVersion")}
        return release, ids - release

    default_release, default_other = alarm_ids(synthesized)
    tuned_release, tuned_other = alarm_ids(tuned)
    fingerprints = [synth.stack.node.find_child("ProdFunction").fingerprint for synth in (synthesized, tuned)]
    assert fingerprints[0] != fingerprints[1]
    assert len(default_release) == len(tuned_release) == 3
    assert not default_release & tuned_release
    for release, fingerprint in zip((default_release, tuned_release), fingerprints, strict=True):
        assert all(f"V{fingerprint}Alarm" in i for i in release)
    assert default_other == tuned_other


def test_the_emergency_switch_ships_while_alarms_fire(tuned: Synthesized) -> None:
    _, group = _one(tuned, "AWS::CodeDeploy::DeploymentGroup")
    assert group["Properties"]["AlarmConfiguration"]["Enabled"] is False  # CodeDeploy: alarms ignored


def test_strategy_and_provisioned_concurrency_follow_the_configuration(tuned: Synthesized) -> None:
    _, group = _one(tuned, "AWS::CodeDeploy::DeploymentGroup")
    assert group["Properties"]["DeploymentConfigName"] == "CodeDeployDefault.LambdaLinear10PercentEvery1Minute"
    _, alias = _one(tuned, "AWS::Lambda::Alias")
    assert alias["Properties"]["ProvisionedConcurrencyConfig"] == {"ProvisionedConcurrentExecutions": 2}
    assert (
        "lambda:GetProvisionedConcurrencyConfig"
        in _policy(tuned, "ProdReleaseDeploymentPolicy")["ShiftTheLiveAlias"]["Action"]
    )


def test_the_hook_sends_every_routes_sample_to_exactly_the_version_being_released(synthesized: Synthesized) -> None:
    hook = synthesized.resources[HOOK]["Properties"]
    version_id, _ = _one(synthesized, "AWS::Lambda::Version")
    variables = hook["Environment"]["Variables"]  # the names the hook reads
    assert variables[TARGET_ENV] == {"Ref": version_id}
    assert json.loads(synthesized.resources[HOOK]["Metadata"][CHECKS_METADATA]) == [r.check() for r in ROUTES]
    assert variables[PARALLEL_ENV] == str(hook_parallelism(SETTINGS.reserved_concurrency))
    assert variables[INVOKE_TIMEOUT_ENV] == str(SETTINGS.function_timeout_seconds + INVOKE_MARGIN_SECONDS)
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
                f"arn:aws:codedeploy:{REGION}:",
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
    assert by_sid["ShiftTheLiveAlias"]["Resource"] == [
        FUNCTION_ARN,
        {"Fn::Join": ["", [FUNCTION_ARN, f":{ALIAS_NAME}"]]},
    ]
    hook_arn = {"Fn::GetAtt": [HOOK, "Arn"]}
    assert by_sid["RunThePreTrafficHook"]["Resource"] == [hook_arn, {"Fn::Join": ["", [hook_arn, ":*"]]}]
    assert by_sid["ReadTheRollbackAlarms"] == {
        "Sid": "ReadTheRollbackAlarms",
        "Effect": "Allow",
        "Action": "cloudwatch:DescribeAlarms",
        "Resource": "*",
    }


def _timeouts(template: Synthesized) -> tuple[int, int, int]:
    """(API function timeout, the hook's per-call timeout, the hook's own timeout)."""
    function = template.resources["ProdFunction481DA47F"]["Properties"]
    hook = template.resources[HOOK]["Properties"]
    return function["Timeout"], int(hook["Environment"]["Variables"][INVOKE_TIMEOUT_ENV]), hook["Timeout"]


@pytest.mark.parametrize("fixture", ["synthesized", "tuned"])
def test_the_hook_outlasts_its_calls_and_each_call_the_function(fixture: str, request: pytest.FixtureRequest) -> None:
    """A call waits the function's timeout and a margin; the hook has a round of calls per `parallel` routes (a
    tenth of a reservation: tuned reserves 5, so one at a time) and time to report."""
    template = request.getfixturevalue(fixture)
    function, per_call, hook = _timeouts(template)
    parallel = int(template.resources[HOOK]["Properties"]["Environment"]["Variables"][PARALLEL_ENV])
    assert parallel == (1 if fixture == "tuned" else hook_parallelism(SETTINGS.reserved_concurrency))
    assert per_call == function + INVOKE_MARGIN_SECONDS
    assert hook == math.ceil(len(ROUTES) / parallel) * per_call + HOOK_OVERHEAD_SECONDS


def test_the_tuned_function_timeout_moves_the_hooks_timeouts(synthesized: Synthesized, tuned: Synthesized) -> None:
    """Each synth's function and hook follow its own functionTimeoutSeconds (a team's cdk.json may equal TUNED's)."""
    for synth, timeout in (
        (tuned, int(TUNED["functionTimeoutSeconds"])),
        (synthesized, SETTINGS.function_timeout_seconds),
    ):
        assert _timeouts(synth)[:2] == (timeout, timeout + INVOKE_MARGIN_SECONDS)


def test_a_hook_that_would_need_more_than_lambdas_900_seconds_stops_synth() -> None:
    from aws_cdk import App, Stack
    from aws_cdk import aws_kms as kms
    from aws_cdk import aws_lambda as lambda_

    stack = Stack(App(), "ProdTest", env={"region": REGION})
    function = lambda_.Function(
        stack, "ProdFn", runtime=lambda_.Runtime.PYTHON_3_14, handler="i.h", code=lambda_.Code.from_inline("x")
    )
    many = tuple(ROUTES) * 40
    need = len(many) * (29 + INVOKE_MARGIN_SECONDS) + HOOK_OVERHEAD_SECONDS  # reserving 5: one call at a time
    with pytest.raises(
        SettingsError, match=rf"would need {need} s to check {len(many)} routes 1 at a time .*lower functionTimeout"
    ):
        SafeRelease(
            stack,
            "ProdRelease",
            function=function,
            version=function.current_version,
            alias=lambda_.Alias(stack, "ProdAlias", alias_name="ProdLive", version=function.current_version),
            function_timeout_seconds=29,
            routes=many,
            strategy="AllAtOnce",
            rollback_alarms=[],
            ignore_alarms=False,
            log_key=kms.Key(stack, "ProdKey"),
            provisioned=False,
            reserved_concurrency=5,
        )
