"""Athena-ready archive: Glue tables with partition projection matching the log formats, a safe workgroup."""

from __future__ import annotations

import json
import re

import pytest

from prod_serverless.log_formats import ACCESS_LOG_FIELDS, API_ACCESS_TABLE, FUNCTION_TABLE, render_access_line
from prod_serverless.queries import EXAMPLE, QUERIES
from tests.conftest import Synthesized
from tests.infra.helpers import REGION
from workers.table import WORKERS

BUCKET = {"Ref": "ProdLogArchiveBucket17CCD0FA"}


def _table(synthesized: Synthesized, name: str) -> dict:  # type: ignore[type-arg]
    (table,) = [
        t["Properties"]["TableInput"]
        for t in synthesized.of_type("AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == name
    ]
    return table  # type: ignore[no-any-return]


def test_database_is_prefixed(synthesized: Synthesized) -> None:
    (database,) = synthesized.of_type("AWS::Glue::Database").values()
    assert database["Properties"]["DatabaseInput"]["Name"] == "prod_serverless_logs"


@pytest.mark.parametrize(("name", "source"), [("prod_api_access_logs", "api"), ("prod_function_logs", "function")])
def test_tables_project_the_hive_partitions_of_their_source(synthesized: Synthesized, name: str, source: str) -> None:
    table = _table(synthesized, name)
    parameters = table["Parameters"]
    assert parameters["projection.enabled"] == "true"
    assert parameters["projection.year.type"] == "integer"
    assert parameters["projection.month.range"] == "1,12" and parameters["projection.month.digits"] == "2"
    assert parameters["projection.day.range"] == "1,31" and parameters["projection.day.digits"] == "2"
    assert parameters["storage.location.template"] == {
        "Fn::Join": ["", ["s3://", BUCKET, f"/{source}/year=${{year}}/month=${{month}}/day=${{day}}/"]]
    }
    assert [key["Name"] for key in table["PartitionKeys"]] == ["year", "month", "day"]
    storage = table["StorageDescriptor"]
    assert storage["Location"] == {"Fn::Join": ["", ["s3://", BUCKET, f"/{source}/"]]}
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"


def test_api_table_has_a_column_for_every_access_log_field(synthesized: Synthesized) -> None:
    table = _table(synthesized, "prod_api_access_logs")
    columns = {c["Name"]: c["Type"] for c in table["StorageDescriptor"]["Columns"]}
    assert set(columns) == {field.column for field in ACCESS_LOG_FIELDS}
    assert columns["status"] == "int" and columns["responselatency"] == "int"
    assert columns["integrationlatency"] == "string"  # "-" when no integration ran
    serde = table["StorageDescriptor"]["SerdeInfo"]["Parameters"]
    mapped = {name.removeprefix("mapping."): key for name, key in serde.items() if name.startswith("mapping.")}
    assert mapped == {field.column: field.key for field in ACCESS_LOG_FIELDS}


def _stage_format(synthesized: Synthesized) -> dict[str, str]:
    (stage,) = synthesized.of_type("AWS::ApiGatewayV2::Stage").values()
    fields: dict[str, str] = json.loads(stage["Properties"]["AccessLogSettings"]["Format"])
    return fields


def _read_like_openx(line: str, table: dict) -> dict[str, object]:  # type: ignore[type-arg]
    """What the OpenX SerDe makes of a line, by the table's own options (Athena "OpenX JSON SerDe"): keys lower-cased
    only with case.insensitive, each column read from its mapped key; a malformed line is a row of NULLs only with
    ignore.malformed.json (else the query fails)."""
    serde = table["StorageDescriptor"]["SerdeInfo"]["Parameters"]
    columns = [column["Name"] for column in table["StorageDescriptor"]["Columns"]]
    try:
        document = json.loads(line)
    except ValueError:
        assert serde.get("ignore.malformed.json") == "true", "a malformed line would fail every query"
        return dict.fromkeys(columns)
    insensitive = serde.get("case.insensitive") == "true"
    record = {(key.lower() if insensitive else key): value for key, value in document.items()}
    return {column: record.get(serde.get(f"mapping.{column}", column)) for column in columns}


def test_the_deployed_line_fills_every_api_column_the_readme_queries_read(synthesized: Synthesized) -> None:
    table = _table(synthesized, "prod_api_access_logs")
    values = {field.variable: f"value-of-{field.key}" for field in ACCESS_LOG_FIELDS}
    row = _read_like_openx(render_access_line(_stage_format(synthesized), values), table)
    sql = " ".join(query.render(**EXAMPLE) for query in QUERIES)
    read = {column for column in row if re.search(rf"\b{column}\b", sql)}
    assert {"requestid", "requesttimeepoch", "status", "routekey", "responselatency", "lambdarequestid"} <= read
    assert all(row[column] is not None for column in read), {c: row[c] for c in read}


def test_function_table_reads_the_handlers_log_line_and_platform_reports(synthesized: Synthesized) -> None:
    from service import handler

    columns = {c["Name"]: c["Type"] for c in _table(synthesized, "prod_function_logs")["StorageDescriptor"]["Columns"]}
    # Lambda's JSON format fields plus every extra field the handler logs.
    assert {"timestamp", "level", "message", "logger", "requestid"} <= set(columns)
    logged = {name.lower() for name in handler.LOGGED_FIELDS}
    assert logged <= set(columns)
    assert columns["status"] == "int" and columns["durationms"] == "double"
    assert columns["record"].startswith("struct<")


def test_the_function_table_reads_the_functions_real_lines_whatever_their_keys_case(synthesized: Synthesized) -> None:
    """Lambda's JSON format and the handler write camelCase keys (requestId, apiRequestId, durationMs); the table's
    columns are lower-case and unmapped, so they are filled only because the SerDe ignores case."""
    import logging

    from tools.lambda_logging import LambdaJsonFormatter

    table = _table(synthesized, "prod_function_logs")
    record = logging.LogRecord("service", logging.DEBUG, __file__, 1, "request", (), None)
    for name, value in {"apiRequestId": "JKJaXmPLvHcESHA=", "status": 200, "durationMs": 0.8}.items():
        setattr(record, name, value)
    line = LambdaJsonFormatter("c6af9ac6-7b61-11e6-9a41-93e812345678").format(record)
    assert {"requestId", "apiRequestId", "durationMs"} <= set(json.loads(line))  # camelCase, as written
    row = _read_like_openx(line, table)
    assert (row["requestid"], row["apirequestid"], row["status"], row["durationms"], row["level"]) == (
        "c6af9ac6-7b61-11e6-9a41-93e812345678", "JKJaXmPLvHcESHA=", 200, 0.8, "DEBUG")  # fmt: skip
    # A line that is not JSON (a runtime's stray print, a blank line between Firehose records) is a row of NULLs.
    assert set(_read_like_openx("not json", table).values()) == {None}


@pytest.mark.parametrize("name", ["prod_api_access_logs", "prod_function_logs"])
def test_each_tables_serde_options_are_exactly_these(synthesized: Synthesized, name: str) -> None:
    serde = _table(synthesized, name)["StorageDescriptor"]["SerdeInfo"]["Parameters"]
    options = {key: value for key, value in serde.items() if not key.startswith("mapping.")}
    assert options == {"ignore.malformed.json": "true", "case.insensitive": "true"}


def test_table_definitions_are_consistent() -> None:
    for table in (API_ACCESS_TABLE, FUNCTION_TABLE):
        names = [name for name, _ in table.columns]
        assert len(names) == len(set(names)), table.name
        assert all(name == name.lower() for name in names)


RESULTS = "ProdLogCatalogResultsBucketEA689856"


def test_workgroup_encrypts_results_into_their_own_bucket_and_enforces_it(synthesized: Synthesized) -> None:
    (workgroup,) = synthesized.of_type("AWS::Athena::WorkGroup").values()
    properties = workgroup["Properties"]
    assert properties["Name"] == "ProdServerlessLogs"
    configuration = properties["WorkGroupConfiguration"]
    assert configuration["EnforceWorkGroupConfiguration"] is True
    assert configuration["BytesScannedCutoffPerQuery"] == 10 * 1024**3
    assert configuration["ResultConfiguration"] == {
        "EncryptionConfiguration": {
            "EncryptionOption": "SSE_KMS",
            "KmsKey": {"Fn::GetAtt": ["ProdLogArchiveKey38D0B7C1", "Arn"]},
        },
        "OutputLocation": {"Fn::Join": ["", ["s3://", {"Ref": RESULTS}, "/"]]},
    }


def test_query_results_expire_within_days_and_are_never_locked(synthesized: Synthesized) -> None:
    properties = synthesized.resources[RESULTS]["Properties"]
    assert properties["LifecycleConfiguration"] == {
        "Rules": [
            {
                "Id": "ExpireQueryResults",
                "Status": "Enabled",
                "ExpirationInDays": 7,
                "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
            }
        ]
    }
    assert "ObjectLockEnabled" not in properties


def test_reader_policy_grants_exactly_the_log_queries_to_nobody_by_default(synthesized: Synthesized) -> None:
    (logical_id,) = [i for i in synthesized.of_type("AWS::IAM::ManagedPolicy") if i.startswith("ProdLogCatalogReader")]
    policy = synthesized.resources[logical_id]["Properties"]
    assert "Roles" not in policy and "Users" not in policy and "Groups" not in policy
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    archive = {"Fn::GetAtt": ["ProdLogArchiveBucket17CCD0FA", "Arn"]}
    results = {"Fn::GetAtt": [RESULTS, "Arn"]}
    assert by_sid["RunQueriesInTheLogWorkgroup"]["Resource"] == {
        "Fn::Join": ["", [f"arn:aws:athena:{REGION}:", {"Ref": "AWS::AccountId"}, ":workgroup/ProdServerlessLogs"]]
    }
    assert sorted(by_sid["RunQueriesInTheLogWorkgroup"]["Action"]) == [
        "athena:GetQueryExecution",
        "athena:GetQueryResults",
        "athena:GetWorkGroup",
        "athena:StartQueryExecution",
        "athena:StopQueryExecution",
    ]
    assert sorted(by_sid["ReadTheLogTables"]["Action"]) == ["glue:GetDatabase", "glue:GetTable", "glue:GetTables"]
    assert by_sid["ReadArchivedLines"]["Action"] == "s3:GetObject"
    assert by_sid["ReadArchivedLines"]["Resource"] == [
        {"Fn::Join": ["", [archive, f"/{source}/*"]]} for source in ("api", "function", *(w.name for w in WORKERS))
    ]
    assert by_sid["WriteQueryResults"]["Resource"] == {"Fn::Join": ["", [results, "/*"]]}
    assert by_sid["ListTheBuckets"]["Resource"] == [archive, results]
    assert by_sid["UseTheArchiveKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    }
