"""Least privilege, read from the template: no wildcard actions, `*` only where no resource can be named,
no AWS-managed or inline policies, and for every role exactly the actions its service uses and the exact
trust it needs, no more, no less."""

from __future__ import annotations

import json
from typing import Any

from prod_serverless.workers import Queue, Schedule, Worker
from service.routes import ROUTES
from tests.conftest import TUNED, Synthesized
from tests.infra.helpers import REGION, as_list, statements
from workers.table import WORKERS

# The stack's own keys, by logical-id prefix: the log archive's and the alarm topic's.
STACK_KEYS = ("ProdLogArchiveKey", "ProdMonitoringTopicKey")
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
LOG_WRITE = {"logs:CreateLogStream", "logs:PutLogEvents"}
EXPECTED_ACTIONS = {
    "ProdFunctionRole": {*LOG_WRITE, *XRAY_ACTIONS},
    "ProdReleasePreTrafficHookRole": {
        *LOG_WRITE,
        *XRAY_ACTIONS,
        "lambda:InvokeFunction",
        "codedeploy:PutLifecycleEventHookExecutionStatus",
    },
    "ProdReleaseDeploymentRole": {
        "lambda:GetAlias",
        "lambda:UpdateAlias",
        "lambda:InvokeFunction",
        "cloudwatch:DescribeAlarms",
    },
    "ProdLogArchiveSubscriptionRole": {"firehose:PutRecord", "firehose:PutRecordBatch"},
    "ProdLogArchiveApiDeliveryRole": FIREHOSE_DELIVERY_ACTIONS,
    "ProdLogArchiveFunctionDeliveryRole": FIREHOSE_DELIVERY_ACTIONS,
}
SCHEDULER_ACTIONS = {"lambda:InvokeFunction", "sqs:SendMessage"}


