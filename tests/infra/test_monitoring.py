"""Every alarm watches a metric the service publishes, points at this stack's resources, and has an action: the
composite and the log-delivery alarms page, the composite's members and the release alarms only record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.alarms import DURATION_ALARM_FRACTION, alarm_specs, route_name, worker_alarms
from prod_serverless.settings import Settings, cdk_json_context
from service.routes import ROUTES
from tests.conftest import TUNED, Synthesized
from tests.infra.helpers import REGION, SETTINGS
from tools.verify import alarm_label
from workers.table import WORKERS

TOPIC = {"Ref": "ProdMonitoringAlarmTopic23682C3B"}
EVENTS_TOPIC = {"Ref": "ProdMonitoringAlarmEventsTopic90AB1105"}
VERSION = "<the Lambda version being released>"
FUNCTION = {"Ref": "ProdFunction481DA47F"}
API = {"Ref": "ProdApiHttpApi61C9E028"}
STREAMS = {
    "Api": {"Ref": "ProdLogArchiveApiStream908EE00E"},
    "Function": {"Ref": "ProdLogArchiveFunctionStream0B1B317D"},
}
GROUPS = {"Api": {"Ref": "ProdApiAccessLogGroupE71D7629"}, "Function": {"Ref": "ProdFunctionLogGroup42B7F98C"}}
# Routes that declare their own 5xx alarm (service/routes.py, alarm_5xx): members of the composite too.
ROUTE_ALARMS = tuple(f"Route{route_name(route)}5xx" for route in ROUTES if route.alarm_5xx is not None)
# Each composite's members: failing requests page apart from slow or refused ones, so neither masks the other.
MEMBERS = {
    "ServiceUnhealthy": ("FunctionErrors", "FunctionThrottles", "Api5xx", *ROUTE_ALARMS),
    "ServiceDegraded": ("FunctionDuration", "Api4xxRate", "ApiLatency"),
}
HEALTH = tuple(name for members in MEMBERS.values() for name in members)
# Each worker's own alarms (members of its own composite) and its log source's delivery alarms: they add to the set
# and page as the service's do (tests/infra/test_workers.py and tests/test_recipes.py check their metrics).
WORKER_HEALTH = tuple(spec.name for worker in WORKERS for spec in worker_alarms(worker))
WORKER_DELIVERY = tuple(
    f"{worker.title}{kind}"
    for worker in WORKERS
    for kind in ("DeliveryFreshness", "DeliverySuccess", "SubscriptionErrors", "SubscriptionThrottling")
)
# Routes whose 4xx answers never page: the 4xx-rate alarm subtracts the function's count of them.
QUIET_4XX = any(not route.client_errors_page for route in ROUTES)
PROTECTED = any(route.authorization != "public" for route in ROUTES)

# name -> (namespace, metric, dimensions, statistic, period, comparison, threshold, datapoints/evaluation periods)
GTE, GT, LT = "GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold"
DURATION = round(SETTINGS.function_timeout_seconds * 1000 * DURATION_ALARM_FRACTION)
THROTTLES, API_5XX, LATENCY = (
    SETTINGS.function_throttles_threshold,
    SETTINGS.api_5xx_threshold,
    SETTINGS.api_latency_p99_ms,
)
FRESHNESS = SETTINGS.firehose_freshness_seconds
EXPECTED_ALARMS: dict[str, tuple[str, str, dict[str, Any], str, int, str, float, tuple[int, int]]] = {
    "FunctionErrors": ("AWS/Lambda", "Errors", {"FunctionName": FUNCTION}, "Sum", 60, GTE, 1, (1, 1)),
    "FunctionThrottles": ("AWS/Lambda", "Throttles", {"FunctionName": FUNCTION}, "Sum", 60, GTE, THROTTLES, (1, 1)),
    "FunctionDuration": ("AWS/Lambda", "Duration", {"FunctionName": FUNCTION}, "p99", 300, GT, DURATION, (1, 1)),
    "Api5xx": ("AWS/ApiGateway", "5xx", {"ApiId": API}, "Sum", 60, GTE, API_5XX, (1, 1)),
    "ApiLatency": ("AWS/ApiGateway", "Latency", {"ApiId": API}, "p99", 300, GT, LATENCY, (1, 1)),
    **{
        f"{name}DeliveryFreshness": (
            "AWS/Firehose", "DeliveryToS3.DataFreshness", {"DeliveryStreamName": ref}, "Maximum", 300, GT, FRESHNESS,
            (1, 1),
        )
        for name, ref in STREAMS.items()
    },
    # Sustained failure only: three 5-minute periods in a row with failed puts.
    **{
        f"{name}DeliverySuccess": (
            "AWS/Firehose", "DeliveryToS3.Success", {"DeliveryStreamName": ref}, "Average", 300, LT, 1, (3, 3)
        )
        for name, ref in STREAMS.items()
    },
}  # fmt: skip
INSIGHTS_ALARMS = {
    f"{name}Subscription{kind}": (metric, group)
    for name, group in GROUPS.items()
    for kind, metric in (("Errors", "DeliveryErrors"), ("Throttling", "DeliveryThrottling"))
}
# Watched by CodeDeploy during a release, each scoped to the new version: one bad minute rolls back. The
# function's own 5xx count is a plain metric; Errors and Duration by ExecutedVersion are queries (below).
RELEASE_ALARMS: dict[str, tuple[str, str, dict[str, Any], str, int, str, float, tuple[int, int]]] = {
    "ReleaseVersion5xx": (
        "ProdServerless", "ServerErrors", {"FunctionName": FUNCTION, "FunctionVersion": VERSION}, "Sum", 60, GTE, 1,
        (1, 1),
    ),
}  # fmt: skip
RELEASE_QUERIES = {
    "ReleaseVersionErrors": ("SUM", "Errors", 1, (1, 1)),
    "ReleaseVersionDuration": ("AVG", "Duration", LATENCY, (2, 2)),
}


def _alarms(synthesized: Synthesized) -> dict[str, dict[str, Any]]:
    found = {}
    for logical_id, alarm in synthesized.of_type("AWS::CloudWatch::Alarm").items():
        found[alarm_label(logical_id)] = alarm["Properties"]
    return found


def test_the_alarm_set_is_exactly_the_expected_one(synthesized: Synthesized) -> None:
    assert set(_alarms(synthesized)) == {
        *EXPECTED_ALARMS,
        *INSIGHTS_ALARMS,
        *RELEASE_ALARMS,
        *RELEASE_QUERIES,
        *ROUTE_ALARMS,
        "Api4xxRate",
        *WORKER_HEALTH,
        *WORKER_DELIVERY,
    }


@pytest.mark.parametrize("name", sorted({**EXPECTED_ALARMS, **RELEASE_ALARMS}))
def test_alarm_watches_a_published_metric_of_this_stack(synthesized: Synthesized, name: str) -> None:
    namespace, metric, dimensions, statistic, period, comparison, threshold, window = {
        **EXPECTED_ALARMS,
        **RELEASE_ALARMS,
    }[name]
    alarm = _alarms(synthesized)[name]
    (version_id,) = [i for i in synthesized.of_type("AWS::Lambda::Version") if i.startswith("ProdFunctionVersion")]
    resolved = {key: {"Fn::GetAtt": [version_id, "Version"]} if v == VERSION else v for key, v in dimensions.items()}
    assert alarm["Namespace"] == namespace
    assert alarm["MetricName"] == metric
    assert alarm["Dimensions"] == [{"Name": key, "Value": value} for key, value in resolved.items()]
    statistic_key = "ExtendedStatistic" if statistic.startswith("p") else "Statistic"
    assert alarm[statistic_key] == statistic
    assert alarm["Period"] == period
    assert alarm["ComparisonOperator"] == comparison
    assert alarm["Threshold"] == threshold
    assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == window


@pytest.mark.parametrize("name", sorted(INSIGHTS_ALARMS))
def test_subscription_alarms_query_every_dimension_set_of_their_log_group(synthesized: Synthesized, name: str) -> None:
    """CloudWatch Logs documents three dimensions for these metrics; a query by LogGroupName sees any of them."""
    metric, group = INSIGHTS_ALARMS[name]
    alarm = _alarms(synthesized)[name]
    assert "MetricName" not in alarm and "Dimensions" not in alarm
    assert alarm["Metrics"] == [
        {
            "Id": "q",
            "Expression": {
                "Fn::Join": ["", [f'SELECT SUM("{metric}") FROM "AWS/Logs" WHERE LogGroupName = \'', group, "'"]]
            },
            "Period": 300,
            "ReturnData": True,
        }
    ]
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == (GTE, 1)


def test_api_4xx_rate_is_metric_math_over_4xx_and_count(synthesized: Synthesized) -> None:
    alarm = _alarms(synthesized)["Api4xxRate"]
    queries = {query["Id"]: query for query in alarm["Metrics"]}
    floor = SETTINGS.api_4xx_min_requests
    # Taken out of the paged 4xx: the quiet routes' own 4xx, and the authorizers' refusals when a route is protected.
    taken_out = [name for name, present in (("expected", QUIET_4XX), ("refused", PROTECTED)) if present]
    paged = " - ".join(["clientErrors", *(f"FILL({name}, 0)" for name in taken_out)])
    assert queries["expr_1"]["Expression"] == (
        f"IF(requests >= {floor}, 100 * ({paged}) / requests, 0)"
        if taken_out
        else f"IF(requests >= {floor}, 100 * clientErrors / requests, 0)"
    )
    assert ("expected" in queries) == QUIET_4XX
    assert ("refused" in queries) == PROTECTED
    for query_id, metric in (("clientErrors", "4xx"), ("requests", "Count")):
        stat = queries[query_id]["MetricStat"]
        assert stat["Metric"] == {
            "Namespace": "AWS/ApiGateway",
            "MetricName": metric,
            "Dimensions": [{"Name": "ApiId", "Value": API}],
        }
        assert stat["Stat"] == "Sum" and stat["Period"] == 300
        assert queries[query_id]["ReturnData"] is False
    assert alarm["Threshold"] == SETTINGS.api_4xx_rate_percent and alarm["ComparisonOperator"] == GT


def _rate(
    expression: str, requests: float, client_errors: float, expected: float | None = None, refused: float | None = None
) -> float:
    """CloudWatch's metric math for the 4xx rate's few functions: IF(c, a, b), and FILL(m, 0) of a missing value."""
    python = expression.replace("IF(", "_if(").replace("FILL(", "_fill(")
    values = {"requests": requests, "clientErrors": client_errors, "expected": expected, "refused": refused}
    functions = {"_if": lambda c, a, b: a if c else b, "_fill": lambda m, v: v if m is None else m}
    return float(eval(python, functions, values))


@pytest.mark.parametrize("fixture", ["synthesized", "tuned"])
def test_the_4xx_rate_needs_its_volume_floor_to_alarm(fixture: str, request: pytest.FixtureRequest) -> None:
    """make verify's probes (two 404s in eight requests) never page; the same share above the floor does."""
    synth: Synthesized = request.getfixturevalue(fixture)
    settings = Settings.from_context({**cdk_json_context(), **(TUNED if fixture == "tuned" else {})})
    alarm = _alarms(synth)["Api4xxRate"]
    (expression,) = [q["Expression"] for q in alarm["Metrics"] if "Expression" in q]
    floor = settings.api_4xx_min_requests
    assert _rate(expression, 8, 2) == 0 < floor - 8
    assert _rate(expression, floor - 1, floor - 1) == 0
    assert _rate(expression, floor, floor / 4) == 25 > alarm["Threshold"]


