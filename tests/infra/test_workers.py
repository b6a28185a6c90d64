"""WorkerFunction alone, and the rows of the workers table: what each trigger builds, what a row refuses."""

from __future__ import annotations

import dataclasses
import json
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk.assertions import Template

from prod_serverless.alarms import COMPOSITES, DURATION_ALARM_FRACTION, alarm_specs, dead_letters, worker_alarms
from prod_serverless.workers import (
    ALIAS,
    SCHEDULER_MAX_EVENT_AGE_SECONDS,
    SCHEDULER_RETRIES,
    VISIBILITY_TIMEOUT_FACTOR,
    Queue,
    Schedule,
    Worker,
    WorkerError,
    WorkerFunction,
    check_workers,
)
from tests.infra.helpers import SETTINGS, template_of
from tests.workers import ECHO, worker_code


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with worker_code(tmp_path_factory.mktemp("workers"), {"tick": ECHO, "mail": ECHO}) as root:
        yield root


@pytest.fixture(scope="module")
def tick(code: Path) -> Worker:
    return Worker("tick", "a test job", Schedule("rate(1 hour)", event={"job": "tick"}), timeout_seconds=40)


@pytest.fixture(scope="module")
def mail(code: Path) -> Worker:
    table = "arn:aws:dynamodb:us-east-1:111122223333:table/mail"
    return Worker(
        "mail",
        "a test consumer",
        Queue(message={"to": "a@example.com"}, batch_size=5, max_receive_count=4, max_concurrency=3),
        memory_mb=256,
        timeout_seconds=20,
        environment={"TABLE": "mail"},
        statements=(iam.PolicyStatement(sid="ReadMail", actions=["dynamodb:GetItem"], resources=[table]),),
    )


def _template(worker: Worker) -> Template:
    def build(stack: Stack) -> None:
        WorkerFunction(stack, worker.construct_id, worker=worker, settings=SETTINGS, log_key=kms.Key(stack, "Key"))

    return template_of(build)