def _worker_actions(worker: Worker) -> set[str]:
    """A worker's function: its logs, X-Ray, its trigger's (its queue, or its DLQ), its row's statements."""
    trigger = (
        {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
        if isinstance(worker.trigger, Queue)
        else {"sqs:SendMessage"}
    )
    own = {action for statement in worker.statements for action in as_list(statement.to_json()["Action"])}
    return {*LOG_WRITE, *XRAY_ACTIONS, *trigger, *own}


# Each row of workers/table.py adds its function's role, its log source's Firehose role and, for a schedule,
# EventBridge Scheduler's role.
for _worker in WORKERS:
    EXPECTED_ACTIONS[f"{_worker.construct_id}Role"] = _worker_actions(_worker)
    EXPECTED_ACTIONS[f"ProdLogArchive{_worker.title}DeliveryRole"] = FIREHOSE_DELIVERY_ACTIONS
    if isinstance(_worker.trigger, Schedule):
        EXPECTED_ACTIONS[f"{_worker.construct_id}SchedulerRole"] = SCHEDULER_ACTIONS


# For the roles that query the logs (test_log_catalog) and the role that runs make verify (below).
UNATTACHED = ("ProdLogCatalogReaderPolicy", "ProdVerifierPolicy")


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


def test_resource_star_only_where_no_resource_can_be_named(synthesized: Synthesized) -> None:
    """X-Ray's two actions take no resource; CodeDeploy's DescribeAlarms is granted on * by AWS's own policy."""
    stars = {
        (_role_of_policy(synthesized, holder).rstrip("0123456789ABCDEF"), frozenset(as_list(s["Action"])))
        for holder, s in statements(synthesized.template)
        if "*" in as_list(s["Resource"])
    }
    assert stars == {
        ("ProdFunctionRole", frozenset(XRAY_ACTIONS)),
        ("ProdReleasePreTrafficHookRole", frozenset(XRAY_ACTIONS)),
        ("ProdReleaseDeploymentRole", frozenset({"cloudwatch:DescribeAlarms"})),
        *((f"{worker.construct_id}Role", frozenset(XRAY_ACTIONS)) for worker in WORKERS),
        (
            "ProdVerifierPolicy",
            frozenset(
                {
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:DescribeAlarmHistory",
                    "cloudwatch:ListMetrics",
                    "logs:GetQueryResults",
                }
            ),
        ),
    }


def test_no_aws_managed_policies_and_no_inline_ones(synthesized: Synthesized) -> None:
    for logical_id, role in synthesized.of_type("AWS::IAM::Role").items():
        assert "ManagedPolicyArns" not in role["Properties"], logical_id
        assert "Policies" not in role["Properties"], logical_id
    # Customer-managed policies only (NIST 800-53 / HIPAA IAMNoInlinePolicy).
    assert synthesized.of_type("AWS::IAM::Policy") == {}
    # Each worker adds its function's and its log stream's, and a schedule its Scheduler role's.
    per_worker = sum(3 if isinstance(worker.trigger, Schedule) else 2 for worker in WORKERS)
    assert len(synthesized.of_type("AWS::IAM::ManagedPolicy")) == 8 + per_worker


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


def test_the_function_cannot_touch_the_logs_archive_or_their_keys(synthesized: Synthesized) -> None:
    """Its logs reach the archive through CloudWatch Logs and Firehose: the function's role names none of the
    stack's own buckets and keys, and grants no S3 or KMS action on "*" (a team's own table key, granted by name
    as docs/recipes.md shows, is the team's)."""
    own = [i for i, r in synthesized.resources.items() if r["Type"] in ("AWS::S3::Bucket", "AWS::KMS::Key")
           and i.startswith(("ProdLogArchive", "ProdLogCatalog", "ProdMonitoring"))]  # fmt: skip
    assert own
    for holder, statement in statements(synthesized.template):
        if _role_of_policy(synthesized, holder).startswith("ProdFunctionRole"):
            assert not [i for i in own if i in json.dumps(statement["Resource"])]
            if [a for a in as_list(statement["Action"]) if a.startswith(("s3:", "kms:"))]:
                assert "*" not in as_list(statement["Resource"])


ACCOUNT = {"Ref": "AWS::AccountId"}
# Role logical-ID prefix -> its one trust statement, exactly.
TRUST: dict[str, dict[str, Any]] = {
    "ProdFunctionRole": {"Principal": {"Service": "lambda.amazonaws.com"}},
    "ProdReleasePreTrafficHookRole": {"Principal": {"Service": "lambda.amazonaws.com"}},
    # CloudWatch Logs acting for any log group of this account in this region (the filter names the group).
    "ProdLogArchiveSubscriptionRole": {
        "Principal": {"Service": f"logs.{REGION}.amazonaws.com"},
        "Condition": {"StringLike": {"aws:SourceArn": {"Fn::Join": ["", [f"arn:aws:logs:{REGION}:", ACCOUNT, ":*"]]}}},
    },
    # Firehose documents sts:ExternalId = the account id for its destination roles.
    "ProdLogArchiveApiDeliveryRole": {
        "Principal": {"Service": "firehose.amazonaws.com"},
        "Condition": {"StringEquals": {"sts:ExternalId": ACCOUNT}},
    },
    "ProdLogArchiveFunctionDeliveryRole": {
        "Principal": {"Service": "firehose.amazonaws.com"},
        "Condition": {"StringEquals": {"sts:ExternalId": ACCOUNT}},
    },
    # CodeDeploy "Cross-service confused deputy prevention": the account, and the application's deployment groups.
    "ProdReleaseDeploymentRole": {
        "Principal": {"Service": "codedeploy.amazonaws.com"},
        "Condition": {
            "StringEquals": {"aws:SourceAccount": ACCOUNT},
            "ArnLike": {
                "aws:SourceArn": {
                    "Fn::Join": [
                        "",
                        [
                            f"arn:aws:codedeploy:{REGION}:",
                            ACCOUNT,
                            ":deploymentgroup:",
                            {"Ref": "ProdReleaseApplicationE2E6AB0E"},
                            "/*",
                        ],
                    ]
                }
            },
        },
    },
}

for _worker in WORKERS:
    TRUST[f"{_worker.construct_id}Role"] = {"Principal": {"Service": "lambda.amazonaws.com"}}
    TRUST[f"ProdLogArchive{_worker.title}DeliveryRole"] = TRUST["ProdLogArchiveApiDeliveryRole"]
    if isinstance(_worker.trigger, Schedule):
        # EventBridge Scheduler "Set up the execution role": this account's schedules only.
        TRUST[f"{_worker.construct_id}SchedulerRole"] = {
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        }


def test_every_role_trusts_exactly_its_service_under_exactly_its_conditions(synthesized: Synthesized) -> None:
    roles = synthesized.of_type("AWS::IAM::Role")
    assert {next(p for p in TRUST if r.startswith(p)) for r in roles} == set(TRUST)
    for logical_id, role in roles.items():
        expected = TRUST[next(p for p in TRUST if logical_id.startswith(p))]
        assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
            {"Action": "sts:AssumeRole", "Effect": "Allow", **expected}
        ], logical_id


# The one service statement without a condition: the SNS documentation lists none as supported for
# CloudWatch alarms publishing to an encrypted topic (pinned exactly in test_monitoring).
UNCONDITIONED = {("ProdMonitoringTopicKey4AD2195B", "AllowCloudWatchAlarmsToPublishToTheEncryptedTopic")}


def test_key_policies_give_kms_star_to_the_account_root_only_and_condition_every_service(
    synthesized: Synthesized,
) -> None:
    keys = synthesized.of_type("AWS::KMS::Key")
    assert len([i for i in keys if i.startswith(STACK_KEYS)]) == len(STACK_KEYS)  # and every key a team adds
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
            if statement["Principal"] == root:  # the account's principals, only through one service (kms:ViaService)
                assert "kms:ViaService" in statement["Condition"]["StringEquals"], logical_id
                continue
            assert "Service" in statement["Principal"], logical_id
            assert statement.get("Condition"), f"{logical_id}: {statement['Principal']} has no condition"


def test_every_key_denies_grants_unless_for_an_aws_resource_or_by_an_aws_service(synthesized: Synthesized) -> None:
    """Control Tower CT.KMS.PR.3; Firehose's own grant for stream encryption is for an AWS resource."""
    keys = synthesized.of_type("AWS::KMS::Key")
    assert len([i for i in keys if i.startswith(STACK_KEYS)]) == len(STACK_KEYS)  # and every key a team adds
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


