"""The version resource changes exactly when a published version would differ: a first deploy, a code-only
change and a configuration-only change each get a new version (and a changed function description, so
PublishVersion never meets an unchanged function); a change that touches nothing in the function keeps it."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_kms as kms

from prod_serverless.function import DESCRIPTION, SERVICE_CODE, UNVERSIONED, ServiceFunction
from prod_serverless.settings import Settings
from tests.infra.helpers import template_of

# What the fingerprint is made of (function.py `version_fingerprint`), by CloudFormation property.
FINGERPRINTED = (
    "Code", "Handler", "Runtime", "Architectures", "MemorySize", "Timeout", "Environment",
    "LoggingConfig", "TracingConfig", "Role",
)  # fmt: skip


def _function(settings: Settings, code: Path = SERVICE_CODE) -> tuple[str, dict[str, Any]]:
    """(the Version resource's logical id, the function's properties) of ServiceFunction alone."""

    def build(stack: Stack) -> None:
        ServiceFunction(stack, "ProdFunction", settings=settings, log_key=kms.Key(stack, "ProdKey"), code=code)

    template = template_of(build)
    (version_id,) = template.find_resources("AWS::Lambda::Version")
    (function,) = template.find_resources("AWS::Lambda::Function").values()
    return version_id, function["Properties"]


@pytest.fixture(scope="module")
def first() -> tuple[str, dict[str, Any]]:
    return _function(Settings())


def test_every_function_property_is_fingerprinted_or_declared_unversioned(first: tuple[str, dict[str, Any]]) -> None:
    """A new property must be classified, or a change to it would ship without a new version."""
    _, properties = first
    assert set(properties) - set(FINGERPRINTED) - set(UNVERSIONED) == set()


def test_a_first_deploy_has_one_version_and_its_fingerprint_in_the_description(
    first: tuple[str, dict[str, Any]],
) -> None:
    version_id, properties = first
    fingerprint = version_id.removeprefix("ProdFunctionVersion")[:12]
    assert properties["Description"] == f"{DESCRIPTION} (configuration {fingerprint})"


def test_a_code_only_change_publishes_a_new_version(first: tuple[str, dict[str, Any]], tmp_path: Path) -> None:
    changed = tmp_path / "service"
    shutil.copytree(SERVICE_CODE, changed, ignore=shutil.ignore_patterns("__pycache__"))
    (changed / "handler.py").write_text((changed / "handler.py").read_text() + "\n# a code change\n")
    version_id, properties = _function(Settings(), changed)
    assert version_id != first[0]
    assert properties["Description"] != first[1]["Description"]
    assert properties["Code"] != first[1]["Code"]


def test_a_configuration_only_change_publishes_a_new_version(first: tuple[str, dict[str, Any]]) -> None:
    version_id, properties = _function(Settings(log_level="DEBUG"))
    assert version_id != first[0]
    assert properties["Description"] != first[1]["Description"]
    assert properties["Code"] == first[1]["Code"]


def test_a_change_that_touches_nothing_in_the_function_keeps_the_version(first: tuple[str, dict[str, Any]]) -> None:
    """Alarm thresholds, buffers, retention of the archive: the version, and so the alias, do not move."""
    untouched = Settings(api_5xx_threshold=7, firehose_buffer_seconds=60, archive_expiration_days=400)
    assert _function(untouched) == first


def test_reserved_concurrency_is_not_part_of_a_version(first: tuple[str, dict[str, Any]]) -> None:
    version_id, properties = _function(Settings(reserved_concurrency=5))
    assert version_id == first[0]
    assert properties["ReservedConcurrentExecutions"] == 5
