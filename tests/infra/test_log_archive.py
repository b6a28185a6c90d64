"""The log archive: bucket hardening, the CMK and its policy, and each CloudWatch Logs → Firehose → S3 link."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match, Template

from prod_serverless.log_archive import ACCESS_LOGS_RETENTION, LogArchive, data_prefix, error_prefix
from prod_serverless.settings import Settings
from tests.conftest import Synthesized
from tests.infra.helpers import KEPT, REGION, SETTINGS, as_list, template_of
from workers.table import WORKERS

BUCKET = "ProdLogArchiveBucket17CCD0FA"
KEY = "ProdLogArchiveKey38D0B7C1"
KEY_ARN = {"Fn::GetAtt": [KEY, "Arn"]}
BUCKET_ARN = {"Fn::GetAtt": [BUCKET, "Arn"]}
STREAMS = {"api": "ProdLogArchiveApiStream908EE00E", "function": "ProdLogArchiveFunctionStream0B1B317D"}


def _sorted(items: list[Any]) -> list[Any]:
    return sorted(items, key=json.dumps)


def test_key_rotates_and_outlives_the_stack(template: Template) -> None:
    template.has_resource(
        "AWS::KMS::Key",
        {"Properties": Match.object_like({"EnableKeyRotation": True}), **KEPT},
    )
    template.has_resource_properties(
        "AWS::KMS::Alias", {"AliasName": "alias/ProdServerless/log-archive", "TargetKeyId": KEY_ARN}
    )


def test_key_lets_cloudwatch_logs_in_only_for_this_accounts_log_groups_here(synthesized: Synthesized) -> None:
    policy = synthesized.resources[KEY]["Properties"]["KeyPolicy"]["Statement"]
    (logs_statement,) = [s for s in policy if s.get("Sid") == "AllowCloudWatchLogsForThisAccountsLogGroups"]
    assert logs_statement["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}
    assert logs_statement["Condition"] == {
        "ArnLike": {
            "kms:EncryptionContext:aws:logs:arn": {
                "Fn::Join": ["", [f"arn:aws:logs:{REGION}:", {"Ref": "AWS::AccountId"}, ":log-group:*"]]
            }
        }
    }
    assert not [a for a in logs_statement["Action"] if "*" in a]


def test_bucket_is_encrypted_with_this_stacks_key_and_bucket_key(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "BucketKeyEnabled": True,
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY_ARN},
                    }
                ]
            }
        },
    )


def test_bucket_logs_its_access_to_the_access_logs_bucket(synthesized: Synthesized) -> None:
    """Private, versioned, owner-enforced and kept: tests/infra/test_buckets.py, for every bucket."""
    properties = synthesized.resources[BUCKET]["Properties"]
    assert properties["LoggingConfiguration"]["DestinationBucketName"] == {
        "Ref": "ProdLogArchiveAccessLogsBucketC5010829"
    }


def test_bucket_policy_denies_requests_without_tls(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "Bucket": {"Ref": BUCKET},
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "s3:*",
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            "Effect": "Deny",
                            "Principal": {"AWS": "*"},
                            "Resource": [BUCKET_ARN, {"Fn::Join": ["", [BUCKET_ARN, "/*"]]}],
                        }
                    ]
                )
            },
        },
    )


def test_lifecycle_tiers_expires_and_cleans_up(synthesized: Synthesized) -> None:
    rules = {
        rule["Id"]: rule for rule in synthesized.resources[BUCKET]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    assert rules["TierAndExpireLogs"] == {
        "Id": "TierAndExpireLogs",
        "Status": "Enabled",
        "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": SETTINGS.archive_infrequent_access_days}],
        "ExpirationInDays": SETTINGS.archive_expiration_days,
        "NoncurrentVersionExpiration": {"NoncurrentDays": SETTINGS.archive_noncurrent_expiration_days},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    assert set(rules) == {"TierAndExpireLogs"}  # Athena results live in their own bucket (test_log_catalog)


def test_the_access_log_bucket_keeps_its_logs_a_year_and_old_versions_as_configured(synthesized: Synthesized) -> None:
    """The server access logs of the archive are evidence: kept ACCESS_LOGS_RETENTION (a year), whatever the
    archive's own expiry, and nothing else ages them out."""
    (bucket,) = [
        b for i, b in synthesized.of_type("AWS::S3::Bucket").items() if i.startswith("ProdLogArchiveAccessLogs")
    ]
    assert ACCESS_LOGS_RETENTION.to_days() == 365
    assert bucket["Properties"]["LifecycleConfiguration"] == {
        "Rules": [
            {
                "Id": "ExpireAccessLogs",
                "Status": "Enabled",
                "ExpirationInDays": 365,
                "NoncurrentVersionExpiration": {"NoncurrentDays": SETTINGS.archive_noncurrent_expiration_days},
            }
        ]
    }


def test_lifecycle_days_come_from_settings() -> None:
    settings = Settings(
        archive_infrequent_access_days=60, archive_expiration_days=400, archive_noncurrent_expiration_days=10
    )
    template = template_of(lambda stack: LogArchive(stack, "ProdLogArchive", settings=settings))
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Id": "TierAndExpireLogs",
                                "Transitions": [{"StorageClass": "STANDARD_IA", "TransitionInDays": 60}],
                                "ExpirationInDays": 400,
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 10},
                            }
                        )
                    ]
                )
            }
        },
    )


