"""`make verify` against stubbed AWS responses: the healthy account, and each failure with the exact row it fails.

botocore's Stubber checks every request and every canned response against the real service models, so a
wrong parameter or field name fails here, not in an account.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.credentials import Credentials
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from prod_serverless.log_formats import routes_query
from prod_serverless.queries import QUERIES
from prod_serverless.settings import configured
from service.routes import ROUTES
from tools import verify
from tools.callers import Callers

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/"
BUCKET = "prodserverlessstack-prodlogarchivebucket-1"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ProdServerlessStack-ProdMonitoringAlarmTopic-X"
ALIAS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:ProdServerlessStack-ProdFunction-1:live"
SERVED_BY = "r-1"  # the Lambda request id in the first route's answer
DIRECT = "d-1"  # the Lambda request id of verify's direct invocation
CHECKS = [route.check() for route in ROUTES]
PROBES = verify.unrouted(CHECKS)
# Every request verify sends, in its order: a protected route's anonymous request before its sample.
SENT = [
    *(key for check in CHECKS for key in ([f"{check['route']} anonymous"] if check.get("authorization") else [])
      + [check["route"]]),
    *(probe["route"] for probe in PROBES),
]  # fmt: skip
IDS = {key: f"ID{number:013d}=" for number, key in enumerate(SENT)}
REFUSED = b'{"message":"Unauthorized"}'
# The credentials of a protected route's sample: a token from API_TOKEN, and AWS credentials to sign with.
CALLERS = Callers(
    local=False, region="us-east-1", environ={"API_TOKEN": "test-token"}, aws_credentials=lambda: Credentials("K", "S")
)
FIRST = CHECKS[0]["route"]
COMPOSITE = "ProdServerlessStack-ProdMonitoringServiceUnhealthyAlarm-9"
ALARMS = {
    "ProdMonitoringServiceUnhealthyAlarm9A8B7C6D": COMPOSITE,
    "ProdMonitoringFunctionErrorsAlarm0A1B2C3D": "ProdServerlessStack-ProdMonitoringFunctionErrorsAlarm0A1B2C3D-1",
    "ProdMonitoringApi4xxRateAlarm1A2B3C4D": "ProdServerlessStack-ProdMonitoringApi4xxRateAlarm1A2B3C4D-2",
    "ProdMonitoringApiSubscriptionErrorsAlarm2A3B4C5D": "ProdServerlessStack-ProdMonitoringApiSubscriptionErr-3",
}
LOG_GROUP = "/aws/vendedlogs/ProdServerlessApiAccess-uuid"
SUBSCRIPTION_QUERY = f'SELECT SUM("DeliveryErrors") FROM "AWS/Logs" WHERE LogGroupName = \'{LOG_GROUP}\''


def fetch(request: urllib.request.Request) -> tuple[int, dict[str, str], bytes]:
    """The deployed API: each route's healthy answer to its sample, HTTP API's 404 to anything else."""
    path = "/" + request.full_url.removeprefix(URL).split("?")[0]
    check = next((c for c in CHECKS if (c["method"], c["path"]) == (request.get_method(), path)), None)
    key = check["route"] if check else f"{request.get_method()} {path}"
    if check and check.get("authorization") and not request.has_header("Authorization"):
        return 401, {"apigw-requestid": IDS[f"{key} anonymous"], "content-type": "application/json"}, REFUSED
    headers = {"apigw-requestid": IDS[key], "content-type": "application/json"}
    if check is None:
        return 404, headers, b'{"message":"Not Found"}'
    body = {name: SERVED_BY if name == "requestId" else "x" for name in check["keys"]}
    return check["status"], headers, json.dumps(body).encode()


def _gzip_lines(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


@dataclass
class Account:
    """Stubbed S3, Athena and CloudWatch clients, with the answers a healthy account gives, in call order."""

    objects: bool = True
    failing_query: str | None = None
    action_summary: str = f"Successfully executed action {TOPIC_ARN}"
    missing_metric: str | None = None
    encrypted_with: str = KEY_ARN
    joined_by: str = SERVED_BY  # what the access line of the first route names as its Lambda request id
    history_looks: int = 1  # how many looks until the composite's action shows
    composite_state: str = "OK"  # the paging composite's state when verify starts
    dashboard_rows: list[list[dict[str, str]]] = field(
        default_factory=lambda: [
            [{"field": "r", "value": FIRST}, {"field": "requests", "value": "1"},
             {"field": "client_errors", "value": "0"}, {"field": "server_errors", "value": "0"},
             {"field": "p99_ms", "value": "14"}],
        ]
    )  # fmt: skip
    clients: dict[str, Any] = field(default_factory=dict)
    stubbers: dict[str, Stubber] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for service in ("lambda", "s3", "athena", "cloudwatch", "logs"):
            self.clients[service] = boto3.client(
                service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
            )
            self.stubbers[service] = Stubber(self.clients[service])
        self._direct_invocation()
        self._archive()
        self._athena()
        self._dashboard()
        self._alarm_action()
        self._metrics()

    def _direct_invocation(self) -> None:
        answer = json.dumps({"statusCode": 400, "body": json.dumps({"message": "Bad Request", "requestId": DIRECT})})
        self.stubbers["lambda"].add_response(
            "invoke",
            {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(answer.encode()), len(answer))},
            {"FunctionName": ALIAS_ARN, "Payload": ANY},
        )

    def _archive(self) -> None:
        s3 = self.stubbers["s3"]
        contents = {
            "api": [
                json.dumps({"id": request_id, "s": "200", "fn": self.joined_by if request == FIRST else "-"})
                for request, request_id in IDS.items()
            ],
            "function": [
                json.dumps({"level": "WARNING", "message": "event is not an HTTP API request", "requestId": DIRECT}),
                "",  # a blank line between two Firehose records: reported, not a failure
                json.dumps({"type": "platform.report", "record": {"requestId": DIRECT}}),
            ],
        }
        rounds = 1 if self.objects else 3  # timeout 30 s, poll 15 s: three looks before giving up
        for _ in range(rounds):
            for source, lines in contents.items():
                key = f"{source}/year=2026/month=11/day=29/{source}-stream-1-2026-11-29-10-05-00.gz"
                items = [{"Key": key, "LastModified": NOW, "Size": 100}] if self.objects else []
                s3.add_response(
                    "list_objects_v2",
                    {"Contents": items, "KeyCount": len(items)},
                    {"Bucket": BUCKET, "Prefix": f"{source}/year=2026/month=11/day=29/"},
                )
                if self.objects:
                    data = _gzip_lines(lines)
                    s3.add_response(
                        "get_object",
                        {
                            "Body": StreamingBody(io.BytesIO(data), len(data)),
                            "ServerSideEncryption": "aws:kms",
                            "SSEKMSKeyId": self.encrypted_with,
                        },
                        {"Bucket": BUCKET, "Key": key},
                    )

    def _athena(self) -> None:
        athena = self.stubbers["athena"]
        found = {"ids-api": list(IDS.values()), "ids-function": [DIRECT]}
        names = ["ids-api", "ids-function", *(query.name for query in QUERIES)]
        for number, name in enumerate(names):
            execution = f"q-{number}"
            athena.add_response(
                "start_query_execution",
                {"QueryExecutionId": execution},
                {"QueryString": ANY, "WorkGroup": configured().names.workgroup},
            )
            failed = name == self.failing_query
            status = (
                {"State": "FAILED", "StateChangeReason": "SYNTAX_ERROR: line 1:8"} if failed else {"State": "SUCCEEDED"}
            )
            athena.add_response("get_query_execution", {"QueryExecution": {"Status": status}})
            if failed:
                continue
            values = found.get(name, []) if self.objects else []
            rows = [{"Data": [{"VarCharValue": "requestid"}]}] + [{"Data": [{"VarCharValue": v}]} for v in values]
            athena.add_response("get_query_results", {"ResultSet": {"Rows": rows}})

    def _dashboard(self) -> None:
        """Logs Insights runs the first route's dashboard query over the access log: running, then complete."""
        logs = self.stubbers["logs"]  # the log group holds the lines whether or not the S3 archive got them
        logs.add_response(
            "start_query",
            {"queryId": "lq"},
            {
                "logGroupName": LOG_GROUP,
                "startTime": int((NOW - verify.CLOCK_SKEW).timestamp()),
                "endTime": int((NOW + verify.CLOCK_SKEW).timestamp()),
                "queryString": "\n| ".join(routes_query()),
            },
        )
        logs.add_response("get_query_results", {"status": "Running", "results": []}, {"queryId": "lq"})
        logs.add_response(
            "get_query_results", {"status": "Complete", "results": self.dashboard_rows}, {"queryId": "lq"}
        )

    def _alarm_action(self) -> None:
        cloudwatch = self.stubbers["cloudwatch"]
        name = ALARMS["ProdMonitoringFunctionErrorsAlarm0A1B2C3D"]
        cloudwatch.add_response(
            "describe_alarms",
            {"CompositeAlarms": [{"AlarmName": COMPOSITE, "StateValue": self.composite_state, "StateReason": "r"}]},
            {"AlarmNames": [COMPOSITE], "AlarmTypes": ["CompositeAlarm"]},
        )
        if self.composite_state == "ALARM":
            return
        cloudwatch.add_response(
            "set_alarm_state",
            {},
            {
                "AlarmName": name,
                "StateValue": "ALARM",
                "StateReason": "make verify: test notification, no action needed",
            },
        )
        item = {
            "AlarmName": COMPOSITE,
            "AlarmType": "CompositeAlarm",
            "HistoryItemType": "Action",
            "HistorySummary": self.action_summary,
            "Timestamp": NOW,
        }
        looks = self.history_looks if self.action_summary else 120 // 5  # verify looks every 5 s for 120 s
        for _ in range(looks - 1):  # the composite has not acted yet
            cloudwatch.add_response("describe_alarm_history", {"AlarmHistoryItems": []})
        cloudwatch.add_response(
            "describe_alarm_history",
            {"AlarmHistoryItems": [item] if self.action_summary else []},
            {
                "AlarmName": COMPOSITE,
                "AlarmTypes": ["CompositeAlarm"],
                "HistoryItemType": "Action",
                "StartDate": NOW - verify.CLOCK_SKEW,
                "ScanBy": "TimestampDescending",
            },
        )
        cloudwatch.add_response(
            "set_alarm_state", {}, {"AlarmName": name, "StateValue": "OK", "StateReason": "make verify: test finished"}
        )

    def _metrics(self) -> None:
        cloudwatch = self.stubbers["cloudwatch"]
        function = [{"Name": "FunctionName", "Value": "ProdServerlessStack-ProdFunction-1"}]
        api = [{"Name": "ApiId", "Value": "abc123"}]
        alarms = [
            {
                "AlarmName": ALARMS["ProdMonitoringFunctionErrorsAlarm0A1B2C3D"],
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": function,
            },
            {
                "AlarmName": ALARMS["ProdMonitoringApi4xxRateAlarm1A2B3C4D"],
                "Metrics": [
                    {"Id": "expr_1", "Expression": "IF(requests > 0, 100 * clientErrors / requests, 0)"},
                    *(
                        {
                            "Id": name,
                            "MetricStat": {
                                "Metric": {"Namespace": "AWS/ApiGateway", "MetricName": metric, "Dimensions": api},
                                "Period": 300,
                                "Stat": "Sum",
                            },
                            "ReturnData": False,
                        }
                        for name, metric in (("clientErrors", "4xx"), ("requests", "Count"))
                    ),
                ],
            },
            {
                "AlarmName": ALARMS["ProdMonitoringApiSubscriptionErrorsAlarm2A3B4C5D"],
                "Metrics": [
                    {
                        "Id": "q",
                        "Expression": SUBSCRIPTION_QUERY,
                        "Period": 300,
                    }
                ],
            },
        ]
        cloudwatch.add_response(
            "describe_alarms", {"MetricAlarms": alarms}, {"AlarmNames": [n for n in ALARMS.values() if n != COMPOSITE]}
        )
        published = [
            ("AWS/Lambda", "Errors", function),
            ("AWS/ApiGateway", "4xx", api),
            ("AWS/ApiGateway", "Count", api),
        ]
        for namespace, metric, dimensions in published:
            present = metric != self.missing_metric
            cloudwatch.add_response(
                "list_metrics",
                {
                    "Metrics": [{"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions}]
                    if present
                    else []
                },
                {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            )
            if not present:  # then the witness of the same namespace is asked, and is missing too
                witness = verify.WITNESSES[namespace]
                cloudwatch.add_response(
                    "list_metrics",
                    {"Metrics": []},
                    {"Namespace": namespace, "MetricName": witness, "Dimensions": dimensions},
                )
        # DeliveryErrors appears only when an error happens; ForwardedLogEvents shows the published dimensions.
        group = [{"Name": "LogGroupName", "Value": LOG_GROUP}]
        cloudwatch.add_response(
            "list_metrics",
            {"Metrics": []},
            {"Namespace": "AWS/Logs", "MetricName": "DeliveryErrors", "Dimensions": group},
        )
        published_set = [*group, {"Name": "DestinationType", "Value": "Firehose"}, {"Name": "FilterName", "Value": "f"}]
        cloudwatch.add_response(
            "list_metrics",
            {"Metrics": [{"Namespace": "AWS/Logs", "MetricName": "ForwardedLogEvents", "Dimensions": published_set}]},
            {"Namespace": "AWS/Logs", "MetricName": "ForwardedLogEvents", "Dimensions": group},
        )

    def verifier(self) -> verify.Verifier:
        clock = {"t": 0.0}

        def sleep(seconds: float) -> None:
            clock["t"] += seconds

        return verify.Verifier(
            clients=self.clients,
            stack=verify.Stack(
                url=URL,
                bucket=BUCKET,
                key_arn=KEY_ARN,
                topic_arn=TOPIC_ARN,
                alias_arn=ALIAS_ARN,
                alarms=dict(ALARMS),
                access_log_group=LOG_GROUP,
            ),
            fetch=fetch,
            timeout=30,
            poll=15,
            sleep=sleep,
            clock=lambda: clock["t"],
            now=lambda: NOW,
            progress=lambda line: None,
            metrics_wait=0,
            callers=CALLERS,
        )

    def run(self) -> dict[str, verify.Row]:
        with (
            self.stubbers["lambda"],
            self.stubbers["s3"],
            self.stubbers["athena"],
            self.stubbers["cloudwatch"],
            self.stubbers["logs"],
        ):
            rows = self.verifier().run()
            for stubber in self.stubbers.values():
                stubber.assert_no_pending_responses()
        return {row.check: row for row in rows}


def failing(rows: dict[str, verify.Row]) -> set[str]:
    return {check for check, row in rows.items() if not row.ok}


def test_a_healthy_account_passes_every_check() -> None:
    rows = Account().run()
    assert failing(rows) == set()
    protected = sum(1 for check in CHECKS if check.get("authorization"))  # each also has its refusal row
    assert len(rows) == len(CHECKS) + protected + len(PROBES) + 2 + 4 + 2 + len(QUERIES) + 1 + 4 + 1
    archive = rows["archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key"]
    assert archive.detail == "2 objects read, 1 blank lines"
    subscription = rows["alarm ApiSubscriptionErrors: DeliveryErrors is published"]
    assert "DestinationType" in subscription.detail and "ForwardedLogEvents" in subscription.detail


def test_missing_objects_fail_the_archive_rows_and_what_depends_on_them() -> None:
    rows = Account(objects=False).run()
    assert failing(rows) == {
        "api/ lines arrive in S3 (delivery-time partitions)",
        "function/ lines arrive in S3 (delivery-time partitions)",
        f"the access line of {FIRST} names its Lambda request id (query 3's join)",
        "archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key",
        "Athena finds the request ids in prod_api_access_logs",
        "Athena finds the request ids in prod_function_logs",
    }
    assert rows["api/ lines arrive in S3 (delivery-time partitions)"].detail.endswith("after 30 s")


def test_objects_not_encrypted_with_the_archive_key_fail_the_object_row() -> None:
    rows = Account(encrypted_with="arn:aws:kms:us-east-1:123456789012:key/other").run()
    assert failing(rows) == {"archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key"}


def test_an_access_line_that_does_not_name_the_lambda_request_id_fails_the_join_row() -> None:
    rows = Account(joined_by="-").run()
    assert failing(rows) == {f"the access line of {FIRST} names its Lambda request id (query 3's join)"}
    assert rows[f"the access line of {FIRST} names its Lambda request id (query 3's join)"].detail == (
        f"fn=-, answer requestId={SERVED_BY}"
    )


def test_an_athena_error_fails_that_querys_row() -> None:
    rows = Account(failing_query="request_lines").run()
    assert failing(rows) == {"README query request_lines runs"}
    assert rows["README query request_lines runs"].detail == "FAILED: SYNTAX_ERROR: line 1:8"


def test_a_failed_alarm_action_fails_the_notification_row() -> None:
    summary = f"Failed to execute action {TOPIC_ARN}. Received error: KMS.AccessDeniedException"
    rows = Account(action_summary=summary).run()
    assert failing(rows) == {"a test notification leaves the alarm topic"}
    assert rows["a test notification leaves the alarm topic"].detail == summary


def test_a_composite_already_in_alarm_fails_the_notification_row_without_touching_any_alarm() -> None:
    """It would not page again for the test, so verify says so instead of reporting a missing (or old) action."""
    account = Account(composite_state="ALARM")
    rows = account.run()
    assert failing(rows) == {"a test notification leaves the alarm topic"}
    assert rows["a test notification leaves the alarm topic"].detail == (
        "ServiceUnhealthy is already in ALARM (r): it pages once for all its members, so a test notification cannot "
        "page; clear what is in ALARM, then verify again"
    )


def test_a_metric_that_is_never_published_fails_its_alarms_row() -> None:
    rows = Account(missing_metric="4xx").run()
    assert failing(rows) == {"alarm Api4xxRate: 4xx is published"}


def test_the_table_and_the_exit_status() -> None:
    rows = [verify.Row("a", True, "fine"), verify.Row("longer check", False, "broken")]
    assert verify.table(rows).splitlines() == [
        "check         result  detail",
        "a             PASS    fine",
        "longer check  FAIL    broken",
    ]


@pytest.mark.usefixtures("no_aws_credentials")
def test_without_credentials_verify_says_what_to_do_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert verify.main([]) == 1
    err = capsys.readouterr().err
    assert err == (
        "verify: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
        "or run `aws sso login` with the AWS CLI\n"
    )


def test_an_alarm_history_without_any_action_fails_the_notification_row() -> None:
    rows = Account(action_summary="").run()
    assert failing(rows) == {"a test notification leaves the alarm topic"}


def test_a_denied_call_is_a_failed_row_naming_it_and_the_other_sections_still_run() -> None:
    account = Account()
    # S3 denies the listing: the archive section fails with the action; Athena, alarms and metrics still run.
    account.stubbers["s3"] = Stubber(account.clients["s3"])
    account.stubbers["s3"].add_client_error(
        "list_objects_v2", service_error_code="AccessDenied", service_message="denied", http_status_code=403
    )
    checks = account.run()
    row = checks["the archive: AWS answered every call"]
    assert not row.ok
    assert row.detail == "AccessDenied on ListObjectsV2: attach the stack's ProdVerifierPolicyArn policy"
    assert "a test notification leaves the alarm topic" in checks
    assert any(check.startswith("README query") for check in checks)


def test_athena_and_query_3_read_the_day_and_the_next() -> None:
    account = Account()
    sent: list[str] = []
    athena = account.clients["athena"]
    athena.meta.events.register(
        "provide-client-params.athena.StartQueryExecution", lambda params, **_: sent.append(params["QueryString"])
    )
    account.run()
    both_days = "((year = '2026' AND month = '11' AND day = '29') OR (year = '2026' AND month = '11' AND day = '30'))"
    assert both_days in sent[0] and both_days in sent[1]  # the request ids, in both tables
    (request_lines,) = [sql for sql in sent if "WITH invocation" in sql]
    assert request_lines.count(both_days) == 3


def test_the_archive_listing_follows_continuation_tokens() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    prefix = "api/year=2026/month=11/day=29/"
    first = {"Contents": [{"Key": prefix + "a", "LastModified": NOW}], "IsTruncated": True}
    stub.add_response("list_objects_v2", {**first, "NextContinuationToken": "t"}, {"Bucket": BUCKET, "Prefix": prefix})
    stub.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": prefix + "b", "LastModified": NOW}], "IsTruncated": False},
        {"Bucket": BUCKET, "Prefix": prefix, "ContinuationToken": "t"},
    )
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "s3": s3}
    with stub:
        assert list(verifier._new_objects("api", NOW, set())) == [prefix + "a", prefix + "b"]


def test_a_metric_listed_late_is_looked_for_again_until_it_appears() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cloudwatch)
    dimensions = [{"Name": "ApiId", "Value": "abc123"}]
    params = {"Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": dimensions}
    stub.add_response(
        "describe_alarms",
        {
            "MetricAlarms": [
                {"AlarmName": "a", "Namespace": "AWS/ApiGateway", "MetricName": "Count", "Dimensions": dimensions}
            ]
        },
    )
    stub.add_response("list_metrics", {"Metrics": []}, params)  # not listed yet, and its witness is itself
    stub.add_response("list_metrics", {"Metrics": []}, params)
    stub.add_response("list_metrics", {"Metrics": [params]}, params)  # a minute later
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "cloudwatch": cloudwatch}
    verifier.stack.alarms = {"ProdMonitoringApiLatencyAlarm1A2B3C4D": "a"}
    verifier.metrics_wait = verify.METRICS_WAIT_SECONDS
    with stub:
        verifier.check_metrics()
    (row,) = verifier.rows
    assert row.ok and row.check == "alarm ApiLatency: Count is published"


