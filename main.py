"""App entry: reads the configuration once and composes ProdServerlessStack from one construct per concern."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    if "CDK_OUTDIR" not in os.environ:
        # Run by hand (often with a Python that lacks the CDK): say what to run instead of a traceback.
        sys.exit("main.py is run by the CDK CLI: use `make synth` (or `make deploy`), which installs and sets up all")
    from prod_serverless import early, schemas

    early.check()  # the settings and the route table, before the CDK loads: a mistake is its one line at once
    schemas.without_iri_grammar()  # this process checks the routes' schemas by a metaschema naming no IRI format

from aws_cdk import App, Aspects, CfnOutput, DefaultStackSynthesizer, Environment, Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from prod_serverless import schemas
from prod_serverless.alarms import alarm_specs, dead_letters
from prod_serverless.api import HttpEndpoint
from prod_serverless.bundle import LOCK, BundleError, Dependencies, install, sbom, shown
from prod_serverless.compliance import acknowledgment_hints, add_compliance_checks
from prod_serverless.disposable import Disposable
from prod_serverless.early import ROUTES_ERROR, SETTINGS_ERROR
from prod_serverless.function import ServiceFunction
from prod_serverless.log_archive import LogArchive
from prod_serverless.log_catalog import LogCatalog
from prod_serverless.log_formats import LOG_TABLES, worker_log_table
from prod_serverless.monitoring import MonitoredService, Monitoring
from prod_serverless.names import StageNames
from prod_serverless.release import SafeRelease
from prod_serverless.settings import Settings, SettingsError, cdk_json_context, parse_pairs
from prod_serverless.verifier import VerifierPolicy
from prod_serverless.workers import Worker, WorkerError, WorkerFunction, check_workers
from service.routing import Route, RouteError

STACK_NAME = StageNames().stack  # production's; another stage's stack is named by its stage (settings.names)
SBOM = "ProdFunction.sbom.cdx.json"  # written beside the template: what the API function's asset holds


def route_table() -> tuple[Route, ...]:
    """service/routes.py's rows; imported here, not at the top, so a malformed row is main()'s one line."""
    from service.routes import ROUTES

    return ROUTES


def worker_table() -> tuple[Worker, ...]:
    """workers/table.py's rows; imported here, so a malformed row is main()'s one line."""
    from workers.table import WORKERS

    return WORKERS


class ProdServerlessStack(Stack):
    """HTTP API → Lambda, with its logs archived to an encrypted, queryable S3 bucket and alarms on both."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        routes: tuple[Route, ...] | None = None,
        workers: tuple[Worker, ...] | None = None,
        dependencies: Dependencies | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        routes = route_table() if routes is None else routes
        workers = worker_table() if workers is None else workers
        check_workers(workers)

        archive = LogArchive(self, "ProdLogArchive", settings=settings)
        # The resources the function uses (docs/recipes.md): declare each here, name it in `resources` (an
        # environment variable) and grant exactly what the code does with it in `statements`.
        resources: dict[str, str] = {}
        statements: list[iam.PolicyStatement] = []
        # The same for a worker (workers/table.py), by its name: the variables naming its resources, its grants on them.
        worker_resources: dict[str, dict[str, str]] = {}
        worker_statements: dict[str, list[iam.PolicyStatement]] = {}
        self.service = service = ServiceFunction(
            self,
            "ProdFunction",
            settings=settings,
            log_key=archive.key,
            dependencies=dependencies,
            resources=resources,
            statements=statements,
        )
        api = HttpEndpoint(
            self, "ProdApi", settings=settings, routes=routes, function=service.alias, log_key=archive.key
        )
        archive.add_source("api", api.access_log_group)
        archive.add_source("function", service.log_group)
        # The functions no route calls (workers/table.py): each with its trigger, its archived logs and its alarms.
        unknown = sorted((worker_resources.keys() | worker_statements.keys()) - {worker.name for worker in workers})
        if unknown:
            raise WorkerError(
                f"worker {', '.join(unknown)} is given resources in main.py but is not in workers/table.py"
            )
        self.workers = [
            WorkerFunction(
                self,
                worker.construct_id,
                worker=worker,
                settings=settings,
                log_key=archive.key,
                resources=worker_resources.get(worker.name, {}),
                statements=worker_statements.get(worker.name, ()),
            )
            for worker in workers
        ]
        for each in self.workers:
            archive.add_source(each.worker.name, each.log_group)
        catalog = LogCatalog(
            self,
            "ProdLogCatalog",
            bucket=archive.bucket,
            key=archive.key,
            access_logs_bucket=archive.access_logs_bucket,
            results_expiration_days=settings.athena_results_expiration_days,
            names=settings.names,
            tables=(*LOG_TABLES, *(worker_log_table(worker.name) for worker in workers)),
        )
        monitoring = Monitoring(
            self,
            "ProdMonitoring",
            specs=alarm_specs(
                settings,
                sources=tuple(archive.sources),
                timeout_ms=int(service.timeout.to_milliseconds()),
                routes=routes,
                workers=workers,
            ),
            service=MonitoredService(
                function_name=service.function.function_name,
                api_id=api.http_api.api_id,
                executed_version=service.version.version,
                delivery_streams={source: stream.ref for source, stream in archive.streams.items()},
                log_groups={source: group.log_group_name for source, group in archive.sources.items()},
                routes=tuple(route.key for route in routes),
                access_log_group=api.access_log_group.log_group_name,
                release=service.fingerprint,
                refusals=api.protected,
                subjects=worker_dimensions(self.workers),
            ),
            alarm_email=settings.alarm_email,
            subscribers_outside_stack=settings.alarm_subscribers_outside_stack,
            names=settings.names,
        )
        SafeRelease(
            self,
            "ProdRelease",
            function=service.function,
            version=service.version,
            alias=service.alias,
            function_timeout_seconds=settings.function_timeout_seconds,
            routes=routes,
            strategy=settings.deployment_strategy,
            rollback_alarms=monitoring.release_alarms,
            ignore_alarms=settings.release_ignore_alarms,
            log_key=archive.key,
            provisioned=settings.provisioned_concurrency is not None,
            reserved_concurrency=settings.reserved_concurrency,
        )

        verifier = VerifierPolicy(
            self,
            "ProdVerifier",
            reader_statements=catalog.reader_statements,
            alias=service.alias,
            test_alarm=monitoring.alarms["FunctionErrors"],
            access_log_group=api.access_log_group,
            iam_route_arns=api.iam_route_arns,
            role_name=settings.verifier_role_name,
            workers=self.workers,
        )
        catalog.acknowledge_reader_wildcards(verifier.policy, archive.bucket)
        api.acknowledge_iam_route_wildcards(verifier.policy)

        CfnOutput(self, "ProdApiUrl", value=api.url, description="Invoke URL of the API (its routes: docs/routes.md)")
        CfnOutput(self, "ProdLogBucketName", value=archive.bucket.bucket_name, description="Log archive bucket")
        CfnOutput(self, "ProdLogArchiveKeyArn", value=archive.key.key_arn, description="Key of the log archive")
        CfnOutput(self, "ProdFunctionName", value=service.function.function_name, description="API function")
        CfnOutput(self, "ProdLiveAliasArn", value=service.alias.function_arn, description="What the API invokes")
        CfnOutput(self, "ProdAlarmTopicArn", value=monitoring.topic.topic_arn, description="Alarm notifications")
        CfnOutput(
            self,
            "ProdLogReaderPolicyArn",
            value=catalog.reader_policy.managed_policy_arn,
            description="Attach to the roles that query the logs",
        )
        CfnOutput(
            self,
            "ProdVerifierPolicyArn",
            value=verifier.policy.managed_policy_arn,
            description="Attach to the role that runs make verify (a person, the pipeline): all it needs",
        )
        for each in self.workers:
            title = each.worker.title
            CfnOutput(self, f"Prod{title}FunctionName", value=each.function.function_name, description="Worker")
            if each.queue is not None:
                CfnOutput(self, f"Prod{title}QueueUrl", value=each.queue.queue_url, description="What it consumes")


