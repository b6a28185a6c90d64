"""Shared fixtures: one synth of the real app per test session, sample events, a fake Lambda context."""

from __future__ import annotations

import atexit
import functools
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# The suite builds its own configurations: a CONTEXT exported in the caller's shell (for make deploy, say) must not
# change what the tests see, nor what the tools they run read (tools.aws, tools.verify read it through `configured`).
IGNORED_CONTEXT = os.environ.pop("CONTEXT", None)

ROOT = Path(__file__).resolve().parent.parent
EVENTS = Path(__file__).resolve().parent / "events"
BIN = Path(sys.executable).parent
# jsii must run on the venv's Node 24, whatever PATH pytest was started with.
os.environ["PATH"] = f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"

# Checks that run in a process of their own start as early as they can, and the tests that read their result
# (marked `background("name")`) run last: the second core works on them while the rest of the suite runs.
BACKGROUND: dict[str, subprocess.Popen[str]] = {}
BAD_CONTEXT = '{"alarmEmail": "nope", "alarmEmal": "ops@example.com"}'


def pytest_configure(config: pytest.Config) -> None:
    # The young generation collected every 50,000 allocations, not 700: the suite allocates millions of short-lived
    # objects (botocore models, jsii messages, Hypothesis' examples) and spent 4 to 7 s of CPU in the collector.
    gc.set_threshold(50_000, 20, 100)
    # At exit, after pytest's end-of-session collection has reported any unraisable exception, the interpreter's own
    # final collection would walk the whole heap again (1.3 to 1.5 s) only to free memory the process gives back.
    atexit.register(gc.freeze)


def pytest_report_header() -> str | None:
    if IGNORED_CONTEXT:
        return f"CONTEXT={IGNORED_CONTEXT!r} from the shell is ignored: the tests set their own configuration"
    return None


