"""`make bench`: judged by the ratios to the baseline measured in the same run; a missed ratio exits 1."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tools import bench

FAST = {"cold_import_ms": 7.0, "rss_mb": 11.6, "warm_p50_us": 3.0, "warm_p99_us": 4.0}
BASELINE = {"cold_import_ms": 170.0, "rss_mb": 49.0, "warm_p50_us": 260.0, "warm_p99_us": 340.0}


def _run(monkeypatch: pytest.MonkeyPatch, ours: dict[str, float], theirs: dict[str, float], tmp_path: Path) -> int:
    """bench.main with the measurements replaced: only the judging and the report are under test."""
    measured = {"handler": ours, "baseline_handler": theirs}
    monkeypatch.setattr(
        bench,
        "cold_import",
        lambda path, module, runs, cwd=None: {
            k: measured[module][k] for k in FAST if k in ("cold_import_ms", "rss_mb")
        },
    )
    calls: list[Any] = []

    def warm(handler: Any, event: Any, count: int) -> dict[str, float]:
        calls.append(handler)
        source = ours if len(calls) == 1 else theirs
        return {"warm_p50_us": source["warm_p50_us"], "warm_p99_us": source["warm_p99_us"]}

    monkeypatch.setattr(bench, "warm_latency", warm)
    return bench.main(["--template", str(tmp_path / "absent.json")])


def test_ratios_met_exit_0_even_when_the_absolute_reference_is_missed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slow_machine = {metric: value * 3 for metric, value in FAST.items()}  # every absolute figure missed
    assert _run(monkeypatch, slow_machine, {m: v * 3 for m, v in BASELINE.items()}, tmp_path) == 0
    out = capsys.readouterr().out
    assert "cold_import_ms" in out and "NO" not in out


def test_a_missed_ratio_exits_1_and_says_which(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bloated = {**FAST, "cold_import_ms": 100.0}  # the handler imported something heavy
    assert _run(monkeypatch, bloated, BASELINE, tmp_path) == 1
    out = capsys.readouterr().out
    assert "make bench: cold_import_ms is 1.7x the baseline's, under the 10x target" in out
    assert [line.split()[6] for line in out.splitlines() if line.startswith("cold_import_ms")] == ["NO"]


def test_the_report_names_every_metric_with_its_target_and_reference() -> None:
    lines = bench.table(FAST, BASELINE).splitlines()
    assert lines[0].split() == ["metric", "handler", "baseline", "ratio", "target", "met", "reference"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == set(bench.METRICS)
    assert rows["cold_import_ms"][3:] == ["24.3x", ">=", "10x", "yes", "<=", "10"]
    assert rows["warm_p99_us"][3:] == ["85.0x"]  # measured, not judged


def test_a_tiny_real_run_measures_both_and_the_local_server(
    template_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--template", str(template_file), "--runs", "1", "--calls", "50", "--baseline-calls", "5"]
    bench.main([*args, "--clients", "1", "--requests", "5"])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.split() and line.split()[0] in bench.METRICS]
    assert [row[0] for row in rows] == list(bench.METRICS)
    assert all(float(row[1]) > 0 and float(row[2]) > 0 for row in rows)
    assert "local server, 1 keep-alive clients x 5 GET /:" in out
    assert "handler as shipped (no .pyc: Lambda compiles it at each cold start):" in out
    assert "declared dependencies: none (dependencies/requirements.lock pins nothing)" in out  # the shipped lock


def _pyjwt_lock(tmp_path: Path) -> Path:
    from importlib import metadata

    lock = tmp_path / "function-requirements.lock"
    lock.write_text(f"pyjwt=={metadata.version('pyjwt')} \\\n    --hash=sha256:00\n")
    return lock


def test_a_declared_dependency_is_found_by_the_module_a_route_imports(tmp_path: Path) -> None:
    from importlib import metadata

    assert bench.declared_modules(_pyjwt_lock(tmp_path)) == {"jwt": f"PyJWT {metadata.version('pyjwt')}"}


def test_each_declared_dependency_gets_its_own_line_with_and_without_bytecode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    measured: list[tuple[str, bool]] = []

    def fake(path: Path, module: str, runs: int, cwd: Path | None = None) -> dict[str, float]:
        shipped = cwd is not None and not any(cwd.rglob("*.pyc"))  # a copy without bytecode, imported from there
        measured.append((module, shipped))
        return {"cold_import_ms": 40.0 if shipped else 10.0, "rss_mb": 12.5}

    monkeypatch.setattr(bench, "cold_import", fake)
    lines = bench.dependency_lines(_pyjwt_lock(tmp_path), 3)
    assert measured == [("jwt", False), ("jwt", True)]
    assert lines[1].endswith("(import jwt): 10.0 ms with .pyc, 40.0 ms as shipped (no .pyc), RSS 12.5 MB")


def test_as_shipped_every_module_is_compiled_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import as shipped is slower than the cached one, and leaves no bytecode: it is what it lacks. The cached
    one keeps its .pyc beside the source, as Lambda would find it, wherever the caller's interpreter keeps its own."""
    monkeypatch.setenv("PYTHONPYCACHEPREFIX", str(tmp_path / "elsewhere"))
    package = tmp_path / "heavy"
    package.mkdir()
    (package / "__init__.py").write_text(
        "".join(f"def f{n}(x):\n    return [x * {n} for _ in range(3)]\n" for n in range(3000))
    )
    cached = [bench.cold_import(tmp_path, "heavy", 1)["cold_import_ms"] for _ in range(2)][-1]
    assert list(package.glob("__pycache__/*.pyc"))  # the cached import wrote and then used it
    with bench.without_bytecode(package) as scratch:
        compiled = bench.cold_import(scratch, "heavy", 1, cwd=scratch)["cold_import_ms"]
        assert not list(scratch.rglob("*.pyc"))
    assert compiled > 2 * cached


def test_bench_names_what_validation_costs_each_route_with_a_schema_and_none_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service.routes import ROUTES
    from tests.service.test_validation import ROUTES as VALIDATED
    from tests.validators import use_validators
    from tools.bench import validation_lines

    assert validation_lines([route for route in ROUTES if not route.validates], 1) == [
        "request validation: no route declares a schema, so none imports or runs it"
    ]
    use_validators(VALIDATED, monkeypatch)
    (line,) = validation_lines(VALIDATED, 1, calls=10)
    assert re.fullmatch(
        r"request validation of POST /orders/\{id\}: \d+\.\d\d ms to compile its validator \(once per execution "
        r"environment, at its first request\), \d+\.\d µs per request \(its sample\)",
        line,
    ), line
