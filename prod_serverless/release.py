"""Safe releases: CodeDeploy shifts the `live` alias to each new version, after a pre-traffic hook has
proven the version answers, and rolls back when a release alarm fires during the shift.

The L2 LambdaDeploymentGroup is used with roles it cannot change (`without_policy_updates`): left to
itself it would attach the AWS-managed AWSCodeDeployRoleForLambdaLimited and add inline grants. Every
permission is in this construct's own customer-managed policies instead, on exact resources.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from prod_serverless.compliance import acknowledge, arn_token
from prod_serverless.lambdas import OwnedFunction, owned_function

HOOK_CODE = Path(__file__).resolve().parent.parent / "pre_traffic_hook"
TARGET_ENV = "TARGET_VERSION_ARN"  # pre_traffic_hook/handler.py reads the version to test from here
HOOK_TIMEOUT = Duration.seconds(60)
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
        strategy: str,
        rollback_alarms: Sequence[cloudwatch.IAlarm],
        log_key: kms.IKey,
        provisioned: bool,
    ) -> None:
        super().__init__(scope, construct_id)
        self.hook = self._pre_traffic_hook(function=function, version=version, log_key=log_key)
        self.role, self.role_policy = self._deployment_role(
            function=function, alias=alias, hook=self.hook.function, provisioned=provisioned
        )
        self.application = codedeploy.LambdaApplication(self, "Application")
        self.deployment_group = codedeploy.LambdaDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            alias=alias,
            deployment_config=codedeploy.LambdaDeploymentConfig.from_lambda_deployment_config_name(
                self, "Strategy", f"CodeDeployDefault.Lambda{strategy}"
            ),
            alarms=list(rollback_alarms),
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
        # The alias update starts the deployment: every permission must exist first (the hook function is
        # already ordered before it by the alias's UpdatePolicy).
        alias.node.add_dependency(self.hook.policy, self.role_policy)

    def _pre_traffic_hook(
        self, *, function: lambda_.IFunction, version: lambda_.IVersion, log_key: kms.IKey
    ) -> OwnedFunction:
        """Standard-library function that invokes the new version with `GET /` and reports to CodeDeploy."""
        hook = Construct(self, "PreTrafficHook")
        owned = owned_function(
            hook,
            code=HOOK_CODE,
            handler="handler.handler",
            description="Prod release check: GET / on the new version before any traffic shifts",
            purpose="the Prod pre-traffic hook: invoke this function's versions, report to its deployment group",
            statements=[
                iam.PolicyStatement(
                    sid="InvokeThisFunctionsVersions",
                    actions=["lambda:InvokeFunction"],
                    # Exactly this function's versions; the one under test changes with every release.
                    resources=[f"{function.function_arn}:*"],
                )
            ],
            # CloudFormation sets this to the version being deployed, before it updates the alias.
            environment={TARGET_ENV: version.function_arn},
            log_key=log_key,
            log_retention_days=HOOK_LOG_RETENTION_DAYS,
            log_level="INFO",
            # It runs once per release: every platform line and a trace cost nothing worth saving.
            system_log_level="INFO",
            tracing="Active",
            memory_mb=128,
            timeout=HOOK_TIMEOUT,
            dlq_reason="CodeDeploy waits for this hook's report and fails the release without it; "
            "a DLQ of hook events would hold nothing anyone could act on.",
            # CodeDeploy invokes the hook once per release; a retry would report twice.
            retry_attempts=0,
        )
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
                # IfExists: the CodeDeploy docs do not say it sends aws:SourceAccount; when it does, it must be ours.
                conditions={"StringEqualsIfExists": {"aws:SourceAccount": stack.account}},
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
                    resources=[hook.function_arn],
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
            "AwsSolutions-IAM5[Resource::*]",
            "CodeDeploy polls the rollback alarms with DescribeAlarms, read-only; AWS's own CodeDeploy policies "
            "grant it on *, and a narrower grant that CodeDeploy's call did not match would fail every release.",
        )
        return role, policy
