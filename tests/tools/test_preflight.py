"""The deploy preflight: a failed first create can be retried with `make deploy`; mistakes are one line."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from prod_serverless.names import KEY_PENDING_DAYS
from tools import preflight

STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/ProdServerlessStack/1b2c3d4e"


def _cloudformation() -> tuple[Any, Stubber]:
    cloudformation = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return cloudformation, Stubber(cloudformation)


def _stack(status: str, protected: bool = True) -> dict[str, Any]:
    return {
        "Stacks": [
            {
                "StackId": STACK_ID,
                "StackName": "ProdServerlessStack",
                "StackStatus": status,
                "StackStatusReason": "The following resource(s) failed to create: [ProdApiDefaultStage]",
                "CreationTime": "2026-11-29T10:00:00Z",
                "EnableTerminationProtection": protected,
            }
        ]
    }


def _resource(logical_id: str, kind: str, status: str) -> dict[str, Any]:
    return {
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"{logical_id}-physical",
        "ResourceType": kind,
        "ResourceStatus": status,
        "Timestamp": "2026-11-29T10:00:00Z",
    }


def test_a_failed_first_create_gets_its_termination_protection_turned_off_so_the_cli_can_recreate_it() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack("ROLLBACK_COMPLETE"), {"StackName": "ProdServerlessStack"})
    stub.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                _resource("ProdLogArchiveBucket17CCD0FA", "AWS::S3::Bucket", "DELETE_FAILED"),
                _resource("ProdLogArchiveKey38D0B7C1", "AWS::KMS::Key", "DELETE_FAILED"),
                _resource("ProdFunction481DA47F", "AWS::Lambda::Function", "DELETE_COMPLETE"),
            ]
        },
    )
    stub.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"StackName": "ProdServerlessStack", "EnableTerminationProtection": False},
    )
    said: list[str] = []
    with stub:
        preflight.before_deploy(cloudformation, said.append)
        stub.assert_no_pending_responses()
    assert said == [
        "preflight: the first create of ProdServerlessStack failed (ROLLBACK_COMPLETE: The following resource(s) "
        "failed to create: [ProdApiDefaultStage]); the CDK CLI will delete it and create it again, so termination "
        "protection is turned off for that",
        "preflight: CloudFormation could not delete ProdLogArchiveBucket17CCD0FA (AWS::S3::Bucket), "
        "ProdLogArchiveKey38D0B7C1 (AWS::KMS::Key): see docs/releases.md, 'When a deploy fails'",
    ]


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"])
def test_a_healthy_stack_is_left_as_it_is(status: str) -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack(status))
    with stub:
        preflight.before_deploy(cloudformation, lambda line: None)
        stub.assert_no_pending_responses()  # no termination-protection call


def test_no_stack_yet_is_a_first_create() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id ProdServerlessStack does not exist", 400)
    said: list[str] = []
    with stub:
        preflight.before_deploy(cloudformation, said.append)
    assert said == ["preflight: ProdServerlessStack does not exist yet in us-east-1: this deploy creates it"]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("UPDATE_IN_PROGRESS", "is UPDATE_IN_PROGRESS: wait until it finishes"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback --stack-name ProdServerlessStack"),
    ],
)
def test_a_stack_that_cannot_take_a_deploy_stops_it_with_what_to_do(status: str, message: str) -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack(status))
    with stub, pytest.raises(preflight.PreflightError, match=message):
        preflight.before_deploy(cloudformation, lambda line: None)


def test_destroy_needs_the_stack_name_as_confirmation() -> None:
    cloudformation, stub = _cloudformation()
    with stub, pytest.raises(preflight.PreflightError, match="make destroy CONFIRM=ProdServerlessStack"):
        preflight.before_destroy(cloudformation, "", lambda line: None)


def test_destroy_turns_protection_off_and_lists_what_stays() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
    stub.add_response(
        "describe_stack_resources",
        {
            "StackResources": [
                _resource("ProdLogArchiveKey38D0B7C1", "AWS::KMS::Key", "CREATE_COMPLETE"),
                _resource("ProdFunction481DA47F", "AWS::Lambda::Function", "CREATE_COMPLETE"),
            ]
        },
    )
    stub.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"StackName": "ProdServerlessStack", "EnableTerminationProtection": False},
    )
    said: list[str] = []
    with stub:
        preflight.before_destroy(cloudformation, "ProdServerlessStack", said.append)
        stub.assert_no_pending_responses()
    assert said[1] == (
        "preflight: these stay after the stack is gone (logs are evidence): "
        "ProdLogArchiveKey38D0B7C1 ProdLogArchiveKey38D0B7C1-physical"
    )


@pytest.mark.usefixtures("no_aws_credentials")
@pytest.mark.parametrize("action", ["deploy", "diff", "destroy", "bootstrap"])
def test_without_credentials_every_target_says_what_to_do_in_one_line(
    action: str, capsys: pytest.CaptureFixture[str]
) -> None:
    confirm = ["--confirm", "ProdServerlessStack"] if action == "destroy" else []
    assert preflight.main([action, *confirm]) == 1
    assert capsys.readouterr().err == (
        f"make {action}: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
        "or run `aws sso login` with the AWS CLI\n"
    )


@pytest.mark.usefixtures("no_aws_credentials")
@pytest.mark.parametrize("confirm", ["", "prodserverlessstack", "ProdServerlessStack ", "yes"])
def test_destroy_asks_for_its_confirmation_before_anything_else(
    confirm: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline and without credentials, a wrong CONFIRM is still what the user hears about: it comes first."""
    assert preflight.main(["destroy", "--confirm", confirm]) == 1
    assert capsys.readouterr().err == (
        "make destroy: make destroy deletes the stack ProdServerlessStack: run "
        "`make destroy CONFIRM=ProdServerlessStack` to confirm\n"
    )


