"""Functions that no API route calls: a scheduled job, a queue consumer. Each is one `Worker` row of the table in
workers/table.py, and every consumer reads that row: this construct (function, role, policy, log group, alias,
trigger, dead-letter queue), the log archive and its Glue table, the alarms and the dashboard, `make cost`,
`make invoke` and the rule packs.

A worker's code is the package workers/<name>/ (its `handler.py` defines `handler(event, context)`), shipped as
`<name>/…`, standard library only. It is published as a version behind its own `ProdLive` alias, which the trigger
invokes; a deploy moves the alias all at once (docs/releases.md says why no canary).
"""

from __future__ import annotations

import json
import re
import sys
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from prod_serverless.compliance import acknowledge
from prod_serverless.function import RESERVED_VARIABLES
from prod_serverless.lambdas import owned_function
from prod_serverless.names import WORKER_METADATA, worker_construct_id
from prod_serverless.settings import Settings

WORKERS_CODE = Path(__file__).resolve().parent.parent / "workers"
HANDLER = "handler.handler"  # in the worker's package: <name>.handler.handler
ALIAS = "ProdLive"  # an alias name is per function, so every worker's is the same
# A name is the package, the archived log source and the Glue table's middle: lower case, short, not the API's.
NAME = re.compile(r"[a-z][a-z0-9]{0,19}")
TAKEN = frozenset({"api", "function"})  # the log archive's own sources
VARIABLE = re.compile(r"[a-zA-Z][a-zA-Z0-9_]+")  # Lambda API "Environment": the Variables keys pattern
# EventBridge Scheduler's expressions ("Schedule types on EventBridge Scheduler"): rate, cron (6 fields) or at.
EXPRESSION = re.compile(r"rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\((\S+ ){5}\S+\)|at\(\S+\)")
# Lambda "Creating and configuring an Amazon SQS event source mapping": the queue's visibility timeout at least six
# times the function's timeout, so a throttled batch can be retried before the message reappears.
VISIBILITY_TIMEOUT_FACTOR = 6
# SQS keeps a message at most 14 days (SQS "Quotas"): the dead letters wait that long for someone to look.
DEAD_LETTER_RETENTION = Duration.days(14)
# EventBridge Scheduler retries a failed delivery, then puts it in the dead-letter queue ("Configuring a schedule's
# dead-letter queue"); Lambda then retries a failed asynchronous run twice before its own DLQ (Lambda "Asynchronous
# invocation"). Both land in the same queue, whose depth pages.
SCHEDULER_RETRIES = 2
SCHEDULER_MAX_EVENT_AGE_SECONDS = 3600


class WorkerError(ValueError):
    """A row of the workers table that cannot be built; the message names the row and the allowed values."""


@dataclass(frozen=True)
class Schedule:
    """Run on a schedule with EventBridge Scheduler: `expression` is `rate(…)`, `cron(…)` (6 fields) or `at(…)`,
    read in `timezone`; each run receives `event`, which is also what `make invoke` sends."""

    expression: str
    event: Mapping[str, Any] = field(default_factory=dict)
    timezone: str = "UTC"

    kind = "schedule"


@dataclass(frozen=True)
class Queue:
    """Consume an SQS queue the worker owns, with a dead-letter queue after `max_receive_count` failed receives;
    the handler reports failed messages (`batchItemFailures`), so only those return to the queue. `message` is a
    sample body, which `make invoke` sends in an SQS event."""

    message: Mapping[str, Any]
    batch_size: int = 10
    max_receive_count: int = 5
    max_concurrency: int = 2  # Lambda's ScalingConfig: how many batches at once (2 to 1000)
    oldest_message_minutes: int = 15  # the backlog alarm's threshold: the oldest message's age

    kind = "queue"


