"""The deploy preflight: a failed first create can be retried with `make deploy`; mistakes are one line."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

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
        {"StackResources": [_resource("ProdLogArchiveBucket17CCD0FA", "AWS::S3::Bucket", "DELETE_FAILED")]},
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
    assert "the first create of ProdServerlessStack failed (ROLLBACK_COMPLETE" in said[0]
    assert "could not delete ProdLogArchiveBucket17CCD0FA (AWS::S3::Bucket)" in said[1]


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
        "make destroy: make destroy deletes the production stack: run `make destroy CONFIRM=ProdServerlessStack` "
        "to confirm\n"
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


def test_no_reserved_concurrency_asks_nothing() -> None:
    client, stub = _lambda(10, 10)
    with stub:
        preflight.check_concurrency(client, None, lambda line: None)
    assert stub._queue  # the account was not asked
