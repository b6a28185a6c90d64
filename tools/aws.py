"""AWS access for the tools (smoke, verify, deploy preflight): one session, and every failure as one line.

A missing profile, absent credentials, an unreachable endpoint or an access denial each become an
`AwsUnavailableError` whose message says what to do; the tools print it and exit non-zero, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# A tool waits for a person: fail fast when AWS is unreachable instead of retrying for a minute.
CLIENT_CONFIG = {"connect_timeout": 5, "read_timeout": 30, "retries": {"max_attempts": 2, "mode": "standard"}}


class AwsUnavailableError(Exception):
    """AWS cannot be used as asked; the message is one line that says why and what to do."""


def configured_region() -> str:
    """The Region the stack is configured for (the `region` setting, from cdk.json and CONTEXT)."""
    from prod_serverless.settings import SettingsError, configured

    try:
        return configured().region
    except SettingsError as error:
        raise AwsUnavailableError(f"configuration error: {error}") from error


def session(region: str | None = None) -> Any:
    """A boto3 session in the configured Region with credentials, or AwsUnavailableError saying how to get some."""
    import boto3
    from botocore.exceptions import ProfileNotFound

    region = region or configured_region()
    try:
        aws = boto3.Session(region_name=region)
        credentials = aws.get_credentials()
    except ProfileNotFound as error:
        raise AwsUnavailableError(
            f"AWS profile {error.kwargs.get('profile')!r} is not configured: check AWS_PROFILE "
            "(or run `aws configure` with the AWS CLI)"
        ) from error
    if credentials is None:
        raise AwsUnavailableError(
            "no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
            "or run `aws sso login` with the AWS CLI"
        )
    return aws


def client(aws: Any, service: str) -> Any:
    """A client with short timeouts and few retries (CLIENT_CONFIG)."""
    from botocore.config import Config

    return aws.client(service, config=Config(**CLIENT_CONFIG))


@contextmanager
def one_line_errors(action: str) -> Iterator[None]:
    """Turn botocore's exceptions raised while doing `action` into AwsUnavailableError."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        ProfileNotFound,
    )

    try:
        yield
    except AwsUnavailableError:
        raise
    except ProfileNotFound as error:
        raise AwsUnavailableError(f"{action}: AWS profile {error.kwargs.get('profile')!r} is not configured") from error
    except NoCredentialsError as error:
        raise AwsUnavailableError(
            f"{action}: no AWS credentials found: set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), "
            "or run `aws sso login` with the AWS CLI"
        ) from error
    except EndpointConnectionError as error:
        raise AwsUnavailableError(
            f"{action}: cannot reach {error.kwargs.get('endpoint_url', 'AWS')}: check the network, proxy or VPN"
        ) from error
    except ClientError as error:
        detail = error.response.get("Error", {})
        code, message = detail.get("Code", "Error"), detail.get("Message", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
            raise AwsUnavailableError(f"{action}: the AWS credentials are not valid ({code}): refresh them") from error
        raise AwsUnavailableError(f"{action}: {code}: {message}") from error
    except BotoCoreError as error:
        raise AwsUnavailableError(f"{action}: {error}") from error


def stack_name() -> str:
    """The configured stage's stack name (the `stage` setting: production's is ProdServerlessStack)."""
    from prod_serverless.settings import SettingsError, configured

    try:
        return configured().names.stack
    except SettingsError as error:
        raise AwsUnavailableError(f"configuration error: {error}") from error


def describe_stack(cloudformation: Any) -> dict[str, Any] | None:
    """The stack's description, or None when it does not exist (or was deleted)."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name())["Stacks"]
    except cloudformation.exceptions.ClientError as error:
        if "does not exist" in str(error):
            return None
        raise
    return stacks[0] if stacks else None


def stack_outputs(cloudformation: Any) -> dict[str, str]:
    """The stack's outputs, or AwsUnavailableError when the stack is not deployed here."""
    region = cloudformation.meta.region_name
    with one_line_errors(f"reading stack {stack_name()} in {region}"):
        stack = describe_stack(cloudformation)
    if stack is None:
        raise AwsUnavailableError(
            f"stack {stack_name()} is not deployed in this account's {region}: run `make deploy` first"
        )
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