@dataclass(frozen=True)
class Worker:
    """One function that no route calls: its package, its trigger, its size, its environment and permissions."""

    name: str
    purpose: str  # one line: what it does (the function's description, the docs)
    trigger: Schedule | Queue
    memory_mb: int = 128
    timeout_seconds: int = 60
    environment: Mapping[str, str] = field(default_factory=dict)
    statements: tuple[iam.PolicyStatement, ...] = ()  # what its code does beyond its trigger, on exact ARNs

    def __post_init__(self) -> None:
        where = f"worker {self.name!r}"
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name) or self.name in TAKEN:
            raise WorkerError(
                f"{where}: name must match {NAME.pattern} (it names the package workers/<name>/) and not be "
                f"{' or '.join(sorted(TAKEN))}"
            )
        if self.name in sys.stdlib_module_names:  # the package is top level in Lambda: it would shadow the module
            raise WorkerError(f"{where}: name is a standard library module's; choose another")
        if not (self.code / "handler.py").is_file():
            raise WorkerError(f"{where}: workers/{self.name}/handler.py not found (it defines handler(event, context))")
        if not 128 <= self.memory_mb <= 10240:
            raise WorkerError(f"{where}: memory_mb must be 128 to 10240 (Lambda's range), got {self.memory_mb}")
        if not 1 <= self.timeout_seconds <= 900:
            raise WorkerError(f"{where}: timeout_seconds must be 1 to 900 (Lambda's limit), got {self.timeout_seconds}")
        malformed = sorted(
            str(name) for name, value in self.environment.items()
            if not isinstance(name, str) or not VARIABLE.fullmatch(name) or not isinstance(value, str)
        )  # fmt: skip
        if malformed:
            raise WorkerError(
                f"{where}: environment variable {', '.join(malformed)} needs a name matching {VARIABLE.pattern} and a "
                "string value"
            )
        reserved = sorted(set(self.environment) & RESERVED_VARIABLES)
        if reserved:
            raise WorkerError(
                f"{where}: environment variable {', '.join(reserved)} is reserved by Lambda "
                "(Defined runtime environment variables); choose another name"
            )
        trigger = self.trigger
        if isinstance(trigger, Schedule):
            if not EXPRESSION.fullmatch(trigger.expression):
                raise WorkerError(
                    f"{where}: expression must be rate(<n> minutes|hours|days), cron(<6 fields>) or at(<time>), "
                    f"got {trigger.expression!r}"
                )
            # Scheduler takes IANA time zone names; checked where this machine has the database (else at deploy).
            zones = zoneinfo.available_timezones()
            if zones and trigger.timezone not in zones:
                raise WorkerError(f"{where}: timezone must be an IANA name such as UTC or Europe/Paris, got "
                                  f"{trigger.timezone!r}")  # fmt: skip
        elif isinstance(trigger, Queue):
            # Lambda "Batching behavior": a standard queue's batch is 1 to 10 without a batching window.
            if not 1 <= trigger.batch_size <= 10:
                raise WorkerError(f"{where}: batch_size must be 1 to 10, got {trigger.batch_size}")
            if not 1 <= trigger.max_receive_count <= 1000:
                raise WorkerError(f"{where}: max_receive_count must be 1 to 1000, got {trigger.max_receive_count}")
            if not 2 <= trigger.max_concurrency <= 1000:
                raise WorkerError(f"{where}: max_concurrency must be 2 to 1000, got {trigger.max_concurrency}")
            if trigger.oldest_message_minutes < 1:
                raise WorkerError(f"{where}: oldest_message_minutes must be at least 1")
        else:
            raise WorkerError(f"{where}: trigger must be Schedule(…) or Queue(…), got {type(trigger).__name__}")

    @property
    def code(self) -> Path:
        return WORKERS_CODE / self.name

    @property
    def title(self) -> str:
        """The name in logical ids and alarm names: `nightly` -> `Nightly`."""
        return self.name.capitalize()

    @property
    def construct_id(self) -> str:
        return worker_construct_id(self.name)

    def sample_event(self) -> dict[str, Any]:
        """What the trigger delivers, as `make invoke` sends it: the schedule's event, or an SQS event of one
        message."""
        if isinstance(self.trigger, Schedule):
            return dict(self.trigger.event)
        return {
            "Records": [
                {
                    "messageId": "00000000-0000-4000-8000-000000000001",
                    "receiptHandle": "local",
                    "body": json.dumps(self.trigger.message),
                    "attributes": {"ApproximateReceiveCount": "1"},
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:us-east-1:000000000000:{self.construct_id}Queue",
                }
            ]
        }


