"""Alarms on the metrics each service really publishes, an encrypted notification topic, a dashboard.

HTTP APIs publish `4xx`, `5xx`, `Count`, `Latency`, `IntegrationLatency` in `AWS/ApiGateway` with the
dimension `ApiId`; the REST API names (`5XXError`, `ApiName`) would never fire here.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from prod_serverless.compliance import acknowledge
from prod_serverless.settings import Settings

ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)
# p99 duration alarm at 80% of the timeout: the function is close to being cut off.
DURATION_ALARM_FRACTION = 0.8


@dataclass(frozen=True)
class MonitoredService:
    """What the monitoring watches, passed in by the stack."""

    function: lambda_.IFunction
    function_timeout: Duration
    api_id: str
    delivery_streams: dict[str, str]  # source -> delivery stream name
    subscribed_log_groups: dict[str, logs.ILogGroup]  # source -> log group with a subscription


class Monitoring(Construct):
    """Every alarm notifies the topic on ALARM and OK; a composite alarm sums up service health."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: Settings, service: MonitoredService) -> None:
        super().__init__(scope, construct_id)
        self._topic = self._notification_topic(settings)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        function_name = service.function.function_name
        timeout_ms = service.function_timeout.to_milliseconds()

        # Lambda
        self._alarm(
            "FunctionErrors",
            _metric("AWS/Lambda", "Errors", {"FunctionName": function_name}, "Sum", ONE_MINUTE),
            threshold=1,
            description="The API function raised or timed out at least once in a minute.",
        )
        self._alarm(
            "FunctionThrottles",
            _metric("AWS/Lambda", "Throttles", {"FunctionName": function_name}, "Sum", ONE_MINUTE),
            threshold=settings.function_throttles_threshold,
            description="Requests were refused for lack of concurrency.",
        )
        self._alarm(
            "FunctionDuration",
            _metric("AWS/Lambda", "Duration", {"FunctionName": function_name}, "p99", FIVE_MINUTES),
            threshold=round(timeout_ms * DURATION_ALARM_FRACTION),
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"p99 duration above {DURATION_ALARM_FRACTION:.0%} of the {timeout_ms} ms timeout.",
        )

        # HTTP API
        api = {"ApiId": service.api_id}
        self._alarm(
            "Api5xx",
            _metric("AWS/ApiGateway", "5xx", api, "Sum", ONE_MINUTE),
            threshold=settings.api_5xx_threshold,
            description="The API answered with server errors.",
        )
        self._alarm(
            "Api4xxRate",
            cloudwatch.MathExpression(
                expression="IF(requests > 0, 100 * clientErrors / requests, 0)",
                using_metrics={
                    "clientErrors": _metric("AWS/ApiGateway", "4xx", api, "Sum", FIVE_MINUTES),
                    "requests": _metric("AWS/ApiGateway", "Count", api, "Sum", FIVE_MINUTES),
                },
                label="4xx rate (%)",
                period=FIVE_MINUTES,
            ),
            threshold=settings.api_4xx_rate_percent,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"More than {settings.api_4xx_rate_percent}% of requests got a 4xx answer.",
        )
        self._alarm(
            "ApiLatency",
            _metric("AWS/ApiGateway", "Latency", api, "p99", FIVE_MINUTES),
            threshold=settings.api_latency_p99_ms,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            description=f"p99 API latency above {settings.api_latency_p99_ms} ms.",
        )

        # Log delivery: Firehose to S3, and CloudWatch Logs to Firehose.
        for source, stream_name in service.delivery_streams.items():
            name = source.capitalize()
            stream = {"DeliveryStreamName": stream_name}
            self._alarm(
                f"{name}DeliveryFreshness",
                _metric("AWS/Firehose", "DeliveryToS3.DataFreshness", stream, "Maximum", FIVE_MINUTES),
                threshold=settings.firehose_freshness_seconds,
                comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                description=f"{source} logs wait longer than {settings.firehose_freshness_seconds} s to reach S3.",
            )
            self._alarm(
                f"{name}DeliverySuccess",
                _metric("AWS/Firehose", "DeliveryToS3.Success", stream, "Minimum", FIVE_MINUTES),
                threshold=1,
                comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                description=f"Firehose failed to put {source} logs into S3.",
            )
        for source, log_group in service.subscribed_log_groups.items():
            name = source.capitalize()
            group = {"LogGroupName": log_group.log_group_name}
            self._alarm(
                f"{name}SubscriptionErrors",
                _metric("AWS/Logs", "DeliveryErrors", group, "Sum", FIVE_MINUTES),
                threshold=1,
                description=f"CloudWatch Logs could not forward {source} logs to Firehose.",
            )
            # Throttled deliveries are retried for 24 hours and then dropped: this is the warning.
            self._alarm(
                f"{name}SubscriptionThrottling",
                _metric("AWS/Logs", "DeliveryThrottling", group, "Sum", FIVE_MINUTES),
                threshold=1,
                description=f"Forwarding of {source} logs to Firehose is throttled; logs drop after 24 h.",
            )

        health_alarms = [
            self.alarms[name]
            for name in (
                "FunctionErrors",
                "FunctionThrottles",
                "FunctionDuration",
                "Api5xx",
                "Api4xxRate",
                "ApiLatency",
            )
        ]
        self.service_unhealthy = cloudwatch.CompositeAlarm(
            self,
            "ServiceUnhealthyAlarm",
            alarm_description="Prod service unhealthy: any API or function alarm is in ALARM.",
            alarm_rule=cloudwatch.AlarmRule.any_of(*health_alarms),
        )
        self._notify(self.service_unhealthy)

        self.dashboard = self._dashboard(service, api)

    @property
    def topic(self) -> sns.ITopic:
        """Where every alarm and OK notification goes."""
        return self._topic

    def _notification_topic(self, settings: Settings) -> sns.Topic:
        stack = Stack.of(self)
        key = kms.Key(
            self,
            "TopicKey",
            description="Prod alarm notifications (SNS topic encryption)",
            alias="alias/ProdServerless/alarm-topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # CloudWatch publishes to the encrypted topic; SNS calls KMS on its behalf.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsThroughSns",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{stack.region}.amazonaws.com"}},
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name="Prod serverless alarms",
            master_key=key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        if settings.alarm_email:
            email = topic.add_subscription(subscriptions.EmailSubscription(settings.alarm_email))
            acknowledge(
                email,
                "Serverless-SNSRedrivePolicy",
                "Email endpoint: SNS retries delivery itself; a DLQ of alarm e-mails would be a queue nobody reads.",
            )
        return topic

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        *,
        threshold: float,
        description: str,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            f"{name}Alarm",
            alarm_description=f"Prod: {description}",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=1,
            datapoints_to_alarm=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self._notify(alarm)
        self.alarms[name] = alarm
        return alarm

    def _notify(self, alarm: cloudwatch.AlarmBase) -> None:
        """Both state changes reach the topic: ALARM to act, OK to stand down."""
        action = cloudwatch_actions.SnsAction(self._topic)
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)

    def _dashboard(self, service: MonitoredService, api: dict[str, str]) -> cloudwatch.Dashboard:
        function = {"FunctionName": service.function.function_name}
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms", alarms=[*self.alarms.values(), self.service_unhealthy], width=24, height=4
            )
        )
        dashboard.add_widgets(
            _graph("API requests", [_metric("AWS/ApiGateway", "Count", api, "Sum", ONE_MINUTE)]),
            _graph(
                "API errors",
                [
                    _metric("AWS/ApiGateway", "4xx", api, "Sum", ONE_MINUTE),
                    _metric("AWS/ApiGateway", "5xx", api, "Sum", ONE_MINUTE),
                ],
            ),
            _graph(
                "API latency (ms)",
                [_metric("AWS/ApiGateway", "Latency", api, stat, ONE_MINUTE) for stat in ("p50", "p90", "p99")],
            ),
        )
        dashboard.add_widgets(
            _graph(
                "Function invocations, errors, throttles",
                [
                    _metric("AWS/Lambda", name, function, "Sum", ONE_MINUTE)
                    for name in ("Invocations", "Errors", "Throttles")
                ],
            ),
            _graph(
                "Function duration (ms)",
                [_metric("AWS/Lambda", "Duration", function, stat, ONE_MINUTE) for stat in ("p50", "p90", "p99")],
            ),
            _graph(
                "Function concurrency",
                [_metric("AWS/Lambda", "ConcurrentExecutions", function, "Maximum", ONE_MINUTE)],
            ),
        )
        dashboard.add_widgets(
            _graph(
                "Log delivery to S3: records",
                [
                    _metric("AWS/Firehose", "DeliveryToS3.Records", {"DeliveryStreamName": name}, "Sum", FIVE_MINUTES)
                    for name in service.delivery_streams.values()
                ],
                width=12,
            ),
            _graph(
                "Log delivery to S3: freshness (s)",
                [
                    _metric(
                        "AWS/Firehose",
                        "DeliveryToS3.DataFreshness",
                        {"DeliveryStreamName": name},
                        "Maximum",
                        FIVE_MINUTES,
                    )
                    for name in service.delivery_streams.values()
                ],
                width=12,
            ),
        )
        return dashboard


def _metric(
    namespace: str, name: str, dimensions: dict[str, str], statistic: str, period: Duration
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=namespace, metric_name=name, dimensions_map=dimensions, statistic=statistic, period=period
    )


def _graph(title: str, metrics: list[cloudwatch.Metric], width: int = 8) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(metrics), width=width, height=6)
