"""The one policy `make verify` needs, owned by the stack: attach it to the role that verifies (a person, the
pipeline's deploy role) and nothing else is required. Exactly the calls tools/verify.py makes."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from prod_serverless.compliance import acknowledge
from prod_serverless.workers import WorkerFunction


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
        access_log_group: logs.ILogGroup,
        iam_route_arns: Sequence[str] = (),
        role_name: str | None = None,
        workers: Sequence[WorkerFunction] = (),
    ) -> None:
        """`role_name`: an existing role of this account (the pipeline's) to attach the policy to; deleting the
        stack detaches it (AWS::IAM::ManagedPolicy `Roles`)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            # The first pipeline run's make verify can then pass: attached by the deploy, not by hand afterwards.
            roles=[iam.Role.from_role_name(self, "VerifierRole", role_name)] if role_name else None,
            description="make verify on the Prod stack: read its outputs, call the live alias, read the logs, "
            "run a dashboard query, test one alarm's notification, list the alarms' metrics",
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
                    actions=[
                        "cloudwatch:DescribeAlarms",
                        "cloudwatch:DescribeAlarmHistory",
                        "cloudwatch:ListMetrics",
                        "logs:GetQueryResults",  # takes only a queryId: the query's log group was checked at StartQuery
                    ],
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="QueryTheAccessLog",
                    actions=["logs:StartQuery"],
                    # docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html:
                    # StartQuery is on log-group, its ARN written with and without ":*" (GetAtt Arn has it): both.
                    resources=[
                        access_log_group.log_group_arn,
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=access_log_group.log_group_name,
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        ),
                    ],
                ),
                *reader_statements,
                *self._worker_statements(workers),
                *(
                    [
                        iam.PolicyStatement(
                            sid="CallTheIamRoutes",
                            actions=["execute-api:Invoke"],
                            resources=list(iam_route_arns),
                        )
                    ]
                    if iam_route_arns
                    else []
                ),
            ],
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "CloudWatch ListMetrics supports no resource-level permission and Logs GetQueryResults names a query id, "
            "not a log group; DescribeAlarms and DescribeAlarmHistory are read-only, on * as CloudWatch's read-only "
            "policy gives them.",
        )

    @staticmethod
    def _worker_statements(workers: Sequence[WorkerFunction]) -> list[iam.PolicyStatement]:
        """What verify reads of each worker: its dead-letter queue's depth, its schedule's or its mapping's state."""
        if not workers:
            return []
        statements = [
            iam.PolicyStatement(
                sid="ReadTheWorkersDeadLetters",
                actions=["sqs:GetQueueAttributes"],
                resources=[worker.dead_letters.queue_arn for worker in workers],
            )
        ]
        schedules = [worker.schedule.attr_arn for worker in workers if worker.schedule is not None]
        if schedules:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadTheWorkersSchedules", actions=["scheduler:GetSchedule"], resources=schedules
                )
            )
        # Service Authorization Reference, AWS Lambda: the event-source-mapping actions take an eventSourceMapping ARN.
        mappings = [worker.mapping.attr_event_source_mapping_arn for worker in workers if worker.mapping is not None]
        if mappings:
            statements.append(
                iam.PolicyStatement(
                    sid="ReadTheWorkersQueueMappings", actions=["lambda:GetEventSourceMapping"], resources=mappings
                )
            )
        return statements