@pytest.fixture(scope="module")
def scheduled(tick: Worker) -> dict[str, Any]:
    return _template(tick).to_json()["Resources"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def consumer(mail: Worker) -> dict[str, Any]:
    return _template(mail).to_json()["Resources"]  # type: ignore[no-any-return]


def _of(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    (logical_id,) = [i for i, r in resources.items() if r["Type"] == kind]
    return {"id": logical_id, **resources[logical_id]}


def _policies(resources: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {
        i: r["Properties"]["PolicyDocument"]["Statement"]
        for i, r in resources.items()
        if r["Type"] == "AWS::IAM::ManagedPolicy"
    }


def test_the_function_has_the_rows_size_its_package_and_environment(consumer: dict[str, Any], mail: Worker) -> None:
    function = _of(consumer, "AWS::Lambda::Function")["Properties"]
    assert (function["MemorySize"], function["Timeout"]) == (mail.memory_mb, mail.timeout_seconds)
    assert function["Handler"] == f"{mail.name}.handler.handler"
    assert function["Environment"] == {"Variables": dict(mail.environment)}
    assert function["Runtime"] == "python3.14" and function["LoggingConfig"]["LogFormat"] == "JSON"


def test_the_trigger_invokes_the_live_alias_which_holds_the_published_version(
    scheduled: dict[str, Any], consumer: dict[str, Any]
) -> None:
    for resources in (scheduled, consumer):
        alias = _of(resources, "AWS::Lambda::Alias")
        version = _of(resources, "AWS::Lambda::Version")
        assert alias["Properties"]["Name"] == ALIAS
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version["id"], "Version"]}
        assert version["DeletionPolicy"] == "Delete"  # only the version in service is kept
    schedule = _of(scheduled, "AWS::Scheduler::Schedule")["Properties"]["Target"]
    mapping = _of(consumer, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert schedule["Arn"] == {"Ref": _of(scheduled, "AWS::Lambda::Alias")["id"]}
    assert mapping["FunctionName"] == {"Ref": _of(consumer, "AWS::Lambda::Alias")["id"]}


def test_a_schedule_delivers_the_rows_event_and_parks_what_fails_in_the_dead_letter_queue(
    scheduled: dict[str, Any], tick: Worker
) -> None:
    schedule = _of(scheduled, "AWS::Scheduler::Schedule")
    queue = _of(scheduled, "AWS::SQS::Queue")
    assert isinstance(tick.trigger, Schedule)
    assert schedule["Properties"]["ScheduleExpression"] == tick.trigger.expression
    assert schedule["Properties"]["ScheduleExpressionTimezone"] == "UTC"
    target = schedule["Properties"]["Target"]
    assert json.loads(target["Input"]) == tick.trigger.event
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": SCHEDULER_RETRIES,
        "MaximumEventAgeInSeconds": SCHEDULER_MAX_EVENT_AGE_SECONDS,
    }
    arn = {"Fn::GetAtt": [queue["id"], "Arn"]}
    assert target["DeadLetterConfig"] == {"Arn": arn}
    function = _of(scheduled, "AWS::Lambda::Function")["Properties"]
    assert function["DeadLetterConfig"] == {"TargetArn": arn}  # Lambda's own retries exhausted: the same queue


def test_the_schedulers_role_may_only_invoke_the_alias_and_fill_the_dead_letter_queue(
    scheduled: dict[str, Any],
) -> None:
    roles = {i: r for i, r in scheduled.items() if r["Type"] == "AWS::IAM::Role" and "Scheduler" in i}
    (role,) = roles.values()
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    (policy_id,) = [i for i in _policies(scheduled) if "Scheduler" in i]
    alias, queue = _of(scheduled, "AWS::Lambda::Alias")["id"], _of(scheduled, "AWS::SQS::Queue")["id"]
    assert [(s["Action"], s["Resource"]) for s in _policies(scheduled)[policy_id]] == [
        ("lambda:InvokeFunction", {"Ref": alias}),
        ("sqs:SendMessage", {"Fn::GetAtt": [queue, "Arn"]}),
    ]
    assert _of(scheduled, "AWS::Scheduler::Schedule")["DependsOn"] == [policy_id]


def test_each_functions_policy_holds_its_trigger_and_its_rows_statements_only(
    scheduled: dict[str, Any], consumer: dict[str, Any]
) -> None:
    def function_statements(resources: dict[str, Any]) -> dict[str, Any]:
        (statements,) = [s for i, s in _policies(resources).items() if "Scheduler" not in i]
        return {s["Sid"]: (s["Action"], s["Resource"]) for s in statements}

    base = {"WriteOwnLogGroup", "SendTraces"}
    queues = {
        r["Properties"].get("VisibilityTimeout"): i for i, r in consumer.items() if r["Type"] == "AWS::SQS::Queue"
    }
    source = queues[20 * VISIBILITY_TIMEOUT_FACTOR]
    dlq = _of(scheduled, "AWS::SQS::Queue")["id"]
    assert function_statements(scheduled).keys() - base == {"SendFailedRunsToOwnDeadLetterQueue"}
    assert function_statements(scheduled)["SendFailedRunsToOwnDeadLetterQueue"] == (
        "sqs:SendMessage",
        {"Fn::GetAtt": [dlq, "Arn"]},
    )
    assert function_statements(consumer).keys() - base == {"ConsumeOwnQueue", "ReadMail"}
    assert function_statements(consumer)["ConsumeOwnQueue"] == (
        ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"],  # sorted by the CDK
        {"Fn::GetAtt": [source, "Arn"]},
    )


def test_a_queue_is_consumed_in_batches_that_report_each_failed_message(consumer: dict[str, Any], mail: Worker) -> None:
    assert isinstance(mail.trigger, Queue)
    queues = {
        r["Properties"].get("VisibilityTimeout"): i for i, r in consumer.items() if r["Type"] == "AWS::SQS::Queue"
    }
    source = queues[mail.timeout_seconds * VISIBILITY_TIMEOUT_FACTOR]  # six times the function's timeout
    (dlq,) = set(queues.values()) - {source}
    assert consumer[source]["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq, "Arn"]},
        "maxReceiveCount": mail.trigger.max_receive_count,
    }
    mapping = _of(consumer, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"]["EventSourceArn"] == {"Fn::GetAtt": [source, "Arn"]}
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["BatchSize"] == mail.trigger.batch_size
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": mail.trigger.max_concurrency}
    (function_policy,) = [i for i in _policies(consumer)]
    assert mapping["DependsOn"] == [function_policy]  # Lambda checks the role can read the queue on creation


def test_every_queue_is_encrypted_refuses_plain_http_and_keeps_dead_letters_14_days(
    scheduled: dict[str, Any], consumer: dict[str, Any]
) -> None:
    for resources in (scheduled, consumer):
        queues = {i: r for i, r in resources.items() if r["Type"] == "AWS::SQS::Queue"}
        for queue in queues.values():
            assert queue["Properties"]["SqsManagedSseEnabled"] is True
        dead = [q for q in queues.values() if "RedriveAllowPolicy" in q["Properties"]]
        assert [q["Properties"]["MessageRetentionPeriod"] for q in dead] == [14 * 24 * 3600]
        secured = {
            json.dumps(p["Properties"]["Queues"])
            for p in resources.values()
            if p["Type"] == "AWS::SQS::QueuePolicy"
            and any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s)
                    for s in p["Properties"]["PolicyDocument"]["Statement"])
        }  # fmt: skip
        assert secured == {json.dumps([{"Ref": i}]) for i in queues}


