"""make workflows' schema checks: every workflow and Dependabot's file against its schema, in one process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from prod_serverless.schemas import IRI_FORMATS
from tests.schema_formats import formats_named
from tools import workflow_schemas


def _copy(tmp_path: Path) -> Path:
    shutil.copytree(workflow_schemas.ROOT / ".github", tmp_path / ".github")
    return tmp_path


def test_the_repositorys_files_pass_both_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert workflow_schemas.main() == 0
    assert capsys.readouterr().out.count("ok -- validation done") == len(workflow_schemas.CHECKS)


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("workflows/ci.yml", "on: push\njobs: 3\n", "$.jobs: 3 is not of type 'object'"),
        ("dependabot.yml", "version: 2\nupdates: nope\n", "$.updates: 'nope' is not of type 'array'"),
    ],
)
def test_a_file_that_breaks_its_schema_fails_and_the_other_schema_still_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, text: str, error: str
) -> None:
    root = _copy(tmp_path)
    (root / ".github" / name).write_text(text)
    assert workflow_schemas.main(root) == 1
    out = capsys.readouterr().out
    assert error in out
    assert out.count("ok -- validation done") == 1  # the other schema's files, still checked


def test_no_file_for_a_schema_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _copy(tmp_path)
    (root / ".github" / "dependabot.yml").unlink()
    assert workflow_schemas.main(root) == 1
    assert capsys.readouterr().err == "make workflows: no file matches .github/dependabot.yml\n"


def test_no_schema_checked_names_an_iri_format_so_the_iri_grammar_is_never_needed() -> None:
    """python -m tools.workflow_schemas runs without jsonschema's IRI checker: it must have nothing to check."""
    from importlib.resources import files

    from jsonschema.validators import validator_for  # type: ignore[import-untyped]

    named: set[str] = set()
    for schema_name, _ in workflow_schemas.CHECKS:
        vendored = files("check_jsonschema.builtin_schemas.vendor") / f"{schema_name.removeprefix('vendor.')}.json"
        schema = json.loads(vendored.read_text())
        named |= {*formats_named(schema), *formats_named(validator_for(schema).META_SCHEMA)}
    assert "uri-reference" in named  # the walk finds formats where they are
    assert named & IRI_FORMATS == set()