def test_with_log_level_error_the_function_row_says_why_it_cannot_pass() -> None:
    account = Account(objects=False)
    verifier = account.verifier()
    verifier.log_level = "ERROR"
    with account.stubbers["lambda"], account.stubbers["s3"]:
        verifier.check_api()
        verifier.check_archive(NOW)
    (row,) = [r for r in verifier.rows if r.check.startswith("function/")]
    assert not row.ok and "logLevel=ERROR: the function writes no WARNING line" in row.detail


def test_a_healthy_run_says_exactly_this() -> None:
    rows = Account().run()
    first = CHECKS[0]["route"]
    not_found = '404 b\'{"message":"Not Found"}\''
    assert [(row.check, row.ok, row.detail) for row in rows.values()] == [
        *(
            row
            for check in CHECKS
            for row in (
                [(f"{check['route']} refuses an anonymous request", True, f"401 {REFUSED!r}")]
                if check.get("authorization")
                else []
            )
            + [(f"{check['route']} answers its healthy sample", True, str(check["status"]))]
        ),
        *((f"{probe['route']} gets HTTP API's 404", True, not_found) for probe in PROBES),
        ("every answer carries its API request id", True, ", ".join(IDS.values())),
        ("a direct invocation of the live alias is refused with 400 (and logged)", True, f"request id {DIRECT}"),
        ("api/ lines arrive in S3 (delivery-time partitions)", True, f"{len(IDS)} request ids found"),
        ("function/ lines arrive in S3 (delivery-time partitions)", True, "1 request ids found"),
        (
            f"the access line of {first} names its Lambda request id (query 3's join)",
            True,
            f"fn={SERVED_BY}, answer requestId={SERVED_BY}",
        ),
        (
            "archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key",
            True,
            "2 objects read, 1 blank lines",
        ),
        ("Athena finds the request ids in prod_api_access_logs", True, f"found {len(IDS)} of {len(IDS)}"),
        ("Athena finds the request ids in prod_function_logs", True, "found 1 of 1"),
        *((f"README query {query.name} runs", True, "SUCCEEDED") for query in QUERIES),
        (
            f"the dashboard's route table reads {first}'s access lines",
            True,
            f"Complete: 1 requests of {first}, 1 route rows",
        ),
        ("a test notification leaves the alarm topic", True, f"Successfully executed action {TOPIC_ARN}"),
        ("alarm FunctionErrors: Errors is published", True, "dimensions ['FunctionName']"),
        ("alarm Api4xxRate: 4xx is published", True, "dimensions ['ApiId']"),
        ("alarm Api4xxRate: Count is published", True, "dimensions ['ApiId']"),
        (
            "alarm ApiSubscriptionErrors: DeliveryErrors is published",
            True,
            "dimensions ['DestinationType', 'FilterName', 'LogGroupName'] (no DeliveryErrors yet; ForwardedLogEvents "
            "has the same dimensions)",
        ),
    ]


