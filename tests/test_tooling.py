"""The tooling stays honest: mypy follows every aws_cdk module the project imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("main.py", "prod_serverless", "service", "pre_traffic_hook", "tools", "tests")


def _project_files() -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def test_mypy_follows_every_aws_cdk_module_the_project_imports() -> None:
    imported: set[str] = set()
    for path in _project_files():
        text = path.read_text()
        imported |= {f"aws_cdk.{name}" for name in re.findall(r"^from aws_cdk import (\w+) as", text, re.MULTILINE)}
        imported |= set(re.findall(r"^from (aws_cdk(?:\.\w+)?|cdk_nag|cdklabs[\w.]*) import", text, re.MULTILINE))
    overrides = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["overrides"]
    followed = {
        module for override in overrides if override.get("follow_imports") == "normal" for module in override["module"]
    }
    assert imported - followed == set(), "add these to the follow_imports = 'normal' list in pyproject.toml"


@pytest.mark.parametrize("python", [sys.executable, "/usr/bin/python3"])
def test_main_py_run_by_hand_says_what_to_run_in_one_line(python: str) -> None:
    """With the venv's Python or a system one without the CDK: one line, no traceback, no Node banner."""
    if not Path(python).exists():
        pytest.skip(f"{python} is not on this machine")
    env = {key: value for key, value in os.environ.items() if key != "CDK_OUTDIR"}
    done = subprocess.run([python, "main.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "main.py is run by the CDK CLI: use `make synth` (or `make deploy`), which installs and sets up all\n"
    )
