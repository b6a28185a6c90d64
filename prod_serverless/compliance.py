"""The rule packs the app must pass, and the one way this project accepts a finding: with a reason.

cdk-nag's AwsSolutions, Serverless, NIST 800-53 R5 and HIPAA Security packs, and the AWS Control Tower
proactive controls (cfn-guard rules from cdklabs' cdk-validator-cfnguard), all run as policy-validation
plugins: synth fails on any finding that is not acknowledged next to its resource.
"""

from __future__ import annotations

import functools
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import (
    Acknowledgment,
    App,
    CfnElement,
    IPolicyValidationContextBeta1,
    IPolicyValidationPluginBeta1,
    PolicyValidationPluginReportBeta1,
    Stack,
    Validations,
)
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, ServerlessChecks
from cdklabs.cdk_validator_cfnguard import CfnGuardValidator
from cdklabs.cdk_validator_cfnguard import _jsii as guard_jsii
from constructs import IConstruct

# cdk-nag packs whose rules must hold with zero unacknowledged findings.
PACKS = ("AwsSolutions", "Serverless", "NIST.800.53.R5", "HIPAA.Security")
# The compliance-framework packs, which share rule names (e.g. "<pack>-LambdaDLQ") and so exceptions.
FRAMEWORK_PACKS = ("NIST.800.53.R5", "HIPAA.Security")
# The Control Tower plugin, and the controls this stack acknowledges somewhere, by id -> cfn-guard rule.
GUARD = "cdk-validator-cfnguard"
CONTROLS = {
    "CT.APIGATEWAY.PR.5": "api_gw_v2_authorization_type_configured_check",
    "CT.CLOUDWATCH.PR.2": "cloudwatch_log_group_retention_period_check",
    "CT.LAMBDA.PR.2": "lambda_function_public_access_prohibited_check",
    "CT.LAMBDA.PR.3": "lambda_inside_vpc_check",
    "CT.S3.PR.2": "s3_bucket_logging_enabled_check",
    "CT.S3.PR.9": "s3_bucket_object_lock_enabled_check",
    "CT.S3.PR.10": "s3_bucket_default_encryption_kms_check",
}
PLUGINS = (*PACKS, GUARD)


@dataclass(frozen=True)
class Decision:
    """A choice a reviewer would ask about that no rule flags; listed in the README beside the exceptions."""

    topic: str
    construct: str
    reason: str


DECISIONS = (
    Decision(
        "Lambda environment variables: AWS-owned key, not a CMK",
        "ProdFunction/Function",
        "They hold no secret (a label, a version, a log level); a CMK would add a KMS call to every cold start "
        "and a key grant to reason about, and protect nothing. A secret belongs in Secrets Manager, not here.",
    ),
)


def add_compliance_checks(app: App, *, control_tower: bool = True) -> None:
    """Run the rule packs and the Control Tower controls: synth fails on any unacknowledged finding."""
    Validations.of(app).add_plugins(
        AwsSolutionsChecks(app), ServerlessChecks(app), NIST80053R5Checks(app), HIPAASecurityChecks(app)
    )
    if control_tower:
        # Typed against the Beta1 plugin interface, as CfnGuardValidator is; the same shape, and jsii accepts it.
        Validations.of(app).add_plugins(ControlTowerControls())  # type: ignore[arg-type]