def worker_dimensions(workers: list[WorkerFunction]) -> dict[str, dict[str, str]]:
    """What each worker's alarms read: its function and queue, and its dead-letter queue (alarms.dead_letters)."""
    subjects: dict[str, dict[str, str]] = {}
    for each in workers:
        subjects[each.worker.name] = {"FunctionName": each.function.function_name}
        if each.queue is not None:
            subjects[each.worker.name]["QueueName"] = each.queue.queue_name
        subjects[dead_letters(each.worker.name)] = {"QueueName": each.dead_letters.queue_name}
    return subjects


def build_app(
    context: Mapping[str, Any] | None = None,
    outdir: str | None = None,
    *,
    control_tower: bool = True,
    routes: tuple[Route, ...] | None = None,
    workers: tuple[Worker, ...] | None = None,
    lock: Path = LOCK,
) -> App:
    """The whole app: settings from context, the stack, the compliance checks.

    cdk.json's context is the base, so `python main.py` (tests, debuggers) builds what `cdk synth` builds;
    the CLI's own context (`-c key=value`) still takes precedence over it. `control_tower=False` skips the
    Control Tower rules, which take seconds per synth: tests of a second configuration use it. `lock`: the
    function's own dependencies (prod_serverless/bundle.py); the app writes their SBOM beside the template.
    """
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    settings = Settings.from_context(app.node.get_all_context())
    table = route_table() if routes is None else routes
    schemas.check(table)
    if routes is None and (stale := schemas.stale(table)):  # the function would validate by older schemas
        raise RouteError(f"service/validators/ ({', '.join(stale)}) is stale for the table's schemas: run `make docs`")
    dependencies = install(lock)
    stack = ProdServerlessStack(
        app,
        settings.names.stack,
        settings=settings,
        routes=routes,
        workers=workers,
        dependencies=dependencies,
        env=Environment(account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=settings.region),
        description="Prod serverless API: HTTP API + Lambda, encrypted log archive, alarms",
        analytics_reporting=False,  # CDKMetadata would be the one resource without the Prod prefix
        # The BootstrapVersion parameter and rule would be the only unprefixed logical IDs; the CLI still
        # checks the bootstrap version from the cloud assembly (requiresBootstrapStackVersion) on deploy.
        synthesizer=DefaultStackSynthesizer(generate_bootstrap_version_rule=False),
        termination_protection=True,
    )
    if not settings.names.production:  # another stage deletes with its stack what production keeps
        Aspects.of(stack).add(Disposable())
    add_compliance_checks(app, control_tower=control_tower)
    if stack.service.size_note:
        print(stack.service.size_note, file=sys.stderr)
    sbom_file = Path(app.outdir) / SBOM
    sbom_file.parent.mkdir(parents=True, exist_ok=True)
    sbom_file.write_text(sbom(dependencies, name=stack.stack_name + "/ProdFunction", version=stack.service.fingerprint))
    return app


def main() -> None:
    try:
        # make passes the configuration as CONTEXT="key=value …" (the CLI's own -c pairs still work too).
        app = build_app(parse_pairs(os.environ.get("CONTEXT", "")))
    except SettingsError as error:
        sys.exit(SETTINGS_ERROR.format(error))
    except RouteError as error:
        sys.exit(ROUTES_ERROR.format(error))
    except WorkerError as error:
        sys.exit(f"Workers table error (workers/table.py): {error}")
    except BundleError as error:
        sys.exit(f"Function dependencies ({shown(LOCK)}): {error}")
    try:
        app.synth()
    except RuntimeError as error:
        # The validation plugins have printed every finding above; a traceback would add nothing.
        if "ValidationFailed" not in str(error):
            raise
        report = Path(app.outdir) / "validation-report.json"
        hints = acknowledgment_hints(json.loads(report.read_text())) if report.exists() else []
        sys.exit(
            "\n".join(
                [
                    *hints,
                    "Synth stopped: a rule pack or Control Tower control reported the findings above "
                    f"(full report: {report})",
                ]
            )
        )


if __name__ == "__main__":
    main()
