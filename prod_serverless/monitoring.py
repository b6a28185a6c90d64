"""Alarms built from the spec table (alarms.py), an encrypted notification topic, and a dashboard."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aws_cdk import Annotations, Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from prod_serverless import metrics
from prod_serverless.alarms import COMPOSITES, AlarmSpec, composite_runbook, dead_letters
from prod_serverless.compliance import acknowledge
from prod_serverless.keys import customer_managed_key
from prod_serverless.log_formats import routes_query
from prod_serverless.names import StageNames

DASHBOARD_WIDTH = 24
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    "GreaterThanThreshold": cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    "LessThanThreshold": cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
}
# Metrics Insights' aggregate functions, by the statistic an alarm spec names.
INSIGHTS_FUNCTIONS = {"Sum": "SUM", "Average": "AVG", "Maximum": "MAX", "Minimum": "MIN"}
MISSING_DATA = {
    "notBreaching": cloudwatch.TreatMissingData.NOT_BREACHING,
    "breaching": cloudwatch.TreatMissingData.BREACHING,
    "missing": cloudwatch.TreatMissingData.MISSING,
}


@dataclass(frozen=True)
class MonitoredService:
    """The dimension values of what the alarms watch, passed in by the stack."""

    function_name: str
    api_id: str
    executed_version: str  # the version CodeDeploy is releasing (or has released)
    delivery_streams: Mapping[str, str]  # source -> delivery stream name
    log_groups: Mapping[str, str]  # source -> name of the log group subscribed into the archive
    routes: tuple[str, ...] = ()  # route keys, each a row of the dashboard
    access_log_group: str = ""  # where the route table reads its numbers (the access line's routeKey)
    release: str = ""  # the version fingerprint: the release alarms' ids carry it, so each release has new ones
    refusals: bool = False  # some route is protected: the route table counts its authorizers' 401 and 403
    # A worker's dimension values (FunctionName, QueueName), by worker name and by `<worker>/dead-letters`.
    subjects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def dimensions(
        self, source: str | None = None, route: str | None = None, subject: str | None = None
    ) -> dict[str, str]:
        """Every dimension value the stack's metrics are published with, for one archived source, route or worker."""
        values = {
            "FunctionName": self.function_name,
            "ApiId": self.api_id,
            "ExecutedVersion": self.executed_version,
            # The function's EMF metrics name the version as Lambda's AWS_LAMBDA_FUNCTION_VERSION does.
            "FunctionVersion": self.executed_version,
        }
        if source is not None:
            values |= {"DeliveryStreamName": self.delivery_streams[source], "LogGroupName": self.log_groups[source]}
        if route is not None:
            values["Route"] = route
        if subject is not None:
            values |= self.subjects[subject]
        return values


