"""The README's Athena queries, as data: `make docs` prints them, `make verify` runs them in the account.

Every query filters out rows whose key column is NULL. The tables read with the OpenX SerDe and
`ignore.malformed.json` (log_catalog.py), which turns a line that is not a JSON object — a blank line
between Firehose records, a truncated write — into a row of NULLs instead of failing the query; such a
row must not be counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from prod_serverless.log_formats import API_ACCESS_TABLE, DATABASE_NAME, FUNCTION_TABLE

# What the README shows for the parameters; `make verify` passes today's date and a real request id.
EXAMPLE = {"year": "2026", "month": "11", "day": "29", "request_id": "JKJaXmPLvHcESHA="}


def partitions(year: str, month: str, day: str) -> str:
    """The request's day and the next: partitions are Firehose's delivery time, not the request's (a request
    at 23:59 UTC, or a 15-minute buffer, lands in the next day's prefix)."""
    first = date(int(year), int(month), int(day))
    days = (first, first + timedelta(days=1))
    return "(" + " OR ".join(f"(year = '{d:%Y}' AND month = '{d:%m}' AND day = '{d:%d}')" for d in days) + ")"


@dataclass(frozen=True)
class Query:
    """A named query over the archive; `sql` takes the partition and, where used, a request id."""

    name: str
    title: str
    sql: str

    def render(self, *, year: str, month: str, day: str, request_id: str = "", db: str = DATABASE_NAME) -> str:
        # Parameters are dates and request ids made by this code or API Gateway; quotes cannot reach here.
        if "'" in request_id:
            raise ValueError("a request id never contains a quote")
        return self.sql.format(
            db=db,
            api=API_ACCESS_TABLE.name,
            fn=FUNCTION_TABLE.name,
            year=year,
            month=month,
            day=day,
            request_id=request_id,
            days=partitions(year, month, day),
        )


QUERIES = (
    Query(
        "error_rate_by_hour",
        "Error rate by hour (API)",
        """SELECT date_trunc('hour', from_unixtime(requesttimeepoch / 1000e0)) AS hour,  -- epoch is in ms
       count(*) AS requests,
       round(100.0 * count_if(status >= 500) / count(*), 2) AS pct_5xx,
       round(100.0 * count_if(status BETWEEN 400 AND 499) / count(*), 2) AS pct_4xx
FROM {db}.{api}
WHERE year = '{year}' AND month = '{month}'
  AND requestid IS NOT NULL  -- not a row made of a blank or malformed line
GROUP BY 1 ORDER BY 1;""",
    ),
    Query(
        "slowest_routes",
        "Slowest routes",
        """SELECT routekey,
       count(*) AS requests,
       approx_percentile(responselatency, 0.99) AS p99_ms,
       max(responselatency) AS max_ms
FROM {db}.{api}
WHERE year = '{year}' AND month = '{month}' AND day = '{day}'
  AND requestid IS NOT NULL
GROUP BY routekey ORDER BY p99_ms DESC LIMIT 20;""",
    ),
    Query(
        "request_lines",
        "Every log line of one request, API and function together, in time order",
        """WITH invocation AS (  -- the Lambda request id that served this API request
  SELECT lambdarequestid FROM {db}.{api}
  WHERE {days} AND requestid = '{request_id}'  -- the request's day and the next: delivery time
)
SELECT 'api' AS source,
       from_unixtime(requesttimeepoch / 1000e0) AS at,
       concat(httpmethod, ' ', path, ' -> ', CAST(status AS varchar)) AS detail
FROM {db}.{api}
WHERE {days} AND requestid = '{request_id}'
UNION ALL
SELECT 'function',
       from_iso8601_timestamp(coalesce("timestamp", "time")),  -- application line or platform line
       coalesce(concat(level, ' ', message), type)
FROM {db}.{fn}
WHERE {days}
  AND (coalesce(requestid, record.requestid) IN (SELECT lambdarequestid FROM invocation)
       OR apirequestid = '{request_id}')  -- error and DEBUG lines name the API request id too
ORDER BY at;""",
    ),
)