@pytest.mark.parametrize("name", sorted(RELEASE_QUERIES))
def test_the_new_versions_errors_and_duration_are_queried_by_executed_version(
    synthesized: Synthesized, name: str
) -> None:
    """Lambda publishes ExecutedVersion with alias invocations: the canary's own numbers, whatever else the set has."""
    function, metric, threshold, window = RELEASE_QUERIES[name]
    alarm = _alarms(synthesized)[name]
    (version_id,) = [i for i in synthesized.of_type("AWS::Lambda::Version") if i.startswith("ProdFunctionVersion")]
    assert alarm["Metrics"] == [
        {
            "Id": "q",
            "Expression": {
                "Fn::Join": [
                    "",
                    [
                        f'SELECT {function}("{metric}") FROM "AWS/Lambda" WHERE FunctionName = \'',
                        FUNCTION,
                        "' AND ExecutedVersion = '",
                        {"Fn::GetAtt": [version_id, "Version"]},
                        "'",
                    ],
                ]
            },
            "Period": 60,
            "ReturnData": True,
        }
    ]
    assert (alarm["Threshold"], (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"])) == (threshold, window)


def test_one_failure_pages_once_and_every_alarm_has_an_action(synthesized: Synthesized) -> None:
    """The composite pages for its members; release alarms roll back; both record to the events topic (Control
    Tower CT.CLOUDWATCH.PR.1 wants an action on every alarm). Only the log-delivery alarms page on their own."""
    alarms = _alarms(synthesized)
    assert len(alarms) == (
        len(EXPECTED_ALARMS) + len(INSIGHTS_ALARMS) + len(RELEASE_ALARMS) + len(RELEASE_QUERIES) + len(ROUTE_ALARMS) + 1
    ) + len(WORKER_HEALTH) + len(WORKER_DELIVERY)
    quiet = {*HEALTH, *RELEASE_ALARMS, *RELEASE_QUERIES, *WORKER_HEALTH}
    for name, alarm in alarms.items():
        topic = EVENTS_TOPIC if name in quiet else TOPIC
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], name
        assert alarm["TreatMissingData"] == "notBreaching", name
        assert alarm["AlarmDescription"].startswith("Prod: ") and "First: " in alarm["AlarmDescription"], name


@pytest.mark.parametrize("composite", sorted(MEMBERS))
def test_each_composite_fires_when_any_of_its_members_fires(synthesized: Synthesized, composite: str) -> None:
    composites = synthesized.of_type("AWS::CloudWatch::CompositeAlarm")
    assert len(composites) == len(MEMBERS) + len(WORKERS)  # and one per worker
    (properties,) = [c["Properties"] for i, c in composites.items() if i.startswith(f"ProdMonitoring{composite}Alarm")]
    parts = properties["AlarmRule"]["Fn::Join"][1]
    alarm_refs = [part["Fn::GetAtt"][0] for part in parts if isinstance(part, dict)]
    assert sorted(alarm_refs) == sorted(
        next(i for i in synthesized.of_type("AWS::CloudWatch::Alarm") if i.startswith(f"ProdMonitoring{name}Alarm"))
        for name in MEMBERS[composite]
    )
    glue = [part for part in parts if isinstance(part, str)]
    # "(ALARM(\"arn1\") OR ALARM(\"arn2\") OR …)": every join is OR, never AND or NOT.
    assert glue[0] == '(ALARM("' and glue[-1] == '"))'
    assert set(glue[1:-1]) <= {'") OR ALARM("'}
    assert properties["AlarmActions"] == [TOPIC] and properties["OKActions"] == [TOPIC]
    assert properties["AlarmDescription"].startswith(f"Prod {composite}: ")


@pytest.mark.parametrize("topic", [TOPIC, EVENTS_TOPIC], ids=["paging", "events"])
def test_topics_are_encrypted_tls_only_and_only_this_accounts_alarms_may_publish(
    synthesized: Synthesized, topic: dict[str, str]
) -> None:
    found = synthesized.resources[topic["Ref"]]
    assert found["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": ["ProdMonitoringTopicKey4AD2195B", "Arn"]}
    (policy,) = [
        p for p in synthesized.of_type("AWS::SNS::TopicPolicy").values() if p["Properties"]["Topics"] == [topic]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    (allow,) = [s for s in statements if s.get("Sid") == "AllowThisAccountsAlarmsToPublish"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"] == {
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": ["", [f"arn:aws:cloudwatch:{REGION}:", {"Ref": "AWS::AccountId"}, ":alarm:*"]]
            }
        },
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    }


