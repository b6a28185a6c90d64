"""Rule packs (cdk-nag v3 policy-validation plugins): zero unacknowledged findings, every exception reasoned.

The README's exceptions table is generated from the same report (tests/tools/test_docs.py keeps it current).
"""

from __future__ import annotations

from typing import Any

import pytest

from prod_serverless.compliance import (
    CONTROLS,
    GUARD,
    PLUGINS,
    REASON_RULE,
    acknowledge,
    acknowledgment_hints,
    guard_rule_types,
    is_specific,
    rules_without,
)
from service.routes import ROUTES
from tests.conftest import Synthesized
from workers.table import WORKERS


def _pack_reports(synthesized: Synthesized) -> dict[str, dict]:  # type: ignore[type-arg]
    return {r["pluginName"]: r for r in synthesized.report["pluginReports"] if r["pluginName"] in PLUGINS}


def test_every_pack_and_the_control_tower_controls_ran_and_found_nothing_unacknowledged(
    synthesized: Synthesized,
) -> None:
    reports = _pack_reports(synthesized)
    assert set(reports) == set(PLUGINS)
    for name, report in reports.items():
        assert report["violations"] == [], name
        assert report["conclusion"] == "success", name


def test_the_only_construct_annotation_is_the_missing_alarm_recipient(synthesized: Synthesized) -> None:
    assert synthesized.warnings == ["Annotation::prod:no-alarm-recipient"]


def test_every_acknowledgment_has_a_specific_reason(synthesized: Synthesized) -> None:
    suppressed = [s for report in _pack_reports(synthesized).values() for s in report["suppressedViolations"]]
    assert suppressed
    for finding in suppressed:
        assert is_specific(finding["reason"]), (finding["ruleName"], finding["reason"])


@pytest.mark.parametrize(
    "reason",
    [
        "needed",
        "Accepted risk, reviewed by the platform team in 2026.",
        "This is fine for this stack and it was looked at by us.",
        "Not applicable to this kind of deployment in our organisation.",
        "By design: the construct works this way and that is intended.",
    ],
)
def test_a_vague_reason_is_refused_at_synth(reason: str) -> None:
    from aws_cdk import App, Stack

    with pytest.raises(ValueError, match="needs a specific reason"):
        acknowledge(Stack(App(), "ProdCheck"), "AwsSolutions-IAM5", reason)


def test_control_tower_acknowledgments_are_exactly_the_inherent_ones(synthesized: Synthesized) -> None:
    """Fixed controls (CT.KMS.PR.3, CT.S3.PR.4) must not be acknowledged anywhere."""
    guard = _pack_reports(synthesized)[GUARD]
    acknowledged = {
        (finding["ruleName"], finding["acknowledgedAt"].removeprefix("ProdServerlessStack/"))
        for finding in guard["suppressedViolations"]
    }
    added = synthesized.stack.node.find_child("ProdApi").routes
    routes = [added[route.key].node.path.removeprefix("ProdServerlessStack/") for route in ROUTES]
    public = [added[route.key].node.path.removeprefix("ProdServerlessStack/") for route in ROUTES if route.public]
    per_route = {
        # A route without an authorizer is acknowledged with its row's reason; a protected one needs none.
        *((CONTROLS["CT.APIGATEWAY.PR.5"], route) for route in public),
        *((CONTROLS["CT.LAMBDA.PR.2"], f"{route}/FunctionIntegration-Permission") for route in routes),
    }
    assert len(per_route) == len(ROUTES) + len(public)
    assert acknowledged == per_route | {
        (CONTROLS["CT.LAMBDA.PR.3"], "ProdFunction/Function"),
        (CONTROLS["CT.LAMBDA.PR.3"], "ProdRelease/PreTrafficHook/Function"),
        (CONTROLS["CT.CLOUDWATCH.PR.2"], "ProdFunction/LogGroup"),
        (CONTROLS["CT.CLOUDWATCH.PR.2"], "ProdApi/AccessLogGroup"),
        (CONTROLS["CT.S3.PR.2"], "ProdLogArchive/AccessLogsBucket"),
        (CONTROLS["CT.S3.PR.9"], "ProdLogArchive/AccessLogsBucket"),
        (CONTROLS["CT.S3.PR.9"], "ProdLogArchive/Bucket"),
        (CONTROLS["CT.S3.PR.9"], "ProdLogCatalog/ResultsBucket"),
        (CONTROLS["CT.S3.PR.10"], "ProdLogArchive/AccessLogsBucket"),
        # Each worker's function and log group, for the API function's reasons (no VPC; its logs archived).
        *((CONTROLS["CT.LAMBDA.PR.3"], f"{worker.construct_id}/Function") for worker in WORKERS),
        *((CONTROLS["CT.CLOUDWATCH.PR.2"], f"{worker.construct_id}/LogGroup") for worker in WORKERS),
    }


def _acknowledged(construct: Any) -> dict[str, str]:
    return {
        rule: reason
        for entry in construct.node.metadata
        if entry.type == "aws:cdk:acknowledged-rules"
        for rule, reason in entry.data.items()
    }


