"""Run by `make deploy`, `make diff`, `make destroy` and `make bootstrap` before the CDK CLI.

- Proves the AWS credentials work (STS GetCallerIdentity), so a missing profile or an unreachable
  endpoint is one line here instead of the CLI's "Unable to resolve AWS account", printed twice.
- deploy: a stack whose first create failed (ROLLBACK_COMPLETE or ROLLBACK_FAILED) is deleted and
  created again by the CDK CLI, but the CLI turns termination protection on before it executes the
  change set, so that delete would be refused. Here protection is turned off for such a stack only,
  after saying why; the retry then re-creates it, protection included. A stack that is busy, or whose
  update rollback failed, stops the deploy with what to do.
- destroy: needs `CONFIRM=ProdServerlessStack`; then turns termination protection off and lists what
  the stack keeps (keys, buckets, log groups) and how to find them afterwards.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from prod_serverless.names import KEY_PENDING_DAYS
from prod_serverless.settings import configured
from tools.aws import AwsUnavailableError, client, describe_stack, one_line_errors, session, stack_name

# The CDK CLI deletes and re-creates a stack in these states (toolkit-lib StackStatus.isCreationFailure).
CREATE_FAILED = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED")
KEPT_TYPES = ("AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup")
LEFTOVERS = (
    "aws resourcegroupstaggingapi get-resources --region {region} "
    "--tag-filters Key=aws:cloudformation:stack-name,Values={stack}"
)


class PreflightError(Exception):
    """The CLI must not run; the message says why and what to do."""


def before_deploy(cloudformation: Any, say: Any) -> None:
    region = cloudformation.meta.region_name
    name = stack_name()  # the stage's
    stack = describe_stack(cloudformation)
    if stack is None:
        say(f"preflight: {name} does not exist yet in {region}: this deploy creates it")
        return
    status = stack["StackStatus"]
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise PreflightError(f"{name} is {status}: wait until it finishes, then run `make deploy` again")
    if status == "UPDATE_ROLLBACK_FAILED":
        raise PreflightError(
            f"{name} is UPDATE_ROLLBACK_FAILED: fix the cause shown in its events, then run "
            f"`aws cloudformation continue-update-rollback --stack-name {name} --region {region}`"
        )
    if status in CREATE_FAILED:
        left = [
            f"{r['LogicalResourceId']} ({r['ResourceType']})"
            for r in cloudformation.describe_stack_resources(StackName=name)["StackResources"]
            if r.get("ResourceStatus") == "DELETE_FAILED"
        ]
        say(
            f"preflight: the first create of {name} failed ({status}: {stack.get('StackStatusReason', '')}); "
            "the CDK CLI will delete it and create it again, so termination protection is turned off for that"
        )
        if left:
            say(
                f"preflight: CloudFormation could not delete {', '.join(left)}: "
                "see docs/releases.md, 'When a deploy fails'"
            )
        if stack.get("EnableTerminationProtection"):
            cloudformation.update_termination_protection(StackName=name, EnableTerminationProtection=False)


# Lambda "Configuring reserved concurrency": Lambda keeps at least 100 of the account's concurrency unreserved.
UNRESERVED_FLOOR = 100


def check_concurrency(lambda_client: Any, reserved: int, say: Any) -> None:
    """A reservedConcurrency the account cannot grant fails the deploy midway: refuse it here, with the numbers."""
    limits = lambda_client.get_account_settings()["AccountLimit"]
    unreserved = limits["UnreservedConcurrentExecutions"]
    # The function's own current reservation (an update) is not in `unreserved`; it may be counted back.
    if reserved > unreserved - UNRESERVED_FLOOR:
        say(
            f"preflight: reservedConcurrency={reserved} needs {reserved + UNRESERVED_FLOOR} unreserved executions; "
            f"this account has {unreserved} of {limits['ConcurrentExecutions']} (if the stack already reserves "
            "some, those count back)"
        )
        if reserved > limits["ConcurrentExecutions"] - UNRESERVED_FLOOR:
            raise PreflightError(
                f"reservedConcurrency={reserved} cannot be granted: Lambda keeps {UNRESERVED_FLOOR} of the account's "
                f"{limits['ConcurrentExecutions']} concurrent executions unreserved; lower it or raise the quota"
            )


def check_confirmation(confirm: str) -> None:
    """Before anything else (credentials, network): say what CONFIRM wants."""
    name = stack_name()
    if confirm != name:
        raise PreflightError(f"make destroy deletes the stack {name}: run `make destroy CONFIRM={name}` to confirm")


def empty_bucket(s3: Any, bucket: str, say: Any) -> int:
    """Delete every object version and delete marker of `bucket` (CloudFormation deletes only an empty bucket);
    the number deleted. A disposable stage's objects are bypassed past any GOVERNANCE lock (S3 DeleteObjects
    BypassGovernanceRetention, which needs s3:BypassGovernanceRetention)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        objects = [{"Key": item["Key"], "VersionId": item["VersionId"]} for item in found]
        for start in range(0, len(objects), 1000):  # DeleteObjects takes at most 1,000 keys a request
            batch = objects[start : start + 1000]
            answer = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": batch, "Quiet": True}, BypassGovernanceRetention=True
            )
            if answer.get("Errors"):
                error = answer["Errors"][0]
                raise PreflightError(f"could not empty {bucket}: {error['Code']} on {error['Key']}: {error['Message']}")
            deleted += len(batch)
    say(f"preflight: emptied {bucket} ({deleted} object versions) so the stack can delete it")
    return deleted


