"""The shape of every log line this stack writes, in one place: the stage builds its access-log format from
it, the Glue tables (LOG_TABLES) their columns, the README's queries their table names, `make cost` its byte
counts. Data only: nothing here imports the CDK.

Every access-log byte is paid about three times (CloudWatch Logs ingestion, Firehose, S3), so the default
`compact` format keeps only what the README's queries, the alarms' first steps and a join to the function's
lines need, under short keys; the Glue table maps each key to a readable column. `full` adds the human
timestamp, the protocol, the response length and the user agent. Both formats are read by the same table:
a key a line lacks reads as NULL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from prod_serverless.names import StageNames

ACCESS_LOG_FORMATS = ("compact", "full")


@dataclass(frozen=True)
class AccessLogField:
    """One key of the access-log line: the `$context` variable it holds and the Glue column that reads it."""

    key: str
    variable: str
    column: str
    hive_type: str
    meaning: str
    compact: bool = True  # in the compact format (every field is in `full`)


# Every value is quoted so the line stays valid JSON when a variable is empty ("-"); the OpenX SerDe still reads
# the always-numeric ones into int columns. Integration fields are "-" when no integration ran: strings.
ACCESS_LOG_FIELDS = (
    AccessLogField("id", "$context.requestId", "requestid", "string", "API Gateway's request id"),
    AccessLogField("t", "$context.requestTimeEpoch", "requesttimeepoch", "bigint", "request time, epoch ms"),
    AccessLogField("ip", "$context.identity.sourceIp", "sourceip", "string", "client address"),
    AccessLogField("m", "$context.httpMethod", "httpmethod", "string", "HTTP method"),
    AccessLogField("r", "$context.routeKey", "routekey", "string", "matched route (`-` when none)"),
    AccessLogField("p", "$context.path", "path", "string", "request path"),
    AccessLogField("s", "$context.status", "status", "int", "response status"),
    AccessLogField("lat", "$context.responseLatency", "responselatency", "int", "response latency, ms"),
    AccessLogField("ilat", "$context.integrationLatency", "integrationlatency", "string", "function latency, ms"),
    AccessLogField(
        "is", "$context.integrationStatus", "integrationstatus", "string", "Lambda Invoke's status", compact=False
    ),
    AccessLogField("ie", "$context.integrationErrorMessage", "integrationerror", "string", "integration error"),
    AccessLogField("e", "$context.error.message", "errormessage", "string", "API Gateway's error message"),
    # API Gateway "Customize HTTP API access logs": the AWS endpoint's request id from the x-amzn-RequestId
    # header, which Lambda's Invoke answers with: the function's request id, the join key to its log lines.
    AccessLogField("fn", "$context.awsEndpointRequestId", "lambdarequestid", "string", "Lambda request id (join key)"),
    AccessLogField("rt", "$context.requestTime", "requesttime", "string", "request time, CLF", compact=False),
    AccessLogField("proto", "$context.protocol", "protocol", "string", "protocol", compact=False),
    AccessLogField("len", "$context.responseLength", "responselength", "bigint", "response bytes", compact=False),
    AccessLogField("ua", "$context.identity.userAgent", "useragent", "string", "user agent", compact=False),
)


def access_log_fields(log_format: str) -> tuple[AccessLogField, ...]:
    """The fields of one access-log format."""
    if log_format not in ACCESS_LOG_FORMATS:
        raise ValueError(f"access-log format must be one of {', '.join(ACCESS_LOG_FORMATS)}; got {log_format!r}")
    return tuple(field for field in ACCESS_LOG_FIELDS if field.compact or log_format == "full")


def render_access_line(log_format: dict[str, str], values: dict[str, str]) -> str:
    """The line API Gateway writes for `log_format` (key -> `$context` variable); an unknown variable is "-"."""
    return json.dumps({key: values.get(variable, "-") for key, variable in log_format.items()}, separators=(",", ":"))


def access_log_format(log_format: str) -> str:
    """The stage's access-log format: one JSON object per request over `$context` variables."""
    return json.dumps({field.key: field.variable for field in access_log_fields(log_format)}, separators=(",", ":"))


def routes_query(refusals: bool = False) -> list[str]:
    """The dashboard's route table: one Logs Insights query over the window's access lines (keys r, s, lat), a row
    per route key. One scan whatever the number of routes, so a view costs the same with one route or a hundred
    (`make cost`); `make verify` runs it in the account, so the numbers it reads from quoted values are proven.
    `refusals` (an API with protected routes) adds the 401 and 403 answers per route, in the same comparisons."""
    refused = "sum(s >= 401 and s < 402) as unauthorized, sum(s >= 403 and s < 404) as forbidden, " if refusals else ""
    return [
        "stats count(*) as requests, sum(s >= 400 and s < 500) as client_errors, "
        f"{refused}sum(s >= 500) as server_errors, pct(lat, 99) as p99_ms by r",
        "sort requests desc",
    ]


# An authorizer's refusal in the access log: 401 or 403 from API Gateway itself, before any integration ran (no
# Lambda request id). A metric filter counts them, so a flood of bad tokens is seen without paging.
AUTH_REFUSAL_PATTERN = '{ ($.s = "401" || $.s = "403") && $.fn = "-" }'


# The function's lines, as Lambda's JSON log format writes them: the application lines (Lambda's own keys plus
# the handler's `extra` fields) and the platform lines (time, type, record) share one table.
FUNCTION_LOG_COLUMNS = (
    ("timestamp", "string"),
    ("level", "string"),
    ("message", "string"),
    ("logger", "string"),
    ("requestid", "string"),
    ("apirequestid", "string"),
    ("status", "int"),
    ("durationms", "double"),
    ("errortype", "string"),
    ("errormessage", "string"),
    ("stacktrace", "array<string>"),
    ("time", "string"),
    ("type", "string"),
    (
        "record",
        "struct<requestId:string,status:string,"
        "metrics:struct<durationMs:double,billedDurationMs:int,memorySizeMB:int,"
        "maxMemoryUsedMB:int,initDurationMs:double>>",
    ),
)


DATABASE_NAME = StageNames().database  # production's (prod_serverless/names.py); a stage's is its own


@dataclass(frozen=True)
class LogTable:
    """A source's table: its Glue name, its columns as (name, Hive type), and the JSON key of each column
    whose key differs from its name."""

    source: str
    name: str
    columns: tuple[tuple[str, str], ...]
    json_keys: tuple[tuple[str, str], ...] = ()


# One table reads both access-log formats; each short key maps to a readable column.
API_ACCESS_TABLE = LogTable(
    source="api",
    name="prod_api_access_logs",
    columns=tuple((field.column, field.hive_type) for field in ACCESS_LOG_FIELDS),
    json_keys=tuple((field.column, field.key) for field in ACCESS_LOG_FIELDS),
)
FUNCTION_TABLE = LogTable(source="function", name="prod_function_logs", columns=FUNCTION_LOG_COLUMNS)

LOG_TABLES = (API_ACCESS_TABLE, FUNCTION_TABLE)


def worker_log_table(name: str) -> LogTable:
    """A worker's table: its own archived source, read with the function's columns (Lambda's JSON log format)."""
    return LogTable(source=name, name=f"prod_{name}_logs", columns=FUNCTION_LOG_COLUMNS)
