"""The one way this stack makes a customer-managed KMS key: rotated, grants only for AWS resources, kept."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

# Retained on every update and delete, but deleted when the operation that created it rolls back
# (CloudFormation DeletionPolicy "RetainExceptOnCreate"): a failed first deploy leaves nothing behind.
KEEP = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE


def customer_managed_key(scope: Construct, construct_id: str, *, description: str, alias: str) -> kms.Key:
    """A symmetric CMK with yearly rotation; callers add the service statements their service documents."""
    key = kms.Key(
        scope,
        construct_id,
        description=description,
        alias=alias,
        enable_key_rotation=True,
        removal_policy=KEEP,
    )
    # Control Tower CT.KMS.PR.3: nobody may create a grant on this key except for an AWS resource or as an
    # AWS service. Firehose's stream encryption still works: Firehose itself calls CreateGrant for the
    # stream (Firehose API "DeliveryStreamEncryptionConfigurationInput"), which is a grant for an AWS
    # resource (KMS "Condition keys for AWS KMS": kms:GrantIsForAWSResource). CloudWatch Logs, S3, SNS and
    # Athena use the key through its policy and create no grants. BoolIfExists: a request without these
    # keys is treated as not-for-AWS, so it is denied.
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="DenyGrantsExceptForAwsResources",
            effect=iam.Effect.DENY,
            principals=[iam.AnyPrincipal()],
            actions=["kms:CreateGrant"],
            resources=["*"],
            conditions={"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
        )
    )
    return key
