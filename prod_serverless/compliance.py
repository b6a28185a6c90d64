"""cdk-nag rule packs for the app, and the one way this project acknowledges a finding: with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, CfnElement, Stack, Validations
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks
from constructs import IConstruct

# Packs whose rules must hold with zero unacknowledged findings.
PACKS = ("AwsSolutions", "Serverless", "NIST.800.53.R5", "HIPAA.Security")
# The compliance-framework packs, which share rule names (e.g. "<pack>-LambdaDLQ") and so exceptions.
FRAMEWORK_PACKS = ("NIST.800.53.R5", "HIPAA.Security")


def add_compliance_checks(app: App) -> None:
    """Run the rule packs as policy-validation plugins: synth fails on any unacknowledged finding."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), NIST80053R5Checks(app), HIPAASecurityChecks(app)
    )


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept `rule` (e.g. "AwsSolutions-IAM5[Resource::*]") on `scope` and its children, with a reason."""
    pack = rule.split("-", 1)[0]
    if pack not in PACKS:
        raise ValueError(f"rule {rule!r} is not from a checked pack ({', '.join(PACKS)})")
    if len(reason.strip()) < 20:
        raise ValueError(f"acknowledgment of {rule} on {scope.node.path} needs a specific reason")
    Validations.of(scope).acknowledge(Acknowledgment(id=f"{pack}::{rule}", reason=reason))


def arn_token(scope: IConstruct) -> str:
    """How cdk-nag names `scope`'s ARN inside a finding id: `<LogicalId.Arn>`."""
    element = scope.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource")
    return f"<{Stack.of(scope).get_logical_id(element)}.Arn>"