def before_destroy(cloudformation: Any, confirm: str, say: Any, s3: Any = None) -> None:
    check_confirmation(confirm)
    name = stack_name()
    region = cloudformation.meta.region_name
    stack = describe_stack(cloudformation)
    if stack is None:
        raise PreflightError(f"{name} does not exist in {region}: nothing to destroy")
    resources = cloudformation.describe_stack_resources(StackName=name)["StackResources"]
    kept = [
        f"{r['LogicalResourceId']} {r.get('PhysicalResourceId', '')}"
        for r in resources
        if r["ResourceType"] in KEPT_TYPES
    ]
    if stack.get("EnableTerminationProtection"):
        cloudformation.update_termination_protection(StackName=name, EnableTerminationProtection=False)
        say("preflight: termination protection turned off for this destroy")
    names = configured().names
    if not names.production:  # a disposable stage (prod_serverless/disposable.py): all of it goes
        for resource in resources:
            if resource["ResourceType"] == "AWS::S3::Bucket" and resource.get("PhysicalResourceId"):
                empty_bucket(s3, resource["PhysicalResourceId"], say)
        say(
            f"preflight: stage {names.stage} is disposable: its buckets, log groups and tables go with the stack; its "
            f"keys are scheduled for deletion after {KEY_PENDING_DAYS} days (cancel with kms cancel-key-deletion)"
        )
        return
    say(f"preflight: these stay after the stack is gone (logs are evidence): {'; '.join(kept)}")
    say(f"preflight: list them later with: {LEFTOVERS.format(region=region, stack=name)}")
    # Athena DeleteWorkGroup refuses a workgroup that holds named queries unless asked to delete them too.
    say(
        f"preflight: saved (named) queries in the {names.workgroup} workgroup make its deletion fail: delete them first"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=("deploy", "diff", "destroy", "bootstrap"))
    parser.add_argument("--confirm", default="", help="the stack name, for destroy")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        if args.action == "destroy":
            check_confirmation(args.confirm)
        aws = session()
        with one_line_errors("calling AWS"):
            identity = client(aws, "sts").get_caller_identity()
            say(f"preflight: account {identity['Account']} as {identity['Arn']}, region {aws.region_name}")
            cloudformation = client(aws, "cloudformation")
            if args.action == "deploy":
                before_deploy(cloudformation, say)
                reserved = configured().reserved_concurrency
                if reserved is not None:
                    check_concurrency(client(aws, "lambda"), reserved, say)
            elif args.action == "destroy":
                disposable = not configured().names.production  # only a disposable stage's buckets are emptied
                before_destroy(cloudformation, args.confirm, say, client(aws, "s3") if disposable else None)
    except (AwsUnavailableError, PreflightError) as error:
        say(f"make {args.action}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
