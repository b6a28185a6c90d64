"""The AWS a function uses, offline: an in-memory AWS (moto's `mock_aws`) holding the resources its environment
names, each created from its definition in the synthesized template.

Lambda gives a function its Region, its role's credentials and its environment. Offline the function gets the
template's Region, credentials that can reach nothing real, and every variable resolved to the local resource's
name or ARN. A variable this module cannot resolve is one `OfflineError` line naming it, never dropped. With no
resource named (the shipped stack), moto is not even imported, and AWS_ENDPOINT_URL points at a closed local
port, so a stray SDK call fails at once instead of reaching an account.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"  # moto's account: every local ARN carries it, so none can be mistaken for yours
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline", "AWS_SESSION_TOKEN": "offline"}
# Port 9 (discard) on the loopback: nothing listens, so a call without a local resource is refused at once.
UNREACHABLE = "http://127.0.0.1:9"
# CloudFormation "Pseudo parameters reference": what Ref gives for each, offline.
PSEUDO = {"AWS::AccountId": ACCOUNT, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}


class OfflineError(Exception):
    """The template asks for something the offline AWS cannot give; the message is one line naming it."""


@dataclass(frozen=True)
class Local:
    """A resource created offline: what `Ref` gives for it, and its `Fn::GetAtt` attributes."""

    ref: str
    attributes: dict[str, str] = field(default_factory=dict)


def _table(aws: Any, logical_id: str, props: dict[str, Any], region: str) -> Local:
    """AWS::DynamoDB::Table or ::GlobalTable (TableV2): its keys and indexes; capacity does not matter offline."""
    name = props.get("TableName", logical_id)
    indexes = {
        kind: [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection") if key in index}
            for index in props.get(kind, [])
        ]
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
    }
    aws.client("dynamodb").create_table(
        TableName=name,
        KeySchema=props["KeySchema"],
        AttributeDefinitions=props["AttributeDefinitions"],
        BillingMode="PAY_PER_REQUEST",
        **{kind: value for kind, value in indexes.items() if value},
    )
    return Local(name, {"Arn": f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{name}"})


def _queue(aws: Any, logical_id: str, props: dict[str, Any], region: str) -> Local:
    """AWS::SQS::Queue: a FIFO queue keeps its suffix; the attributes that change what the code sees."""
    fifo = props.get("FifoQueue") is True
    name = props.get("QueueName", f"{logical_id}.fifo" if fifo else logical_id)
    kept = ("FifoQueue", "ContentBasedDeduplication", "DelaySeconds", "MaximumMessageSize", "VisibilityTimeout")
    attributes = {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in props.items()}
    url = aws.client("sqs").create_queue(
        QueueName=name, Attributes={key: value for key, value in attributes.items() if key in kept}
    )["QueueUrl"]
    arn = f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"
    return Local(url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


def _bucket(aws: Any, logical_id: str, props: dict[str, Any], region: str) -> Local:
    """AWS::S3::Bucket: named as the template names it, else by its logical id (bucket names are lower case)."""
    name = props.get("BucketName", logical_id.lower()[:63])
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    aws.client("s3").create_bucket(Bucket=name, **where)
    return Local(name, {"Arn": f"arn:aws:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"})


def _secret(aws: Any, logical_id: str, props: dict[str, Any], region: str) -> Local:
    """AWS::SecretsManager::Secret: its literal value, or one generated here as its GenerateSecretString asks."""
    value = props.get("SecretString")
    generate = props.get("GenerateSecretString")
    if value is None:
        generated = secrets.token_urlsafe(int((generate or {}).get("PasswordLength", 32)))
        template, key = (generate or {}).get("SecretStringTemplate"), (generate or {}).get("GenerateStringKey")
        value = json.dumps({**json.loads(template), key: generated}) if template and key else generated
    arn = aws.client("secretsmanager").create_secret(Name=props.get("Name", logical_id), SecretString=value)["ARN"]
    return Local(arn, {"Id": arn})  # CloudFormation: Ref of a secret is its ARN


def _parameter(aws: Any, logical_id: str, props: dict[str, Any], region: str) -> Local:
    """AWS::SSM::Parameter: its name and value as the template sets them."""
    name = props.get("Name", logical_id)
    aws.client("ssm").put_parameter(Name=name, Value=props["Value"], Type=props.get("Type", "String"))
    return Local(name, {"Type": props.get("Type", "String"), "Value": props["Value"]})


Creator = Callable[[Any, str, dict[str, Any], str], Local]
CREATORS: dict[str, Creator] = {
    "AWS::DynamoDB::GlobalTable": _table,
    "AWS::DynamoDB::Table": _table,
    "AWS::SQS::Queue": _queue,
    "AWS::S3::Bucket": _bucket,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::SSM::Parameter": _parameter,
}


def _named(value: object) -> tuple[str, str | None] | None:
    """The logical id a variable's value names, and the attribute (None for Ref), if it names one."""
    if isinstance(value, dict) and len(value) == 1:
        if isinstance(value.get("Ref"), str):
            return value["Ref"], None
        target = value.get("Fn::GetAtt")
        if isinstance(target, list) and len(target) == 2 and all(isinstance(part, str) for part in target):
            return target[0], target[1]
    return None


