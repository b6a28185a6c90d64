"""`make bench`: the handler's cold import, memory and warm latency beside the boto3 + S3-per-request
baseline, and the local server under a bounded load.

Absolute timings move with the machine and its load, so the verdict is the ratio to the baseline measured in
the same run, on the same machine, at the same moment (RATIO_TARGETS); `make bench` exits 1 when a ratio is
missed. The absolute figures (ABSOLUTE_REFERENCE) are printed beside, with where they come from.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CANDIDATES = {
    "handler (this stack)": (ROOT / "service", "handler"),
    "baseline (boto3 + S3)": (ROOT / "tools", "baseline_handler"),
}
# baseline / handler, measured in the same run: the verdict.
RATIO_TARGETS = {"cold_import_ms": 10.0, "rss_mb": 3.0, "warm_p50_us": 10.0}
# The figures this project's handler was first held to, on its 2-core build machine (README, "Run it locally"):
# a reference for your machine, not a verdict.
ABSOLUTE_REFERENCE = {"cold_import_ms": 10.0, "rss_mb": 16.0, "warm_p50_us": 20.0}
METRICS = ("cold_import_ms", "rss_mb", "warm_p50_us", "warm_p99_us")
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}
# Where the caller's interpreter keeps bytecode: a measured import has Lambda's default, .pyc beside the source.
BYTECODE_SETTINGS = {**NO_BYTECODE, "PYTHONPYCACHEPREFIX": ""}
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "AKIDBENCH", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
_PROBE = """
import json, sys, time
sys.path.insert(0, {path!r})
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({{"import_ms": elapsed * 1000, "rss_mb": rss_kb / 1024}}))
"""


def cold_import(path: Path, module: str, runs: int, *, cwd: Path | None = None) -> dict[str, float]:
    """Median import time and memory (RSS) after import, each in a fresh interpreter."""
    results = []
    for _ in range(runs):
        output = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [sys.executable, "-c", _PROBE.format(path=str(path), module=module)],
            env={**_without(os.environ, BYTECODE_SETTINGS), **FAKE_AWS, **({} if cwd is None else NO_BYTECODE)},
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results.append(json.loads(output))
    return {
        "cold_import_ms": statistics.median(r["import_ms"] for r in results),
        "rss_mb": statistics.median(r["rss_mb"] for r in results),
    }


@contextmanager
def without_bytecode(tree: Path) -> Iterator[Path]:
    """A copy of `tree` (a package directory or a module file) without its bytecode, in a scratch directory that
    cold_import(..., cwd=it) imports from writing none: as Lambda runs code shipped without .pyc (its code
    directory is read-only), each of its modules compiled at every cold start; the standard library keeps its own."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / tree.name
        if tree.is_dir():
            shutil.copytree(tree, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copyfile(tree, copy)
        yield Path(scratch)


def _without(environment: Mapping[str, str], names: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environment.items() if name not in names}


def declared_modules(lock: Path) -> dict[str, str]:
    """The top-level modules of the function's pinned packages (installed in .venv by make deps), each with its
    distribution and version: what a route imports."""
    from importlib import metadata

    from prod_serverless.bundle import pins

    pinned = pins(lock)
    found: dict[str, str] = {}
    for module, distributions in metadata.packages_distributions().items():
        for distribution in distributions:
            version = pinned.get(distribution.lower().replace("_", "-")) or pinned.get(distribution.lower())
            if version and not module.startswith("_") and module.isidentifier():
                found[module] = f"{distribution} {version}"
    return dict(sorted(found.items()))


def dependency_lines(lock: Path, runs: int) -> list[str]:
    """One line per declared dependency: its cold import with bytecode and as shipped (source only)."""
    from prod_serverless.bundle import shown

    modules = declared_modules(lock)
    if not modules:
        return [
            f"declared dependencies: none ({shown(lock)} pins nothing): the handler's import is the whole cold start"
        ]
    lines = [f"declared dependencies ({shown(lock)}), each imported alone as a route imports it:"]
    for module, distribution in modules.items():
        with_bytecode = cold_import(ROOT, module, runs)
        found = importlib.util.find_spec(module)
        origin = Path(found.origin) if found and found.origin else None
        tree = origin.parent if origin and origin.name == "__init__.py" else origin
        if tree is None:
            continue
        with without_bytecode(tree) as scratch:
            shipped = cold_import(scratch, module, runs, cwd=scratch)
        lines.append(
            f"  {distribution} (import {module}): {with_bytecode['cold_import_ms']:.1f} ms with .pyc, "
            f"{shipped['cold_import_ms']:.1f} ms as shipped (no .pyc), RSS {with_bytecode['rss_mb']:.1f} MB"
        )
    return lines


def validation_lines(routes: Sequence[Any], runs: int, calls: int = 2000) -> list[str]:
    """What request validation costs each route that declares a schema: compiling service/validation.py and the
    route's generated validators once per execution environment (shipped without .pyc), then each request."""
    from prod_serverless.schemas import generated
    from service import validation
    from service.routing import Request
    from service.validators import MODULES

    declared = [route for route in routes if route.validates]
    if not declared:
        return ["request validation: no route declares a schema, so none imports or runs it"]
    files = generated(declared)  # what make docs writes to service/validators/ (synth refuses anything else)
    lines = []
    for route in declared:
        names = [f"{name}.py" for key, name in MODULES.items() if key.startswith(route.key + " ")]
        sources = [(ROOT / "service" / "validation.py").read_text(), *(files[name] for name in names)]
        compiled = []
        for _ in range(runs):
            started = time.perf_counter()
            for source in sources:
                exec(compile(source, "validator", "exec"), {"__name__": "bench"})  # noqa: S102 - our own code
            compiled.append((time.perf_counter() - started) * 1000)
        sample = route.check()
        query = dict(pair.split("=", 1) for pair in sample["query"].split("&") if "=" in pair)
        parameters = route.match(sample["path"]) or {}

        def validate(
            route: Any = route, sample: dict[str, Any] = sample, query: Any = query, found: Any = parameters
        ) -> None:
            request = Request(method=route.method, path=sample["path"], body=sample["body"], query=query)
            request.path_parameters = found  # a request as the handler has it: decoded and checked afresh
            validation.validate(route, request)

        per_request = min(timeit.repeat(validate, number=calls, repeat=3)) / calls * 1e6
        lines.append(
            f"request validation of {route.key}: {statistics.median(compiled):.2f} ms to compile its validator "
            f"(once per execution environment, at its first request), {per_request:.1f} µs per request (its sample)"
        )
    return lines


def _percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1000, ordered[int(len(ordered) * 0.99)] / 1000


def warm_latency(handler: Callable[[Any, Any], Any], event: dict[str, Any], calls: int) -> dict[str, float]:
    """p50/p99 of one invocation, in µs, with the log line written in Lambda's JSON format."""
    from tools.events import LambdaContext

    context = LambdaContext()
    for _ in range(min(200, calls)):
        handler(event, context)
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        handler(event, context)
        samples.append(time.perf_counter_ns() - started)
    p50, p99 = _percentiles(samples)
    return {"warm_p50_us": p50, "warm_p99_us": p99}


@contextmanager
def _stub_network() -> Iterator[None]:
    """Every botocore HTTP call answers 200 at once: the baseline pays only its own work. Undone on exit."""
    from botocore.awsrequest import AWSResponse
    from botocore.httpsession import URLLib3Session

    class _Raw:
        def stream(self, **_: Any) -> Any:
            yield b""

    def send(self: Any, request: Any) -> AWSResponse:
        return AWSResponse(request.url, 200, {"ETag": '"bench"'}, _Raw())

    real = URLLib3Session.send
    URLLib3Session.send = send
    try:
        yield
    finally:
        URLLib3Session.send = real


def server_load(template: Path, clients: int, requests_per_client: int) -> dict[str, float]:
    """Throughput and latency of the local server: `clients` keep-alive connections in parallel."""
    from service.handler import handler
    from tools.local_server import serve

    server = serve(0, template, handler)
    server.access_log = open(os.devnull, "w")  # noqa: SIM115 - closed with the server below
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    latencies: list[int] = []
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection(str(host), port, timeout=10)
        mine = []
        for _ in range(requests_per_client):
            started = time.perf_counter_ns()
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter_ns() - started)
            if response.status != 200:
                raise RuntimeError(f"local server answered {response.status}")
        connection.close()
        with lock:
            latencies.extend(mine)

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    server.shutdown()
    server.server_close()
    server.access_log.close()
    p50, p99 = _percentiles(latencies)
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": p50 / 1000, "p99_ms": p99 / 1000}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--template", type=Path, help="default: the configured stage's (the `stage` setting)")
    parser.add_argument("--runs", type=int, default=15, help="fresh interpreters per cold-import measurement")
    parser.add_argument("--lock", type=Path, default=ROOT / "dependencies/requirements.lock")
    parser.add_argument("--calls", type=int, default=20000, help="warm invocations of this stack's handler")
    parser.add_argument("--baseline-calls", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--requests", type=int, default=500, help="requests per client against the local server")
    args = parser.parse_args(argv)

    os.environ.update(FAKE_AWS)
    from tools.lambda_logging import install

    install(open(os.devnull, "w"))  # noqa: SIM115 - lives as long as the process
    event = json.loads((ROOT / "tests/events/http_api_get_root.json").read_text())

    rows: dict[str, dict[str, float]] = {}
    for name, (path, module) in CANDIDATES.items():
        rows[name] = cold_import(path, module, args.runs)
    from service.handler import handler

    rows["handler (this stack)"].update(warm_latency(handler, event, args.calls))
    with _stub_network():
        from tools.baseline_handler import handler as baseline

        rows["baseline (boto3 + S3)"].update(warm_latency(baseline, event, args.baseline_calls))

    ours, theirs = rows["handler (this stack)"], rows["baseline (boto3 + S3)"]
    print(table(ours, theirs))
    missed = missed_ratios(ours, theirs)
    with without_bytecode(ROOT / "service") as scratch:
        shipped = cold_import(scratch / "service", "handler", args.runs, cwd=scratch)
    print(f"\nhandler as shipped (no .pyc: Lambda compiles it at each cold start): {shipped['cold_import_ms']:.2f} ms")
    for line in dependency_lines(args.lock, args.runs):
        print(line)
    from service.routes import ROUTES

    for line in validation_lines(ROUTES, args.runs):
        print(line)
    from tools.local_server import stage_template

    args.template = args.template or ROOT / stage_template()
    if args.template.exists():
        load = server_load(args.template, args.clients, args.requests)
        print(
            f"\nlocal server, {args.clients} keep-alive clients x {args.requests} GET /: "
            f"{load['rps']:.0f} req/s, p50 {load['p50_ms']:.2f} ms, p99 {load['p99_ms']:.2f} ms"
        )
    else:
        print(f"\n{args.template} not found: run `make synth` for the local server numbers")
    print(
        "\nverdict: the ratios to the baseline, measured in this run; the reference column is the absolute figure "
        "this project's 2-core build machine met (README), not a verdict on yours"
    )
    for metric, ratio in missed.items():
        print(f"make bench: {metric} is {ratio:.1f}x the baseline's, under the {RATIO_TARGETS[metric]:g}x target")
    return 1 if missed else 0


def targets_table() -> str:
    """The README's statement of the targets, from the constants the verdict uses."""
    from tools.markdown import markdown_table

    return markdown_table(
        ("Metric", "Verdict: baseline / handler", "Reference on the build machine"),
        ((f"`{m}`", f">= {RATIO_TARGETS[m]:g}x", f"<= {ABSOLUTE_REFERENCE[m]:g}") for m in RATIO_TARGETS),
    )


def ratio(ours: dict[str, float], theirs: dict[str, float], metric: str) -> float:
    return theirs[metric] / ours[metric] if ours[metric] > 0 else float("inf")


def missed_ratios(ours: dict[str, float], theirs: dict[str, float]) -> dict[str, float]:
    """The ratio targets this run missed, with the ratio measured."""
    measured = {metric: ratio(ours, theirs, metric) for metric in RATIO_TARGETS}
    return {metric: value for metric, value in measured.items() if value < RATIO_TARGETS[metric]}


def table(ours: dict[str, float], theirs: dict[str, float]) -> str:
    """One row per metric: handler, baseline, their ratio against its target, and the absolute reference."""
    lines = [f"{'metric':<16}{'handler':>10}{'baseline':>11}{'ratio':>9}{'target':>9}  met  {'reference':>9}"]
    for metric in METRICS:
        target, reference = RATIO_TARGETS.get(metric), ABSOLUTE_REFERENCE.get(metric)
        value = ratio(ours, theirs, metric)
        met = "" if target is None else ("yes" if value >= target else "NO")
        lines.append(
            f"{metric:<16}{ours[metric]:>10.2f}{theirs[metric]:>11.2f}{value:>8.1f}x"
            f"{'' if target is None else f'>= {target:g}x':>9}  {met:<3}  "
            f"{'' if reference is None else f'<= {reference:g}':>9}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
