"""`make verify`: prove, in the deployed account, that the whole path works, and print a pass/fail table.

It needs one policy: the stack's ProdVerifierPolicyArn output, exactly the calls below. A call AWS denies is a
failed row naming the action; the other rows still run. It is also the check of a first deploy, which shifts no
traffic and so runs no pre-traffic hook.

1. The API: every route's sample (service/routes.py) gets its healthy answer; a protected route first refuses an
   anonymous request (HTTP API's 401 or 403), then answers its sample sent with credentials (tools/callers.py:
   API_TOKEN for JWT routes, your own SigV4 signature for IAM routes); an unknown path and a method
   without a route get HTTP API's 404. The API request id of each answer is remembered. A direct invocation
   of the live alias with an event that is not from API Gateway is answered 400 and logged as a warning: at
   the default log levels a served request writes no function line, so this is the line that proves the
   function's path to the archive (with logLevel=ERROR it is never written, and that row says so).
2. The archive: the API requests' lines arrive in S3 under `api/`, the warning under `function/`, in the
   partitions of today and after (Firehose's delivery time, UTC), as GZIP objects of one JSON object per line,
   encrypted with the archive key (the object's SSE headers); the access line of a route names the Lambda
   request id its answer carries (the join key).
3. Athena (the stack's workgroup) finds those request ids in both tables (the day and the next), and every
   README query runs. The dashboard's route table (Logs Insights over the access log) counts the requests just
   made to a route and reads numbers from the line's quoted status and latency.
4. Notifications: the FunctionErrors alarm is set to ALARM; the ServiceUnhealthy composite, which pages for
   it, must show "Successfully executed action" for the topic (not a KMS or SNS failure): one notification,
   then its all-clear when the alarm is set back to OK. A composite already in ALARM would not page again, so
   its state is read first, and the row fails saying so rather than testing nothing.
5. Metrics: every metric an alarm watches exists in CloudWatch with exactly the alarm's dimensions (a new
   metric can take up to 15 minutes to be listed: verify looks again until then), so no alarm watches a series
   that is never published. The function's own ServerErrors exist only after a 5xx: not asked for.
Exit status 1 when any row fails. Tested offline against stubbed AWS responses (tests/tools/test_verify.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pre_traffic_hook.handler import verdict
from prod_serverless.log_formats import API_ACCESS_TABLE, FUNCTION_TABLE, routes_query
from prod_serverless.names import StageNames
from prod_serverless.queries import QUERIES, partitions
from prod_serverless.settings import configured
from service.routes import ROUTES
from service.routing import METHODS
from tools.aws import AwsUnavailableError, client, one_line_errors, session, stack_name, stack_outputs
from tools.callers import CallerError, Callers, callers_for
from tools.smoke import refusal, request_for, send

NOT_FOUND = {"message": "Not Found"}
UNKNOWN_PATH = "/verify-no-such-route"
VERIFY_ALARM = "ProdMonitoringFunctionErrorsAlarm"  # logical-id prefix of the alarm set to ALARM
PAGING_ALARM = "ProdMonitoringServiceUnhealthyAlarm"  # the composite that pages for it: its action is proven
ACCESS_LOG_GROUP = "ProdApiAccessLogGroup"  # logical-id prefix of the API's access log group
# A worker's resources by logical id (prod_serverless/workers.py): Prod<Name>Worker<part><hash>.
WORKER_PART = re.compile(
    r"Prod(?P<title>[A-Z][a-z0-9]*)Worker(?P<part>Function|DeadLetterQueue|QueueMapping|Queue|Schedule)[0-9A-F]{8}"
)
# CloudWatch "ListMetrics": a new metric can take up to 15 minutes to appear.
METRICS_WAIT_SECONDS = 900.0
# The alarm history is searched from a little before the local clock's "now": the clocks may differ.
CLOCK_SKEW = timedelta(minutes=5)
# Emitted by the function only when it answers 5xx: absent from a healthy account, by design.
ONLY_ON_FAILURE = {("ProdServerless", "ServerErrors"), ("ProdServerless", "ExpectedClientErrors")}
# A metric that is published with the same dimensions whenever the service runs, for alarms on metrics
# that only appear when something goes wrong (Throttles, DeliveryErrors): it proves the dimension set.
WITNESSES = {
    "AWS/Lambda": "Invocations",
    "AWS/ApiGateway": "Count",
    "AWS/Firehose": "DeliveryToS3.Records",
    "AWS/Logs": "ForwardedLogEvents",
}

# The key of the request id each source's lines are found by: the access line's API request id (log_formats.py),
# the function line's Lambda request id (Lambda's JSON log format).
ID_KEYS = {"api": "id", "function": "requestId"}

Fetch = Callable[[urllib.request.Request], tuple[int, dict[str, str], bytes]]


@dataclass(frozen=True)
class Row:
    check: str
    ok: bool
    detail: str


@dataclass
class DeployedWorker:
    """A worker's physical ids, as CloudFormation lists them: a function's name, a queue's URL, a schedule's name,
    an event source mapping's UUID."""

    name: str
    function: str = ""
    dead_letters: str = ""
    queue: str = ""
    schedule: str = ""
    mapping: str = ""