def test_athena_is_asked_for_exactly_the_ids_in_both_tables() -> None:
    account = Account()
    sent: list[str] = []
    account.clients["athena"].meta.events.register(
        "provide-client-params.athena.StartQueryExecution", lambda params, **_: sent.append(params["QueryString"])
    )
    account.run()
    days = "((year = '2026' AND month = '11' AND day = '29') OR (year = '2026' AND month = '11' AND day = '30'))"
    ids = ", ".join(f"'{i}'" for i in sorted(IDS.values()))
    select = "SELECT DISTINCT requestid FROM prod_serverless_logs"
    assert sent[:2] == [
        f"{select}.prod_api_access_logs WHERE {days} AND requestid IN ({ids})",
        f"{select}.prod_function_logs WHERE {days} AND requestid IN ('{DIRECT}')",
    ]


def _athena_client(*statuses: dict[str, Any]) -> Any:
    athena = boto3.client("athena", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(athena)
    stub.add_response("start_query_execution", {"QueryExecutionId": "q"})
    for status in statuses:
        stub.add_response("get_query_execution", {"QueryExecution": {"Status": status}})
    stub.activate()
    return athena


def test_a_query_still_running_after_300_seconds_is_a_timeout() -> None:
    verifier = Account().verifier()
    verifier.timeout = 10_000
    verifier.clients = {**verifier.clients, "athena": _athena_client(*([{"State": "RUNNING"}] * 151))}
    assert verifier._athena("SELECT 1") == ("TIMEOUT", [], "query q still RUNNING")
    assert verifier.clock() == 300  # polled every 2 s, no longer than 300 s


@pytest.mark.parametrize(("state", "reason"), [("CANCELLED", "CANCELLED: "), ("FAILED", "FAILED: ")])
def test_a_query_that_ends_badly_says_so(state: str, reason: str) -> None:
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "athena": _athena_client({"State": "QUEUED"}, {"State": state})}
    assert verifier._athena("SELECT 1") == (state, [], reason)