def start_background(name: str, args: list[str], env: Mapping[str, str] | None = None, cwd: Path = ROOT) -> None:
    BACKGROUND[name] = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def background_result(name: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """The finished process `name` (started by a fixture or at collection), its output captured."""
    process = BACKGROUND.pop(name)
    out, err = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


SCRATCH: list[Path] = []  # directories the background processes write to: removed when the session ends


def scratch(prefix: str) -> Path:
    """A scratch directory that outlives the fixtures (a background process writes to it), removed at session end."""
    SCRATCH.append(Path(tempfile.mkdtemp(prefix=prefix)))
    return SCRATCH[-1]


def pytest_sessionfinish(session: pytest.Session) -> None:
    for process in BACKGROUND.values():  # started at collection, never read (a -k selection left their tests out)
        process.kill()
        process.communicate()
    for directory in SCRATCH:
        shutil.rmtree(directory, ignore_errors=True)


def _bad_context_synth() -> None:
    """`python main.py` as the CLI runs it, with a bad value and a typo in the context."""
    env = {"PATH": str(BIN), "CDK_OUTDIR": str(scratch("bad-context-")), "CDK_CONTEXT_JSON": BAD_CONTEXT}
    start_background("bad-context-synth", [sys.executable, "main.py"], env)


def broken_copy() -> Path:
    """The project's code in a scratch directory with a malformed route row (a path that ends in '/'), as a team
    might write one."""
    copy = scratch("broken-routes-")
    for name in ("main.py", "cdk.json"):
        (copy / name).write_bytes((ROOT / name).read_bytes())
    for package in ("prod_serverless", "service", "pre_traffic_hook", "workers", "tools"):
        shutil.copytree(ROOT / package, copy / package, ignore=shutil.ignore_patterns("__pycache__"))
    routes = copy / "service" / "routes.py"
    routes.write_text(routes.read_text().replace('"/",', '"/items/",', 1))
    return copy


def _broken_routes_synth() -> None:
    """`python main.py`, as the CDK CLI runs it, over a route table with a malformed row."""
    copy = broken_copy()
    env = {**os.environ, "CDK_OUTDIR": str(copy / "cdk.out")}
    start_background("broken-routes-synth", [sys.executable, "main.py"], env, cwd=copy)


def _shell_context_pytest() -> None:
    """One test that reads the settings, run by pytest with a malformed CONTEXT exported (-v: the header shows)."""
    env = {**os.environ, "CONTEXT": "customDomainName=api.example.com"}
    test = "tests/tools/test_smoke.py::test_a_missing_profile_is_one_line"
    start_background(
        "shell-context-pytest", [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", test], env
    )


STARTED_AT_COLLECTION: dict[str, Callable[[], None]] = {
    "bad-context-synth": _bad_context_synth,
    "broken-routes-synth": _broken_routes_synth,
    "shell-context-pytest": _shell_context_pytest,
}


# Fixtures that synthesize the app: a test that uses one, or any test of a construct (tests/infra/, which judge
# templates through the CDK) but the settings' and the bundler's, is marked `synth`; make mutate leaves those out.
SYNTH_FIXTURES = {"synthesized", "tuned", "extended", "template_file", "template", "local_api", "server",
                  "broken"}  # and `broken`: it copies the project's files, which make mutate has replaced  # fmt: skip


def _constructs_module(path: Path) -> bool:
    """A module of construct tests: tests/infra/ but the settings', the bundler's and the schemas'."""
    return path.parent.name == "infra" and path.name not in ("test_settings.py", "test_bundle.py", "test_schemas.py")


_SYNTHS = "|".join(sorted(SYNTH_FIXTURES))
# A synth fixture asked for as a parameter (`template: Any`) or by name (`usefixtures("server")`), or the marker.
NAMES_A_SYNTH = re.compile(rf"[(,]\s*(?:{_SYNTHS})\s*:|[\"'](?:{_SYNTHS})[\"']|\bmark\.jsii\b")


@functools.cache
def _may_build_constructs(path: Path) -> bool:
    """Whether a module can hold a test that builds constructs: a construct module, or one that asks for a synth
    fixture or carries the jsii marker. make test's jsii process collects no other module (half a second of
    imports); pytest_collection_modifyitems stops the run if a test uses a synth its module does not ask for."""
    return _constructs_module(path) or bool(NAMES_A_SYNTH.search(path.read_text()))


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """make test's two processes (-m jsii, -m "not jsii") skip importing the modules with none of their tests."""
    if collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    half = config.getoption("markexpr")
    if half == "jsii" and not _may_build_constructs(collection_path):
        return True
    if half == "not jsii" and _constructs_module(collection_path):
        return True
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        synths = sorted(SYNTH_FIXTURES & set(getattr(item, "fixturenames", ())))
        builds = _constructs_module(path) or bool(synths)  # a test of a construct module, or one using a synth
        if builds and not _may_build_constructs(path):
            # Its module names no synth fixture: make test's jsii process would skip it, and it would run nowhere.
            raise pytest.UsageError(
                f"{item.nodeid} uses {', '.join(synths)} through a fixture its module does not name: add that "
                "fixture to SYNTH_FIXTURES in tests/conftest.py"
            )
        if builds:
            item.add_marker(pytest.mark.jsii)  # make test's first process: the one Node runtime, warmed once
        if builds or path.name == "test_recipes.py":
            item.add_marker(pytest.mark.synth)
    items.sort(key=lambda item: item.get_closest_marker("background") is not None)  # stable: others keep order


def pytest_collection_finish(session: pytest.Session) -> None:
    wanted = {marker.args[0] for item in session.items for marker in item.iter_markers("background")}
    for name in wanted & set(STARTED_AT_COLLECTION):
        STARTED_AT_COLLECTION[name]()


@dataclass(frozen=True)
class Synthesized:
    """A synthesized app: the stack template, the validation report, and the stack construct itself."""

    template: dict[str, Any]
    report: dict[str, Any]
    stack: Any
    outdir: Path  # the cloud assembly: manifest.json, the assets

    @property
    def template_file(self) -> Path:
        """The stack's template in the cloud assembly: named by the stage's stack, as `make synth` writes it."""
        return self.outdir / f"{self.stack.stack_name}.template.json"

    @classmethod
    def of(cls, app: Any, outdir: Path) -> Synthesized:
        """`app` synthesized into `outdir`: the stack of the stage its context names (production's by default)."""
        from prod_serverless.settings import Settings

        assembly = app.synth()
        name = Settings.from_context(app.node.get_all_context()).names.stack
        report = json.loads((outdir / "validation-report.json").read_text())
        return cls(assembly.get_stack_by_name(name).template, report, app.node.find_child(name), outdir)

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
    """Build and synthesize the real app (rule packs included) with cdk.json's context plus `extra_context`.

    Production's stage unless `extra_context` names another: the suite proves production's guarantees (what it keeps,
    the names it always had) whatever stage a team's cdk.json sets; tests/infra/test_stages.py proves a stage's."""
    from main import build_app
    from prod_serverless.names import PRODUCTION

    context = {"stage": PRODUCTION, **(extra_context or {})}
    return Synthesized.of(build_app(context, outdir=str(outdir), control_tower=control_tower), outdir)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The app exactly as `make synth` builds it, synthesized once per session; cfn-lint starts on it at once."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    synthesized = synthesize(outdir)
    lint = [str(BIN / "cfn-lint"), "--regions", "us-east-1", "--format", "json", "--"]
    start_background("cfn-lint", [*lint, str(synthesized.template_file)])
    return synthesized


# Every setting away from its default at once, so one more synth covers every configurable branch.
TUNED = {
    "region": "eu-west-1",
    "functionMemoryMb": "256",
    "functionTimeoutSeconds": "20",
    "releaseIgnoreAlarms": "true",
    "logRetentionDays": "90",
    "api5xxThreshold": "3",
    "api4xxRatePercent": "10",
    "api4xxMinRequests": "20",
    "verifierRoleName": "pipeline-deploy@staging",
    "apiLatencyP99Ms": "500",
    "functionThrottlesThreshold": "2",
    "firehoseFreshnessSeconds": "1200",
    "alarmEmail": "ops@example.com",
    "archiveObjectLockDays": "90",
    "deploymentStrategy": "linear10percentevery1minute",
    "provisionedConcurrency": "2",
    "reservedConcurrency": "5",
    "logLevel": "DEBUG",
    "systemLogLevel": "INFO",
    "accessLogFormat": "full",
    "tracing": "Active",
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


@pytest.fixture(autouse=True, scope="session")
def _one_botocore_loader() -> None:
    """Every botocore session of the suite shares one loader, as boto3's clients share their default session's:
    each new session would read the services' JSON models from disk again, and the suite makes hundreds."""
    import botocore.session

    botocore.session.create_loader = functools.cache(botocore.session.create_loader)


@pytest.fixture(autouse=True, scope="session")
def _development_issuer_key(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The development issuer's key of every test in a temporary directory, never the project's `.local/`."""
    from tools import local_auth

    local_auth.KEY_FILE = tmp_path_factory.mktemp("dev-issuer") / "key.pem"


_SEEN: set[str] = set()  # every module name _service_modules has looked at
_SERVICE_NAMES: set[str] = set()  # those of the service's modules


def _service_modules() -> dict[str, Any]:
    """The service's modules now imported. Run twice per test: only the names new since the last call are read
    (a set difference, in C), not all of sys.modules' thousands."""
    new = sys.modules.keys() - _SEEN
    _SEEN.update(new)
    _SERVICE_NAMES.update(name for name in new if name == "service" or name.startswith("service."))
    return {name: sys.modules[name] for name in _SERVICE_NAMES if name in sys.modules}


@pytest.fixture(scope="session")
def _service_as_collected() -> dict[str, Any]:
    """The service's modules as the test modules imported them, before any fixture imported them afresh."""
    return _service_modules()


@pytest.fixture(autouse=True)
def _service_modules_as_imported(_service_as_collected: dict[str, Any]) -> Iterator[None]:
    """The tools import the service afresh, as a cold start would (tools/local_server.load_handler); each test then
    gets back the modules the tests imported, so a class such as HttpError stays the one their handler catches
    (whatever a module-scoped server, set up before this fixture, imported)."""
    sys.modules.update(_service_as_collected)
    saved = _service_modules()
    yield
    for name in set(_service_modules()) - set(saved):
        del sys.modules[name]
    sys.modules.update(saved)