@pytest.mark.usefixtures("no_aws_credentials")
def test_a_malformed_context_is_one_line_before_aws(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTEXT", "logLevel")
    assert preflight.main(["deploy"]) == 1
    assert capsys.readouterr().err.startswith("make deploy: configuration error: CONTEXT: 'logLevel' is not key=value")


def test_the_configured_region_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools.aws import configured_region

    monkeypatch.setenv("CONTEXT", "region=eu-west-1")
    assert configured_region() == "eu-west-1"


def test_a_missing_profile_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_PROFILE", "nonexistent")
    assert preflight.main(["deploy"]) == 1
    assert capsys.readouterr().err == (
        "make deploy: AWS profile 'nonexistent' is not configured: check AWS_PROFILE "
        "(or run `aws configure` with the AWS CLI)\n"
    )


@pytest.mark.usefixtures("no_aws_credentials")
def test_unreachable_aws_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Fake credentials and an endpoint nothing listens on: the network failure, not a traceback."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert preflight.main(["deploy"]) == 1
    assert capsys.readouterr().err == (
        "make deploy: calling AWS: cannot reach http://127.0.0.1:9/: check the network, proxy or VPN\n"
    )


def _lambda(unreserved: int, total: int) -> tuple[Any, Stubber]:
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(client)
    stub.add_response(
        "get_account_settings",
        {"AccountLimit": {"ConcurrentExecutions": total, "UnreservedConcurrentExecutions": unreserved}},
    )
    return client, stub


@pytest.mark.parametrize(
    ("reserved", "unreserved", "total", "refused"),
    [
        (900, 1000, 1000, False),  # exactly the 100 left unreserved
        (901, 1000, 1000, True),  # one over: Lambda would refuse it midway
        (1, 10, 10, True),  # a new account's quota of 10: nothing can be reserved
    ],
)
def test_reserved_concurrency_the_account_cannot_grant_stops_the_deploy(
    reserved: int, unreserved: int, total: int, refused: bool
) -> None:
    client, stub = _lambda(unreserved, total)
    with stub:
        if refused:
            with pytest.raises(preflight.PreflightError, match="Lambda keeps 100"):
                preflight.check_concurrency(client, reserved, lambda line: None)
        else:
            preflight.check_concurrency(client, reserved, lambda line: None)


def test_a_stack_in_review_is_no_stack_busy() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack("REVIEW_IN_PROGRESS"))
    with stub:
        preflight.before_deploy(cloudformation, lambda line: None)


def test_destroy_says_exactly_what_stays_and_how_to_find_it() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE", protected=False))
    resource = _resource("ProdLogArchiveKey38D0B7C1", "AWS::KMS::Key", "CREATE_COMPLETE")
    del resource["PhysicalResourceId"]
    stub.add_response(
        "describe_stack_resources",
        {"StackResources": [resource, _resource("ProdB", "AWS::S3::Bucket", "CREATE_COMPLETE")]},
    )
    said: list[str] = []
    with stub:
        preflight.before_destroy(cloudformation, "ProdServerlessStack", said.append)
        stub.assert_no_pending_responses()  # not protected: no call to turn protection off
    assert said == [
        "preflight: these stay after the stack is gone (logs are evidence): "
        "ProdLogArchiveKey38D0B7C1 ; ProdB ProdB-physical",
        "preflight: list them later with: aws resourcegroupstaggingapi get-resources --region us-east-1 "
        "--tag-filters Key=aws:cloudformation:stack-name,Values=ProdServerlessStack",
        "preflight: saved (named) queries in the ProdServerlessLogs workgroup make its deletion fail: "
        "delete them first",
    ]