@pytest.mark.parametrize(
    ("code", "detail"),
    [
        (
            "AccessDeniedException",
            "AccessDeniedException on ListObjectsV2: attach the stack's ProdVerifierPolicyArn policy",
        ),
        ("SlowDown", "SlowDown on ListObjectsV2"),
    ],
)
def test_a_failed_call_names_the_code_and_only_a_denial_names_the_policy(code: str, detail: str) -> None:
    account = Account()
    account.stubbers["s3"] = Stubber(account.clients["s3"])
    account.stubbers["s3"].add_client_error("list_objects_v2", service_error_code=code, http_status_code=403)
    rows = account.run()
    row = rows["the archive: AWS answered every call"]
    assert (row.ok, row.detail) == (False, detail)


def test_when_the_api_check_fails_the_archive_and_athena_are_not_asked() -> None:
    account = Account()
    verifier = account.verifier()
    verifier.fetch = lambda request: (500, {}, b"{}")
    called: list[str] = []
    verifier.check_archive = lambda started: called.append("archive")  # type: ignore[method-assign]
    verifier.check_athena = lambda started: called.append("athena")  # type: ignore[method-assign]
    verifier.check_alarm_action = lambda: called.append("alarm")  # type: ignore[method-assign]
    verifier.check_metrics = lambda: called.append("metrics")  # type: ignore[method-assign]
    with account.stubbers["lambda"]:
        verifier.run()
    assert called == ["alarm", "metrics"]


