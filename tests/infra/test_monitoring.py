"""Every alarm watches a metric the service publishes, points at this stack's resources, and notifies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Synthesized, synthesize

TOPIC = {"Ref": "ProdMonitoringAlarmTopic23682C3B"}
FUNCTION = {"Ref": "ProdFunction481DA47F"}
API = {"Ref": "ProdApiHttpApi61C9E028"}
STREAMS = {
    "Api": {"Ref": "ProdLogArchiveApiStream908EE00E"},
    "Function": {"Ref": "ProdLogArchiveFunctionStream0B1B317D"},
}
GROUPS = {"Api": {"Ref": "ProdApiAccessLogGroupE71D7629"}, "Function": {"Ref": "ProdFunctionLogGroup42B7F98C"}}

# name -> (namespace, metric, dimensions, statistic or extended statistic, period, comparison, threshold)
GTE, GT, LT = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold"
EXPECTED_ALARMS: dict[str, tuple[str, str, dict[str, Any], str, int, str, float]] = {
    "FunctionErrors": ("AWS/Lambda", "Errors", {"FunctionName": FUNCTION}, "Sum", 60, GTE, 1),
    "FunctionThrottles": ("AWS/Lambda", "Throttles", {"FunctionName": FUNCTION}, "Sum", 60, GTE, 1),
    "FunctionDuration": ("AWS/Lambda", "Duration", {"FunctionName": FUNCTION}, "p99", 300, GT, 12000),
    "Api5xx": ("AWS/ApiGateway", "5xx", {"ApiId": API}, "Sum", 60, GTE, 1),
    "ApiLatency": ("AWS/ApiGateway", "Latency", {"ApiId": API}, "p99", 300, GT, 2000),
    **{
        f"{name}DeliveryFreshness": (
            "AWS/Firehose", "DeliveryToS3.DataFreshness", {"DeliveryStreamName": ref}, "Maximum", 300, GT, 900
        )
        for name, ref in STREAMS.items()
    },
    **{
        f"{name}DeliverySuccess": (
            "AWS/Firehose", "DeliveryToS3.Success", {"DeliveryStreamName": ref}, "Minimum", 300, LT, 1
        )
        for name, ref in STREAMS.items()
    },
    **{
        f"{name}SubscriptionErrors": (
            "AWS/Logs", "DeliveryErrors", {"LogGroupName": ref}, "Sum", 300, GTE, 1
        )
        for name, ref in GROUPS.items()
    },
    **{
        f"{name}SubscriptionThrottling": (
            "AWS/Logs", "DeliveryThrottling", {"LogGroupName": ref}, "Sum", 300, GTE, 1
        )
        for name, ref in GROUPS.items()
    },
}  # fmt: skip


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    found = {}
    for logical_id, alarm in synthesized.of_type("AWS::CloudWatch::Alarm").items():
        name = logical_id.removeprefix("ProdMonitoring").split("Alarm")[0]
        found[name] = alarm["Properties"]
    return found


def test_the_alarm_set_is_exactly_the_expected_one(synthesized: Synthesized) -> None:
    assert set(_alarms(synthesized)) == {*EXPECTED_ALARMS, "Api4xxRate"}


@pytest.mark.parametrize("name", sorted(EXPECTED_ALARMS))
def test_alarm_watches_a_published_metric_of_this_stack(synthesized: Synthesized, name: str) -> None:
    namespace, metric, dimensions, statistic, period, comparison, threshold = EXPECTED_ALARMS[name]
    alarm = _alarms(synthesized)[name]
    assert alarm["Namespace"] == namespace
    assert alarm["MetricName"] == metric
    assert alarm["Dimensions"] == [{"Name": key, "Value": value} for key, value in dimensions.items()]
    statistic_key = "ExtendedStatistic" if statistic.startswith("p") else "Statistic"
    assert alarm[statistic_key] == statistic
    assert alarm["Period"] == period
    assert alarm["ComparisonOperator"] == comparison
    assert alarm["Threshold"] == threshold
    assert alarm["EvaluationPeriods"] == 1


def test_api_4xx_rate_is_metric_math_over_4xx_and_count(synthesized: Synthesized) -> None:
    alarm = _alarms(synthesized)["Api4xxRate"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    assert queries["expr_1"]["Expression"] == "IF(requests > 0, 100 * clientErrors / requests, 0)"
    for query_id, metric in (("clientErrors", "4xx"), ("requests", "Count")):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": "AWS/ApiGateway",
            "MetricName": metric,
            "Dimensions": [{"Name": "ApiId", "Value": API}],
        }
        assert stat["Stat"] == "Sum" and stat["Period"] == 300
        assert queries[query_id]["ReturnData"] is False
    assert alarm["Threshold"] == 5 and alarm["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_alarm_notifies_on_alarm_and_ok_and_ignores_missing_data(synthesized: Synthesized) -> None:
    alarms = _alarms(synthesized)
    assert alarms
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [TOPIC], name
        assert alarm["OKActions"] == [TOPIC], name
        assert alarm["TreatMissingData"] == "notBreaching", name


def test_composite_alarm_covers_the_api_and_function_alarms(synthesized: Synthesized) -> None:
    (composite,) = synthesized.of_type("AWS::CloudWatch::CompositeAlarm").values()
    properties = composite["Properties"]
    rule = str(properties["AlarmRule"])
    for name in ("FunctionErrors", "FunctionThrottles", "FunctionDuration", "Api5xx", "Api4xxRate", "ApiLatency"):
        assert f"ProdMonitoring{name}Alarm" in rule, name
    assert properties["AlarmActions"] == [TOPIC] and properties["OKActions"] == [TOPIC]


def test_topic_is_encrypted_tls_only_and_alarms_may_publish(synthesized: Synthesized) -> None:
    (topic,) = synthesized.of_type("AWS::SNS::Topic").values()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["ProdMonitoringTopicKey4AD2195B", "Arn"]}
    (policy,) = synthesized.of_type("AWS::SNS::TopicPolicy").values()
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "Sid" in s}
    deny = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
    assert deny and deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = statements["AllowThisAccountsAlarmsToPublish"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_topic_key_lets_cloudwatch_use_it_only_through_sns(synthesized: Synthesized) -> None:
    key = synthesized.resources["ProdMonitoringTopicKey4AD2195B"]
    assert key["Properties"]["EnableKeyRotation"] is True
    (statement,) = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"] if s.get("Sid") == "AllowCloudWatchAlarmsThroughSns"
    ]
    assert statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert statement["Condition"] == {"StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}


def test_no_email_subscription_without_alarm_email(synthesized: Synthesized) -> None:
    assert synthesized.of_type("AWS::SNS::Subscription") == {}


def test_alarm_email_adds_an_email_subscription(tmp_path_factory: pytest.TempPathFactory) -> None:
    with_email = synthesize(tmp_path_factory.mktemp("email"), {"alarmEmail": "ops@example.com"})
    (subscription,) = with_email.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": TOPIC}


def test_dashboard_shows_api_function_delivery_and_alarm_states(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = str(dashboard["Properties"]["DashboardBody"])
    for fragment in (
        '"AWS/ApiGateway","Count"',
        '"AWS/ApiGateway","4xx"',
        '"AWS/ApiGateway","5xx"',
        '"stat":"p90"',
        '"AWS/Lambda","Invocations"',
        '"AWS/Lambda","ConcurrentExecutions"',
        '"AWS/Firehose","DeliveryToS3.DataFreshness"',
        '"type":"alarm"',
    ):
        assert fragment in body, fragment


def test_thresholds_come_from_configuration(tmp_path_factory: pytest.TempPathFactory) -> None:
    tuned = synthesize(
        tmp_path_factory.mktemp("thresholds"),
        {
            "api5xxThreshold": "3",
            "api4xxRatePercent": "10",
            "apiLatencyP99Ms": "500",
            "functionThrottlesThreshold": "2",
            "firehoseFreshnessSeconds": "1200",
        },
    )
    thresholds = {name: alarm["Threshold"] for name, alarm in _alarms(tuned).items()}
    assert thresholds["Api5xx"] == 3
    assert thresholds["Api4xxRate"] == 10
    assert thresholds["ApiLatency"] == 500
    assert thresholds["FunctionThrottles"] == 2
    assert thresholds["ApiDeliveryFreshness"] == thresholds["FunctionDeliveryFreshness"] == 1200
    assert thresholds["FunctionErrors"] == 1  # the required alarm is not configurable
