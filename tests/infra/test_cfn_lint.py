"""cfn-lint over the synthesized template: zero errors, zero warnings, informational findings included."""

from __future__ import annotations

import json

from tests.conftest import Synthesized


def test_template_has_no_cfn_lint_findings(synthesized: Synthesized) -> None:
    from cfnlint.api import ManualArgs, lint

    findings = lint(json.dumps(synthesized.template), config=ManualArgs(regions=["us-east-1"]))
    assert [str(finding) for finding in findings] == []
