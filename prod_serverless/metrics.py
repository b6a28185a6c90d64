"""Every metric this stack watches, defined once: the alarms and the dashboard are built from these.

Namespaces, names and dimensions are the ones each service documents as published:
- Lambda "Types of metrics for Lambda functions": AWS/Lambda `Errors`, `Throttles`, `Duration`, … by `FunctionName`;
- API Gateway "CloudWatch metrics for HTTP APIs": AWS/ApiGateway `4xx`, `5xx`, `Count`, `Latency`,
  `IntegrationLatency` by `ApiId` (the REST API names `5XXError` / `ApiName` would never fire here);
- Firehose "Monitoring with CloudWatch metrics": AWS/Firehose `DeliveryToS3.*` by `DeliveryStreamName`;
- CloudWatch Logs "Monitoring with CloudWatch metrics": AWS/Logs `DeliveryErrors`, `DeliveryThrottling`, with the
  dimensions `LogGroupName, DestinationType, FilterName` (see `insights_query` for why those alarms use a query);
- the function's own, in CloudWatch embedded metric format (service/metrics.py): `ProdServerless` `ServerErrors`
  by `FunctionName, FunctionVersion` and by `FunctionName, Route`, `ExpectedClientErrors` by `FunctionName`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch


@dataclass(frozen=True)
class Watch:
    """A published metric: its namespace, its name, and the dimensions it is published with."""

    namespace: str
    name: str
    dimensions: tuple[str, ...]

    def describe(self) -> str:
        return f"`{self.name}` ({self.namespace}, {', '.join(self.dimensions)})"


LAMBDA_ERRORS = Watch("AWS/Lambda", "Errors", ("FunctionName",))
# Lambda publishes ExecutedVersion with alias invocations, to tell the versions of a weighted alias apart;
# queried by FunctionName and ExecutedVersion (insights_query), whatever else the set carries.
VERSION_ERRORS = Watch("AWS/Lambda", "Errors", ("FunctionName", "ExecutedVersion"))
# Lambda "Types of metrics": Duration is published with ExecutedVersion too; read by a query (AVG) like Errors.
VERSION_DURATION = Watch("AWS/Lambda", "Duration", ("FunctionName", "ExecutedVersion"))
# Emitted by the function itself (service/metrics.py), only when it answers so: nothing is written when healthy.
SERVICE_NAMESPACE = "ProdServerless"
VERSION_SERVER_ERRORS = Watch(SERVICE_NAMESPACE, "ServerErrors", ("FunctionName", "FunctionVersion"))
ROUTE_SERVER_ERRORS = Watch(SERVICE_NAMESPACE, "ServerErrors", ("FunctionName", "Route"))
EXPECTED_CLIENT_ERRORS = Watch(SERVICE_NAMESPACE, "ExpectedClientErrors", ("FunctionName",))
# Counted from the API's access log by a metric filter (api.py, log_formats.AUTH_REFUSAL_PATTERN), only when a route
# is protected: the 401/403 answers of HTTP API's authorizers, which never reach the function.
AUTH_REFUSALS = Watch("ProdServerless/Authorizers", "Refusals", ())
LAMBDA_THROTTLES = Watch("AWS/Lambda", "Throttles", ("FunctionName",))
LAMBDA_DURATION = Watch("AWS/Lambda", "Duration", ("FunctionName",))
LAMBDA_INVOCATIONS = Watch("AWS/Lambda", "Invocations", ("FunctionName",))
LAMBDA_CONCURRENCY = Watch("AWS/Lambda", "ConcurrentExecutions", ("FunctionName",))
API_5XX = Watch("AWS/ApiGateway", "5xx", ("ApiId",))
API_4XX = Watch("AWS/ApiGateway", "4xx", ("ApiId",))
API_COUNT = Watch("AWS/ApiGateway", "Count", ("ApiId",))
API_LATENCY = Watch("AWS/ApiGateway", "Latency", ("ApiId",))
DELIVERY_FRESHNESS = Watch("AWS/Firehose", "DeliveryToS3.DataFreshness", ("DeliveryStreamName",))
DELIVERY_SUCCESS = Watch("AWS/Firehose", "DeliveryToS3.Success", ("DeliveryStreamName",))
DELIVERY_RECORDS = Watch("AWS/Firehose", "DeliveryToS3.Records", ("DeliveryStreamName",))
# Queried by LogGroupName alone (insights_query): correct whichever documented dimension set is published.
SUBSCRIPTION_ERRORS = Watch("AWS/Logs", "DeliveryErrors", ("LogGroupName",))
SUBSCRIPTION_THROTTLING = Watch("AWS/Logs", "DeliveryThrottling", ("LogGroupName",))


def metric(watch: Watch, dimensions: Mapping[str, str], statistic: str, period: Duration) -> cloudwatch.Metric:
    """`watch` for this stack's resources: exactly the dimensions it is published with, no more, no fewer."""
    missing = [name for name in watch.dimensions if name not in dimensions]
    if missing:
        raise KeyError(f"{watch.name} needs the dimensions {missing}")
    return cloudwatch.Metric(
        namespace=watch.namespace,
        metric_name=watch.name,
        dimensions_map={name: dimensions[name] for name in watch.dimensions},
        statistic=statistic,
        period=period,
    )


def insights_query(watch: Watch, dimensions: Mapping[str, str], function: str = "SUM") -> str:
    """A Metrics Insights query over every dimension set of `watch` that includes its filter dimensions.

    The CloudWatch Logs metrics page documents DeliveryErrors/DeliveryThrottling with LogGroupName,
    DestinationType and FilterName but not the exact DestinationType value; an alarm that names all three
    could watch a series that is never published. `FROM "<namespace>"` without SCHEMA matches every
    dimension set that carries the WHERE dimensions (CloudWatch "Metrics Insights query components and
    syntax"), so the alarm sees the data whichever set is published; if both were, SUM counts twice,
    which cannot hide an error from a ">= 1" alarm.
    """
    conditions = " AND ".join(f"{name} = '{dimensions[name]}'" for name in watch.dimensions)
    # A metrics query over this stack's own names, not SQL run against data: nothing here is user input.
    return f'SELECT {function}("{watch.name}") FROM "{watch.namespace}" WHERE {conditions}'  # noqa: S608


# SQS "Available CloudWatch metrics for Amazon SQS": AWS/SQS by QueueName, published every minute for an active queue
# (one that holds messages or was called in the last six hours).
QUEUE_OLDEST_AGE = Watch("AWS/SQS", "ApproximateAgeOfOldestMessage", ("QueueName",))
QUEUE_VISIBLE = Watch("AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName",))
