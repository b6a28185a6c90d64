"""The one policy `make verify` needs, owned by the stack: attach it to the role that verifies (a person, the
pipeline's deploy role) and nothing else is required. Exactly the calls tools/verify.py makes."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from prod_serverless.compliance import acknowledge


class VerifierPolicy(Construct):
    """A customer-managed policy: the log reader's statements, and verify's own calls on this stack's resources."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        reader_statements: Sequence[iam.PolicyStatement],
        alias: lambda_.IFunction,
        test_alarm: cloudwatch.IAlarm,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="make verify on the Prod stack: read its outputs, call the live alias, read the logs, "
            "test one alarm's notification, list the alarms' metrics",
            statements=[
                iam.PolicyStatement(
                    sid="ReadThisStack",
                    actions=["cloudformation:DescribeStacks", "cloudformation:ListStackResources"],
                    resources=[stack.stack_id],
                ),
                iam.PolicyStatement(
                    sid="InvokeTheLiveAlias",
                    actions=["lambda:InvokeFunction"],
                    resources=[alias.function_arn],
                ),
                iam.PolicyStatement(
                    sid="TestOneAlarmsNotification",
                    actions=["cloudwatch:SetAlarmState"],
                    resources=[test_alarm.alarm_arn],
                ),
                iam.PolicyStatement(
                    sid="ReadAlarmsAndMetrics",
                    actions=["cloudwatch:DescribeAlarms", "cloudwatch:DescribeAlarmHistory", "cloudwatch:ListMetrics"],
                    resources=["*"],
                ),
                *reader_statements,
            ],
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch ListMetrics supports no resource-level permission; DescribeAlarms and DescribeAlarmHistory "
            "are read-only and given on * as CloudWatch's own read-only policy does.",
        )
