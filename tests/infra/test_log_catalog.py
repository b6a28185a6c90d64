"""Athena-ready archive: Glue tables with partition projection matching the log formats, a safe workgroup."""

from __future__ import annotations

import json
import re

import pytest

from prod_serverless.log_formats import ACCESS_LOG_FIELDS, API_ACCESS_TABLE, FUNCTION_TABLE, render_access_line
from prod_serverless.queries import EXAMPLE, QUERIES
from tests.conftest import Synthesized
from tests.infra.helpers import REGION

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
    """What the OpenX SerDe makes of a line: lower-cased keys, each column read from its mapped key."""
    serde = table["StorageDescriptor"]["SerdeInfo"]["Parameters"]
    record = {key.lower(): value for key, value in json.loads(line).items()}
    return {
        column["Name"]: record.get(serde.get(f"mapping.{column['Name']}", column["Name"]))
        for column in table["StorageDescriptor"]["Columns"]
    }


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
        {"Fn::Join": ["", [archive, "/api/*"]]},
        {"Fn::Join": ["", [archive, "/function/*"]]},
    ]
    assert by_sid["WriteQueryResults"]["Resource"] == {"Fn::Join": ["", [results, "/*"]]}
    assert by_sid["ListTheBuckets"]["Resource"] == [archive, results]
    assert by_sid["UseTheArchiveKeyThroughS3"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    }