@dataclass
class Stack:
    """What verify needs to know of the deployed stack, read from CloudFormation."""

    url: str
    bucket: str
    key_arn: str
    topic_arn: str
    alias_arn: str
    alarms: dict[str, str]  # logical id -> alarm name
    access_log_group: str = ""  # the API's access log group: the dashboard's route table reads it
    workers: dict[str, DeployedWorker] = field(default_factory=dict)  # by worker name (workers/table.py)

    @classmethod
    def read(cls, cloudformation: Any) -> Stack:
        outputs = stack_outputs(cloudformation)
        alarms, token, access_log_group = {}, None, ""
        workers: dict[str, DeployedWorker] = {}
        parts = {"Function": "function", "DeadLetterQueue": "dead_letters", "Queue": "queue", "Schedule": "schedule",
                 "QueueMapping": "mapping"}  # fmt: skip
        while True:
            more: dict[str, str] = {"NextToken": token} if token else {}
            page = cloudformation.list_stack_resources(StackName=stack_name(), **more)
            for resource in page["StackResourceSummaries"]:
                if resource["ResourceType"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                    alarms[resource["LogicalResourceId"]] = resource["PhysicalResourceId"]
                if resource["LogicalResourceId"].startswith(ACCESS_LOG_GROUP):
                    access_log_group = resource["PhysicalResourceId"]
                if part := WORKER_PART.fullmatch(resource["LogicalResourceId"]):
                    worker = workers.setdefault(part["title"].lower(), DeployedWorker(part["title"].lower()))
                    setattr(worker, parts[part["part"]], resource["PhysicalResourceId"])
            token = page.get("NextToken")
            if not token:
                break
        return cls(
            url=outputs["ProdApiUrl"],
            bucket=outputs["ProdLogBucketName"],
            key_arn=outputs["ProdLogArchiveKeyArn"],
            topic_arn=outputs["ProdAlarmTopicArn"],
            alias_arn=outputs["ProdLiveAliasArn"],
            alarms=alarms,
            access_log_group=access_log_group,
            workers=workers,
        )


def http_fetch(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    """One request; an HTTP error status is an answer, not an exception."""
    return send(request, timeout=15)


def unrouted(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests HTTP API must answer with its own 404: an unknown path, and a known path with a method it has
    no route for (HTTP API routes by method and path: no 405)."""
    probes = [{"route": f"GET {UNKNOWN_PATH}", "method": "GET", "path": UNKNOWN_PATH, "query": "", "body": None}]
    first = checks[0]
    taken = {check["method"] for check in checks if check["path"] == first["path"]}
    other = next((method for method in METHODS if method not in taken), None)
    if other:
        probes.append(
            {"route": f"{other} {first['path']}", "method": other, "path": first["path"], "query": "", "body": None}
        )
    return probes


@dataclass
class Verifier:
    """Runs the checks in order; each appends rows. Clients are boto3 clients (or stubbed ones in tests)."""

    clients: dict[str, Any]
    stack: Stack
    fetch: Fetch = http_fetch
    timeout: float = 1200.0  # Firehose buffers up to 900 s, then delivers
    poll: float = 15.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    metrics_wait: float = METRICS_WAIT_SECONDS
    log_level: str = "INFO"  # the deployed logLevel: at ERROR the function writes no warning line
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True)
    checks: list[dict[str, Any]] = field(default_factory=lambda: [route.check() for route in ROUTES])
    callers: Callers | None = None  # credentials for the protected routes' samples (tools/callers.py)
    rows: list[Row] = field(default_factory=list)
    request_ids: dict[str, str] = field(default_factory=dict)  # route key … -> API request id
    lambda_ids: dict[str, str] = field(default_factory=dict)  # route key, "direct" -> Lambda request id
    names: StageNames = field(default_factory=lambda: configured().names)  # the stage's database and workgroup

    def record(self, check: str, ok: bool, detail: str) -> bool:
        self.rows.append(Row(check, ok, detail))
        return ok

    def run(self) -> list[Row]:
        started = self.now()
        if self._guarded("the API", self.check_api):
            self._guarded("the archive", lambda: self.check_archive(started))
            self._guarded("Athena", lambda: self.check_athena(started))
            self._guarded("the dashboard", lambda: self.check_dashboard(started))
        self._guarded("notifications", self.check_alarm_action)
        if self.stack.workers:
            self._guarded("the workers", self.check_workers)
        self._guarded("metrics", self.check_metrics)
        return self.rows

    def _guarded(self, section: str, check: Callable[[], Any]) -> bool:
        """Run one section; an AWS error (a denied call above all) is its failed row, and the next section runs."""
        from botocore.exceptions import ClientError

        try:
            return check() is not False
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "Error")
            hint = ": attach the stack's ProdVerifierPolicyArn policy" if "AccessDenied" in code else ""
            self.record(f"{section}: AWS answered every call", False, f"{code} on {error.operation_name}{hint}")
            return False

    # 1. The API
    def check_api(self) -> bool:
        """Every route's sample answers healthily; unrouted requests get HTTP API's 404; each answer has its id."""
        for check in self.checks:
            request = request_for(self.stack.url, check)
            if check.get("authorization"):
                status, headers, body = self.fetch(request_for(self.stack.url, check))
                self._remember(f"{check['route']} anonymous", headers)
                self.record(
                    f"{check['route']} refuses an anonymous request",
                    refusal(status, body),
                    f"{status} {body[:80]!r}",
                )
                try:
                    if self.callers is None:
                        raise CallerError("no credentials for protected routes were given")
                    self.callers.authenticate(request, check)
                except (CallerError, AwsUnavailableError) as error:
                    self.record(f"{check['route']} answers its healthy sample", False, str(error))
                    continue
            status, headers, body = self.fetch(request)
            problem = verdict({"statusCode": status, "body": body.decode("utf-8", "replace")}, check)
            self._remember(check["route"], headers)
            answer = _json(body)
            if problem is None and isinstance(answer, dict) and isinstance(answer.get("requestId"), str):
                self.lambda_ids[check["route"]] = answer["requestId"]
            self.record(f"{check['route']} answers its healthy sample", problem is None, problem or f"{status}")
        for probe in unrouted(self.checks):
            status, headers, body = self.fetch(request_for(self.stack.url, probe))
            self._remember(probe["route"], headers)
            self.record(
                f"{probe['route']} gets HTTP API's 404",
                status == 404 and _json(body) == NOT_FOUND,
                f"{status} {body[:80]!r}",
            )
        protected = sum(1 for check in self.checks if check.get("authorization"))
        expected = len(self.checks) + protected + len(unrouted(self.checks))
        ok = len(self.request_ids) == expected
        self.record("every answer carries its API request id", ok, ", ".join(self.request_ids.values()))
        return self.check_direct_invocation() and ok

    def check_direct_invocation(self) -> bool:
        response = self.clients["lambda"].invoke(
            FunctionName=self.stack.alias_arn, Payload=json.dumps({"verify": "not an API Gateway event"}).encode()
        )
        answer = _json(response["Payload"].read())
        body = _json(answer.get("body", "").encode()) if isinstance(answer, dict) else None
        ok = "FunctionError" not in response and isinstance(body, dict) and answer.get("statusCode") == 400
        if ok and isinstance(body, dict) and isinstance(body.get("requestId"), str):
            self.lambda_ids["direct"] = body["requestId"]
        return self.record(
            "a direct invocation of the live alias is refused with 400 (and logged)",
            "direct" in self.lambda_ids,
            f"request id {self.lambda_ids['direct']}" if "direct" in self.lambda_ids else f"answer {answer!r:.120}",
        )

    def served_route(self) -> str:
        """The first route whose answer carried the Lambda request id (`requestId`): the join is proven on it."""
        return next((route for route in self.lambda_ids if route != "direct"), self.checks[0]["route"])

    def _remember(self, request: str, headers: dict[str, str]) -> None:
        request_id = headers.get("apigw-requestid")
        if request_id:
            self.request_ids[request] = request_id

    # 2. The archive
    def check_archive(self, started: datetime) -> None:
        expected = {"api": set(self.request_ids.values()), "function": {self.lambda_ids["direct"]}}
        found: dict[str, set[str]] = {source: set() for source in expected}
        joins: dict[str, str] = {}  # API request id -> the Lambda request id its access line names
        seen: set[str] = set()
        problems: list[str] = []
        blank_lines = 0
        deadline = self.clock() + self.timeout
        while True:
            for source, wanted in expected.items():
                if found[source] >= wanted:
                    continue
                for key in self._new_objects(source, started, seen):
                    seen.add(key)
                    records, issues, blank = self._read_object(key)
                    id_key = ID_KEYS[source]
                    found[source] |= {str(record.get(id_key)) for record in records} & wanted
                    joins.update((str(r.get("id")), str(r.get("fn"))) for r in records if source == "api")
                    problems += issues
                    blank_lines += blank
            if all(found[s] >= wanted for s, wanted in expected.items()) or self.clock() >= deadline:
                break
            self.progress(
                f"verify: waiting for Firehose to deliver the logs (it buffers up to 15 min): "
                f"api {len(found['api'])}/{len(expected['api'])}, "
                f"function {len(found['function'])}/{len(expected['function'])}"
            )
            self.sleep(self.poll)
        for source, wanted in expected.items():
            missing = sorted(wanted - found[source])
            detail = f"missing {missing} after {self.timeout:.0f} s" if missing else f"{len(wanted)} request ids found"
            if missing and source == "function" and self.log_level == "ERROR":
                detail += " (logLevel=ERROR: the function writes no WARNING line; verify with logLevel=WARN or lower)"
            self.record(f"{source}/ lines arrive in S3 (delivery-time partitions)", not missing, detail)
        # API Gateway documents $context.awsEndpointRequestId as the x-amzn-RequestId of the integration's
        # answer; this proves, in the account, that it is the Lambda request id the function logs under.
        served = self.served_route()
        named = joins.get(self.request_ids.get(served, ""), "")
        self.record(
            f"the access line of {served} names its Lambda request id (query 3's join)",
            named == self.lambda_ids.get(served),
            f"fn={named or 'absent'}, answer requestId={self.lambda_ids.get(served)}",
        )
        # A blank line between Firehose records is harmless (queries skip NULL rows); it is reported so the
        # account shows how Firehose's message extraction delimits records (log_archive.py).
        self.record(
            "archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key",
            bool(seen) and not problems,
            "; ".join(sorted(set(problems))) or f"{len(seen)} objects read, {blank_lines} blank lines",
        )

    def _new_objects(self, source: str, started: datetime, seen: set[str]) -> Iterable[str]:
        """Objects delivered since `started`, in every day's prefix from then to now (delivery time)."""
        s3 = self.clients["s3"]
        for day in _days(started, self.now()):
            prefix = f"{source}/year={day:%Y}/month={day:%m}/day={day:%d}/"
            token = None
            while True:
                listing = s3.list_objects_v2(
                    Bucket=self.stack.bucket, Prefix=prefix, **({"ContinuationToken": token} if token else {})
                )
                for item in listing.get("Contents", []):
                    if item["Key"] not in seen and item["LastModified"] >= started - timedelta(minutes=1):
                        yield item["Key"]
                token = listing.get("NextContinuationToken")
                if not listing.get("IsTruncated") or not token:
                    break

    def _read_object(self, key: str) -> tuple[list[dict[str, Any]], list[str], int]:
        """The JSON lines an object holds, what is wrong with it, and how many blank lines it has."""
        response = self.clients["s3"].get_object(Bucket=self.stack.bucket, Key=key)
        issues = []
        if response.get("ServerSideEncryption") != "aws:kms" or response.get("SSEKMSKeyId") != self.stack.key_arn:
            issues.append(f"{key}: not SSE-KMS with the archive key ({response.get('SSEKMSKeyId')})")
        raw = response["Body"].read()
        try:
            text = gzip.decompress(raw).decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return [], [f"{key}: not GZIP"], 0
        records = []
        blank = 0
        for number, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n"), 1):
            if not line.strip():
                blank += 1
                continue
            record = _json(line.encode())
            if not isinstance(record, dict):
                issues.append(f"{key}: line {number} is not one JSON object")
                continue
            records.append(record)
        return records, issues, blank

    # 3. Athena
    def check_athena(self, started: datetime) -> None:
        day = started
        partition = {"year": f"{day:%Y}", "month": f"{day:%m}", "day": f"{day:%d}"}
        where = partitions(**partition)  # the day and the next: the partitions are delivery time
        database = self.names.database
        for table, column, ids in (
            (API_ACCESS_TABLE.name, "requestid", set(self.request_ids.values())),
            (FUNCTION_TABLE.name, "requestid", {self.lambda_ids["direct"]}),
        ):
            listed = ", ".join(f"'{request_id}'" for request_id in sorted(ids))
            sql = f"SELECT DISTINCT {column} FROM {database}.{table} WHERE {where} AND {column} IN ({listed})"  # noqa: S608
            state, rows, reason = self._athena(sql)
            got = {row[0] for row in rows}
            self.record(
                f"Athena finds the request ids in {table}",
                state == "SUCCEEDED" and got >= ids,
                reason or f"found {len(got & ids)} of {len(ids)}",
            )
        for query in QUERIES:
            state, _, reason = self._athena(
                query.render(**partition, request_id=self.request_ids.get(self.served_route(), ""), db=database)
            )
            self.record(f"README query {query.name} runs", state == "SUCCEEDED", reason or "SUCCEEDED")

    def _athena(self, sql: str) -> tuple[str, list[list[str]], str]:
        athena = self.clients["athena"]
        execution = athena.start_query_execution(QueryString=sql, WorkGroup=self.names.workgroup)["QueryExecutionId"]
        deadline = self.clock() + min(self.timeout, 300)
        while True:
            status = athena.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            state = status["State"]
            if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if self.clock() >= deadline:
                return "TIMEOUT", [], f"query {execution} still {state}"
            self.sleep(2)
        if state != "SUCCEEDED":
            return state, [], f"{state}: {status.get('StateChangeReason', '')}"
        result = athena.get_query_results(QueryExecutionId=execution)["ResultSet"]["Rows"][1:]
        return state, [[cell.get("VarCharValue", "") for cell in row["Data"]] for row in result], ""

    # 3b. The dashboard's route table
    def check_dashboard(self, started: datetime) -> None:
        """Run the dashboard's route table (Logs Insights over the access lines): its row for a route just called
        must count those requests and read numbers from the line's quoted values (status, latency)."""
        route = self.served_route()
        check = f"the dashboard's route table reads {route}'s access lines"
        if not self.stack.access_log_group:
            self.record(check, False, f"no {ACCESS_LOG_GROUP} log group in the stack")
            return
        logs = self.clients["logs"]
        query = logs.start_query(
            logGroupName=self.stack.access_log_group,
            startTime=int((started - CLOCK_SKEW).timestamp()),
            endTime=int((self.now() + CLOCK_SKEW).timestamp()),
            queryString="\n| ".join(routes_query()),  # as the dashboard's widget joins its lines
        )["queryId"]
        deadline = self.clock() + 120
        while True:
            answer = logs.get_query_results(queryId=query)
            if answer["status"] not in ("Scheduled", "Running") or self.clock() >= deadline:
                break
            self.sleep(2)
        rows = [{cell["field"]: cell["value"] for cell in row} for row in answer.get("results", [])]
        mine = [row for row in rows if row.get("r") == route]
        requests = sum(_number(row.get("requests")) or 0 for row in mine)
        numeric = all(
            _number(row.get(name)) is not None for row in mine for name in ("client_errors", "server_errors", "p99_ms")
        )
        self.record(
            check,
            answer["status"] == "Complete" and requests >= 1 and numeric,
            f"{answer['status']}: {requests:g} requests of {route}, {len(rows)} route rows"
            + ("" if numeric else "; a status or latency figure is not a number"),
        )

    # 4. Notifications
    def check_alarm_action(self) -> None:
        cloudwatch = self.clients["cloudwatch"]
        name = self._alarm_named(VERIFY_ALARM)
        paging = self._alarm_named(PAGING_ALARM)
        if name is None or paging is None:
            self.record("a test notification leaves the alarm topic", False, f"no {VERIFY_ALARM} or {PAGING_ALARM}")
            return
        # A composite already in ALARM pages no more for another member (CloudWatch API "PutCompositeAlarm": its
        # actions run on a transition to ALARM): the test could prove nothing, so the row says why instead.
        (composite,) = cloudwatch.describe_alarms(AlarmNames=[paging], AlarmTypes=["CompositeAlarm"])["CompositeAlarms"]
        if composite["StateValue"] == "ALARM":
            self.record(
                "a test notification leaves the alarm topic",
                False,
                f"ServiceUnhealthy is already in ALARM ({composite.get('StateReason', '')[:120]}): it pages once for "
                "all its members, so a test notification cannot page; clear what is in ALARM, then verify again",
            )
            return
        since = self.now() - CLOCK_SKEW
        cloudwatch.set_alarm_state(
            AlarmName=name, StateValue="ALARM", StateReason="make verify: test notification, no action needed"
        )
        summary = ""
        deadline = self.clock() + 120
        try:
            while self.clock() < deadline:
                history = cloudwatch.describe_alarm_history(
                    AlarmName=paging,
                    AlarmTypes=["CompositeAlarm"],
                    HistoryItemType="Action",
                    StartDate=since,
                    ScanBy="TimestampDescending",
                )["AlarmHistoryItems"]
                actions = [item["HistorySummary"] for item in history if self.stack.topic_arn in item["HistorySummary"]]
                if actions:
                    summary = actions[0]
                    break
                self.sleep(5)
        finally:
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="make verify: test finished")
        self.record(
            "a test notification leaves the alarm topic",
            summary.startswith("Successfully executed action"),
            summary or "no action to the topic in the ServiceUnhealthy history after 120 s",
        )

    def _alarm_named(self, prefix: str) -> str | None:
        return next((n for logical, n in self.stack.alarms.items() if logical.startswith(prefix)), None)

    # 5. Workers
    def check_workers(self) -> None:
        """Each worker's trigger is on, and nothing waits in its dead-letter queue. Read-only: no job is run."""
        for worker in self.stack.workers.values():
            if worker.schedule:
                state = self.clients["scheduler"].get_schedule(Name=worker.schedule)["State"]
                self.record(f"worker {worker.name}: its schedule is enabled", state == "ENABLED", f"State {state}")
            if worker.mapping:
                state = self.clients["lambda"].get_event_source_mapping(UUID=worker.mapping)["State"]
                self.record(f"worker {worker.name}: Lambda polls its queue", state == "Enabled", f"State {state}")
            attributes = self.clients["sqs"].get_queue_attributes(
                QueueUrl=worker.dead_letters, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            waiting = int(attributes["ApproximateNumberOfMessages"])
            self.record(
                f"worker {worker.name}: its dead-letter queue is empty",
                waiting == 0,
                f"{waiting} message(s) failed every retry: read one, fix, then redrive (docs/workers.md)"
                if waiting
                else "0 messages",
            )

    def _not_run(self) -> set[str]:
        """The workers' functions that Lambda has published no metric for yet: they have not run since creation."""
        idle = set()
        for worker in self.stack.workers.values():
            dimensions = [{"Name": "FunctionName", "Value": worker.function}]
            found = self.clients["cloudwatch"].list_metrics(
                Namespace="AWS/Lambda", MetricName=WITNESSES["AWS/Lambda"], Dimensions=dimensions
            )
            if not found.get("Metrics"):
                idle.add(worker.function)
                self.record(
                    f"worker {worker.name}: its Lambda metrics",
                    True,
                    "skipped: it has not run since it was created; `make verify` after its first run checks them",
                )
        return idle

    # 6. Metrics
    def check_metrics(self) -> None:
        cloudwatch = self.clients["cloudwatch"]
        names = [name for logical, name in self.stack.alarms.items() if not logical.startswith(PAGING_ALARM)]
        alarms = []
        for start in range(0, len(names), 100):
            alarms += cloudwatch.describe_alarms(AlarmNames=names[start : start + 100])["MetricAlarms"]
        logical = {name: logical_id for logical_id, name in self.stack.alarms.items()}
        # A nightly job publishes its Lambda metrics at its first run, not at deploy: not looked for until then.
        not_run = self._not_run() if self.stack.workers else set()
        wanted = []
        for alarm in alarms:
            label = alarm_label(logical[alarm["AlarmName"]])
            wanted += [
                (label, watched)
                for watched in _watched(alarm)
                if (watched[0], watched[1]) not in ONLY_ON_FAILURE
                and not (watched[0] == "AWS/Lambda" and watched[2].get("FunctionName") in not_run)
            ]
        results: dict[int, tuple[bool, str]] = {}
        deadline = self.clock() + self.metrics_wait
        while True:
            for index, (_, (namespace, metric, dimensions, exact)) in enumerate(wanted):
                if not results.get(index, (False, ""))[0]:
                    results[index] = self._published(namespace, metric, dimensions, exact)
            if all(ok for ok, _ in results.values()) or self.clock() >= deadline:
                break
            self.progress("verify: waiting for CloudWatch to list new metrics (up to 15 minutes)")
            self.sleep(60)
        for index, (label, (_, metric, _, _)) in enumerate(wanted):
            ok, detail = results[index]
            self.record(f"alarm {label}: {metric} is published", ok, detail)

    def _published(self, namespace: str, metric: str, dimensions: dict[str, str], exact: bool) -> tuple[bool, str]:
        wanted = [{"Name": k, "Value": v} for k, v in dimensions.items()]
        for name in (metric, WITNESSES.get(namespace)):
            if name is None:
                continue
            found = self.clients["cloudwatch"].list_metrics(Namespace=namespace, MetricName=name, Dimensions=wanted)
            sets = [sorted(d["Name"] for d in m["Dimensions"]) for m in found.get("Metrics", [])]
            matching = [s for s in sets if s == sorted(dimensions)] if exact else sets
            if matching:
                via = "" if name == metric else f" (no {metric} yet; {name} has the same dimensions)"
                return True, f"dimensions {matching[0]}{via}"
        return False, f"no {namespace} {metric} with dimensions {sorted(dimensions)}"


def alarm_label(logical_id: str) -> str:
    """The alarm's spec name: its logical id without the construct's path, the id's hash, and (for a release
    alarm, prod_serverless/alarms.py) the release it belongs to."""
    return re.sub(r"(V[0-9a-f]{12})?(Alarm)?[0-9A-F]{8}$", "", logical_id.removeprefix("ProdMonitoring"))


def _watched(alarm: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, str], bool]]:
    """(namespace, metric, dimensions, whether the set must match exactly) for each metric an alarm reads."""
    if "MetricName" in alarm:
        yield alarm["Namespace"], alarm["MetricName"], {d["Name"]: d["Value"] for d in alarm["Dimensions"]}, True
    for query in alarm.get("Metrics", []):
        if "MetricStat" in query:
            stat = query["MetricStat"]["Metric"]
            yield stat["Namespace"], stat["MetricName"], {d["Name"]: d["Value"] for d in stat["Dimensions"]}, True
        elif query.get("Expression", "").startswith("SELECT"):
            # Metrics Insights: any dimension set that carries the WHERE dimensions is read.
            parsed = re.match(r'SELECT \w+\("([^"]+)"\) FROM "([^"]+)" WHERE (.*)', query["Expression"])
            if parsed:
                conditions = dict(re.findall(r"(\w+) = '([^']*)'", parsed[3]))
                yield parsed[2], parsed[1], conditions, False


def _days(start: datetime, end: datetime) -> list[datetime]:
    days, day = [], start
    while day.date() <= end.date():
        days.append(day)
        day += timedelta(days=1)
    return days


def _number(value: Any) -> float | None:
    """A Logs Insights result value as a number, or None when it is not one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def table(rows: Iterable[Row]) -> str:
    rows = list(rows)
    width = max([len(row.check) for row in rows] + [5])
    lines = [f"{'check':<{width}}  result  detail"]
    lines += [f"{row.check:<{width}}  {'PASS' if row.ok else 'FAIL':<6}  {row.detail}" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds to wait for the logs in S3")
    args = parser.parse_args(argv)
    try:
        aws = session()
        with one_line_errors("make verify"):
            clients = {
                name: client(aws, name)
                for name in ("cloudformation", "lambda", "s3", "athena", "cloudwatch", "logs", "scheduler", "sqs")
            }
            stack = Stack.read(clients["cloudformation"])
            settings = configured()
            verifier = Verifier(
                clients=clients,
                stack=stack,
                timeout=args.timeout,
                log_level=settings.log_level,
                callers=callers_for(stack.url),
                names=settings.names,
            )
            rows = verifier.run()
    except AwsUnavailableError as error:
        print(f"verify: {error}", file=sys.stderr)
        return 1
    print(table(rows))
    failed = [row for row in rows if not row.ok]
    print(f"\nverify: {'FAIL' if failed else 'PASS'}: {len(rows) - len(failed)} of {len(rows)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
