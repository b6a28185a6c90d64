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
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from prod_serverless.lambdas import ARCHITECTURE, RUNTIME, code_digest, owned_function
from prod_serverless.settings import Settings

SERVICE_CODE = Path(__file__).resolve().parent.parent / "service"
HANDLER = "handler.handler"
MEMORY_MB = 128
TIMEOUT = Duration.seconds(15)
ALIAS = "live"
DESCRIPTION = "Prod HTTP API handler for GET /"
# Properties of AWS::Lambda::Function that a published version does not capture. Every other property must
# feed the fingerprint; tests/infra/test_function.py fails when a property is in neither list.
UNVERSIONED = ("Description", "ReservedConcurrentExecutions", "Tags")


def environment(settings: Settings) -> dict[str, str]:
    """The function's environment variables, as the handler reads them."""
    return {
        "ENVIRONMENT_NAME": settings.environment_label,
        "APP_VERSION": settings.app_version,
        "LOG_LEVEL": settings.log_level,
    }


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
    ) -> None:
        super().__init__(scope, construct_id)
        self.fingerprint = self.version_fingerprint(settings, code)
        owned = owned_function(
            self,
            code=code,
            handler=HANDLER,
            description=f"{DESCRIPTION} (configuration {self.fingerprint})",
            purpose="the Prod API function: its own log group and X-Ray only",
            statements=[],
            environment=environment(settings),
            log_key=log_key,
            log_retention_days=settings.log_retention_days,
            log_level=settings.log_level,
            system_log_level=settings.system_log_level,
            tracing=settings.tracing,
            memory_mb=MEMORY_MB,
            timeout=TIMEOUT,
            dlq_reason="Invoked synchronously by API Gateway only; a DLQ applies to asynchronous invocations alone.",
            reserved_concurrency=settings.reserved_concurrency,
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
        captured = {
            "code": code_digest(code),
            "handler": HANDLER,
            "runtime": RUNTIME.name,
            "architecture": ARCHITECTURE.name,
            "memory": MEMORY_MB,
            "timeout": TIMEOUT.to_seconds(),
            "environment": environment(settings),
            "logging": {"format": "JSON", "application": settings.log_level, "system": settings.system_log_level},
            "tracing": settings.tracing,
            # A replaced role or log group changes the function's configuration too.
            "role": f"{self.node.path}/Role",
            "logGroup": f"{self.node.path}/LogGroup",
        }
        return hashlib.sha256(json.dumps(captured, sort_keys=True).encode()).hexdigest()[:12]