RESOURCE_TYPE = re.compile(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+")


@functools.cache
def guard_rule_types() -> dict[str, frozenset[str]]:
    """Each Control Tower rule's name (as `disabledRules` takes it) and the resource types its file names."""
    # The .guard files as the plugin ships them, inside its jsii bundle (the Python package's _jsii directory).
    (bundle,) = Path(guard_jsii.__file__).parent.glob("cdk-validator-cfnguard@*.jsii.tgz")
    rules: dict[str, frozenset[str]] = {}
    with tarfile.open(bundle) as archive:
        for member in archive:
            if (
                member.isfile()
                and member.name.startswith("package/rules/control-tower/")
                and member.name.endswith(".guard")
            ):
                text = archive.extractfile(member).read().decode()  # type: ignore[union-attr]
                rules[Path(member.name).stem] = frozenset(RESOURCE_TYPE.findall(text))
    return rules


def rules_without(types: Sequence[str]) -> list[str]:
    """The rules that name none of `types` (so can find nothing in templates of only those); a rule that names no
    type at all is always kept."""
    present = set(types)
    return sorted(name for name, named in guard_rule_types().items() if named and not named & present)


@jsii.implements(IPolicyValidationPluginBeta1)
class ControlTowerControls:
    """cdklabs' CfnGuardValidator with the Control Tower rules, run only on the resource types the templates hold.

    Each rule checks the resources of the types it names; one about types no template has is not applicable and can
    report nothing, so leaving it out changes no finding (the two reports were compared once, identical but for
    jsii's temporary paths; tests/infra/test_compliance.py keeps every acknowledged control among the rules that
    run) and takes a synth's Control Tower check from about 6 s to about 1 s. The report keeps the plugin's name, so the
    acknowledgments (`cdk-validator-cfnguard::<rule>`) are the same.
    """

    def __init__(self) -> None:
        self._every_rule = CfnGuardValidator()

    @property
    def name(self) -> str:
        return self._every_rule.name

    @property
    def version(self) -> str | None:
        return self._every_rule.version

    @property
    def rule_ids(self) -> list[str] | None:
        return self._every_rule.rule_ids

    def validate(self, context: IPolicyValidationContextBeta1) -> PolicyValidationPluginReportBeta1:
        types = sorted(
            {
                resource["Type"]
                for path in context.template_paths
                for resource in json.loads(Path(path).read_text()).get("Resources", {}).values()
            }
        )
        return CfnGuardValidator(disabled_rules=rules_without(types)).validate(context)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Accept `rule` on `scope` and its children, with a reason.

    `rule` is a cdk-nag finding id ("AwsSolutions-IAM5[Resource::*]") or a Control Tower control id
    ("CT.S3.PR.9"), which is mapped to the cfn-guard rule name the plugin reports.
    """
    if rule.startswith("CT."):
        if rule not in CONTROLS:
            raise ValueError(f"control {rule!r} is not in compliance.CONTROLS")
        finding = f"{GUARD}::{CONTROLS[rule]}"
    else:
        pack = rule.split("-", 1)[0]
        if pack not in PACKS:
            raise ValueError(f"rule {rule!r} is not from a checked pack ({', '.join(PACKS)})")
        finding = f"{pack}::{rule}"
    if not is_specific(reason):
        raise ValueError(
            f"acknowledgment of {rule} on {scope.node.path} needs a specific reason: it {REASON_RULE}; got {reason!r}"
        )
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledgment_hints(report: Mapping[str, Any]) -> list[str]:
    """For each finding of a failed synth, the `acknowledge()` call this project takes (the CDK's own hint names an
    id, `Pack::rule` or `cdk-validator-cfnguard::rule`, that acknowledge() refuses): fix the finding, or add it."""
    by_rule = {rule: control for control, rule in CONTROLS.items()}
    hints = []
    for plugin in report.get("pluginReports", []):
        if plugin["pluginName"] not in PLUGINS:  # the CDK's own annotations: warnings, not what stopped synth
            continue
        for finding in plugin.get("violations", []):
            rule = finding["ruleName"]
            if plugin["pluginName"] == GUARD:
                named = re.match(r"\[(CT\.[A-Z0-9]+\.PR\.\d+)\]", finding.get("description", ""))
                rule = by_rule.get(rule) or (named[1] if named else rule)
            for construct in finding.get("violatingConstructs", []):
                path = construct["constructPath"].removesuffix("/Resource")
                hint = (
                    f'{path}: fix it, or acknowledge(<that construct>, "{rule}", "<why, naming what bounds the risk>")'
                )
                if rule.startswith("CT.") and rule not in CONTROLS:
                    hint += (
                        f' after adding "{rule}": "{finding["ruleName"]}" to CONTROLS in prod_serverless/compliance.py'
                    )
                hints.append(hint)
    return sorted(set(hints))


# Words that stand in for a reason rather than give one.
VAGUE = ("accepted risk", "acceptable", "not needed", "not required", "by design", "as intended", "false positive",
         "reviewed", "approved", "n/a", "todo", "for now", "ignore", "not applicable", "not relevant")  # fmt: skip
# A reason names what it is about: a service, a resource, a setting, a number.
CONCRETE = re.compile(
    r"\b(S3|Lambda|KMS|Firehose|CloudWatch|API Gateway|Athena|X-Ray|CodeDeploy|IAM|VPC|DLQ|SNS|ENIs?|NAT|CRR|WAF|"
    r"Cognito|Shield|CloudFront|authorizer|stage|Object Lock|SSE-\w+|bucket|key|role|alias|versions?|wildcard|quota|"
    r"prefix|throttling|rate limit|\w*[a-z][A-Z]\w*|\d+)\b"
)
# The rule is_specific applies, as its refusals state it.
REASON_RULE = (
    "must give a reason of at least 40 characters that names something concrete (a service such as API Gateway, "
    "WAF or Cognito; a resource such as a bucket, key, role or stage; a setting such as throttleRateLimit; or a "
    "number) and uses no stand-in words such as 'by design', 'accepted risk' or 'reviewed'"
)


def is_specific(reason: str) -> bool:
    """At least 40 characters, naming something concrete, and none of the words that replace a reason."""
    text = reason.strip()
    return len(text) >= 40 and bool(CONCRETE.search(text)) and not any(word in text.lower() for word in VAGUE)


def arn_token(scope: IConstruct) -> str:
    """How cdk-nag names `scope`'s ARN inside a finding id: `<LogicalId.Arn>`."""
    element = scope.node.default_child
    if not isinstance(element, CfnElement):
        raise TypeError(f"{scope.node.path} has no CloudFormation resource")
    return f"<{Stack.of(scope).get_logical_id(element)}.Arn>"