def test_the_sample_event_is_what_the_trigger_delivers(tick: Worker, mail: Worker) -> None:
    assert isinstance(tick.trigger, Schedule) and isinstance(mail.trigger, Queue)
    assert tick.sample_event() == tick.trigger.event
    (record,) = mail.sample_event()["Records"]
    assert json.loads(record["body"]) == mail.trigger.message
    assert record["eventSource"] == "aws:sqs" and record["messageId"]


def test_a_workers_alarms_come_from_its_row_and_page_through_its_own_composite(tick: Worker, mail: Worker) -> None:
    specs = {spec.name: spec for spec in alarm_specs(SETTINGS, (), 15_000, (), (tick, mail))}
    for worker in (tick, mail):
        own = {spec.name: spec for spec in worker_alarms(worker)}
        assert own.keys() <= specs.keys()
        assert {spec.composite for spec in own.values()} == {f"{worker.title}Failing"}
        assert f"{worker.title}Failing" not in COMPOSITES
        assert own[f"{worker.title}Duration"].threshold == worker.timeout_seconds * 1000 * DURATION_ALARM_FRACTION
        assert own[f"{worker.title}DeadLetters"].subject == dead_letters(worker.name)
    assert f"{tick.title}QueueAge" not in specs  # a schedule has no queue to fall behind on
    assert isinstance(mail.trigger, Queue)
    assert specs[f"{mail.title}QueueAge"].threshold == mail.trigger.oldest_message_minutes * 60


