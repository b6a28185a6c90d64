"""The GitHub workflows' settings that AWS and GitHub behaviour depends on (their schemas and zizmor's audit run in
`make workflows`): credentials that outlast the job, one release per environment, reusable workflows that exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parent.parent / ".github" / "workflows"


def _workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def _steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if str(step.get("uses", "")).startswith(f"{action}@")]


def test_the_release_jobs_aws_session_outlasts_the_job() -> None:
    """configure-aws-credentials gives an OIDC session one hour by default; a release may run 90 minutes."""
    (job,) = _workflow("release.yml")["jobs"].values()
    (credentials,) = _steps_using(job, "aws-actions/configure-aws-credentials")
    assert int(credentials["with"]["role-duration-seconds"]) >= job["timeout-minutes"] * 60
    # IAM's MaxSessionDuration allows 1 to 12 hours: the setup asks the roles for this much.
    assert int(credentials["with"]["role-duration-seconds"]) <= 12 * 3600


def test_each_environment_releases_one_at_a_time_and_on_its_own() -> None:
    """A run waiting for production's approval must not hold staging: no workflow-wide group in deploy.yml, and a
    group per environment, never cancelled halfway, in release.yml."""
    assert "concurrency" not in _workflow("deploy.yml")
    (job,) = _workflow("release.yml")["jobs"].values()
    assert job["concurrency"] == {"group": "release-${{ inputs.environment }}", "cancel-in-progress": False}


def test_every_local_reusable_workflow_exists_and_staging_comes_before_production() -> None:
    jobs = _workflow("deploy.yml")["jobs"]
    called = {name: job["uses"] for name, job in jobs.items() if "uses" in job}
    # `$/` is GitHub's self-repository syntax (zizmor's self-repository audit asks for it): this repository's root.
    assert called == {
        "staging": "$/.github/workflows/release.yml",
        "production": "$/.github/workflows/release.yml",
    }
    for path in called.values():
        assert (WORKFLOWS.parent.parent / path.removeprefix("$/")).is_file(), path
    assert jobs["production"]["needs"] == "staging" and jobs["staging"]["needs"] == "test"


def test_the_setup_restricts_both_environments_to_main_and_sizes_the_roles_session() -> None:
    """The OIDC token's `sub` names the environment, not the branch: the environments' branch rule is the guard."""
    (job,) = _workflow("release.yml")["jobs"].values()
    assert job["environment"] == "${{ inputs.environment }}"
    setup = " ".join((WORKFLOWS.parent.parent / "docs" / "releases.md").read_text().split())
    assert "**Restrict both environments to `main`**" in setup
    assert "`MaxSessionDuration` of at least 6,000 s" in setup


def test_a_breaking_change_to_the_contract_fails_the_pull_request_unless_labelled() -> None:
    workflow: dict[Any, Any] = _workflow("ci.yml")
    # GitHub runs pull_request workflows for opened, synchronize and reopened unless told: a label must start one.
    assert {"labeled", "unlabeled"} <= set(workflow[True]["pull_request"]["types"])  # YAML 1.1 reads `on` as True
    job = workflow["jobs"]["contract"]
    (base,) = [step for step in _steps_using(job, "actions/checkout") if "ref" in step["with"]]
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    (check,) = [step for step in job["steps"] if "run" in step]
    assert "python3 -m tools.openapi_diff base/docs/openapi.json docs/openapi.json" in check["run"]
    assert check["env"]["ACKNOWLEDGED"] == "${{ contains(github.event.pull_request.labels.*.name, 'breaking-change') }}"


def test_the_weekly_fuzz_runs_the_contract_test_with_more_examples_and_a_bound() -> None:
    (job,) = _workflow("fuzz.yml")["jobs"].values()
    (fuzz,) = [step for step in job["steps"] if "tests/tools/test_contract.py" in step.get("run", "")]
    assert int(fuzz["env"]["CONTRACT_EXAMPLES"]) > 12 and job["timeout-minutes"] <= 30
    assert "tests/test_recipes.py" in fuzz["run"] and '-k "contract or fuzzer"' in fuzz["run"]
    assert (WORKFLOWS.parent.parent / "tests" / "tools" / "test_contract.py").is_file()