def referenced(variables: Mapping[str, object], resources: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The template's resources (its `Resources` section) the variables name, by logical id."""
    names = {named[0] for named in map(_named, variables.values()) if named is not None}
    return {logical_id: resources[logical_id] for logical_id in sorted(names) if logical_id in resources}


def resolve(variables: Mapping[str, object], locals_: Mapping[str, Local], region: str) -> dict[str, str]:
    """Every variable as a string: literal values as they are, a resource's Ref or attribute as the local one's."""
    resolved = {}
    supported = ", ".join(sorted(type_.split("::", 1)[1] for type_ in CREATORS))
    for name, value in variables.items():
        if isinstance(value, str):
            resolved[name] = value
            continue
        named = _named(value)
        local = locals_.get(named[0]) if named else None
        answer = {"AWS::Region": region, **PSEUDO}.get(named[0]) if named and named[1] is None else None
        if named and local is not None:
            answer = local.ref if named[1] is None else local.attributes.get(named[1])
        if answer is None:
            raise OfflineError(
                f"environment variable {name} = {json.dumps(value)} cannot be resolved offline: it must be a string, "
                f"or a Ref or Fn::GetAtt of one of the stack's {supported}"
            )
        resolved[name] = answer
    return resolved


@contextmanager
def patched_environ(values: Mapping[str, str | None]) -> Iterator[None]:
    """The process environment with `values` set (None: unset) while the block runs, then as it was."""
    saved = {name: os.environ.get(name) for name in values}

    def apply(pairs: Mapping[str, str | None]) -> None:
        for name, value in pairs.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    apply(values)
    try:
        yield
    finally:
        apply(saved)


@contextmanager
def offline_aws(variables: Mapping[str, object], resources: Mapping[str, Any], region: str) -> Iterator[dict[str, str]]:
    """While the block runs: those of the template's `resources` that `variables` name exist in an in-memory AWS,
    and the process has the Region, local credentials and the variables, resolved to the local resources (yielded)."""
    resources = referenced(variables, resources)
    unsupported = sorted(i for i, r in resources.items() if r["Type"] not in CREATORS)
    if unsupported:
        kinds = ", ".join(sorted(CREATORS))
        first = unsupported[0]
        raise OfflineError(
            f"{first} ({resources[first]['Type']}) is named by the function's environment but has no offline twin "
            f"(tools/offline_aws.py creates {kinds})"
        )
    # As Lambda sets them: the Region, credentials (here reaching nothing real), then the function's variables.
    region_only = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, **CREDENTIALS}
    if not resources:
        resolved = resolve(variables, {}, region)
        # One attempt (botocore reads AWS_MAX_ATTEMPTS): refused at once, not after the retry mode's backoff.
        with patched_environ({**region_only, "AWS_ENDPOINT_URL": UNREACHABLE, "AWS_MAX_ATTEMPTS": "1", **resolved}):
            yield resolved
        return
    import boto3
    from moto import mock_aws

    with mock_aws(), patched_environ({**region_only, "AWS_ENDPOINT_URL": None, "AWS_MAX_ATTEMPTS": None}):
        aws = boto3.Session(region_name=region)
        created = {
            logical_id: CREATORS[resource["Type"]](aws, logical_id, resource.get("Properties", {}), region)
            for logical_id, resource in resources.items()
        }
        resolved = resolve(variables, created, region)
        with patched_environ(resolved):
            yield resolved