def check_workers(workers: Sequence[Worker]) -> None:
    """The table as a whole: one row per name."""
    names = [worker.name for worker in workers]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise WorkerError(f"worker {', '.join(twice)} is declared twice in workers/table.py")


def _queue(scope: Construct, construct_id: str, **kwargs: Any) -> sqs.Queue:
    """An SQS queue encrypted by SQS (SSE-SQS: no key to pay for or grant; Control Tower CT.SQS.PR.2 accepts it),
    refusing plain HTTP (AwsSolutions-SQS4)."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.DESTROY,
        **kwargs,
    )


class WorkerFunction(Construct):
    """A worker: its function (own role, policy, encrypted log group), a version behind `ProdLive`, its trigger and
    the dead-letter queue where its failures wait."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        worker: Worker,
        settings: Settings,
        log_key: kms.IKey,
        resources: Mapping[str, str] | None = None,
        statements: Sequence[iam.PolicyStatement] = (),
    ) -> None:
        """`resources`: variables naming resources of the stack (a table's name), beside the row's constants, and
        `statements`: the grants on them; main.py passes them by the worker's name."""
        super().__init__(scope, construct_id)
        twice = sorted(set(worker.environment) & set(resources or {}))
        if twice:
            raise WorkerError(f"worker {worker.name!r}: environment variable {', '.join(twice)} is set twice")
        reserved = sorted(set(resources or {}) & RESERVED_VARIABLES)
        if reserved:
            raise WorkerError(
                f"worker {worker.name!r}: environment variable {', '.join(reserved)} is reserved by Lambda"
            )
        self.worker = worker
        stack = Stack.of(self)
        self.timeout = Duration.seconds(worker.timeout_seconds)
        # SQS's own default allows any queue of the account to use a queue as its dead-letter queue; saying so marks
        # it as one (Control Tower CT.SQS.PR.1). byQueue would name the source queue, which names this one: a cycle.
        self.dead_letters = _queue(
            self,
            "DeadLetterQueue",
            retention_period=DEAD_LETTER_RETENTION,
            redrive_allow_policy=sqs.RedriveAllowPolicy(redrive_permission=sqs.RedrivePermission.ALLOW_ALL),
        )
        acknowledge(
            self.dead_letters,
            "Serverless-SQSRedrivePolicy",
            "This is the dead-letter queue: a redrive policy would move failures on to a third SQS queue; its depth "
            "alarm pages instead, and StartMessageMoveTask redrives after the fix.",
        )
        self.queue: sqs.Queue | None = None
        self.mapping: lambda_.CfnEventSourceMapping | None = None
        trigger_statements: list[iam.PolicyStatement] = []
        if isinstance(worker.trigger, Queue):
            self.queue = _queue(
                self,
                "Queue",
                visibility_timeout=Duration.seconds(worker.timeout_seconds * VISIBILITY_TIMEOUT_FACTOR),
                dead_letter_queue=sqs.DeadLetterQueue(
                    max_receive_count=worker.trigger.max_receive_count, queue=self.dead_letters
                ),
            )
            # Lambda "Execution role permissions" for an SQS event source: exactly these three.
            trigger_statements.append(
                iam.PolicyStatement(
                    sid="ConsumeOwnQueue",
                    actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    resources=[self.queue.queue_arn],
                )
            )
        else:
            # The function's DLQ: Lambda sends a run that failed its retries with the function's role.
            trigger_statements.append(
                iam.PolicyStatement(
                    sid="SendFailedRunsToOwnDeadLetterQueue",
                    actions=["sqs:SendMessage"],
                    resources=[self.dead_letters.queue_arn],
                )
            )
        owned = owned_function(
            self,
            code=worker.code,
            handler=HANDLER,
            description=f"Prod {worker.name} worker: {worker.purpose}"[:256],
            purpose=f"the Prod {worker.name} worker: its own log group, X-Ray, its trigger and its row's statements",
            statements=[*trigger_statements, *worker.statements, *statements],
            environment={**worker.environment, **(resources or {})},
            log_key=log_key,
            log_retention_days=settings.log_retention_days,
            log_level=settings.log_level,
            system_log_level=settings.system_log_level,
            tracing=settings.tracing,
            memory_mb=worker.memory_mb,
            timeout=self.timeout,
            dlq_reason=(
                "Invoked by a Lambda SQS event source mapping: failed messages go to the queue's own redrive DLQ."
                if self.queue is not None
                else None
            ),
            dead_letter_queue=self.dead_letters if self.queue is None else None,
        )
        self.function, self.role, self.policy, self.log_group = (
            owned.function,
            owned.role,
            owned.policy,
            owned.log_group,
        )
        self.function.node.default_child.add_metadata(WORKER_METADATA, worker.name)  # type: ignore[union-attr]
        self.version = self.function.current_version
        self.alias = lambda_.Alias(
            self,
            "LiveAlias",
            alias_name=ALIAS,
            version=self.version,
            description=f"What the {worker.trigger.kind} invokes; each deploy moves it to the new version at once",
        )
        if isinstance(worker.trigger, Schedule):
            self.schedule: scheduler.CfnSchedule | None = self._schedule(worker.trigger, stack)
        else:
            self.schedule = None
            self._consume(worker.trigger)

    def _schedule(self, trigger: Schedule, stack: Stack) -> scheduler.CfnSchedule:
        """EventBridge Scheduler invokes the alias with the row's event, through a role that may do only that."""
        # EventBridge Scheduler "Set up the execution role": trusted by scheduler.amazonaws.com, for this account only.
        role = iam.Role(
            self,
            "SchedulerRole",
            description=f"EventBridge Scheduler: invoke the Prod {self.worker.name} worker's live alias",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": stack.account}}
            ),
        )
        policy = iam.ManagedPolicy(
            self,
            "SchedulerPolicy",
            description=f"Invoke the Prod {self.worker.name} worker's live alias; park undeliverable runs in its DLQ",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="InvokeTheLiveAlias", actions=["lambda:InvokeFunction"], resources=[self.alias.function_arn]
                ),
                # "Configuring a schedule's dead-letter queue": the execution role sends the dead-letter event.
                iam.PolicyStatement(
                    sid="SendUndeliveredRunsToTheDeadLetterQueue",
                    actions=["sqs:SendMessage"],
                    resources=[self.dead_letters.queue_arn],
                ),
            ],
        )
        schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            description=f"Runs the Prod {self.worker.name} worker: {self.worker.purpose}"[:512],
            schedule_expression=trigger.expression,
            schedule_expression_timezone=trigger.timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=self.alias.function_arn,
                role_arn=role.role_arn,
                input=json.dumps(dict(trigger.event), sort_keys=True),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=SCHEDULER_RETRIES,
                    maximum_event_age_in_seconds=SCHEDULER_MAX_EVENT_AGE_SECONDS,
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            ),
        )
        schedule.node.add_dependency(policy)  # the first run must find the role allowed
        return schedule

    def _consume(self, trigger: Queue) -> None:
        """Lambda polls the queue for the alias, and retries only the messages the handler reports as failed."""
        assert self.queue is not None
        mapping = lambda_.CfnEventSourceMapping(
            self,
            "QueueMapping",
            function_name=self.alias.function_arn,
            event_source_arn=self.queue.queue_arn,
            batch_size=trigger.batch_size,
            # Lambda "Handling errors for an SQS event source": with ReportBatchItemFailures only the messages the
            # handler names in batchItemFailures return to the queue; without it, one failure returns the batch.
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=lambda_.CfnEventSourceMapping.ScalingConfigProperty(
                maximum_concurrency=trigger.max_concurrency
            ),
            enabled=True,
        )
        acknowledge(
            mapping,
            "Serverless-LambdaEventSourceMappingDestination",
            "An SQS event source mapping takes no on-failure destination (CloudFormation EventSourceMapping OnFailure: "
            "Kinesis, DynamoDB, Kafka); the queue's redrive DLQ holds each failed message.",
        )
        # Lambda checks the role may read the queue when the mapping is created.
        mapping.node.add_dependency(self.policy)
        self.mapping = mapping
