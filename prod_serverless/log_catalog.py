"""Athena over the log archive: a Glue database, one partition-projected table per source, a workgroup
whose results go to their own short-lived bucket, and the one policy that lets a role query the logs.

Partition projection computes partitions from the S3 layout, so there is no crawler to run or pay for.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from prod_serverless.buckets import hardened_bucket
from prod_serverless.compliance import FRAMEWORK_PACKS, acknowledge, arn_token
from prod_serverless.log_formats import LOG_TABLES, LogTable
from prod_serverless.names import StageNames

FIRST_YEAR = 2026
# Largest scan one query may do; a runaway query stops at this instead of at the bill.
BYTES_SCANNED_CUTOFF = 10 * 1024**3


class LogCatalog(Construct):
    """Glue tables over each archived source and an Athena workgroup with encrypted results."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        key: kms.IKey,
        access_logs_bucket: s3.IBucket,
        results_expiration_days: int,
        names: StageNames | None = None,
        tables: Sequence[LogTable] = LOG_TABLES,
    ) -> None:
        """`tables`: one per archived source (the API's, the function's, each worker's)."""
        super().__init__(scope, construct_id)
        self.names = names or StageNames()  # the stage's database and workgroup names
        self.log_tables = tuple(tables)
        account = Stack.of(self).account
        # Query results are scratch data: their own bucket keeps them out of the archive's lock and lifecycle.
        self.results_bucket = hardened_bucket(
            self,
            "ResultsBucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=key,
            bucket_key_enabled=True,
            server_access_logs_bucket=access_logs_bucket,
            server_access_logs_prefix="athena-results/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireQueryResults",
                    expiration=Duration.days(results_expiration_days),
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
        )
        acknowledge(
            self.results_bucket,
            "CT.S3.PR.9",
            "Athena query results are scratch data that expire within days; a lock would only keep them longer.",
        )
        for pack in FRAMEWORK_PACKS:
            acknowledge(
                self.results_bucket,
                f"{pack}-S3BucketReplicationEnabled",
                "Athena query results are re-created by running the query again; replicating scratch data "
                "protects nothing.",
            )

        self.database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=account,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.names.database, description="Prod serverless API logs archived by Firehose"
            ),
        )
        self.tables = {table.source: self._table(table, bucket=bucket, account=account) for table in self.log_tables}

        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=self.names.workgroup,
            description="Queries over the Prod log archive; results encrypted with the archive key",
            state="ENABLED",
            recursive_delete_option=False,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=BYTES_SCANNED_CUTOFF,
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results_bucket.bucket_name}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=key.key_arn
                    ),
                ),
            ),
        )
        self.reader_statements = self._reader_statements(bucket=bucket, key=key)
        self.reader_policy = iam.ManagedPolicy(
            self,
            "ReaderPolicy",
            description="Query the Prod log archive with Athena: the workgroup, the tables, the archived lines",
            statements=self.reader_statements,
        )
        self.acknowledge_reader_wildcards(self.reader_policy, bucket)

    def acknowledge_reader_wildcards(self, policy: iam.ManagedPolicy, bucket: s3.IBucket) -> None:
        """The reasons for the reader statements' wildcards, on any policy that holds them."""
        for table in self.log_tables:
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::{arn_token(bucket)}/{table.source}/*]",
                "Athena reads every object of a table's prefix; the wildcard is confined to that prefix.",
            )
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::{arn_token(self.results_bucket)}/*]",
            "Athena names each result object per query; the wildcard is confined to the results bucket.",
        )

    def _reader_statements(self, *, bucket: s3.IBucket, key: kms.IKey) -> list[iam.PolicyStatement]:
        """Everything a role needs to query the logs, and nothing else; attached to no one by the stack.

        No bucket policy grants the results bucket or the archive to anyone: attaching this policy to a role
        is the one, deliberate way to give a person or a tool (e.g. `make verify`) read access to the logs.
        """
        stack = Stack.of(self)
        workgroup = stack.format_arn(service="athena", resource="workgroup", resource_name=self.names.workgroup)
        catalog = stack.format_arn(service="glue", resource="catalog")
        database = stack.format_arn(service="glue", resource="database", resource_name=self.names.database)
        tables = [
            stack.format_arn(service="glue", resource="table", resource_name=f"{self.names.database}/{table.name}")
            for table in self.log_tables
        ]
        results = self.results_bucket
        return [
            iam.PolicyStatement(
                sid="RunQueriesInTheLogWorkgroup",
                actions=[
                    "athena:GetWorkGroup",
                    "athena:StartQueryExecution",
                    "athena:GetQueryExecution",
                    "athena:GetQueryResults",
                    "athena:StopQueryExecution",
                ],
                resources=[workgroup],
            ),
            iam.PolicyStatement(
                sid="ReadTheLogTables",
                actions=["glue:GetDatabase", "glue:GetTable", "glue:GetTables"],
                resources=[catalog, database, *tables],
            ),
            iam.PolicyStatement(
                sid="ReadArchivedLines",
                actions=["s3:GetObject"],
                resources=[f"{bucket.bucket_arn}/{table.source}/*" for table in self.log_tables],
            ),
            iam.PolicyStatement(
                sid="WriteQueryResults",
                actions=["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                resources=[f"{results.bucket_arn}/*"],
            ),
            iam.PolicyStatement(
                sid="ListTheBuckets",
                actions=["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
                resources=[bucket.bucket_arn, results.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="UseTheArchiveKeyThroughS3",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            ),
        ]

    def _table(self, table: LogTable, *, bucket: s3.IBucket, account: str) -> glue.CfnTable:
        location = f"s3://{bucket.bucket_name}/{table.source}/"
        resource = glue.CfnTable(
            self,
            f"{table.source.capitalize()}Table",
            catalog_id=account,
            database_name=self.names.database,
            table_input=glue.CfnTable.TableInputProperty(
                name=table.name,
                description=f"{table.source} log lines, one JSON object per line, GZIP objects",
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "json",
                    "compressionType": "gzip",
                    "projection.enabled": "true",
                    "projection.year.type": "integer",
                    "projection.year.range": f"{FIRST_YEAR},2099",
                    "projection.month.type": "integer",
                    "projection.month.range": "1,12",
                    "projection.month.digits": "2",
                    "projection.day.type": "integer",
                    "projection.day.range": "1,31",
                    "projection.day.digits": "2",
                    "storage.location.template": location + "year=${year}/month=${month}/day=${day}/",
                },
                partition_keys=[
                    glue.CfnTable.ColumnProperty(name=name, type="string") for name in ("year", "month", "day")
                ],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    location=location,
                    input_format="org.apache.hadoop.mapred.TextInputFormat",
                    output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                    # OpenX rather than the Hive JSON SerDe (Athena "JSON SerDe libraries"): Hive fails the
                    # whole query on one line that is not a JSON object, while OpenX with
                    # ignore.malformed.json reads it as a row of NULLs, which every query in queries.py
                    # filters out. Whether Firehose's message extraction ends a record with a newline is not
                    # documented, so AppendDelimiterToRecord (log_archive.py) may leave a blank line between
                    # records; with this SerDe that costs nothing, and `make verify` reports the count.
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library="org.openx.data.jsonserde.JsonSerDe",
                        # "mapping.<column>" names the JSON key a column reads (Athena "OpenX JSON SerDe").
                        parameters={
                            "ignore.malformed.json": "true",
                            "case.insensitive": "true",
                            **{f"mapping.{column}": key for column, key in table.json_keys},
                        },
                    ),
                    columns=[glue.CfnTable.ColumnProperty(name=name, type=kind) for name, kind in table.columns],
                ),
            ),
        )
        resource.node.add_dependency(self.database)
        return resource