ROW = {"name": "tick", "purpose": "a test job", "trigger": Schedule("rate(1 hour)")}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Tick"}, "name must match"),
        ({"name": "api"}, "not be api or function"),
        ({"name": "json"}, "standard library"),
        ({"name": "absent"}, "workers/absent/handler.py not found"),
        ({"memory_mb": 64}, "memory_mb must be 128 to 10240"),
        ({"timeout_seconds": 901}, "timeout_seconds must be 1 to 900"),
        ({"environment": {"AWS_REGION": "x"}}, "AWS_REGION is reserved"),
        ({"environment": {"1ST": "x"}}, "environment variable 1ST needs a name matching"),
        ({"environment": {"LIMIT": 5}}, "environment variable LIMIT needs a name matching .* and a string value"),
        ({"trigger": Schedule("every day")}, "expression must be rate"),
        ({"trigger": Schedule("rate(1 hour)", timezone="Mars/Olympus")}, "timezone must be an IANA name"),
        ({"trigger": Queue(message={}, batch_size=11)}, "batch_size must be 1 to 10"),
        ({"trigger": Queue(message={}, max_receive_count=0)}, "max_receive_count must be 1 to 1000"),
        ({"trigger": Queue(message={}, max_concurrency=1)}, "max_concurrency must be 2 to 1000"),
        ({"trigger": Queue(message={}, oldest_message_minutes=0)}, "oldest_message_minutes must be at least 1"),
        ({"trigger": "daily"}, "trigger must be Schedule"),
    ],
)
def test_a_row_is_refused_naming_what_is_wrong(code: Path, change: dict[str, Any], message: str) -> None:
    Worker(**ROW)  # type: ignore[arg-type]
    with pytest.raises(WorkerError, match=message):
        Worker(**{**ROW, **change})


def test_a_name_declared_twice_is_refused(tick: Worker) -> None:
    check_workers([tick, dataclasses.replace(tick, name="mail")])
    with pytest.raises(WorkerError, match="worker tick is declared twice"):
        check_workers([tick, dataclasses.replace(tick, purpose="another")])


def test_the_workers_page_names_each_alarm_a_row_adds(tick: Worker, mail: Worker) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "workers.md").read_text()
    for worker in (tick, mail):
        for spec in worker_alarms(worker):
            assert f"`<Name>{spec.name.removeprefix(worker.title)}`" in page, spec.name


def test_main_py_gives_a_worker_a_resource_of_the_stack_by_its_name(mail: Worker) -> None:
    """A table's name as a variable beside the row's constants, and the grant on it in the worker's own policy."""
    grant = iam.PolicyStatement(sid="WriteTheTable", actions=["dynamodb:PutItem"], resources=["arn:aws:dynamodb:x"])

    def build(stack: Stack) -> None:
        key = kms.Key(stack, "Key")
        WorkerFunction(stack, mail.construct_id, worker=mail, settings=SETTINGS, log_key=key,
                       resources={"TABLE_NAME": "t"}, statements=[grant])  # fmt: skip

    resources = template_of(build).to_json()["Resources"]
    function = _of(resources, "AWS::Lambda::Function")["Properties"]
    assert function["Environment"] == {"Variables": {**mail.environment, "TABLE_NAME": "t"}}
    (statements,) = _policies(resources).values()
    assert {
        "Sid": "WriteTheTable",
        "Effect": "Allow",
        "Action": "dynamodb:PutItem",
        "Resource": "arn:aws:dynamodb:x",
    } in (statements)


@pytest.mark.parametrize(
    ("resources", "message"),
    [({"TABLE": "t"}, "environment variable TABLE is set twice"), ({"AWS_REGION": "x"}, "AWS_REGION is reserved")],
)
def test_a_resource_variable_may_not_repeat_the_rows_or_a_reserved_name(
    mail: Worker, resources: dict[str, str], message: str
) -> None:
    def build(stack: Stack) -> None:
        WorkerFunction(stack, mail.construct_id, worker=mail, settings=SETTINGS, log_key=kms.Key(stack, "Key"),
                       resources=resources)  # fmt: skip

    with pytest.raises(WorkerError, match=message):
        template_of(build)


def test_without_a_time_zone_database_the_name_is_left_to_scheduler(
    code: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(zoneinfo, "available_timezones", set)
    assert Worker(**{**ROW, "trigger": Schedule("rate(1 hour)", timezone="Mars/Olympus")}).trigger  # type: ignore[arg-type]