def test_with_object_lock_on_the_archive_needs_no_lock_acknowledgment(
    synthesized: Synthesized, tuned: Synthesized
) -> None:
    """CT.S3.PR.9 asks for ObjectLockEnabled; with archiveObjectLockDays the bucket has it, unacknowledged."""
    finding = f"{GUARD}::{CONTROLS['CT.S3.PR.9']}"
    default_bucket = synthesized.stack.node.find_child("ProdLogArchive").node.find_child("Bucket")
    assert finding in _acknowledged(default_bucket)
    locked_bucket = tuned.stack.node.find_child("ProdLogArchive").node.find_child("Bucket")
    assert finding not in _acknowledged(locked_bucket)
    bucket = tuned.resources["ProdLogArchiveBucket17CCD0FA"]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    assert bucket["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 90}},
    }


def test_acknowledge_refuses_a_vague_reason_or_an_unchecked_pack() -> None:
    from aws_cdk import App, Stack

    stack = Stack(App(), "ProdCheck")
    with pytest.raises(ValueError, match="not from a checked pack"):
        acknowledge(stack, "PCI.DSS.321-IAMNoInlinePolicy", "a reason that is long enough to pass")
    with pytest.raises(ValueError, match=r"not in compliance\.CONTROLS"):
        acknowledge(stack, "CT.KMS.PR.3", "a reason that is long enough to pass")


def test_control_tower_runs_every_rule_about_the_stacks_resource_types(synthesized: Synthesized) -> None:
    """ControlTowerControls leaves out only the rules about types the template does not hold (they can find nothing
    there): every rule this stack acknowledges still runs, and a rule that names no type at all is kept."""
    types = {resource["Type"] for resource in synthesized.resources.values()}
    rules = guard_rule_types()
    left_out = set(rules_without(sorted(types)))
    assert len(rules) > 200 and left_out  # the bundled Control Tower rules, and some left out for this stack
    for name in left_out:
        assert rules[name] and not rules[name] & types, name
    running = {name for name in rules if name not in left_out}
    assert all(rules[name] & types for name in running)
    # The controls this stack acknowledges are among those that run (ct-lambda-pr-2 for CT.LAMBDA.PR.2, ...).
    assert {f"ct-{control[3:].lower().replace('.', '-')}" for control in CONTROLS} <= running


def test_a_rule_that_names_no_type_is_never_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "prod_serverless.compliance.guard_rule_types",
        lambda: {"any": frozenset(), "s3": frozenset({"AWS::S3::Bucket"}), "rds": frozenset({"AWS::RDS::DBInstance"})},
    )
    assert rules_without(["AWS::S3::Bucket"]) == ["rds"]
    assert rules_without([]) == ["rds", "s3"]


def test_a_failed_synth_names_the_ids_acknowledge_takes() -> None:
    """The CDK's own hint (`AwsSolutions::AwsSolutions-S1`, `cdk-validator-cfnguard::<rule>`) is an id acknowledge()
    refuses: each finding's line names the one it takes, and a control not yet in CONTROLS says where to add it."""
    construct = [{"constructPath": "ProdServerlessStack/ProdThing/Resource"}]
    report = {
        "pluginReports": [
            {
                "pluginName": "AwsSolutions",
                "violations": [{"ruleName": "AwsSolutions-S1", "violatingConstructs": construct}],
            },
            {  # the CDK's own warnings: not what stopped synth, so no hint
                "pluginName": "Construct Annotations",
                "violations": [{"ruleName": "Annotation::prod:no-alarm-recipient", "violatingConstructs": construct}],
            },
            {
                "pluginName": GUARD,
                "violations": [
                    {
                        "ruleName": CONTROLS["CT.S3.PR.2"],
                        "description": "[CT.S3.PR.2]: x",
                        "violatingConstructs": construct,
                    },
                    {"ruleName": "s3_new_check", "description": "[CT.S3.PR.1]: y", "violatingConstructs": construct},
                ],
            },
        ]
    }
    take = "ProdServerlessStack/ProdThing: fix it, or acknowledge(<that construct>, "
    assert acknowledgment_hints(report) == sorted(
        [
            f'{take}"AwsSolutions-S1", "<why, naming what bounds the risk>")',
            f'{take}"CT.S3.PR.2", "<why, naming what bounds the risk>")',
            f'{take}"CT.S3.PR.1", "<why, naming what bounds the risk>") after adding "CT.S3.PR.1": "s3_new_check" to '
            "CONTROLS in prod_serverless/compliance.py",
        ]
    )
    for hint in acknowledgment_hints(report):  # what each line names, acknowledge() takes
        rule = hint.split('"')[1]
        assert rule.startswith("CT.") or rule.split("-")[0] in PLUGINS


@pytest.mark.parametrize(
    ("reason", "accepted"),
    [
        ("A partner integration; AWS WAF in front of the API limits each client's request rate.", True),
        ("Reviewed by the team and it is acceptable for this public endpoint here.", False),
        ("short, names S3", False),
    ],
)
def test_the_reason_rule_is_what_its_refusal_says(reason: str, accepted: bool) -> None:
    assert is_specific(reason) is accepted
    assert "at least 40 characters that names something concrete" in REASON_RULE and "WAF" in REASON_RULE
