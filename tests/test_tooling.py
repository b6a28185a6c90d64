"""The tooling stays honest: mypy follows every aws_cdk module the project imports."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import NAMES_A_SYNTH, background_result, broken_copy

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("main.py", "prod_serverless", "service", "pre_traffic_hook", "workers", "tools", "tests")


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


def test_make_refuses_a_setting_given_as_a_make_variable_in_one_line() -> None:
    """`make synth functionMemoryMb=512` would otherwise be ignored without a word: a setting goes in CONTEXT."""
    # As a person types it: not inside make test's own make (its MAKEFLAGS would carry -j2 and its variables).
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    done = subprocess.run(
        ["make", "-n", "synth", "functionMemoryMb=512"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    listed = re.search(r"^MAKE_VARIABLES := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert listed
    (line,) = done.stderr.splitlines()
    assert re.fullmatch(r"Makefile:\d+: \*\*\* (.+)\.  Stop\.", line)
    assert line.split("*** ", 1)[1] == (
        f"functionMemoryMb is not a variable of this Makefile ({listed[1]}); a "
        'setting goes in CONTEXT: make synth CONTEXT="functionMemoryMb=512".  Stop.'
    )
    allowed = subprocess.run(
        ["make", "-n", "help", "PORT=8080"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=30
    )
    assert allowed.returncode == 0, allowed.stderr


@pytest.mark.background("shell-context-pytest")
def test_a_context_in_the_callers_shell_changes_no_test() -> None:
    """A malformed CONTEXT left exported (here a domain without its certificate) would stop every tool the tests
    run; the suite ignores it and says so in its header (run in the background: tests/conftest.py)."""
    done = background_result("shell-context-pytest")
    assert done.returncode == 0, done.stdout[-2000:]
    assert (
        "CONTEXT='customDomainName=api.example.com' from the shell is ignored: the tests set their own configuration"
        in done.stdout
    )


@pytest.fixture(scope="module")
def broken() -> Path:
    return broken_copy()


MALFORMED = (
    "Route table error (service/routes.py): route GET '/items/': path must start with '/' and not end with one, "
    "e.g. /items/{id}\n"
)


@pytest.mark.background("broken-routes-synth")
def test_a_malformed_route_row_stops_synth_in_one_line() -> None:
    done = background_result("broken-routes-synth")  # python main.py over the broken copy (tests/conftest.py)
    assert (done.returncode, done.stderr) == (1, MALFORMED)


@pytest.mark.parametrize("tool", ["tools.smoke", "tools.verify", "tools.local_server"])
def test_a_malformed_route_row_stops_every_tool_in_one_line(broken: Path, tool: str) -> None:
    done = subprocess.run([sys.executable, "-m", tool], cwd=broken, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (1, MALFORMED)


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("def test_x(template: Any) -> None:", True),
        ("def test_x(\n    tmp_path: Path, synthesized: Synthesized\n) -> None:", True),
        ('@pytest.mark.usefixtures("server")', True),
        ("@pytest.mark.jsii", True),
        ("# the template, as synthesized, serves a broken route", False),
        ("def test_x(template_path: Path) -> None:", False),
        ("def test_x(tmp_path: Path) -> None:  # jsii", False),
    ],
)
def test_make_tests_jsii_process_skips_only_modules_that_ask_for_no_synth(text: str, asks: bool) -> None:
    """tests/conftest.py: a module asks for a synth fixture or the marker, or the jsii process never imports it."""
    assert bool(NAMES_A_SYNTH.search(text)) is asks
