"""Every bucket of the stack, checked one by one: private, TLS 1.2+ only, versioned, owner-enforced, kept,
events to EventBridge, encrypted, and its access logged (but the access-log bucket itself)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Synthesized
from tests.infra.helpers import KEPT

ARCHIVE_KEY = {"Fn::GetAtt": ["ProdLogArchiveKey38D0B7C1", "Arn"]}
ACCESS_LOGS = "ProdLogArchiveAccessLogsBucketC5010829"
BUCKETS = {
    "ProdLogArchiveBucket17CCD0FA": "log-archive/",
    "ProdLogCatalogResultsBucketEA689856": "athena-results/",
    ACCESS_LOGS: None,
}


def _bucket_policy(synthesized: Synthesized, bucket: str) -> list[dict[str, Any]]:
    (policy,) = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in synthesized.of_type("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    return policy  # type: ignore[no-any-return]


def test_the_stack_has_exactly_these_buckets(synthesized: Synthesized) -> None:
    assert set(synthesized.of_type("AWS::S3::Bucket")) == set(BUCKETS)


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_is_private_versioned_owner_enforced_kept_and_sends_events(
    synthesized: Synthesized, bucket: str
) -> None:
    resource = synthesized.resources[bucket]
    properties = resource["Properties"]
    assert {key: resource[key] for key in KEPT} == KEPT
    assert properties["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
    assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    # Control Tower CT.S3.PR.4, without the custom resource the L2 switch would add.
    assert properties["NotificationConfiguration"] == {"EventBridgeConfiguration": {"EventBridgeEnabled": True}}
    assert properties["LifecycleConfiguration"]["Rules"], bucket


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_refuses_plain_http_and_tls_below_1_2(synthesized: Synthesized, bucket: str) -> None:
    arn = {"Fn::GetAtt": [bucket, "Arn"]}
    both = [arn, {"Fn::Join": ["", [arn, "/*"]]}]
    denies = [s for s in _bucket_policy(synthesized, bucket) if s["Effect"] == "Deny"]
    assert denies == [
        {
            "Action": "s3:*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": both,
        },
        {
            "Action": "s3:*",
            "Condition": {"NumericLessThan": {"s3:TlsVersion": 1.2}},
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Resource": both,
        },
    ]


@pytest.mark.parametrize("bucket", sorted(set(BUCKETS) - {ACCESS_LOGS}))
def test_data_buckets_use_the_archive_key_and_log_their_access(synthesized: Synthesized, bucket: str) -> None:
    properties = synthesized.resources[bucket]["Properties"]
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {
                "BucketKeyEnabled": True,
                "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": ARCHIVE_KEY},
            }
        ]
    }
    assert properties["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": ACCESS_LOGS},
        "LogFilePrefix": BUCKETS[bucket],
    }


def test_the_access_log_bucket_is_sse_s3_and_only_s3_logging_may_write_to_it(synthesized: Synthesized) -> None:
    """S3 delivers server access logs only to an SSE-S3 bucket, and only from this account's two buckets."""
    properties = synthesized.resources[ACCESS_LOGS]["Properties"]
    assert properties["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
    }
    allows = [s for s in _bucket_policy(synthesized, ACCESS_LOGS) if s["Effect"] == "Allow"]
    assert sorted(s["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::GetAtt"][0] for s in allows) == sorted(
        set(BUCKETS) - {ACCESS_LOGS}
    )
    for statement in allows:
        assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
        assert statement["Action"] == "s3:PutObject"
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_object_lock_is_off_by_default(synthesized: Synthesized) -> None:
    for bucket in BUCKETS:
        assert "ObjectLockEnabled" not in synthesized.resources[bucket]["Properties"], bucket
