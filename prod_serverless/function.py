"""The Lambda function that serves the API, its log group and role, and the `live` alias that serves it.

Each change of the code or of the configuration a published version captures gives a new version
fingerprint: a new `AWS::Lambda::Version` (its logical id carries the fingerprint) and a new function
description (which carries it too). The description makes sure the function itself has changed whenever a
new version is created, so PublishVersion never meets an unchanged function and CloudFormation never fails
with "A version for this Lambda function exists" (Lambda API "PublishVersion": Lambda doesn't publish a
version if the function's configuration and code haven't changed since the last version). A change that
touches nothing the version captures keeps the fingerprint, the version and the alias as they are.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from prod_serverless.bundle import Dependencies, check_size
from prod_serverless.lambdas import ARCHITECTURE, RUNTIME, code_digest, owned_function, shipped_files
from prod_serverless.names import StageNames
from prod_serverless.settings import Settings, SettingsError

SERVICE_CODE = Path(__file__).resolve().parent.parent / "service"
HANDLER = "handler.handler"  # in the `service` package: service.handler.handler
ALIAS = "ProdLive"  # the one physical name the stack sets: Prod-prefixed like every other
DESCRIPTION = "Prod HTTP API function"
# Properties of AWS::Lambda::Function that a published version does not capture. Every other property must
# feed the fingerprint; tests/infra/test_function.py fails when a property is in neither list.
UNVERSIONED = ("Description", "ReservedConcurrentExecutions", "Tags")
# Lambda "Defined runtime environment variables": these are reserved; a function cannot set them.
RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Variable:
    """One environment variable of the function: its name, where its value comes from, what reads it."""

    name: str
    value: Callable[[Settings], str]
    meaning: str


# The function's environment variables: one row each. The handler reads them at import (service/endpoints.py,
# service/handler.py); a value from a resource (a table name) is passed to ServiceFunction as `resources`.
ENVIRONMENT = (
    Variable("ENVIRONMENT_NAME", lambda s: s.environment_label, "label answered as `environment` (environmentLabel)"),
    Variable("APP_VERSION", lambda s: s.app_version, "version answered as `version` (appVersion)"),
    Variable("LOG_LEVEL", lambda s: s.log_level, "the handler's logger level (logLevel)"),
)


def environment(settings: Settings, resources: Mapping[str, str] | None = None) -> dict[str, str]:
    """The function's environment variables: the ENVIRONMENT rows, then the resource-derived ones."""
    variables = {row.name: row.value(settings) for row in ENVIRONMENT}
    extra = dict(resources or {})
    twice = sorted(variables.keys() & extra.keys())
    if twice:
        raise SettingsError(f"environment variable {', '.join(twice)} is set both in ENVIRONMENT and in resources")
    reserved = sorted((variables.keys() | extra.keys()) & RESERVED_VARIABLES)
    if reserved:
        raise SettingsError(
            f"environment variable {', '.join(reserved)} is reserved by Lambda (Defined runtime environment "
            "variables); choose another name"
        )
    return {**variables, **extra}


class ServiceFunction(Construct):
    """Python function on arm64 with its own log group and role, published as a version behind `live`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        log_key: kms.IKey,
        code: Path = SERVICE_CODE,
        resources: Mapping[str, str] | None = None,
        statements: Sequence[iam.PolicyStatement] = (),
        dependencies: Dependencies | None = None,
    ) -> None:
        """`resources`: environment variables naming resources of the stack (e.g. a table name), and
        `statements`: the least-privilege permissions the code needs on them. `dependencies`: the third-party
        packages installed from dependencies/requirements.lock (prod_serverless/bundle.py), shipped beside the code."""
        super().__init__(scope, construct_id)
        self.environment = environment(settings, resources)
        self.memory_mb = settings.function_memory_mb
        self.timeout = Duration.seconds(settings.function_timeout_seconds)
        self.dependencies = dependencies
        self.code_bytes = sum(path.stat().st_size for path in shipped_files(code))
        self.size_note = check_size(
            self.code_bytes + (dependencies.unzipped_bytes if dependencies else 0),
            self.code_bytes + (dependencies.zipped_bytes if dependencies else 0),  # source compresses; a bound
        )
        self.fingerprint = self.version_fingerprint(settings, code)
        owned = owned_function(
            self,
            code=code,
            handler=HANDLER,
            description=f"{DESCRIPTION} (configuration {self.fingerprint})",
            purpose="the Prod API function: its own log group, X-Ray and what `statements` add",
            statements=list(statements),
            environment=self.environment,
            log_key=log_key,
            log_retention_days=settings.log_retention_days,
            log_level=settings.log_level,
            system_log_level=settings.system_log_level,
            tracing=settings.tracing,
            memory_mb=self.memory_mb,
            timeout=self.timeout,
            dlq_reason="Invoked synchronously by API Gateway only; a DLQ applies to asynchronous invocations alone.",
            reserved_concurrency=settings.reserved_concurrency,
            dependencies=dependencies,
        )
        self.function, self.role, self.policy, self.log_group = (
            owned.function,
            owned.role,
            owned.policy,
            owned.log_group,
        )
        # Only the version in service is kept: CloudFormation deletes the previous one after the alias has
        # moved (and a rollback deletes the new one), so versions never pile up toward the code-storage quota.
        self.version = lambda_.Version(
            self,
            f"Version{self.fingerprint}",
            lambda_=self.function,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.alias = lambda_.Alias(
            self,
            "LiveAlias",
            alias_name=ALIAS,
            version=self.version,
            description="What the API invokes; CodeDeploy shifts it to each new version",
            provisioned_concurrent_executions=settings.provisioned_concurrency,
        )

    def version_fingerprint(self, settings: Settings, code: Path) -> str:
        """What a published version captures, hashed: code, runtime, size, environment, logging, role."""
        in_stack = "/".join([StageNames().stack, *self.node.path.split("/")[1:]])
        captured = {
            "code": code_digest(code),
            "handler": f"{code.name}.{HANDLER}",
            "runtime": RUNTIME.name,
            "architecture": ARCHITECTURE.name,
            "memory": self.memory_mb,
            "timeout": self.timeout.to_seconds(),
            # Resolved, so a resource's name reads as its stable {"Ref": …}, not a token string.
            "environment": Stack.of(self).resolve(self.environment),
            "logging": {"format": "JSON", "application": settings.log_level, "system": settings.system_log_level},
            "tracing": settings.tracing,
            # A replaced role or log group changes the function's configuration too. Their paths in the stack, rooted
            # at production's stack name: production's fingerprint stays as it was, and a stage's is the same.
            "role": f"{in_stack}/Role",
            "logGroup": f"{in_stack}/LogGroup",
        }
        if self.dependencies is not None:  # absent when there are none, so such a function's fingerprint is as before
            captured["dependencies"] = [f"{item['name']}=={item['version']} {item['sha256']}" for item in
                                        self.dependencies.installed]  # fmt: skip
        return hashlib.sha256(json.dumps(captured, sort_keys=True).encode()).hexdigest()[:12]