class Monitoring(Construct):
    """Alarms from the spec table; two composites (failing, degraded) page for their members; an encrypted topic.

    Each composite pages for its members (ALARM and OK), so one failure pages once; the log-delivery alarms notify
    on their own; release alarms only roll back.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        specs: Sequence[AlarmSpec],
        service: MonitoredService,
        alarm_email: str | None,
        subscribers_outside_stack: bool = False,
        names: StageNames | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._names = names or StageNames()
        self._service = service
        self.topic, self.events_topic = self._notification_topics(alarm_email, subscribers_outside_stack)
        self._action = cloudwatch_actions.SnsAction(self.topic)
        self._record = cloudwatch_actions.SnsAction(self.events_topic)
        self.specs = tuple(specs)
        self.alarms: dict[str, cloudwatch.IAlarm] = {spec.name: self._alarm(spec) for spec in self.specs}

        self.composites: dict[str, cloudwatch.CompositeAlarm] = {}
        # The service's two first, then each worker's, in the table's order.
        in_order = dict.fromkeys([*COMPOSITES, *(spec.composite for spec in self.specs if spec.composite)])
        for name in in_order:
            members = [self.alarms[spec.name] for spec in self.specs if spec.composite == name]
            if not members:
                continue
            composite = cloudwatch.CompositeAlarm(
                self,
                f"{name}Alarm",
                alarm_description=f"Prod {name}: {composite_runbook(name)}",
                alarm_rule=cloudwatch.AlarmRule.any_of(*members),
            )
            self._notify(composite, self._action)
            self.composites[name] = composite
        self.dashboard = self._dashboard()

    @property
    def release_alarms(self) -> list[cloudwatch.IAlarm]:
        """What CodeDeploy watches during a release."""
        return [self.alarms[spec.name] for spec in self.specs if spec.release]

    def _notification_topics(
        self, alarm_email: str | None, subscribers_outside_stack: bool
    ) -> tuple[sns.Topic, sns.Topic]:
        """The paging topic (the composite and the log-delivery alarms) and the events topic (every other alarm
        state change: the composite's members and the release alarms). Every alarm has an action (Control
        Tower CT.CLOUDWATCH.PR.1); only the first topic pages, so one failure pages once."""
        stack = Stack.of(self)
        key = customer_managed_key(
            self,
            "TopicKey",
            description="Prod alarm notifications (SNS topic encryption)",
            alias=self._names.alias("alarm-topic"),
        )
        # Exactly the statement the SNS "Key management" page gives for AWS services that publish to an
        # encrypted topic ("Enable compatibility between event sources from AWS services and encrypted
        # topics"): no condition, because none is documented as supported for this caller; a kms:ViaService
        # condition would fail every alarm action. Which alarms may publish is scoped by the topic policy.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
            )
        )
        topics = []
        for construct_id, display_name in (
            ("AlarmTopic", "Prod serverless alarms"),
            ("AlarmEventsTopic", "Prod serverless alarm events (no paging)"),
        ):
            topic = sns.Topic(self, construct_id, display_name=display_name, master_key=key, enforce_ssl=True)
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
            topics.append(topic)
        topic, events = topics
        if alarm_email:
            email = topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            acknowledge(
                email,
                "Serverless-SNSRedrivePolicy",
                "Email endpoint: SNS retries delivery itself; a DLQ of alarm e-mails would be a queue nobody reads.",
            )
        elif not subscribers_outside_stack:
            Annotations.of(self).add_warning_v2(
                "prod:no-alarm-recipient",
                "No alarm recipient: alarms will reach no one. Set one with "
                'make deploy CONTEXT="alarmEmail=ops@example.com"; if you subscribe to the ProdAlarmTopicArn '
                "output outside this stack, say so with alarmSubscribersOutsideStack=true.",
            )
        return topic, events

    def _alarm(self, spec: AlarmSpec) -> cloudwatch.IAlarm:
        description = f"Prod: {spec.runbook[0].upper()}{spec.runbook[1:]}"
        if spec.insights:
            return self._insights_alarm(spec, description)
        alarm: cloudwatch.Alarm = cloudwatch.Alarm(
            self,
            spec.construct_id(self._service.release),
            alarm_description=description,
            metric=self._metric(spec),
            threshold=spec.threshold,
            comparison_operator=COMPARISONS[spec.comparison],
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=MISSING_DATA[spec.treat_missing_data],
        )
        self._notify(alarm, self._action if spec.notifies else self._record)
        return alarm

    def _metric(self, spec: AlarmSpec) -> cloudwatch.IMetric:
        period = Duration.minutes(spec.period_minutes)
        dimensions = self._service.dimensions(spec.source, spec.route, spec.subject)
        if spec.expression is None:
            return metrics.metric(spec.watch, dimensions, spec.statistic, period)
        return cloudwatch.MathExpression(
            expression=spec.expression,
            using_metrics={
                name: metrics.metric(watch, dimensions, spec.statistic, period) for name, watch in spec.watches
            },
            label=spec.name,
            period=period,
        )

    def _insights_alarm(self, spec: AlarmSpec, description: str) -> cloudwatch.IAlarm:
        """An alarm on a Metrics Insights query: CloudFormation's Metrics property, as the L2 has none."""
        query = metrics.insights_query(
            spec.watch,
            self._service.dimensions(spec.source, spec.route, spec.subject),
            INSIGHTS_FUNCTIONS[spec.statistic],
        )
        topic = self.topic if spec.notifies else self.events_topic
        alarm = cloudwatch.CfnAlarm(
            self,
            spec.construct_id(self._service.release),
            alarm_description=description,
            metrics=[
                cloudwatch.CfnAlarm.MetricDataQueryProperty(
                    id="q", expression=query, period=spec.period_minutes * 60, return_data=True
                )
            ],
            threshold=spec.threshold,
            comparison_operator=spec.comparison,
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=spec.treat_missing_data,
            alarm_actions=[topic.topic_arn],
            ok_actions=[topic.topic_arn],
        )
        return cloudwatch.Alarm.from_alarm_arn(self, f"{spec.name}Imported", alarm.attr_arn)

    def _notify(self, alarm: cloudwatch.AlarmBase, action: cloudwatch_actions.SnsAction) -> None:
        """ALARM reaches the topic to act, and OK to stand down."""
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)

    def _dashboard(self) -> cloudwatch.Dashboard:
        """Alarm states first, then every alarm's graph with its threshold, then context graphs."""
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.hours(3))
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=[*self.alarms.values(), *self.composites.values()],
                width=DASHBOARD_WIDTH,
                height=4,
            )
        )
        # An alarm widget draws the alarm's own metric and its threshold line.
        dashboard.add_widgets(
            *(cloudwatch.AlarmWidget(alarm=alarm, title=name, width=6, height=5) for name, alarm in self.alarms.items())
        )
        minute = Duration.minutes(1)
        base = self._service.dimensions(None)
        dashboard.add_widgets(
            _graph("API requests", [metrics.metric(metrics.API_COUNT, base, "Sum", minute)]),
            _graph(
                "API latency (ms)",
                [metrics.metric(metrics.API_LATENCY, base, stat, minute) for stat in ("p50", "p90", "p99")],
            ),
            _graph(
                "Function invocations and concurrency",
                [
                    metrics.metric(metrics.LAMBDA_INVOCATIONS, base, "Sum", minute),
                    metrics.metric(metrics.LAMBDA_CONCURRENCY, base, "Maximum", minute),
                ],
            ),
            _graph(
                "Log records delivered to S3",
                [
                    metrics.metric(
                        metrics.DELIVERY_RECORDS, self._service.dimensions(source), "Sum", Duration.minutes(5)
                    )
                    for source in self._service.delivery_streams
                ],
            ),
        )
        # The routes as one table from the access log's own fields (log_formats.py): exact whatever the route, and
        # billed only when the dashboard is viewed, per GB the query scans (CloudWatch pricing, Logs Insights): one
        # query, so a view costs the same for any number of routes (make cost prices it).
        dashboard.add_widgets(
            cloudwatch.LogQueryWidget(
                title="Routes: requests, 4xx"
                + (", 401, 403" if self._service.refusals else "")
                + ", 5xx, p99 latency (ms) over the window",
                log_group_names=[self._service.access_log_group],
                query_lines=routes_query(self._service.refusals),
                view=cloudwatch.LogQueryVisualizationType.TABLE,
                width=DASHBOARD_WIDTH,
                height=max(4, 2 + len(self._service.routes)),
            )
        )
        for worker in self._service.subjects:  # a row per worker: its runs, and its queues' depth
            if "/" in worker:
                continue
            own = self._service.dimensions(subject=worker)
            shown = [
                metrics.metric(watch, own, statistic, minute)
                for watch, statistic in (
                    (metrics.LAMBDA_INVOCATIONS, "Sum"),
                    (metrics.LAMBDA_ERRORS, "Sum"),
                    (metrics.LAMBDA_THROTTLES, "Sum"),
                )
            ]
            queues = [
                metrics.metric(metrics.QUEUE_VISIBLE, self._service.dimensions(subject=subject), "Maximum", minute)
                for subject in (worker, dead_letters(worker))
                if "QueueName" in self._service.subjects[subject]
            ]
            dashboard.add_widgets(
                _graph(f"Worker {worker}: runs, errors, throttles", shown),
                _graph(
                    f"Worker {worker}: duration (ms)", [metrics.metric(metrics.LAMBDA_DURATION, own, "Maximum", minute)]
                ),
                _graph(f"Worker {worker}: messages waiting (queue, dead letters)", queues),
            )
        return dashboard


def _graph(title: str, shown: list[cloudwatch.Metric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=list(shown), width=6, height=6)