@pytest.mark.parametrize("source", ["api", "function"])
def test_stream_writes_its_prefix_with_the_key_compressed_and_decompresses_cloudwatch_records(
    synthesized: Synthesized, source: str
) -> None:
    stream = synthesized.resources[STREAMS[source]]["Properties"]
    assert stream["DeliveryStreamType"] == "DirectPut"
    assert stream["DeliveryStreamEncryptionConfigurationInput"] == {
        "KeyType": "CUSTOMER_MANAGED_CMK",
        "KeyARN": KEY_ARN,
    }
    destination = stream["ExtendedS3DestinationConfiguration"]
    assert destination["BucketARN"] == BUCKET_ARN
    assert destination["Prefix"] == f"{source}/year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/day=!{{timestamp:dd}}/"
    assert destination["ErrorOutputPrefix"] == (
        f"errors/{source}/!{{firehose:error-output-type}}/year=!{{timestamp:yyyy}}/month=!{{timestamp:MM}}/day=!{{timestamp:dd}}/"
    )
    assert destination["CompressionFormat"] == "GZIP"
    assert destination["EncryptionConfiguration"] == {"KMSEncryptionConfig": {"AWSKMSKeyARN": KEY_ARN}}
    assert destination["BufferingHints"] == {"IntervalInSeconds": 900, "SizeInMBs": 5}
    assert destination["ProcessingConfiguration"] == {
        "Enabled": True,
        "Processors": [
            {"Type": "Decompression", "Parameters": [{"ParameterName": "CompressionFormat", "ParameterValue": "GZIP"}]},
            {
                "Type": "CloudWatchLogProcessing",
                "Parameters": [{"ParameterName": "DataMessageExtraction", "ParameterValue": "true"}],
            },
            {"Type": "AppendDelimiterToRecord"},
        ],
    }
    logging = destination["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    assert logging["LogGroupName"] == {"Ref": "ProdLogArchiveDeliveryLogGroup206EB4D3"}


def test_prefix_helpers_match_the_hive_layout() -> None:
    assert data_prefix("api").startswith("api/year=")
    assert error_prefix("api").startswith("errors/api/!{firehose:error-output-type}/")


@pytest.mark.parametrize("source", ["api", "function"])
def test_delivery_role_writes_only_its_prefixes_of_the_one_bucket_with_the_one_key(
    synthesized: Synthesized, source: str
) -> None:
    name = source.capitalize()
    (policy,) = [
        body
        for logical_id, body in synthesized.of_type("AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith(f"ProdLogArchive{name}DeliveryPolicy")
    ]
    by_sid = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    own = [
        {"Fn::Join": ["", [BUCKET_ARN, f"/{source}/*"]]},
        {"Fn::Join": ["", [BUCKET_ARN, f"/errors/{source}/*"]]},
    ]
    assert _sorted(by_sid["WriteOwnPrefixes"]["Resource"]) == _sorted(own)
    assert sorted(by_sid["WriteOwnPrefixes"]["Action"]) == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    assert by_sid["LocateBucket"]["Resource"] == BUCKET_ARN
    kms = by_sid["EncryptWithArchiveKeyThroughS3"]
    assert kms["Resource"] == KEY_ARN
    assert kms["Condition"]["StringEquals"] == {"kms:ViaService": f"s3.{REGION}.amazonaws.com"}
    assert _sorted(kms["Condition"]["StringLike"]["kms:EncryptionContext:aws:s3:arn"]) == _sorted([BUCKET_ARN, *own])
    assert set(by_sid) == {
        "WriteOwnPrefixes",
        "LocateBucket",
        "EncryptWithArchiveKeyThroughS3",
        "WriteOwnDeliveryErrors",
    }


def test_subscription_role_puts_records_to_the_archive_streams_only(synthesized: Synthesized) -> None:
    (policy,) = [
        body
        for logical_id, body in synthesized.of_type("AWS::IAM::ManagedPolicy").items()
        if logical_id.startswith("ProdLogArchiveSubscriptionPolicy")
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert all(sorted(s["Action"]) == ["firehose:PutRecord", "firehose:PutRecordBatch"] for s in statements)
    resources = [resource for s in statements for resource in as_list(s["Resource"])]
    workers = [i for i in synthesized.of_type("AWS::KinesisFirehose::DeliveryStream") if i not in STREAMS.values()]
    assert len(workers) == len(WORKERS)  # one stream per worker's log group
    expected = [*STREAMS.values(), *workers]
    assert _sorted(resources) == _sorted([{"Fn::GetAtt": [stream, "Arn"]} for stream in expected])
    assert policy["Properties"]["Roles"] == [{"Ref": "ProdLogArchiveSubscriptionRoleC3DCA03F"}]


def test_adding_a_source_twice_is_refused() -> None:
    def build(stack: Stack) -> Any:
        archive = LogArchive(stack, "ProdLogArchive", settings=Settings())
        group = logs.LogGroup(stack, "ProdGroup")
        archive.add_source("api", group)
        with pytest.raises(ValueError, match="already added"):
            archive.add_source("api", group)

    template_of(build)
