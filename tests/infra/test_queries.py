"""The README's Athena queries: they read only columns the tables have, skip NULL rows, and order by time."""

from __future__ import annotations

import re

import pytest

from prod_serverless.log_formats import API_ACCESS_TABLE, DATABASE_NAME, FUNCTION_TABLE
from prod_serverless.queries import EXAMPLE, QUERIES, Query

SQL_WORDS = {
    "select", "from", "where", "and", "or", "as", "group", "by", "order", "desc", "limit", "union", "all", "with",
    "distinct", "in", "between", "is", "not", "null", "cast", "varchar", "date_trunc", "from_unixtime",
    "from_iso8601_timestamp", "count", "count_if", "round", "approx_percentile", "max", "coalesce", "concat",
    "year", "month", "day", "e0",
}  # fmt: skip
COLUMNS = {name for table in (API_ACCESS_TABLE, FUNCTION_TABLE) for name, _ in table.columns}


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_every_identifier_is_a_column_of_the_tables(query: Query) -> None:
    sql = query.render(**EXAMPLE)
    sql = re.sub(r"--[^\n]*", "", sql)  # comments
    sql = re.sub(r"'[^']*'", "''", sql)  # string literals are not identifiers
    aliases = {alias.lower() for alias in re.findall(r"\b(?:AS|WITH) (\w+)", sql)}
    sql = sql.replace(f"{DATABASE_NAME}.{API_ACCESS_TABLE.name}", "").replace(
        f"{DATABASE_NAME}.{FUNCTION_TABLE.name}", ""
    )
    identifiers = {word.lower() for word in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
    unknown = identifiers - SQL_WORDS - COLUMNS - aliases
    assert unknown == set(), f"{query.name} reads {unknown}, which no table has"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.name)
def test_every_query_skips_rows_made_of_blank_or_malformed_lines(query: Query) -> None:
    """OpenX with ignore.malformed.json reads such a line as all NULLs: each query needs a non-NULL key."""
    sql = query.render(**EXAMPLE)
    for branch in sql.split("UNION ALL"):
        assert re.search(r"requestid IS NOT NULL|requestid = '|apirequestid = '|requestid\) IN \(SELECT", branch), (
            f"{query.name}: a branch counts NULL rows:\n{branch}"
        )


def test_the_request_lines_query_orders_by_one_real_timestamp() -> None:
    (query,) = [q for q in QUERIES if q.name == "request_lines"]
    sql = query.render(**EXAMPLE)
    assert sql.rstrip().endswith("ORDER BY at;")
    api_branch, function_branch = sql.split("UNION ALL")
    assert "from_unixtime(requesttimeepoch / 1000e0) AS at" in api_branch
    assert 'from_iso8601_timestamp(coalesce("timestamp", "time"))' in function_branch
    assert "requesttime AS" not in sql  # the CLF-style time string would sort as text


def test_a_quote_in_a_request_id_is_refused() -> None:
    with pytest.raises(ValueError, match="never contains a quote"):
        QUERIES[2].render(year="2026", month="11", day="29", request_id="x' OR '1'='1")