@pytest.mark.parametrize(
    ("answer", "function_error"),
    [
        ({"statusCode": 400, "body": json.dumps({"message": "Bad Request", "requestId": "d"})}, True),
        ({"statusCode": 200, "body": json.dumps({"message": "Bad Request", "requestId": "d"})}, False),
        ({"statusCode": 400, "body": json.dumps(["d"])}, False),
        ({"statusCode": 400, "body": json.dumps({"message": "Bad Request"})}, False),
        (["not", "an", "object"], False),
    ],
)
def test_a_direct_invocation_fails_on_any_one_wrong_thing(answer: Any, function_error: bool) -> None:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    payload = json.dumps(answer).encode()
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(payload), len(payload))}
    if function_error:
        response["FunctionError"] = "Unhandled"
    stub.add_response("invoke", response, {"FunctionName": ALIAS_ARN, "Payload": ANY})
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "lambda": client}
    with stub:
        assert verifier.check_direct_invocation() is False
    (row,) = verifier.rows
    assert row.detail == f"answer {answer!r:.120}"


def test_without_the_alarms_the_notification_row_fails_and_names_them() -> None:
    verifier = Account().verifier()
    verifier.stack.alarms = {}
    verifier.check_alarm_action()
    (row,) = verifier.rows
    assert (row.check, row.ok, row.detail) == (
        "a test notification leaves the alarm topic",
        False,
        "no ProdMonitoringFunctionErrorsAlarm or ProdMonitoringServiceUnhealthyAlarm",
    )


def test_the_stack_is_read_from_its_outputs_and_every_page_of_its_alarms() -> None:
    cloudformation = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(cloudformation)
    outputs = {
        "ProdApiUrl": URL,
        "ProdLogBucketName": BUCKET,
        "ProdLogArchiveKeyArn": KEY_ARN,
        "ProdAlarmTopicArn": TOPIC_ARN,
        "ProdLiveAliasArn": ALIAS_ARN,
    }
    stub.add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "ProdServerlessStack", "StackStatus": "UPDATE_COMPLETE", "CreationTime": NOW,
                     "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]},
        {"StackName": "ProdServerlessStack"},
    )  # fmt: skip

    def summary(logical: str, kind: str) -> dict[str, Any]:
        return {"LogicalResourceId": logical, "PhysicalResourceId": f"{logical}-p", "ResourceType": kind,
                "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"}  # fmt: skip

    stub.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": [summary("A", "AWS::CloudWatch::Alarm"), summary("F", "AWS::Lambda::Function")],
         "NextToken": "t"},
        {"StackName": "ProdServerlessStack"},
    )  # fmt: skip
    stub.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": [summary("C", "AWS::CloudWatch::CompositeAlarm")]},
        {"StackName": "ProdServerlessStack", "NextToken": "t"},
    )
    with stub:
        stack = verify.Stack.read(cloudformation)
    assert stack == verify.Stack(
        url=URL,
        bucket=BUCKET,
        key_arn=KEY_ARN,
        topic_arn=TOPIC_ARN,
        alias_arn=ALIAS_ARN,
        alarms={"A": "A-p", "C": "C-p"},
    )


def test_main_prints_the_table_and_fails_when_a_row_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [verify.Row("one", True, "fine"), verify.Row("two", False, "broken")]
    stack = verify.Stack(url=URL, bucket=BUCKET, key_arn=KEY_ARN, topic_arn=TOPIC_ARN, alias_arn=ALIAS_ARN, alarms={})
    made: dict[str, Any] = {}

    class FakeVerifier:
        def __init__(self, **kwargs: Any) -> None:
            made.update(kwargs)

        def run(self) -> list[verify.Row]:
            return rows

    monkeypatch.setenv("CONTEXT", "logLevel=ERROR")
    monkeypatch.setattr(verify, "session", lambda: "session")
    monkeypatch.setattr(verify, "client", lambda session, name: f"{session}:{name}")
    monkeypatch.setattr(verify.Stack, "read", classmethod(lambda cls, cloudformation: stack))
    monkeypatch.setattr(verify, "Verifier", FakeVerifier)
    assert verify.main(["--timeout", "60"]) == 1
    out = capsys.readouterr().out
    assert out == verify.table(rows) + "\n\nverify: FAIL: 1 of 2 checks passed\n"
    assert made["clients"] == {
        name: f"session:{name}"
        for name in ("cloudformation", "lambda", "s3", "athena", "cloudwatch", "logs", "scheduler", "sqs")
    }
    assert (made["stack"], made["timeout"], made["log_level"]) == (stack, 60.0, "ERROR")
    rows.pop()
    assert verify.main([]) == 0
    assert capsys.readouterr().out.endswith("\nverify: PASS: 1 of 1 checks passed\n")
    assert made["timeout"] == 1200.0


def test_the_unrouted_probes_are_an_unknown_path_and_the_first_method_without_a_route() -> None:
    checks = [{"route": "GET /a", "method": "GET", "path": "/a"}, {"route": "POST /a", "method": "POST", "path": "/a"}]
    assert verify.unrouted(checks) == [
        {
            "route": "GET /verify-no-such-route",
            "method": "GET",
            "path": "/verify-no-such-route",
            "query": "",
            "body": None,
        },
        {"route": "PUT /a", "method": "PUT", "path": "/a", "query": "", "body": None},
    ]
    every = [{"route": f"{m} /a", "method": m, "path": "/a"} for m in ("GET", "POST", "PUT", "PATCH", "DELETE")]
    assert len(verify.unrouted(every)) == 1  # no method left without a route


def _object_reader(body: bytes, **headers: str) -> verify.Verifier:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    stub.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body)), **headers},
        {"Bucket": BUCKET, "Key": "k"},
    )
    stub.activate()
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "s3": s3}
    return verifier