def test_destroy_of_a_protected_stack_says_protection_is_off() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE"))
    stub.add_response("describe_stack_resources", {"StackResources": []})
    stub.add_response("update_termination_protection", {"StackId": STACK_ID})
    said: list[str] = []
    with stub:
        preflight.before_destroy(cloudformation, "ProdServerlessStack", said.append)
    assert said[0] == "preflight: termination protection turned off for this destroy"


def test_destroy_of_no_stack_is_one_line() -> None:
    cloudformation, stub = _cloudformation()
    stub.add_client_error("describe_stacks", "ValidationError", "Stack with id ProdServerlessStack does not exist", 400)
    with (
        stub,
        pytest.raises(
            preflight.PreflightError, match=r"^ProdServerlessStack does not exist in us-east-1: nothing to destroy$"
        ),
    ):
        preflight.before_destroy(cloudformation, "ProdServerlessStack", lambda line: None)


def test_a_reservation_the_account_can_grant_but_only_barely_is_said_with_the_numbers() -> None:
    client, stub = _lambda(950, 1000)
    said: list[str] = []
    with stub:
        preflight.check_concurrency(client, 851, said.append)  # 851 + 100 > 950, yet under 1000 - 100
    assert said == [
        "preflight: reservedConcurrency=851 needs 951 unreserved executions; this account has 950 of 1000 (if the "
        "stack already reserves some, those count back)"
    ]
    client, stub = _lambda(950, 1000)
    with stub:
        preflight.check_concurrency(client, 850, said.append)  # exactly 100 left: nothing to say
    assert len(said) == 1


