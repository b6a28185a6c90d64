"""Least privilege, read from the template: no wildcard actions, `*` only for X-Ray, no managed policies,
and for every role exactly the actions its service uses, no more, no less."""

from __future__ import annotations

from tests.conftest import Synthesized
from tests.infra.helpers import as_list, statements

XRAY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
FIREHOSE_DELIVERY_ACTIONS = {
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "kms:GenerateDataKey",
    "kms:Decrypt",
    "logs:PutLogEvents",
}
# Role logical-ID prefix -> every action its policies may grant.
EXPECTED_ACTIONS = {
    "ProdFunctionRole": {"logs:CreateLogStream", "logs:PutLogEvents", *XRAY_ACTIONS},
    "ProdLogArchiveSubscriptionRole": {"firehose:PutRecord", "firehose:PutRecordBatch"},
    "ProdLogArchiveApiDeliveryRole": FIREHOSE_DELIVERY_ACTIONS,
    "ProdLogArchiveFunctionDeliveryRole": FIREHOSE_DELIVERY_ACTIONS,
}


UNATTACHED = "ProdLogCatalogReaderPolicy"  # for the roles that query the logs (test_log_catalog)


def _role_of_policy(synthesized: Synthesized, holder: str) -> str:
    resource = synthesized.resources[holder]
    if resource["Type"] == "AWS::IAM::Role":
        return holder
    if holder.startswith(UNATTACHED):
        return holder
    (role,) = resource["Properties"]["Roles"]
    ref: str = role["Ref"]
    return ref


def test_no_wildcard_actions(synthesized: Synthesized) -> None:
    found = statements(synthesized.template)
    assert found
    for holder, statement in found:
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{holder} grants {action}"
        assert "NotAction" not in statement and "NotResource" not in statement, holder


def test_resource_star_only_for_xray(synthesized: Synthesized) -> None:
    stars = [(holder, s) for holder, s in statements(synthesized.template) if "*" in as_list(s["Resource"])]
    assert len(stars) == 1
    holder, statement = stars[0]
    assert set(as_list(statement["Action"])) == XRAY_ACTIONS
    assert _role_of_policy(synthesized, holder).startswith("ProdFunctionRole")


def test_no_aws_managed_policies_and_no_inline_ones(synthesized: Synthesized) -> None:
    for logical_id, role in synthesized.of_type("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id
        assert "Policies" not in role["Properties"], logical_id
    # Customer-managed policies only (NIST 800-53 / HIPAA IAMNoInlinePolicy).
    assert synthesized.of_type("AWS::IAM::Policy") == {}
    assert len(synthesized.of_type("AWS::IAM::ManagedPolicy")) == 5


def test_every_role_has_exactly_the_actions_it_uses(synthesized: Synthesized) -> None:
    granted: dict[str, set[str]] = {}
    for holder, statement in statements(synthesized.template):
        role = _role_of_policy(synthesized, holder)
        granted.setdefault(role, set()).update(as_list(statement["Action"]))
    roles = set(synthesized.of_type("AWS::IAM::Role"))
    granted = {holder: actions for holder, actions in granted.items() if not holder.startswith(UNATTACHED)}
    assert {next(p for p in EXPECTED_ACTIONS if r.startswith(p)) for r in roles} == set(EXPECTED_ACTIONS)
    for role in roles:
        prefix = next(p for p in EXPECTED_ACTIONS if role.startswith(p))
        assert granted.get(role, set()) == EXPECTED_ACTIONS[prefix], role


def test_the_function_has_no_s3_or_kms_permission(synthesized: Synthesized) -> None:
    for holder, statement in statements(synthesized.template):
        if _role_of_policy(synthesized, holder).startswith("ProdFunctionRole"):
            assert not [a for a in as_list(statement["Action"]) if a.startswith(("s3:", "kms:"))]


def test_service_roles_trust_only_their_service_for_this_account(synthesized: Synthesized) -> None:
    trust = {
        logical_id: role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        for logical_id, role in synthesized.of_type("AWS::IAM::Role").items()
    }
    for logical_id, statements_ in trust.items():
        assert len(statements_) == 1, logical_id
        (statement,) = statements_
        service = statement["Principal"]["Service"]
        if logical_id.startswith("ProdLogArchiveSubscriptionRole"):
            assert service == "logs.us-east-1.amazonaws.com"
            assert "aws:SourceArn" in statement["Condition"]["StringLike"]
        elif "DeliveryRole" in logical_id:
            assert service == "firehose.amazonaws.com"
            assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}
        else:
            assert service == "lambda.amazonaws.com"


# The one service statement without a condition: the SNS documentation lists none as supported for
# CloudWatch alarms publishing to an encrypted topic (pinned exactly in test_monitoring).
UNCONDITIONED = {("ProdMonitoringTopicKey4AD2195B", "AllowCloudWatchAlarmsToPublishToTheEncryptedTopic")}


def test_key_policies_give_kms_star_to_the_account_root_only_and_condition_every_service(
    synthesized: Synthesized,
) -> None:
    keys = synthesized.of_type("AWS::KMS::Key")
    assert len(keys) == 2
    root = {"AWS": {"Fn::Join": ["", ["arn:aws:iam::", {"Ref": "AWS::AccountId"}, ":root"]]}}
    for logical_id, key in keys.items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            actions = as_list(statement["Action"])
            if "kms:*" in actions:
                assert statement["Principal"] == root, logical_id
                continue
            assert not [a for a in actions if a.endswith(":*")], (logical_id, actions)
            if statement["Effect"] == "Deny" or (logical_id, statement.get("Sid")) in UNCONDITIONED:
                continue
            assert "Service" in statement["Principal"], logical_id
            assert statement.get("Condition"), f"{logical_id}: {statement['Principal']} has no condition"


def test_both_keys_deny_grants_unless_for_an_aws_resource_or_by_an_aws_service(synthesized: Synthesized) -> None:
    """Control Tower CT.KMS.PR.3; Firehose's own grant for stream encryption is for an AWS resource."""
    keys = synthesized.of_type("AWS::KMS::Key")
    assert len(keys) == 2
    for logical_id, key in keys.items():
        denies = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Effect"] == "Deny"]
        assert denies == [
            {
                "Sid": "DenyGrantsExceptForAwsResources",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "kms:CreateGrant",
                "Resource": "*",
                "Condition": {
                    "BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}
                },
            }
        ], logical_id
