"""Safe releases: CodeDeploy shifts the `live` alias to each new version, after a pre-traffic hook has
proven the version answers, and rolls back when a release alarm fires during the shift.

The L2 LambdaDeploymentGroup is used with roles it cannot change (`without_policy_updates`): left to
itself it would attach the AWS-managed AWSCodeDeployRoleForLambdaLimited and add inline grants. Every
permission is in this construct's own customer-managed policies instead, on exact resources.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from pre_traffic_hook.handler import CHECKS_FILE, CHECKS_METADATA, INVOKE_TIMEOUT_ENV, PARALLEL_ENV, TARGET_ENV
from prod_serverless.compliance import acknowledge, arn_token
from prod_serverless.lambdas import OwnedFunction, owned_function, shipped_files
from prod_serverless.settings import SettingsError
from service.routing import Route

HOOK_CODE = Path(__file__).resolve().parent.parent / "pre_traffic_hook"
# The hook reads its environment (the version to test, how long one call may take, how many at once) and its
# checks from a file beside itself in the asset: Lambda's 4 KB of environment would hold about 30 routes' samples.
# At most this many calls at once; with reserved concurrency, a tenth of it, so the checks never starve live traffic.
HOOK_PARALLEL_CHECKS = 10
# A call waits for the function's own timeout plus this, for Lambda's and the network's overhead.
INVOKE_MARGIN_SECONDS = 5
# What the hook needs beside its calls to the function: start-up and its report to CodeDeploy.
HOOK_OVERHEAD_SECONDS = 15
# Lambda quotas: a function runs at most 900 s.
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# The hook's log is deployment evidence and is not archived: kept a year (Control Tower CT.CLOUDWATCH.PR.2).
HOOK_LOG_RETENTION_DAYS = 365


class SafeRelease(Construct):
    """CodeDeploy application and deployment group for the `live` alias, the hook, and their roles."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        version: lambda_.IVersion,
        alias: lambda_.Alias,
        function_timeout_seconds: int,
        routes: Sequence[Route],
        strategy: str,
        rollback_alarms: Sequence[cloudwatch.IAlarm],
        ignore_alarms: bool,
        log_key: kms.IKey,
        provisioned: bool,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.hook = self._pre_traffic_hook(
            function=function,
            version=version,
            routes=routes,
            invoke_timeout_seconds=function_timeout_seconds + INVOKE_MARGIN_SECONDS,
            parallel=hook_parallelism(reserved_concurrency),
            log_key=log_key,
        )
        self.application = codedeploy.LambdaApplication(self, "Application")
        self.role, self.role_policy = self._deployment_role(
            function=function, alias=alias, hook=self.hook.function, provisioned=provisioned
        )
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            alias=alias,
            deployment_config=codedeploy.LambdaDeploymentConfig.from_lambda_deployment_config_name(
                self, "Strategy", f"CodeDeployDefault.Lambda{strategy}"
            ),
            alarms=list(rollback_alarms),
            # The emergency switch (releaseIgnoreAlarms): ship while alarms fire, e.g. a fix during an incident.
            ignore_alarm_configuration=ignore_alarms,
            pre_hook=self.hook.function,
            role=self.role.without_policy_updates(),
            auto_rollback=codedeploy.AutoRollbackConfig(failed_deployment=True, deployment_in_alarm=True),
        )
        self.hook.policy.add_statements(
            iam.PolicyStatement(
                sid="ReportToThisDeploymentGroup",
                actions=["codedeploy:PutLifecycleEventHookExecutionStatus"],
                resources=[self.deployment_group.deployment_group_arn],
            )
        )
        # The alias update starts the deployment: every permission must exist first, and the hook must already
        # name the new version (its TARGET_VERSION_ARN); a Ref inside an UpdatePolicy orders nothing.
        alias.node.add_dependency(self.hook.policy, self.role_policy, self.hook.function)
        # And the deployment group must already watch this release's new alarms, with the emergency switch as
        # configured: new alarms -> deployment group -> alias (the alias's UpdatePolicy names the group by Ref).
        alias.node.add_dependency(self.deployment_group)
        # CloudFormation documents DependsOn and references in Properties as ordering, not one in an UpdatePolicy
        # (cfn-lint's W3005 assumes it is): the dependency on the hook stays explicit.
        alias_resource = alias.node.default_child
        if isinstance(alias_resource, lambda_.CfnAlias):
            alias_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})

    def _pre_traffic_hook(
        self,
        *,
        function: lambda_.IFunction,
        version: lambda_.IVersion,
        routes: Sequence[Route],
        invoke_timeout_seconds: int,
        parallel: int,
        log_key: kms.IKey,
    ) -> OwnedFunction:
        """Standard-library function that sends every route's sample to the new version and reports to CodeDeploy."""
        # One call per route, `parallel` at a time, each up to the function's timeout and a margin.
        timeout = math.ceil(len(routes) / parallel) * invoke_timeout_seconds + HOOK_OVERHEAD_SECONDS
        if timeout > LAMBDA_MAX_TIMEOUT_SECONDS:
            raise SettingsError(
                f"the release hook would need {timeout} s to check {len(routes)} routes {parallel} at a time at "
                f"functionTimeoutSeconds={invoke_timeout_seconds - INVOKE_MARGIN_SECONDS}; Lambda allows "
                f"{LAMBDA_MAX_TIMEOUT_SECONDS}: lower functionTimeoutSeconds (or raise reservedConcurrency)"
            )
        checks = json.dumps([route.check() for route in routes], separators=(",", ":"), sort_keys=True)
        self.hook_timeout = Duration.seconds(math.ceil(timeout))
        hook = Construct(self, "PreTrafficHook")
        owned = owned_function(
            hook,
            code=hook_package(checks),
            handler="handler.handler",
            description="Prod release check: every route's sample on the new version before any traffic shifts",
            purpose="the Prod pre-traffic hook: invoke this function's versions, report to its deployment group",
            statements=[
                iam.PolicyStatement(
                    sid="InvokeThisFunctionsVersions",
                    actions=["lambda:InvokeFunction"],
                    # Exactly this function's versions; the one under test changes with every release.
                    resources=[f"{function.function_arn}:*"],
                )
            ],
            # CloudFormation sets the target to the version being deployed, before it updates the alias.
            environment={
                TARGET_ENV: version.function_arn,
                INVOKE_TIMEOUT_ENV: str(invoke_timeout_seconds),
                PARALLEL_ENV: str(parallel),
            },
            log_key=log_key,
            log_retention_days=HOOK_LOG_RETENTION_DAYS,
            log_level="INFO",
            # It runs once per release: every platform line and a trace cost nothing worth saving.
            system_log_level="INFO",
            tracing="Active",
            memory_mb=128,
            timeout=self.hook_timeout,
            dlq_reason="CodeDeploy waits for this hook's report and fails the release without it; "
            "a DLQ of hook events would hold nothing anyone could act on.",
            # CodeDeploy invokes the hook once per release; a retry would report twice.
            retry_attempts=0,
        )
        resource = owned.function.node.default_child
        if isinstance(resource, lambda_.CfnFunction):
            # The very text of the asset's file (metadata would drop its JSON nulls).
            resource.add_metadata(CHECKS_METADATA, checks)
        acknowledge(
            owned.function,
            "Serverless-LambdaAsyncFailureDestination",
            "CodeDeploy fails the release when the hook does not report; an on-failure destination would hold "
            "an event nobody could act on.",
        )
        acknowledge(
            owned.policy,
            f"AwsSolutions-IAM5[Resource::{arn_token(function)}:*]",
            "The version under test changes with every release; the wildcard covers only this function's versions.",
        )
        return owned

    def _deployment_role(
        self, *, function: lambda_.IFunction, alias: lambda_.Alias, hook: lambda_.IFunction, provisioned: bool
    ) -> tuple[iam.Role, iam.ManagedPolicy]:
        """CodeDeploy's service role: what a Lambda deployment needs (the AWS-managed
        AWSCodeDeployRoleForLambdaLimited lists it), scoped to this alias, this hook and these alarms."""
        stack = Stack.of(self)
        role = iam.Role(
            self,
            "DeploymentRole",
            description="CodeDeploy for the Prod API: shift the live alias, run the pre-traffic hook",
            assumed_by=iam.ServicePrincipal(
                "codedeploy.amazonaws.com",
                # CodeDeploy "Cross-service confused deputy prevention": aws:SourceAccount and aws:SourceArn, the
                # deployment group's ARN (any group of this application: the group's own ARN would be a cycle).
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:codedeploy:{stack.region}:{stack.account}:"
                        f"deploymentgroup:{self.application.application_name}/*"
                    },
                },
            ),
        )
        alias_actions = ["lambda:GetAlias", "lambda:UpdateAlias"]
        if provisioned:
            alias_actions.append("lambda:GetProvisionedConcurrencyConfig")
        policy = iam.ManagedPolicy(
            self,
            "DeploymentPolicy",
            description="CodeDeploy for the Prod API: the live alias, the pre-traffic hook, the rollback alarms",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="ShiftTheLiveAlias",
                    actions=alias_actions,
                    # Lambda evaluates alias actions against the function or the alias ARN: both, nothing else.
                    # Spelled out rather than Ref'd: the alias waits for this policy (no circular dependency).
                    resources=[function.function_arn, f"{function.function_arn}:{alias.alias_name}"],
                ),
                iam.PolicyStatement(
                    sid="RunThePreTrafficHook",
                    actions=["lambda:InvokeFunction"],
                    # Unqualified and qualified: CodeDeploy may invoke the hook by either ARN.
                    resources=[hook.function_arn, f"{hook.function_arn}:*"],
                ),
                iam.PolicyStatement(
                    sid="ReadTheRollbackAlarms",
                    actions=["cloudwatch:DescribeAlarms"],
                    resources=["*"],
                ),
            ],
        )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{arn_token(hook)}:*]",
            "Covers only the pre-traffic hook function's versions and aliases, the qualified ARNs by which "
            "CodeDeploy may invoke it.",
        )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CodeDeploy polls the rollback alarms with DescribeAlarms, read-only; AWS's own CodeDeploy policies "
            "grant it on *, and a narrower grant that CodeDeploy's call did not match would fail every release.",
        )
        return role, policy