class _Aws:
    """A session whose clients are stubbed: what main() calls, answered as a healthy account would."""

    region_name = "us-east-1"

    def __init__(self, stack: dict[str, Any] | None, reserved_limits: tuple[int, int] | None = None) -> None:
        self.clients: dict[str, Any] = {}
        self.stubs: list[Stubber] = []
        sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        stub = Stubber(sts)
        stub.add_response(
            "get_caller_identity",
            {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/me", "UserId": "U"},
        )
        self._add("sts", sts, stub)
        cloudformation, stub = _cloudformation()
        if stack is None:
            stub.add_client_error(
                "describe_stacks", "ValidationError", "Stack with id ProdServerlessStack does not exist", 400
            )
        else:
            stub.add_response("describe_stacks", stack)
        self._add("cloudformation", cloudformation, stub)
        if reserved_limits:
            lambda_client, stub = _lambda(*reserved_limits)
            self._add("lambda", lambda_client, stub)

    def _add(self, name: str, client: Any, stub: Stubber) -> None:
        stub.activate()
        self.clients[name] = client
        self.stubs.append(stub)


@pytest.mark.parametrize("action", ["deploy", "diff", "bootstrap"])
def test_main_runs_each_action_against_the_account(
    action: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = _Aws(None)
    monkeypatch.setattr(preflight, "session", lambda: aws)
    monkeypatch.setattr(preflight, "client", lambda session, name: session.clients[name])
    assert preflight.main([action]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "preflight: account 123456789012 as arn:aws:iam::123456789012:user/me, region us-east-1"
    if action == "deploy":
        assert lines[1:] == ["preflight: ProdServerlessStack does not exist yet in us-east-1: this deploy creates it"]
    else:
        assert lines[1:] == []  # only deploy and destroy look at the stack


def test_main_deploy_checks_the_configured_reservation(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = _Aws(None, reserved_limits=(10, 10))
    monkeypatch.setenv("CONTEXT", "reservedConcurrency=5")
    monkeypatch.setattr(preflight, "session", lambda: aws)
    monkeypatch.setattr(preflight, "client", lambda session, name: session.clients[name])
    assert preflight.main(["deploy"]) == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("make deploy: reservedConcurrency=5 cannot be granted")


def test_main_destroy_runs_the_destroy_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    aws = _Aws(_stack("UPDATE_COMPLETE", protected=False))
    aws.stubs[1].add_response("describe_stack_resources", {"StackResources": []})
    monkeypatch.setattr(preflight, "session", lambda: aws)
    monkeypatch.setattr(preflight, "client", lambda session, name: session.clients[name])
    assert preflight.main(["destroy", "--confirm", "ProdServerlessStack"]) == 0
    assert "preflight: these stay after the stack is gone" in capsys.readouterr().err


def test_main_refuses_an_unknown_action(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        preflight.main(["launch"])
    assert "invalid choice: 'launch'" in capsys.readouterr().err


def _versioned_bucket(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket=name, Key="a/log.gz", Body=body)
    s3.put_object(Bucket=name, Key="b", Body=b"x")
    s3.delete_object(Bucket=name, Key="b")  # a delete marker over one more version


def test_a_disposable_stages_destroy_empties_its_buckets_and_says_what_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import mock_aws

    monkeypatch.setenv("CONTEXT", "stage=dev")
    cloudformation, stub = _cloudformation()
    stub.add_response("describe_stacks", _stack("UPDATE_COMPLETE", protected=False))
    buckets = [_resource("ProdLogArchiveBucket", "AWS::S3::Bucket", "CREATE_COMPLETE")]
    key = _resource("ProdLogArchiveKey38D0B7C1", "AWS::KMS::Key", "CREATE_COMPLETE")
    stub.add_response("describe_stack_resources", {"StackResources": [*buckets, key]})
    said: list[str] = []
    with mock_aws(), stub:
        s3 = boto3.client("s3", region_name="us-east-1")
        _versioned_bucket(s3, "ProdLogArchiveBucket-physical".lower())
        monkeypatch.setitem(buckets[0], "PhysicalResourceId", "prodlogarchivebucket-physical")
        preflight.before_destroy(cloudformation, "ProdServerlessStack-dev", said.append, s3)
        assert s3.list_object_versions(Bucket="prodlogarchivebucket-physical").get("Versions", []) == []
    assert said == [
        "preflight: emptied prodlogarchivebucket-physical (4 object versions) so the stack can delete it",
        "preflight: stage dev is disposable: its buckets, log groups and tables go with the stack; its keys are "
        f"scheduled for deletion after {KEY_PENDING_DAYS} days (cancel with kms cancel-key-deletion)",
    ]


def test_an_object_the_bucket_refuses_to_delete_is_one_line() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    stub.add_response(
        "list_object_versions", {"Versions": [{"Key": "k", "VersionId": "v1"}], "IsTruncated": False}, {"Bucket": "b"}
    )
    refused = {"Errors": [{"Key": "k", "VersionId": "v1", "Code": "AccessDenied", "Message": "Access Denied"}]}
    stub.add_response(
        "delete_objects",
        refused,
        {
            "Bucket": "b",
            "Delete": {"Objects": [{"Key": "k", "VersionId": "v1"}], "Quiet": True},
            "BypassGovernanceRetention": True,
        },
    )
    with stub, pytest.raises(preflight.PreflightError) as error:
        preflight.empty_bucket(s3, "b", print)
    assert str(error.value) == "could not empty b: AccessDenied on k: Access Denied"


def test_a_bucket_is_emptied_a_thousand_keys_a_request_and_an_empty_one_takes_none() -> None:
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    versions = [{"Key": f"k{n}", "VersionId": "v"} for n in range(1001)]
    stub.add_response("list_object_versions", {"Versions": versions, "IsTruncated": False}, {"Bucket": "b"})
    for batch in (versions[:1000], versions[1000:]):
        expected = {"Bucket": "b", "Delete": {"Objects": batch, "Quiet": True}, "BypassGovernanceRetention": True}
        stub.add_response("delete_objects", {}, expected)
    stub.add_response("list_object_versions", {"IsTruncated": False}, {"Bucket": "empty"})
    said: list[str] = []
    with stub:
        assert preflight.empty_bucket(s3, "b", said.append) == 1001
        assert preflight.empty_bucket(s3, "empty", said.append) == 0
        stub.assert_no_pending_responses()
    assert said[1] == "preflight: emptied empty (0 object versions) so the stack can delete it"


def test_main_destroy_of_a_stage_empties_its_buckets_with_the_accounts_s3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTEXT", "stage=dev")
    aws = _Aws(_stack("UPDATE_COMPLETE", protected=False))
    bucket = _resource("ProdLogArchiveBucket", "AWS::S3::Bucket", "CREATE_COMPLETE")
    aws.stubs[1].add_response("describe_stack_resources", {"StackResources": [bucket]})
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(s3)
    stub.add_response("list_object_versions", {"IsTruncated": False}, {"Bucket": "ProdLogArchiveBucket-physical"})
    aws._add("s3", s3, stub)
    monkeypatch.setattr(preflight, "session", lambda: aws)
    monkeypatch.setattr(preflight, "client", lambda session, name: session.clients[name])
    assert preflight.main(["destroy", "--confirm", "ProdServerlessStack-dev"]) == 0
    stub.assert_no_pending_responses()
    assert "preflight: emptied ProdLogArchiveBucket-physical (0 object versions)" in capsys.readouterr().err
