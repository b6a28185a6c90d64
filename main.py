"""App entry: reads the configuration once and composes ProdServerlessStack from one construct per concern."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from aws_cdk import App, CfnOutput, DefaultStackSynthesizer, Environment, Stack
from constructs import Construct

from prod_serverless.api import HttpEndpoint
from prod_serverless.compliance import add_compliance_checks
from prod_serverless.function import TIMEOUT, ServiceFunction
from prod_serverless.log_archive import LogArchive
from prod_serverless.log_catalog import LogCatalog
from prod_serverless.monitoring import MonitoredService, Monitoring
from prod_serverless.settings import Settings, SettingsError

STACK_NAME = "ProdServerlessStack"
REGION = "us-east-1"


class ProdServerlessStack(Stack):
    """HTTP API → Lambda, with its logs archived to an encrypted, queryable S3 bucket and alarms on both."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)

        archive = LogArchive(self, "ProdLogArchive", settings=settings)
        service = ServiceFunction(self, "ProdFunction", settings=settings, log_key=archive.key)
        api = HttpEndpoint(self, "ProdApi", settings=settings, function=service.function, log_key=archive.key)
        archive.add_source("api", api.access_log_group)
        archive.add_source("function", service.log_group)
        LogCatalog(self, "ProdLogCatalog", bucket=archive.bucket, key=archive.key)
        monitoring = Monitoring(
            self,
            "ProdMonitoring",
            settings=settings,
            service=MonitoredService(
                function=service.function,
                function_timeout=TIMEOUT,
                api_id=api.http_api.api_id,
                delivery_streams={source: stream.ref for source, stream in archive.streams.items()},
                subscribed_log_groups=dict(archive.sources),
            ),
        )

        CfnOutput(self, "ProdApiUrl", value=api.url, description="Invoke URL of GET /")
        CfnOutput(self, "ProdLogBucketName", value=archive.bucket.bucket_name, description="Log archive bucket")
        CfnOutput(self, "ProdFunctionName", value=service.function.function_name, description="API function")
        CfnOutput(self, "ProdAlarmTopicArn", value=monitoring.topic.topic_arn, description="Alarm notifications")


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> App:
    """The whole app: settings from context, the stack, the compliance checks."""
    app = App(context=dict(context or {}), outdir=outdir)
    settings = Settings.from_context(app.node.try_get_context)
    ProdServerlessStack(
        app,
        STACK_NAME,
        settings=settings,
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=REGION),
        description="Prod serverless API: HTTP API + Lambda, encrypted log archive, alarms",
        analytics_reporting=False,  # CDKMetadata would be the one resource without the Prod prefix
        # The BootstrapVersion parameter and rule would be the only unprefixed logical IDs; the CLI still
        # checks the bootstrap version from the cloud assembly (requiresBootstrapStackVersion) on deploy.
        synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
        termination_protection=True,
    )
    add_compliance_checks(app)
    return app


def main() -> None:
    try:
        app = build_app()
    except SettingsError as error:
        sys.exit(f"Configuration error: {error}")
    app.synth()


if __name__ == "__main__":
    main()
