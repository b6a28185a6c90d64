"""Shared fixtures: one synth of the real app per test session, sample events, a fake Lambda context."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
# jsii must run on the venv's Node 24, whatever PATH pytest was started with.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


@dataclass(frozen=True)
class Synthesized:
    """A synthesized app: the stack template, the validation report, and the stack construct itself."""

    template: dict[str, Any]
    report: dict[str, Any]
    stack: Any

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: body for name, body in self.resources.items() if body["Type"] == kind}

    @property
    def warnings(self) -> list[str]:
        """The rule names of the construct annotations (warnings) synth reported, e.g. "Annotation::prod:…"."""
        return [
            violation["ruleName"]
            for report in self.report["pluginReports"]
            if report["pluginName"] == "Construct Annotations"
            for violation in report["violations"]
        ]

    def one(self, kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
        found = {name: body for name, body in self.of_type(kind).items() if name.startswith(prefix)}
        assert len(found) == 1, f"expected one {kind} starting with {prefix!r}, found {sorted(found)}"
        return next(iter(found.items()))


def synthesize(
    outdir: Path, extra_context: Mapping[str, Any] | None = None, *, control_tower: bool = True
) -> Synthesized:
    """Build and synthesize the real app (rule packs included) with cdk.json's context plus `extra_context`."""
    from main import STACK_NAME, build_app

    app = build_app(extra_context, outdir=str(outdir), control_tower=control_tower)
    assembly = app.synth()
    template = assembly.get_stack_by_name(STACK_NAME).template
    report = json.loads((outdir / "validation-report.json").read_text())
    return Synthesized(template=template, report=report, stack=app.node.find_child(STACK_NAME))


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app exactly as `make synth` builds it, synthesized once per session."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


# Every setting away from its default at once, so one more synth covers every configurable branch.
TUNED = {
    "logRetentionDays": "90",
    "api5xxThreshold": "3",
    "api4xxRatePercent": "10",
    "apiLatencyP99Ms": "500",
    "functionThrottlesThreshold": "2",
    "firehoseFreshnessSeconds": "1200",
    "alarmEmail": "ops@example.com",
    "archiveObjectLockDays": "90",
    "deploymentStrategy": "linear10percentevery1minute",
    "provisionedConcurrency": "2",
    "reservedConcurrency": "5",
}


@pytest.fixture(scope="session")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app with every setting in TUNED, once per session: cdk-nag packs, not the Control Tower rules (slow)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.tuned"), TUNED, control_tower=False)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Any:
    """`aws_cdk.assertions.Template` over the session's stack template."""
    from aws_cdk.assertions import Template

    return Template.from_json(synthesized.template)


@dataclass
class FakeContext:
    """The attributes of a Lambda context object the handler reads."""

    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    function_name: str = "ProdServerlessStack-ProdFunction"
    memory_limit_in_mb: int = 128


@pytest.fixture
def lambda_context() -> FakeContext:
    return FakeContext()


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return event