def test_the_verifier_policy_is_the_readers_and_exactly_verifys_calls(synthesized: Synthesized) -> None:
    (verifier,) = [p for i, p in synthesized.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith(UNATTACHED[1])]
    (reader,) = [p for i, p in synthesized.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith(UNATTACHED[0])]
    by_sid = {s["Sid"]: s for s in verifier["Properties"]["PolicyDocument"]["Statement"]}
    for statement in reader["Properties"]["PolicyDocument"]["Statement"]:
        assert by_sid[statement["Sid"]] == statement
    (alarm_id,) = [
        i for i in synthesized.of_type("AWS::CloudWatch::Alarm") if i.startswith("ProdMonitoringFunctionErrors")
    ]
    assert by_sid["ReadThisStack"]["Action"] == ["cloudformation:DescribeStacks", "cloudformation:ListStackResources"]
    assert by_sid["ReadThisStack"]["Resource"] == {"Ref": "AWS::StackId"}
    assert by_sid["InvokeTheLiveAlias"] == {
        "Sid": "InvokeTheLiveAlias",
        "Effect": "Allow",
        "Action": "lambda:InvokeFunction",
        "Resource": {"Ref": "ProdFunctionLiveAlias8CFF3F3E"},
    }
    assert by_sid["QueryTheAccessLog"] == {
        "Sid": "QueryTheAccessLog",
        "Effect": "Allow",
        "Action": "logs:StartQuery",
        "Resource": [
            {"Fn::GetAtt": ["ProdApiAccessLogGroupE71D7629", "Arn"]},
            {"Fn::Join": ["", [f"arn:aws:logs:{REGION}:", {"Ref": "AWS::AccountId"}, ":log-group:",
                               {"Ref": "ProdApiAccessLogGroupE71D7629"}]]},
        ],
    }  # fmt: skip
    assert by_sid["TestOneAlarmsNotification"]["Action"] == "cloudwatch:SetAlarmState"
    assert by_sid["TestOneAlarmsNotification"]["Resource"] == {"Fn::GetAtt": [alarm_id, "Arn"]}
    assert set(by_sid) == {
        *(s["Sid"] for s in reader["Properties"]["PolicyDocument"]["Statement"]),
        "ReadThisStack",
        "InvokeTheLiveAlias",
        "TestOneAlarmsNotification",
        "ReadAlarmsAndMetrics",
        "QueryTheAccessLog",
        # Only when the table has IAM routes: make verify calls them (their ARNs: tests/test_recipes.py).
        *(["CallTheIamRoutes"] if any(route.iam for route in ROUTES) else []),
        # Only with workers: their dead letters, schedules and queue mappings (their ARNs: tests/test_recipes.py).
        *(["ReadTheWorkersDeadLetters"] if WORKERS else []),
        *(["ReadTheWorkersSchedules"] if any(isinstance(w.trigger, Schedule) for w in WORKERS) else []),
        *(["ReadTheWorkersQueueMappings"] if any(isinstance(w.trigger, Queue) for w in WORKERS) else []),
    }
    assert "Roles" not in verifier["Properties"]  # attached by the user to the role that verifies


def test_the_verifier_policy_is_attached_to_the_named_role_and_no_other(tuned: Synthesized) -> None:
    """verifierRoleName: the first pipeline run's make verify passes; deleting the stack detaches the policy."""
    (verifier,) = [p for i, p in tuned.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith(UNATTACHED[1])]
    assert verifier["Properties"]["Roles"] == [TUNED["verifierRoleName"]]
    (reader,) = [p for i, p in tuned.of_type("AWS::IAM::ManagedPolicy").items() if i.startswith(UNATTACHED[0])]
    assert "Roles" not in reader["Properties"]


# Resources that use their role while they are created (Lambda on create, Firehose and a subscription filter on
# their first delivery test): each must wait for the policies attached to that role, or the first create races IAM.
ROLE_USERS = {
    "AWS::Lambda::Function": ("Role",),
    "AWS::KinesisFirehose::DeliveryStream": ("ExtendedS3DestinationConfiguration", "RoleARN"),
    "AWS::Logs::SubscriptionFilter": ("RoleArn",),
}


def test_every_resource_that_uses_a_role_waits_for_that_roles_policies(synthesized: Synthesized) -> None:
    policies_of: dict[str, set[str]] = {}
    for logical_id, policy in synthesized.of_type("AWS::IAM::ManagedPolicy").items():
        for role in policy["Properties"].get("Roles", []):
            policies_of.setdefault(role["Ref"], set()).add(logical_id)
    checked = 0
    for kind, path in ROLE_USERS.items():
        for logical_id, resource in synthesized.of_type(kind).items():
            value: Any = resource["Properties"]
            for key in path:
                value = value[key]
            role = value["Fn::GetAtt"][0]
            assert policies_of[role] <= set(resource.get("DependsOn", [])), logical_id
            checked += 1
    assert checked >= 6  # at least the two functions, two streams and two subscription filters
