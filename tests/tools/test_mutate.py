"""make mutate's report: a file's score counts killed mutants over those not judged equivalent; under the
threshold the run fails and lists the survivors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from tools import mutate


def _results(tmp_path: Path, codes: Mapping[str, int | None]) -> Path:
    meta = tmp_path / "service" / "handler.py.meta"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"exit_code_by_key": codes}))
    return tmp_path


def test_a_score_is_killed_over_mutants_not_judged_equivalent(tmp_path: Path) -> None:
    codes = {f"m{n}": 1 for n in range(8)} | {"s1": 0, "s2": mutate.NO_TESTS}
    (score,) = mutate.scores(_results(tmp_path, codes), {"s2": "cannot change behaviour"})
    assert (score.path, score.total, score.killed, score.equivalent, score.survivors) == (
        "service/handler.py",
        10,
        8,
        1,
        ("s1",),
    )
    assert round(score.percent, 1) == round(100 * 8 / 9, 1)


def test_under_the_threshold_the_report_fails_and_names_the_survivors(tmp_path: Path) -> None:
    found = mutate.scores(_results(tmp_path, {"a": 1, "b": 0}), {})
    text, met = mutate.report(found, threshold=90)
    assert not met and "b" in text.splitlines()[-1] and "50.0%  < 90%" in text


def test_at_the_threshold_the_report_passes(tmp_path: Path) -> None:
    found = mutate.scores(_results(tmp_path, {f"m{n}": 1 for n in range(9)} | {"x": 0}), {})
    assert mutate.report(found, threshold=90)[1]


def test_every_listed_equivalent_has_a_reason() -> None:
    assert all(reason.strip() for reason in mutate.equivalents().values())