def test_an_object_is_read_line_by_line_past_a_bad_line() -> None:
    text = '{"a": 1}\n[2]\n\n\n{"b": 3}'  # no final newline
    verifier = _object_reader(gzip.compress(text.encode()), ServerSideEncryption="aws:kms", SSEKMSKeyId=KEY_ARN)
    records, issues, blank = verifier._read_object("k")
    assert (records, issues, blank) == ([{"a": 1}, {"b": 3}], ["k: line 2 is not one JSON object"], 2)


def test_an_object_not_gzipd_or_not_under_the_archive_key_says_which_key() -> None:
    verifier = _object_reader(b"plain", ServerSideEncryption="AES256")
    assert verifier._read_object("k") == (
        [],
        ["k: not GZIP"],
        0,
    )
    verifier = _object_reader(gzip.compress(b"{}\n"), ServerSideEncryption="aws:kms", SSEKMSKeyId="other")
    assert verifier._read_object("k")[1] == ["k: not SSE-KMS with the archive key (other)"]


@pytest.mark.parametrize(
    ("section", "client", "operation"),
    [
        ("the API", "lambda", "invoke"),
        ("notifications", "cloudwatch", "describe_alarms"),
        ("notifications", "cloudwatch", "set_alarm_state"),
        ("metrics", "cloudwatch", "describe_alarms"),
    ],
)
def test_each_section_names_itself_when_aws_refuses_it(section: str, client: str, operation: str) -> None:
    account = Account()
    verifier = account.verifier()
    stub = Stubber(account.clients[client])
    if (section, operation) == ("notifications", "set_alarm_state"):  # the composite's state is read first
        composite = {"AlarmName": COMPOSITE, "StateValue": "OK"}
        stub.add_response("describe_alarms", {"CompositeAlarms": [composite]})
    stub.add_client_error(operation, service_error_code="AccessDenied", http_status_code=403)
    stub.activate()
    if section != "the API":
        verifier.fetch = lambda request: (500, {}, b"")  # the API fails on its own: archive and Athena are skipped
    runs = {
        "the API": verifier.check_api,
        "notifications": verifier.check_alarm_action,
        "metrics": verifier.check_metrics,
    }
    assert verifier._guarded(section, runs[section]) is False
    assert verifier.rows[-1].check == f"{section}: AWS answered every call"
    assert verifier.rows[-1].detail.startswith("AccessDenied on ")


def test_athena_names_itself_when_aws_refuses_it() -> None:
    account = Account()
    account.stubbers["athena"] = Stubber(account.clients["athena"])
    account.stubbers["athena"].add_client_error("start_query_execution", service_error_code="AccessDenied")
    rows = account.run()
    assert rows["Athena: AWS answered every call"].detail == (
        "AccessDenied on StartQueryExecution: attach the stack's ProdVerifierPolicyArn policy"
    )


def test_a_call_without_an_error_code_is_reported_as_error() -> None:
    from botocore.exceptions import ClientError

    verifier = Account().verifier()

    def refuse() -> None:
        raise ClientError({"Error": {}}, "ListMetrics")

    assert verifier._guarded("metrics", refuse) is False
    assert verifier.rows[-1].detail == "Error on ListMetrics"


def test_the_archive_is_polled_until_every_id_arrived_across_objects() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    prefix = {source: f"{source}/year=2026/month=11/day=29/" for source in ("api", "function")}

    def listing(source: str, keys: list[str]) -> None:
        stub.add_response(
            "list_objects_v2",
            {"Contents": [{"Key": prefix[source] + key, "LastModified": NOW} for key in keys]},
            {"Bucket": BUCKET, "Prefix": prefix[source]},
        )

    def content(source: str, key: str, lines: list[str]) -> None:
        data = gzip.compress(("\n".join(lines) + "\n").encode())
        stub.add_response(
            "get_object",
            {
                "Body": StreamingBody(io.BytesIO(data), len(data)),
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": KEY_ARN,
            },
            {"Bucket": BUCKET, "Key": prefix[source] + key},
        )

    ids = list(IDS.values())
    listing("api", ["1"])
    content("api", "1", [json.dumps({"id": ids[0], "fn": SERVED_BY}), ""])
    listing("function", ["f"])
    content("function", "f", [json.dumps({"requestId": DIRECT})])
    listing("api", ["1", "2"])  # a minute later: the first object is not read again
    content("api", "2", [json.dumps({"id": i}) for i in ids[1:]] + [""])
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "s3": s3}
    verifier.request_ids = dict(IDS)
    verifier.lambda_ids = {FIRST: SERVED_BY, "direct": DIRECT}
    said: list[str] = []
    verifier.progress = said.append
    with stub:
        verifier.check_archive(NOW)
    assert said == [
        f"verify: waiting for Firehose to deliver the logs (it buffers up to 15 min): api 1/{len(ids)}, function 1/1"
    ]
    rows = {row.check: row for row in verifier.rows}
    assert rows["api/ lines arrive in S3 (delivery-time partitions)"].detail == f"{len(ids)} request ids found"
    assert rows["archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key"].detail == (
        "3 objects read, 2 blank lines"
    )


def test_problems_of_every_object_are_reported_together() -> None:
    account = Account(encrypted_with="arn:aws:kms:us-east-1:123456789012:key/other")
    rows = account.run()
    detail = rows["archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key"].detail
    assert detail.count("not SSE-KMS with the archive key") == 2 and "; " in detail


def test_a_missing_join_says_absent() -> None:
    rows = Account(joined_by="").run()
    assert rows[f"the access line of {FIRST} names its Lambda request id (query 3's join)"].detail == (
        f"fn=absent, answer requestId={SERVED_BY}"
    )


@pytest.mark.parametrize(
    ("logical_id", "label"),
    [
        ("ProdMonitoringApiLatencyAlarm1A2B3C4D", "ApiLatency"),
        ("ProdMonitoringReleaseVersion5xxV0123456789abAlarm1A2B3C4D", "ReleaseVersion5xx"),
        ("ProdMonitoringApiSubscriptionErrorsAlarm2A3B4C5D", "ApiSubscriptionErrors"),
    ],
)
def test_a_rows_alarm_label_is_its_spec_name_without_hash_or_release(logical_id: str, label: str) -> None:
    assert verify.alarm_label(logical_id) == label


def test_alarms_are_described_a_hundred_at_a_time() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cloudwatch)
    names = [f"a{n:03d}" for n in range(150)]
    stub.add_response("describe_alarms", {"MetricAlarms": []}, {"AlarmNames": names[:100]})
    stub.add_response("describe_alarms", {"MetricAlarms": []}, {"AlarmNames": names[100:]})
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "cloudwatch": cloudwatch}
    verifier.stack.alarms = {f"ProdMonitoring{name}": name for name in names}
    with stub:
        verifier.check_metrics()
        stub.assert_no_pending_responses()


