"""The one way this stack makes a Lambda function: its own encrypted log group, its own role, one
customer-managed policy holding every permission the code uses, JSON logs at chosen levels, X-Ray.

A builder, not a construct: it builds into the caller's scope with fixed ids (`LogGroup`, `Role`, `Policy`,
`Function`), so using it never moves a resource to a new logical id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import AssetHashType, Duration, IgnoreMode, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from prod_serverless.bundle import Dependencies, assemble
from prod_serverless.compliance import FRAMEWORK_PACKS, acknowledge
from prod_serverless.log_groups import encrypted_log_group

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
# What never ships with the code: the asset and its digest both skip these.
EXCLUDED = ("__pycache__", "*.pyc")


@dataclass(frozen=True)
class OwnedFunction:
    """A function and the resources it owns."""

    function: lambda_.Function
    role: iam.Role
    policy: iam.ManagedPolicy
    log_group: logs.LogGroup


def shipped_files(directory: Path) -> list[Path]:
    """The files of the package `directory` that the asset ships, in a stable order."""
    return sorted(
        path
        for path in directory.rglob("*")
        if path.is_file() and not any(path.match(pattern) or pattern in path.parts for pattern in EXCLUDED)
    )


def code_digest(directory: Path) -> str:
    """A digest of exactly what ships: it changes when, and only when, the deployed code changes."""
    digest = hashlib.sha256()
    for path in shipped_files(directory):
        digest.update(path.relative_to(directory.parent).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def package_asset(package: Path, dependencies: Dependencies | None = None) -> lambda_.Code:
    """The package `package` as the function's code, under its own name (`<package>/…` in the zip), with the
    installed `dependencies` beside it at the zip's root (on Lambda's sys.path), if there are any.

    Shipped as a package, not as loose files, so its modules import each other the same way in Lambda, in
    the tests and in the CDK app (`from service.routes import ROUTES`). The asset is the parent directory
    with everything but the package excluded (glob patterns, .gitignore-like: the last match wins).
    """
    if dependencies is not None:
        assembled = assemble(package, dependencies)
        return lambda_.Code.from_asset(
            str(assembled),
            exclude=[f"**/{pattern}" for pattern in EXCLUDED],
            ignore_mode=IgnoreMode.GLOB,
            # Named by the lock's digest and the package's files: what decides the content, on any machine.
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=assembled.name.removeprefix("asset-"),
        )
    return lambda_.Code.from_asset(
        str(package.parent),
        # "*" skips dot-names (minimatch), so ".*" too; then the package back in, then what never ships.
        exclude=["*", ".*", f"!{package.name}", f"!{package.name}/**", *(f"**/{pattern}" for pattern in EXCLUDED)],
        ignore_mode=IgnoreMode.GLOB,
        # The digest of exactly the shipped files: the repository's other files never change the asset.
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=code_digest(package),
    )


def owned_function(
    scope: Construct,
    *,
    code: Path,
    handler: str,
    description: str,
    purpose: str,
    statements: Sequence[iam.PolicyStatement],
    environment: Mapping[str, str],
    log_key: kms.IKey,
    log_retention_days: int,
    log_level: str,
    system_log_level: str,
    tracing: str,
    memory_mb: int,
    timeout: Duration,
    dlq_reason: str | None,
    reserved_concurrency: int | None = None,
    retry_attempts: int | None = None,
    dependencies: Dependencies | None = None,
    dead_letter_queue: sqs.IQueue | None = None,
) -> OwnedFunction:
    """Build the function into `scope` from the package `code` (`handler` is relative to it: "handler.handler");
    `purpose` completes "Runtime role of …" and the policy description. `dead_letter_queue`: where Lambda puts an
    asynchronous run that failed its retries (`statements` must allow sqs:SendMessage on it: the role takes no
    grants); without one, `dlq_reason` says why none is needed."""
    log_group = encrypted_log_group(scope, "LogGroup", retention_days=log_retention_days, key=log_key)
    # Our own role: the default one would attach the AWS managed AWSLambdaBasicExecutionRole.
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Runtime role of {purpose}",
    )
    # A customer-managed policy (NIST/HIPAA IAMNoInlinePolicy) holding every permission the code uses.
    policy = iam.ManagedPolicy(
        scope,
        "Policy",
        description=f"{purpose[0].upper()}{purpose[1:]}",
        roles=[role],
        statements=[
            iam.PolicyStatement(
                sid="WriteOwnLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                # The log group's ARN attribute ends in ":*", which covers exactly its log streams.
                resources=[log_group.log_group_arn],
            ),
            iam.PolicyStatement(
                sid="SendTraces",
                actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                resources=["*"],
            ),
            *statements,
        ],
    )
    acknowledge(
        policy,
        "AwsSolutions-IAM5[Resource::*]",
        "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; only X-Ray uses *.",
    )
    function = lambda_.Function(
        scope,
        "Function",
        description=description,
        runtime=RUNTIME,
        architecture=ARCHITECTURE,
        handler=f"{code.name}.{handler}",
        code=package_asset(code, dependencies),
        memory_size=memory_mb,
        timeout=timeout,
        # Nothing may add to the role behind this builder's back (grants would be inline policies): every
        # permission is in `policy`.
        role=role.without_policy_updates(),
        environment=dict(environment),
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        application_log_level_v2=lambda_.ApplicationLogLevel(log_level),
        system_log_level_v2=lambda_.SystemLogLevel(system_log_level),
        reserved_concurrent_executions=reserved_concurrency,
        retry_attempts=retry_attempts,
        dead_letter_queue=dead_letter_queue,
        # Only the version in service is kept (function.py says why), for a caller that publishes current_version.
        current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.DESTROY),
    )
    resource = function.node.default_child
    if not isinstance(resource, lambda_.CfnFunction):
        raise TypeError("lambda_.Function without a CfnFunction")
    # Set on the L1: the L2's `tracing` would add an inline X-Ray policy beside the managed one.
    resource.tracing_config = lambda_.CfnFunction.TracingConfigProperty(mode=tracing)
    if tracing != "Active":
        acknowledge(
            function,
            "Serverless-LambdaTracing",
            "Lambda's X-Ray sampling is fixed at 1 request/s + 5% (Lambda 'Using AWS Lambda with AWS X-Ray'): "
            "$0.25-5.00 per million requests, more than all the logging; tracing=Active turns it on.",
        )
    # Wait for the policy (first log line); the role is already ordered by its GetAtt (cfn-lint W3005).
    policy_resource = policy.node.default_child
    if not isinstance(policy_resource, iam.CfnManagedPolicy):
        raise TypeError("iam.ManagedPolicy without a CfnManagedPolicy")
    resource.add_override("DependsOn", [policy_resource.logical_id])
    if dead_letter_queue is None:
        if dlq_reason is None:
            raise ValueError(f"{scope.node.path}: a function without a dead-letter queue needs a dlq_reason")
        for pack in ("Serverless", *FRAMEWORK_PACKS):
            acknowledge(function, f"{pack}-LambdaDLQ", dlq_reason)
    for rule in (*(f"{pack}-LambdaInsideVPC" for pack in FRAMEWORK_PACKS), "CT.LAMBDA.PR.3"):
        acknowledge(
            function,
            rule,
            "The function reaches no private resource; a VPC would add ENIs and NAT cost and protect nothing.",
        )
    if reserved_concurrency is None:
        for pack in FRAMEWORK_PACKS:
            acknowledge(
                function,
                f"{pack}-LambdaConcurrency",
                "Reserved concurrency is opt-in (reservedConcurrency): new accounts have a quota of 10.",
            )
    return OwnedFunction(function=function, role=role, policy=policy, log_group=log_group)
