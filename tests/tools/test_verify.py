"""`make verify` against stubbed AWS responses: the healthy account, and each failure with the exact row it fails.

botocore's Stubber checks every request and every canned response against the real service models, so a
wrong parameter or field name fails here, not in an account.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from prod_serverless.queries import QUERIES
from tools import verify

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
URL = "https://abc123.execute-api.us-east-1.amazonaws.com/"
BUCKET = "prodserverlessstack-prodlogarchivebucket-1"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ProdServerlessStack-ProdMonitoringAlarmTopic-X"
ALIAS_ARN = "arn:aws:lambda:us-east-1:123456789012:function:ProdServerlessStack-ProdFunction-1:live"
SERVED_BY = "r-1"  # the Lambda request id in GET /'s answer
DIRECT = "d-1"  # the Lambda request id of verify's direct invocation
IDS = {"GET /": "AAAAAAAAAAAAAAA=", "POST /": "BBBBBBBBBBBBBBB=", "GET /verify-no-such-route": "CCCCCCCCCCCCCCC="}
ALARMS = {
    "ProdMonitoringFunctionErrorsAlarm0A1B2C3D": "ProdServerlessStack-ProdMonitoringFunctionErrorsAlarm0A1B2C3D-1",
    "ProdMonitoringApi4xxRateAlarm1A2B3C4D": "ProdServerlessStack-ProdMonitoringApi4xxRateAlarm1A2B3C4D-2",
    "ProdMonitoringApiSubscriptionErrorsAlarm2A3B4C5D": "ProdServerlessStack-ProdMonitoringApiSubscriptionErr-3",
}
LOG_GROUP = "/aws/vendedlogs/ProdServerlessApiAccess-uuid"
SUBSCRIPTION_QUERY = f'SELECT SUM("DeliveryErrors") FROM "AWS/Logs" WHERE LogGroupName = \'{LOG_GROUP}\''


def _answer(method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    headers = {"apigw-requestid": IDS[f"{method} {path}"], "content-type": "application/json"}
    if (method, path) == ("GET", "/"):
        body = {"message": "Hello from Prod", "requestId": SERVED_BY, "environment": "prod", "version": "1.0.0"}
        return 200, headers, json.dumps(body).encode()
    return 404, headers, b'{"message":"Not Found"}'


def fetch(method: str, url: str) -> tuple[int, dict[str, str], bytes]:
    return _answer(method, "/" + url.removeprefix(URL.rstrip("/") + "/"))


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
    joined_by: str = SERVED_BY  # what the access line of GET / names as its Lambda request id
    clients: dict[str, Any] = field(default_factory=dict)
    stubbers: dict[str, Stubber] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for service in ("lambda", "s3", "athena", "cloudwatch"):
            self.clients[service] = boto3.client(
                service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
            )
            self.stubbers[service] = Stubber(self.clients[service])
        self._direct_invocation()
        self._archive()
        self._athena()
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
                json.dumps({"id": request_id, "s": "200", "fn": self.joined_by if request == "GET /" else "-"})
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
                {"QueryString": ANY, "WorkGroup": "ProdServerlessLogs"},
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

    def _alarm_action(self) -> None:
        cloudwatch = self.stubbers["cloudwatch"]
        name = ALARMS["ProdMonitoringFunctionErrorsAlarm0A1B2C3D"]
        cloudwatch.add_response("set_alarm_state", {}, {"AlarmName": name, "StateValue": "ALARM", "StateReason": ANY})
        item = {"AlarmName": name, "HistoryItemType": "Action", "HistorySummary": self.action_summary, "Timestamp": NOW}
        cloudwatch.add_response("describe_alarm_history", {"AlarmHistoryItems": [item]})
        cloudwatch.add_response("set_alarm_state", {}, {"AlarmName": name, "StateValue": "OK", "StateReason": ANY})

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
        cloudwatch.add_response("describe_alarms", {"MetricAlarms": alarms}, {"AlarmNames": list(ALARMS.values())})
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
                url=URL, bucket=BUCKET, key_arn=KEY_ARN, topic_arn=TOPIC_ARN, alias_arn=ALIAS_ARN, alarms=dict(ALARMS)
            ),
            fetch=fetch,
            timeout=30,
            poll=15,
            sleep=sleep,
            clock=lambda: clock["t"],
            now=lambda: NOW,
            progress=lambda line: None,
        )

    def run(self) -> dict[str, verify.Row]:
        with self.stubbers["lambda"], self.stubbers["s3"], self.stubbers["athena"], self.stubbers["cloudwatch"]:
            rows = self.verifier().run()
            for stubber in self.stubbers.values():
                stubber.assert_no_pending_responses()
        return {row.check: row for row in rows}


def failing(rows: dict[str, verify.Row]) -> set[str]:
    return {check for check, row in rows.items() if not row.ok}


def test_a_healthy_account_passes_every_check() -> None:
    rows = Account().run()
    assert failing(rows) == set()
    assert len(rows) == 5 + 4 + 2 + len(QUERIES) + 1 + 4
    archive = rows["archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key"]
    assert archive.detail == "2 objects read, 1 blank lines"
    subscription = rows["alarm ApiSubscriptionErrors: DeliveryErrors is published"]
    assert "DestinationType" in subscription.detail and "ForwardedLogEvents" in subscription.detail


def test_missing_objects_fail_the_archive_rows_and_what_depends_on_them() -> None:
    rows = Account(objects=False).run()
    assert failing(rows) == {
        "api/ lines arrive in S3 (today's partition)",
        "function/ lines arrive in S3 (today's partition)",
        "the access line of GET / names its Lambda request id (query 3's join)",
        "archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key",
        "Athena finds the request ids in prod_api_access_logs",
        "Athena finds the request ids in prod_function_logs",
    }
    assert rows["api/ lines arrive in S3 (today's partition)"].detail.endswith("after 30 s")


def test_objects_not_encrypted_with_the_archive_key_fail_the_object_row() -> None:
    rows = Account(encrypted_with="arn:aws:kms:us-east-1:123456789012:key/other").run()
    assert failing(rows) == {"archive objects: GZIP, one JSON object per line, SSE-KMS with the archive key"}


def test_an_access_line_that_does_not_name_the_lambda_request_id_fails_the_join_row() -> None:
    rows = Account(joined_by="-").run()
    assert failing(rows) == {"the access line of GET / names its Lambda request id (query 3's join)"}
    assert rows["the access line of GET / names its Lambda request id (query 3's join)"].detail == (
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
        "verify: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY), "
        "or run `aws sso login`\n"
    )