def test_verify_describes_itself_and_its_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        verify.main(["--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the description
    assert (
        "`make verify`: prove, in the deployed account, that the whole path works, and print a pass/fail table." in out
    )
    assert "--timeout TIMEOUT seconds to wait for the logs in S3" in out


OTHER = {"field": "r", "value": "GET /other"}


def _row(route: dict[str, str], requests: str, p99: str = "14") -> list[dict[str, str]]:
    return [route, {"field": "requests", "value": requests}, {"field": "client_errors", "value": "0"},
            {"field": "server_errors", "value": "0"}, {"field": "p99_ms", "value": p99}]  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "detail"),
    [
        ([], "Complete: 0 requests of {first}, 0 route rows"),
        ([_row({"field": "r", "value": "{first}"}, "0")], "Complete: 0 requests of {first}, 1 route rows"),
        ([_row(OTHER, "5")], "Complete: 0 requests of {first}, 1 route rows"),  # only another route's row
        (
            [_row({"field": "r", "value": "{first}"}, "1", p99="-")],
            "Complete: 1 requests of {first}, 1 route rows; a status or latency figure is not a number",
        ),
    ],
)
def test_a_dashboard_query_without_the_requests_or_numbers_fails_its_row(
    rows: list[list[dict[str, str]]], detail: str
) -> None:
    rows = [[{**cell, "value": cell["value"].format(first=FIRST)} for cell in row] for row in rows]
    result = Account(dashboard_rows=rows).run()
    check = f"the dashboard's route table reads {FIRST}'s access lines"
    assert failing(result) == {check}
    assert result[check].detail == detail.format(first=FIRST)


def test_the_access_log_group_is_found_among_the_stack_resources() -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    stub = Stubber(cloudformation)
    outputs = ("ProdApiUrl", "ProdLogBucketName", "ProdLogArchiveKeyArn", "ProdAlarmTopicArn", "ProdLiveAliasArn")
    stack = {
        "StackName": "ProdServerlessStack",
        "StackStatus": "UPDATE_COMPLETE",
        "CreationTime": NOW,
        "Outputs": [{"OutputKey": key, "OutputValue": "v"} for key in outputs],
    }
    stub.add_response("describe_stacks", {"Stacks": [stack]})
    log_group = {
        "LogicalResourceId": "ProdApiAccessLogGroupE71D7629",
        "PhysicalResourceId": LOG_GROUP,
        "ResourceType": "AWS::Logs::LogGroup",
        "LastUpdatedTimestamp": NOW,
        "ResourceStatus": "CREATE_COMPLETE",
    }
    stub.add_response("list_stack_resources", {"StackResourceSummaries": [log_group]})
    with stub:
        assert verify.Stack.read(cloudformation).access_log_group == LOG_GROUP


def test_a_stack_without_the_access_log_group_fails_the_dashboard_row_without_a_query() -> None:
    account = Account()
    verifier = account.verifier()
    verifier.stack = dataclasses.replace(verifier.stack, access_log_group="")
    verifier.check_dashboard(NOW)  # no logs stub is entered: a call would fail the test
    (row,) = verifier.rows
    assert (row.ok, row.detail) == (False, "no ProdApiAccessLogGroup log group in the stack")


@pytest.mark.parametrize(
    ("started", "now", "days"),
    [
        # Requests just before midnight (UTC), delivered after it: both days' prefixes, the older first.
        (datetime(2026, 11, 30, 23, 59, 50, tzinfo=UTC), datetime(2026, 12, 1, 0, 14, tzinfo=UTC), ["11/30", "12/01"]),
        # A year's end, and a run that starts and ends in one day.
        (datetime(2026, 12, 31, 23, 50, tzinfo=UTC), datetime(2027, 1, 1, 0, 5, tzinfo=UTC), ["12/31", "01/01"]),
        (datetime(2026, 11, 29, 0, 0, tzinfo=UTC), datetime(2026, 11, 29, 23, 59, 59, tzinfo=UTC), ["11/29"]),
    ],
)
def test_the_archive_is_read_across_a_utc_midnight(started: datetime, now: datetime, days: list[str]) -> None:
    """Firehose partitions by delivery time: lines written before midnight arrive under the next day's prefix."""
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    expected = []
    for day in days:
        month, date = day.split("/")
        year = started.year if month == f"{started.month:02d}" else now.year
        prefix = f"api/year={year}/month={month}/day={date}/"
        key = prefix + "object.gz"
        expected.append(key)
        listing = {"Contents": [{"Key": key, "LastModified": now}], "IsTruncated": False}
        stub.add_response("list_objects_v2", listing, {"Bucket": BUCKET, "Prefix": prefix})
    verifier = Account().verifier()
    verifier.clients = {**verifier.clients, "s3": s3}
    verifier.now = lambda: now
    with stub:
        assert list(verifier._new_objects("api", started, set())) == expected
        stub.assert_no_pending_responses()


def test_a_stage_is_verified_in_its_own_workgroup_and_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTEXT", "stage=dev")
    account = Account()
    sent: list[tuple[str, str]] = []
    account.clients["athena"].meta.events.register(
        "provide-client-params.athena.StartQueryExecution",
        lambda params, **_: sent.append((params["WorkGroup"], params["QueryString"])),
    )
    account.run()
    assert {workgroup for workgroup, _ in sent} == {"ProdServerlessDevLogs"}
    assert all(" prod_serverless_dev_logs." in sql for _, sql in sent), [sql for _, sql in sent]


# ------------------------------------------------------------------------------------------------ workers
NIGHTLY = verify.DeployedWorker(
    "nightly", function="ProdServerlessStack-ProdNightlyWorkerFunction-1", schedule="ProdNightlySchedule-1",
    dead_letters="https://sqs.us-east-1.amazonaws.com/123456789012/nightly-dlq",
)  # fmt: skip
ORDERS = verify.DeployedWorker(
    "orders", function="ProdServerlessStack-ProdOrdersWorkerFunction-1", mapping="11111111-2222-3333-4444-555555555555",
    queue="https://sqs.us-east-1.amazonaws.com/123456789012/orders",
    dead_letters="https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq",
)  # fmt: skip


