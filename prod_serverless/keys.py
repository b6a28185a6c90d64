"""The one way this stack makes a customer-managed KMS key: rotated, and kept unless its first create fails."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_kms as kms
from constructs import Construct

# Retained on every update and delete, but deleted when the operation that created it rolls back
# (CloudFormation DeletionPolicy "RetainExceptOnCreate"): a failed first deploy leaves nothing behind.
KEEP = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE


def customer_managed_key(scope: Construct, construct_id: str, *, description: str, alias: str) -> kms.Key:
    """A symmetric CMK with yearly rotation; callers add the service statements their service documents."""
    return kms.Key(
        scope,
        construct_id,
        description=description,
        alias=alias,
        enable_key_rotation=True,
        removal_policy=KEEP,
    )
