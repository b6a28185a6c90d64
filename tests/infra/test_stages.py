"""Stages: production keeps its stack and every name; another stage is another stack beside it in the same
account and Region, its stack name and every physical name derived from the stage, so both deploy side by side."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.names import KEY_PENDING_DAYS, PRODUCTION, StageNames, physical_names, shown
from prod_serverless.settings import Settings, SettingsError, cdk_json_context
from tests.conftest import Synthesized, synthesize

# Names scoped inside another resource of the stack: a Lambda alias is per function, a Glue table per database.
SCOPED = {("AWS::Lambda::Alias", "Name"), ("AWS::Glue::Table", "TableInput.Name")}


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """docs/recipes.md's staging copy, with every rule pack and Control Tower control on (synth fails on a finding)."""
    from tests.test_recipes import recipes

    (stage,) = set(re.findall(r'CONTEXT="stage=([a-z0-9]+)"', recipes()["staging"]))
    return synthesize(tmp_path_factory.mktemp("cdk.out.staging"), {"stage": stage})


def _names(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(kind, prop): shown(value) for _, kind, prop, value in physical_names(template)}


def test_production_is_the_default_stage_with_the_names_it_always_had() -> None:
    names = Settings().names
    assert (names.stage, names.production) == (PRODUCTION, True)
    assert (names.stack, names.prefix, names.database, names.workgroup, names.api) == (
        "ProdServerlessStack",
        "ProdServerless",
        "prod_serverless_logs",
        "ProdServerlessLogs",
        "ProdServerlessApi",
    )
    assert (names.alias("log-archive"), names.template) == (
        "alias/ProdServerless/log-archive",
        "cdk.out/ProdServerlessStack.template.json",
    )


def test_another_stage_derives_each_name() -> None:
    names = StageNames("pr42")
    assert (names.production, names.stack, names.prefix, names.database, names.workgroup, names.api) == (
        False,
        "ProdServerlessStack-pr42",
        "ProdServerlessPr42",
        "prod_serverless_pr42_logs",
        "ProdServerlessPr42Logs",
        "ProdServerlessPr42Api",
    )
    assert (names.alias("alarm-topic"), names.template) == (
        "alias/ProdServerless-pr42/alarm-topic",
        "cdk.out/ProdServerlessStack-pr42.template.json",
    )


@pytest.mark.parametrize("stage", ["Staging", "1dev", "dev-1", "dev_1", "abcdefghijklm"])
def test_a_stage_outside_the_naming_rules_is_one_line(stage: str) -> None:
    with pytest.raises(SettingsError, match=r"^context key 'stage' must match \[a-z\]\[a-z0-9\]\{0,11\}; got "):
        Settings.from_context({**cdk_json_context(), "stage": stage})


def test_a_stage_is_another_stack_sharing_no_name_that_must_be_unique(
    synthesized: Synthesized, staging: Synthesized
) -> None:
    assert staging.stack.stack_name == StageNames("staging").stack
    production, other = _names(synthesized.template), _names(staging.template)
    assert set(production) == set(other)  # the same resources name themselves, by the same properties
    shared = {key: name for key, name in other.items() if production[key] == name and key not in SCOPED}
    assert shared == {}
    assert all(name.startswith(("Prod", "alias/Prod", "/aws/vendedlogs/Prod", "prod_")) for name in other.values())


def test_a_stage_changes_no_logical_id(synthesized: Synthesized, staging: Synthesized) -> None:
    assert set(staging.template["Resources"]) == set(synthesized.template["Resources"])


def test_the_tools_follow_the_stage(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tools import aws, config, local_server, preflight

    monkeypatch.setenv("CONTEXT", "stage=dev")
    assert aws.stack_name() == "ProdServerlessStack-dev"
    assert local_server.stage_template() == Path("cdk.out/ProdServerlessStack-dev.template.json")
    assert config.main(["--stack", "--template"]) == 0
    assert capsys.readouterr().out == "ProdServerlessStack-dev\ncdk.out/ProdServerlessStack-dev.template.json\n"
    with pytest.raises(preflight.PreflightError, match=r"CONFIRM=ProdServerlessStack-dev` to confirm$"):
        preflight.check_confirmation("ProdServerlessStack")
    preflight.check_confirmation("ProdServerlessStack-dev")


RETAINED = ("Retain", "RetainExceptOnCreate")


def _retained(template: dict[str, Any]) -> set[str]:
    return {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("DeletionPolicy") in RETAINED or resource.get("UpdateReplacePolicy") in RETAINED
    }


def test_what_production_retains_a_stage_deletes_with_its_stack(synthesized: Synthesized, staging: Synthesized) -> None:
    kept = _retained(synthesized.template)
    kinds = {synthesized.template["Resources"][logical_id]["Type"] for logical_id in kept}
    assert {"AWS::KMS::Key", "AWS::S3::Bucket", "AWS::Logs::LogGroup"} <= kinds  # logs are evidence, in production
    assert _retained(staging.template) == set()
    for logical_id in kept:
        assert staging.template["Resources"][logical_id].get("DeletionPolicy") == "Delete", logical_id


def test_a_stages_keys_wait_the_shortest_period_and_productions_the_default(
    synthesized: Synthesized, staging: Synthesized
) -> None:
    def windows(template: dict[str, Any]) -> set[object]:
        keys = [r for r in template["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
        return {key["Properties"].get("PendingWindowInDays") for key in keys}

    assert (windows(synthesized.template), windows(staging.template)) == ({None}, {KEY_PENDING_DAYS})


def test_a_teams_protected_table_is_deletable_in_a_stage() -> None:
    from aws_cdk import App, Aspects, RemovalPolicy, Stack
    from aws_cdk import aws_dynamodb as dynamodb
    from aws_cdk.assertions import Template

    from prod_serverless.disposable import Disposable

    stack = Stack(App(), "ProdTestStack")
    key = dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING)
    dynamodb.TableV2(
        stack, "ProdItems", partition_key=key, deletion_protection=True, removal_policy=RemovalPolicy.RETAIN
    )
    dynamodb.Table(stack, "ProdOld", partition_key=key, deletion_protection=True, removal_policy=RemovalPolicy.RETAIN)
    Aspects.of(stack).add(Disposable())
    template = Template.from_stack(stack).to_json()
    (v2,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::GlobalTable"]
    (v1,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"]
    assert (v2["DeletionPolicy"], v2["Properties"]["Replicas"][0]["DeletionProtectionEnabled"]) == ("Delete", False)
    assert (v1["DeletionPolicy"], v1["Properties"]["DeletionProtectionEnabled"]) == ("Delete", False)