def _worker_clients() -> tuple[dict[str, Any], dict[str, Stubber]]:
    clients = {
        service: boto3.client(service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for service in ("scheduler", "lambda", "sqs", "cloudwatch")
    }
    return clients, {service: Stubber(c) for service, c in clients.items()}


def _worker_rows(
    schedule: str = "ENABLED", mapping: str = "Enabled", waiting: tuple[int, int] = (0, 0)
) -> dict[str, verify.Row]:
    clients, stubs = _worker_clients()
    stubs["scheduler"].add_response(
        "get_schedule", {"Name": NIGHTLY.schedule, "State": schedule}, {"Name": NIGHTLY.schedule}
    )
    stubs["sqs"].add_response(
        "get_queue_attributes",
        {"Attributes": {"ApproximateNumberOfMessages": str(waiting[0])}},
        {"QueueUrl": NIGHTLY.dead_letters, "AttributeNames": ["ApproximateNumberOfMessages"]},
    )
    stubs["lambda"].add_response(
        "get_event_source_mapping", {"UUID": ORDERS.mapping, "State": mapping}, {"UUID": ORDERS.mapping}
    )
    stubs["sqs"].add_response(
        "get_queue_attributes",
        {"Attributes": {"ApproximateNumberOfMessages": str(waiting[1])}},
        {"QueueUrl": ORDERS.dead_letters, "AttributeNames": ["ApproximateNumberOfMessages"]},
    )
    stack = verify.Stack(URL, BUCKET, KEY_ARN, TOPIC_ARN, ALIAS_ARN, {}, workers={"nightly": NIGHTLY, "orders": ORDERS})
    verifier = verify.Verifier(clients=clients, stack=stack, progress=lambda line: None)
    with stubs["scheduler"], stubs["lambda"], stubs["sqs"]:
        verifier.check_workers()
        for stub in stubs.values():
            stub.assert_no_pending_responses()
    return {row.check: row for row in verifier.rows}


def test_healthy_workers_have_their_triggers_on_and_nothing_in_their_dead_letter_queues() -> None:
    rows = _worker_rows()
    assert {check: row.ok for check, row in rows.items()} == {
        "worker nightly: its schedule is enabled": True,
        "worker nightly: its dead-letter queue is empty": True,
        "worker orders: Lambda polls its queue": True,
        "worker orders: its dead-letter queue is empty": True,
    }
    assert rows["worker orders: its dead-letter queue is empty"].detail == "0 messages"


@pytest.mark.parametrize(
    ("change", "failed", "detail"),
    [
        ({"schedule": "DISABLED"}, "worker nightly: its schedule is enabled", "State DISABLED"),
        ({"mapping": "Disabled"}, "worker orders: Lambda polls its queue", "State Disabled"),
        ({"waiting": (0, 3)}, "worker orders: its dead-letter queue is empty",
         "3 message(s) failed every retry: read one, fix, then redrive (docs/workers.md)"),
    ],
)  # fmt: skip
def test_a_worker_fails_on_its_one_wrong_thing(change: dict[str, Any], failed: str, detail: str) -> None:
    rows = _worker_rows(**change)
    assert failing(rows) == {failed}
    assert rows[failed].detail == detail


def _metric_rows(invoked: bool) -> dict[str, verify.Row]:
    """check_metrics with one worker alarm (its Errors): looked for only once the worker has run."""
    clients, stubs = _worker_clients()
    name = "ProdServerlessStack-ProdMonitoringNightlyErrorsAlarm1234ABCD-1"
    stack = verify.Stack(
        URL, BUCKET, KEY_ARN, TOPIC_ARN, ALIAS_ARN, {"ProdMonitoringNightlyErrorsAlarm1234ABCD": name},
        workers={"nightly": NIGHTLY},
    )  # fmt: skip
    function = [{"Name": "FunctionName", "Value": NIGHTLY.function}]
    stubs["cloudwatch"].add_response(
        "describe_alarms",
        {
            "MetricAlarms": [
                {"AlarmName": name, "Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": function}
            ]
        },
        {"AlarmNames": [name]},
    )
    listed = {"Metrics": [{"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Dimensions": function}]}
    stubs["cloudwatch"].add_response(
        "list_metrics",
        listed if invoked else {"Metrics": []},
        {"Namespace": "AWS/Lambda", "MetricName": "Invocations", "Dimensions": function},
    )
    if invoked:  # then its alarm's metric is looked for, as every other alarm's
        stubs["cloudwatch"].add_response(
            "list_metrics",
            {"Metrics": [{"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": function}]},
            {"Namespace": "AWS/Lambda", "MetricName": "Errors", "Dimensions": function},
        )
    verifier = verify.Verifier(clients=clients, stack=stack, progress=lambda line: None, metrics_wait=0)
    with stubs["cloudwatch"]:
        verifier.check_metrics()
        stubs["cloudwatch"].assert_no_pending_responses()
    return {row.check: row for row in verifier.rows}


def test_a_worker_that_has_not_run_is_skipped_by_name_and_one_that_has_is_checked() -> None:
    idle = _metric_rows(invoked=False)
    assert list(idle) == ["worker nightly: its Lambda metrics"]
    assert idle["worker nightly: its Lambda metrics"].ok is True  # skipped by name, not failed
    assert idle["worker nightly: its Lambda metrics"].detail.startswith("skipped: it has not run since it was created")
    ran = _metric_rows(invoked=True)
    assert {check: row.ok for check, row in ran.items()} == {"alarm NightlyErrors: Errors is published": True}


def test_the_stack_lists_each_workers_resources_by_their_logical_ids() -> None:
    cloudformation = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(cloudformation)
    outputs = {"ProdApiUrl": URL, "ProdLogBucketName": BUCKET, "ProdLogArchiveKeyArn": KEY_ARN,
               "ProdAlarmTopicArn": TOPIC_ARN, "ProdLiveAliasArn": ALIAS_ARN}  # fmt: skip
    stub.add_response(
        "describe_stacks",
        {"Stacks": [{"StackName": "ProdServerlessStack", "StackStatus": "UPDATE_COMPLETE", "CreationTime": NOW,
                     "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()]}]},
        {"StackName": "ProdServerlessStack"},
    )  # fmt: skip
    resources = [
        ("ProdNightlyWorkerFunctionDA8A69DB", "AWS::Lambda::Function", NIGHTLY.function),
        ("ProdNightlyWorkerScheduleDA8A69DB", "AWS::Scheduler::Schedule", NIGHTLY.schedule),
        ("ProdNightlyWorkerDeadLetterQueue2C76558B", "AWS::SQS::Queue", NIGHTLY.dead_letters),
        ("ProdNightlyWorkerDeadLetterQueuePolicy8D025389", "AWS::SQS::QueuePolicy", "p"),
        ("ProdOrdersWorkerFunction9190CC4B", "AWS::Lambda::Function", ORDERS.function),
        ("ProdOrdersWorkerQueueBE4FCE12", "AWS::SQS::Queue", ORDERS.queue),
        ("ProdOrdersWorkerQueueMappingD188574E", "AWS::Lambda::EventSourceMapping", ORDERS.mapping),
        ("ProdOrdersWorkerDeadLetterQueueDBFDF812", "AWS::SQS::Queue", ORDERS.dead_letters),
        ("ProdOrdersWorkerFunctionCurrentVersionE2D0FB7953cd28d3", "AWS::Lambda::Version", "v"),
    ]
    stub.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": [
            {"LogicalResourceId": logical, "PhysicalResourceId": physical, "ResourceType": kind,
             "LastUpdatedTimestamp": NOW, "ResourceStatus": "CREATE_COMPLETE"}
            for logical, kind, physical in resources
        ]},
        {"StackName": "ProdServerlessStack"},
    )  # fmt: skip
    with stub:
        stack = verify.Stack.read(cloudformation)
    assert stack.workers == {"nightly": NIGHTLY, "orders": ORDERS}
