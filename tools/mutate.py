"""`make mutate`: how strong the tests are, measured. mutmut changes the code whose logic is Python one small
thing at a time ([tool.mutmut] in pyproject.toml) and runs the tests that cover each change; a change no test
notices is a surviving mutant. This prints the score of each file, killed / (mutants - equivalent ones), lists
the survivors, and exits 1 when a file is under THRESHOLD.

A survivor judged equivalent (the change cannot alter behaviour) is listed in tools/mutation_equivalents.toml
with its one-line reason; `.venv/bin/mutmut show <name>` shows any mutant's change.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
EQUIVALENTS = Path(__file__).resolve().parent / "mutation_equivalents.toml"
THRESHOLD = 90.0
# mutmut's exit codes (mutmut.stats.status_by_exit_code): what counts as the tests noticing the change.
KILLED = {1, 3, -24, 24, 36, 37, 152, 255}
SURVIVED = 0
NO_TESTS = 33


@dataclass(frozen=True)
class Score:
    """One file's mutants: how many, how many the tests killed, which survived (equivalent ones apart)."""

    path: str
    total: int
    killed: int
    equivalent: int
    survivors: tuple[str, ...]

    @property
    def percent(self) -> float:
        judged = self.total - self.equivalent
        return 100.0 if judged == 0 else 100.0 * self.killed / judged


def equivalents(path: Path = EQUIVALENTS) -> dict[str, str]:
    """Mutant name -> the reason it cannot change behaviour."""
    data = tomllib.loads(path.read_text()) if path.exists() else {}
    return {entry["mutant"]: entry["reason"] for entry in data.get("equivalent", [])}


def scores(mutants: Path = MUTANTS, equivalent: dict[str, str] | None = None) -> list[Score]:
    """Each mutated file's score, from the results mutmut leaves beside its copy of the code (*.meta)."""
    equivalent = equivalents() if equivalent is None else equivalent
    found = []
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text()).get("exit_code_by_key", {})
        if not codes:
            continue
        killed = sum(1 for name, code in codes.items() if code in KILLED and name not in equivalent)
        survivors = tuple(sorted(name for name, code in codes.items() if code not in KILLED and name not in equivalent))
        found.append(
            Score(
                path=meta.relative_to(mutants).as_posix().removesuffix(".meta"),
                total=len(codes),
                killed=killed,
                equivalent=sum(1 for name in codes if name in equivalent),
                survivors=survivors,
            )
        )
    return found


def report(found: list[Score], threshold: float = THRESHOLD, show: int = 20) -> tuple[str, bool]:
    """The table, the survivors of each file under the threshold, and whether every file met it."""
    lines = [f"{'file':<34} {'mutants':>7} {'killed':>6} {'equiv.':>6} {'score':>7}"]
    for score in found:
        mark = "" if score.percent >= threshold else f"  < {threshold:.0f}%"
        lines.append(
            f"{score.path:<34} {score.total:>7} {score.killed:>6} {score.equivalent:>6} {score.percent:>6.1f}%{mark}"
        )
    for score in found:
        if score.percent < threshold and score.survivors:
            lines.append(f"\nsurviving in {score.path} ({len(score.survivors)}; first {show}):")
            lines += [f"  {name}" for name in score.survivors[:show]]
    met = bool(found) and all(score.percent >= threshold for score in found)
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--report-only", action="store_true", help="score the last run; run nothing")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (the machine's cores)")
    args = parser.parse_args(argv)
    if not args.report_only:
        # mutmut keeps the results of mutants whose code did not change, even when the tests did: start afresh.
        shutil.rmtree(MUTANTS, ignore_errors=True)
        run = subprocess.run(  # noqa: S603 - mutmut from this venv, fixed arguments
            [str(Path(sys.executable).parent / "mutmut"), "run", "--max-children", str(args.children)],
            cwd=ROOT,
            check=False,
            capture_output=True,
            text=True,
        )
        if run.returncode != 0:
            print(run.stdout[-2000:] + run.stderr[-2000:], file=sys.stderr)
            print(f"make mutate: mutmut run failed ({run.returncode})", file=sys.stderr)
            return 1
    found = scores()
    if not found:
        print("make mutate: no results in mutants/: run `make mutate` without --report-only", file=sys.stderr)
        return 1
    text, met = report(found)
    print(text)
    statuses = Counter(
        "killed" if code in KILLED else "no tests" if code == NO_TESTS else "survived"
        for meta in MUTANTS.rglob("*.py.meta")
        for code in json.loads(meta.read_text()).get("exit_code_by_key", {}).values()
    )
    print(f"\nmake mutate: {dict(statuses)}; every file at least {THRESHOLD:.0f}%: {'yes' if met else 'no'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