def hook_parallelism(reserved_concurrency: int | None) -> int:
    """How many checks run at once: HOOK_PARALLEL_CHECKS, or a tenth of a reservation (at least one), since the
    hook's calls to the new version share the function's reserved concurrency with live traffic."""
    if reserved_concurrency is None:
        return HOOK_PARALLEL_CHECKS
    return max(1, min(HOOK_PARALLEL_CHECKS, reserved_concurrency // 10))


def hook_package(checks: str) -> Path:
    """The hook's package as it ships: its own files and `checks` as its CHECKS_FILE, in a directory named by their
    digest (in the temporary directory: written once, the same bytes for the same inputs on every machine)."""
    files = {path.relative_to(HOOK_CODE).as_posix(): path.read_bytes() for path in shipped_files(HOOK_CODE)}
    files[CHECKS_FILE.name] = checks.encode()
    digest = hashlib.sha256(b"".join(name.encode() + b"\0" + data + b"\0" for name, data in files.items()))
    package = Path(tempfile.gettempdir()) / f"prod-serverless-hook-{digest.hexdigest()[:16]}" / HOOK_CODE.name
    if not package.is_dir():
        staging = Path(tempfile.mkdtemp(prefix="prod-serverless-hook-"))
        (staging / HOOK_CODE.name).mkdir()
        for name, data in files.items():
            (staging / HOOK_CODE.name / name).parent.mkdir(parents=True, exist_ok=True)
            (staging / HOOK_CODE.name / name).write_bytes(data)
        try:
            os.rename(staging, package.parent)  # atomic: a concurrent synth finds it whole or not at all
        except OSError:
            shutil.rmtree(staging)  # another synth wrote the same bytes first
    return package