def test_topic_key_gives_cloudwatch_exactly_the_documented_sns_statement(synthesized: Synthesized) -> None:
    """SNS "Key management": kms:GenerateDataKey* and kms:Decrypt for the service, with no condition."""
    key = synthesized.resources["ProdMonitoringTopicKey4AD2195B"]
    assert key["Properties"]["EnableKeyRotation"] is True
    (statement,) = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert statement == {
        "Sid": "AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }


def test_without_alarm_email_there_is_no_subscription_and_synth_warns(synthesized: Synthesized) -> None:
    assert synthesized.of_type("AWS::SNS::Subscription") == {}
    assert "Annotation::prod:no-alarm-recipient" in synthesized.warnings


def test_alarm_email_adds_an_email_subscription_and_no_warning(tuned: Synthesized) -> None:
    with_email = tuned
    (subscription,) = with_email.of_type("AWS::SNS::Subscription").values()
    assert subscription["Properties"] == {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": TOPIC}
    assert "Annotation::prod:no-alarm-recipient" not in with_email.warnings


def test_dashboard_shows_every_alarm_with_its_threshold_and_the_service_graphs(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for logical_id in synthesized.of_type("AWS::CloudWatch::Alarm"):
        # An alarm widget draws the alarm's metric and threshold line.
        assert body.count(f'"Fn::GetAtt": ["{logical_id}", "Arn"]') >= 2, logical_id
    for fragment in ('\\"AWS/ApiGateway\\",\\"Count\\"', '\\"stat\\":\\"p90\\"', '\\"AWS/Lambda\\",\\"Invocations\\"'):
        assert fragment in body, fragment


def test_thresholds_come_from_configuration(tuned: Synthesized) -> None:
    thresholds = {name: alarm["Threshold"] for name, alarm in _alarms(tuned).items()}
    assert thresholds["Api5xx"] == 3
    assert thresholds["Api4xxRate"] == 10
    assert thresholds["ApiLatency"] == 500
    assert thresholds["FunctionThrottles"] == 2
    assert thresholds["ApiDeliveryFreshness"] == thresholds["FunctionDeliveryFreshness"] == 1200
    assert thresholds["FunctionErrors"] == 1  # the required alarm is not configurable
    # Derived values follow their own setting, not a neighbour's: the duration alarm the timeout (20 s), the
    # release duration alarm the latency target, the release 5xx alarm nothing.
    assert thresholds["FunctionDuration"] == round(20_000 * DURATION_ALARM_FRACTION)
    assert thresholds["ReleaseVersionDuration"] == 500
    assert thresholds["ReleaseVersion5xx"] == thresholds["ReleaseVersionErrors"] == 1


def test_subscribers_outside_the_stack_silence_the_warning_and_add_no_subscription() -> None:
    from aws_cdk import Stack

    from prod_serverless.monitoring import MonitoredService, Monitoring
    from tests.infra.helpers import template_of

    warned: list[bool] = []

    def build(stack: Stack) -> None:
        from prod_serverless.alarms import alarm_specs

        specs = alarm_specs(SETTINGS, sources=(), timeout_ms=1000)
        service = MonitoredService("f", "a", "1", {}, {})
        monitoring = Monitoring(stack, "ProdMonitoring", specs=specs, service=service, alarm_email=None,
                                subscribers_outside_stack=True)  # fmt: skip
        warned.append(any(m.type == "aws:cdk:warning" for m in monitoring.node.metadata))

    template = template_of(build)
    assert warned == [False]
    assert template.find_resources("AWS::SNS::Subscription") == {}


def test_the_freshness_alarm_claims_only_what_it_sees() -> None:
    """DataFreshness is the age of the oldest record inside Firehose: logs that stop arriving are not in it."""
    specs = alarm_specs(SETTINGS, sources=("api",), timeout_ms=15000)
    (freshness,) = [spec for spec in specs if spec.name == "ApiDeliveryFreshness"]
    assert freshness.note == "the oldest record inside Firehose: logs that never reach Firehose are not seen"
    page = " ".join((Path(__file__).resolve().parents[2] / "docs" / "alarms.md").read_text().split())
    assert "the freshness alarm is what notices logs that stop arriving" not in page
    assert "the freshness alarm sees only records already in Firehose" in page
