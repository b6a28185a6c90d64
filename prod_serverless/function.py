"""The Lambda function that serves the API, its own log group and its own least-privilege role."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from prod_serverless.compliance import FRAMEWORK_PACKS, acknowledge
from prod_serverless.log_groups import encrypted_log_group
from prod_serverless.settings import Settings

SERVICE_CODE = Path(__file__).resolve().parent.parent / "service"
HANDLER = "handler.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_14
MEMORY_MB = 128
TIMEOUT = Duration.seconds(15)


class ServiceFunction(Construct):
    """Python function on arm64 with an explicit, encrypted, retained log group and a scoped role."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, log_key: kms.IKey) -> None:
        super().__init__(scope, construct_id)

        self.log_group = encrypted_log_group(
            self,
            "LogGroup",
            retention_days=settings.log_retention_days,
            key=log_key,
        )

        # Our own role: the default one would attach the AWS managed AWSLambdaBasicExecutionRole.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Runtime role of the Prod API function: its own log group and X-Ray only",
        )
        # A customer-managed policy (NIST/HIPAA IAMNoInlinePolicy) holding every permission the code uses.
        self.policy = iam.ManagedPolicy(
            self,
            "Policy",
            description="Prod API function: write its own log group, send X-Ray traces",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    sid="WriteOwnLogGroup",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    # The log group's ARN attribute ends in ":*", which covers exactly its log streams.
                    resources=[self.log_group.log_group_arn],
                ),
                iam.PolicyStatement(
                    sid="SendTraces",
                    actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    resources=["*"],
                ),
            ],
        )
        acknowledge(
            self.policy,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; only X-Ray uses *.",
        )

        self.function = lambda_.Function(
            self,
            "Function",
            description="Prod HTTP API handler for GET /",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(SERVICE_CODE), exclude=["__pycache__", "*.pyc", "__init__.py"]),
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=self.role,
            environment={
                "ENVIRONMENT_NAME": settings.environment_label,
                "APP_VERSION": settings.app_version,
                "LOG_LEVEL": settings.log_level,
            },
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel(settings.log_level),
            system_log_level_v2=lambda_.SystemLogLevel.INFO,
            reserved_concurrent_executions=settings.reserved_concurrency,
        )
        function_resource = self.function.node.default_child
        if not isinstance(function_resource, lambda_.CfnFunction):
            raise TypeError("lambda_.Function without a CfnFunction")
        # Set on the L1: the L2's `tracing` would add an inline X-Ray policy beside the managed one.
        function_resource.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode="Active")
        # Wait for the policy (first log line); the role is already ordered by its GetAtt (cfn-lint W3005).
        policy_resource = self.policy.node.default_child
        if not isinstance(policy_resource, iam.CfnManagedPolicy):
            raise TypeError("iam.ManagedPolicy without a CfnManagedPolicy")
        function_resource.add_override("DependsOn", [policy_resource.logical_id])
        for pack in ("Serverless", *FRAMEWORK_PACKS):
            acknowledge(
                self.function,
                f"{pack}-LambdaDLQ",
                "Invoked synchronously by API Gateway only; a DLQ applies to asynchronous invocations alone.",
            )
        for rule in (*(f"{pack}-LambdaInsideVPC" for pack in FRAMEWORK_PACKS), "CT.LAMBDA.PR.3"):
            acknowledge(
                self.function,
                rule,
                "The function reaches no private resource; a VPC would add ENIs and NAT cost and protect nothing.",
            )
        if settings.reserved_concurrency is None:
            for pack in FRAMEWORK_PACKS:
                acknowledge(
                    self.function,
                    f"{pack}-LambdaConcurrency",
                    "Reserved concurrency is opt-in (reservedConcurrency): new accounts have a quota of 10.",
                )
