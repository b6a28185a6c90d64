"""cfn-lint over the synthesized template: zero errors, zero warnings.

Informational hints are not checked: the only ones are I1022 (prefer Fn::Sub to Fn::Join), about how the CDK
itself renders ARNs.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import Synthesized, background_result


@pytest.mark.background("cfn-lint")
def test_template_has_no_cfn_lint_findings(synthesized: Synthesized) -> None:
    result = background_result("cfn-lint")  # started on the session's template as soon as it was synthesized
    findings = json.loads(result.stdout or "null")
    assert findings == [], result.stderr or json.dumps(findings, indent=1)[:4000]
