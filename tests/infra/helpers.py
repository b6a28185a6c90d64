"""Building one construct alone in a bare stack, for tests that check a construct's own resources."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import App, Stack
from aws_cdk.assertions import Template

from prod_serverless.settings import Settings, cdk_json_context

# The configuration the session's synth used (cdk.json): tests read the Region from it, never a literal.
SETTINGS = Settings.from_context(cdk_json_context())
REGION = SETTINGS.region


def template_of(build: Callable[[Stack], Any]) -> Template:
    """Synthesize a bare stack in the configured Region holding whatever `build` adds to it."""
    app = App(context=cdk_json_context())
    stack = Stack(app, "ProdTestStack", env={"region": REGION})
    build(stack)
    return Template.from_stack(stack)


def statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every IAM identity-policy statement with the logical ID of the policy or role holding it."""
    found = []
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            found += [(logical_id, s) for s in properties["PolicyDocument"]["Statement"]]
        if resource["Type"] == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found += [(logical_id, s) for s in policy["PolicyDocument"]["Statement"]]
    return found


# Kept on every update and delete; deleted only when the operation that created it rolls back.
KEPT = {"DeletionPolicy": "RetainExceptOnCreate", "UpdateReplacePolicy": "Retain"}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
