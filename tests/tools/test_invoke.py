"""`make invoke`: a worker run once, offline, as its trigger would run it; every mistake is one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.workers import Queue, Schedule, Worker
from tests.workers import worker_code
from tools import invoke

# Answers its event and the environment variable the template gives it; refuses a message whose body says so.
READS = "import os\n\ndef handler(event, context):\n    return {'event': event, 'label': os.environ['LABEL']}\n"
CONSUMES = (
    "import json\n\ndef handler(event, context):\n    return {'batchItemFailures': [{'itemIdentifier': r['messageId']}"
    " for r in event['Records'] if json.loads(r['body']).get('fail')]}\n"
)
RAISES = "def handler(event, context):\n    raise RuntimeError('the job broke')\n"


@pytest.fixture
def rows(tmp_path: Path) -> Iterator[dict[str, Worker]]:
    with worker_code(tmp_path / "workers", {"tick": READS, "mail": CONSUMES, "broken": RAISES}):
        yield {
            "tick": Worker("tick", "a job", Schedule("rate(1 day)", event={"job": "tick"})),
            "mail": Worker("mail", "a consumer", Queue(message={"to": "a"})),
            "broken": Worker("broken", "a job that raises", Schedule("rate(1 day)")),
        }


def _template(path: Path, names: list[str]) -> Path:
    resources: dict[str, Any] = {
        f"Prod{name.capitalize()}WorkerFunction": {
            "Type": "AWS::Lambda::Function",
            "Metadata": {invoke.METADATA: name},
            "Properties": {"Environment": {"Variables": {"LABEL": f"{name}-label"}}},
        }
        for name in names
    }
    path.write_text(json.dumps({"Resources": resources}))
    return path


@pytest.fixture
def template(tmp_path: Path, rows: dict[str, Worker]) -> Path:
    return _template(tmp_path / "template.json", list(rows))


def _main(rows: dict[str, Worker], monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(invoke, "worker_table", lambda: tuple(rows.values()))
    monkeypatch.setattr(invoke, "install", lambda stream: None)  # the root logger stays as pytest has it
    return invoke.main(list(argv))


def test_a_scheduled_worker_gets_its_rows_event_and_its_templates_environment(
    rows: dict[str, Worker], template: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(rows, monkeypatch, "--worker", "tick", "--template", str(template)) == 0
    assert json.loads(capsys.readouterr().out) == {"event": {"job": "tick"}, "label": "tick-label"}


def test_a_queue_worker_gets_an_sqs_event_and_a_failed_message_fails_the_run(
    rows: dict[str, Worker], template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert _main(rows, monkeypatch, "--worker", "mail", "--template", str(template)) == 0
    assert json.loads(capsys.readouterr().out) == {"batchItemFailures": []}
    event = rows["mail"].sample_event()
    event["Records"][0]["body"] = json.dumps({"fail": True})  # one thing changed: the message asks to fail
    (tmp_path / "event.json").write_text(json.dumps(event))
    code = _main(
        rows, monkeypatch, "--worker", "mail", "--template", str(template), "--event", str(tmp_path / "event.json")
    )
    assert code == 1
    assert "reported failed messages" in capsys.readouterr().err


def test_a_raising_worker_is_one_line_after_its_traceback(
    rows: dict[str, Worker], template: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(rows, monkeypatch, "--worker", "broken", "--template", str(template)) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "make invoke: worker broken raised RuntimeError: the job broke"


def test_each_run_imports_the_handler_afresh(
    rows: dict[str, Worker], template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = invoke.run(rows["tick"], {"n": 1}, json.loads(template.read_text()), "us-east-1")
    handler = rows["tick"].code / "handler.py"
    handler.write_text(READS.replace("'event': event", "'event': event, 'edited': True"))
    second = invoke.run(rows["tick"], {"n": 1}, json.loads(template.read_text()), "us-east-1")
    assert "edited" not in first[1] and second[1]["edited"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--worker", "nope"], "make invoke: WORKER must be one of broken, mail, tick, got 'nope'"),
        (["--worker", ""], "make invoke: WORKER must be one of broken, mail, tick, got ''"),
        (["--worker", "tick", "--template", "/nonexistent/t.json"], "not found: run `make synth` first"),
        (["--worker", "tick", "--event", "/nonexistent/e.json"], "is not a readable JSON file"),
    ],
)
def test_a_mistake_is_one_line(
    rows: dict[str, Worker], template: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:  # fmt: skip
    if "--template" not in argv:
        argv = [*argv, "--template", str(template)]
    assert _main(rows, monkeypatch, *argv) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line


def test_a_worker_the_template_lacks_says_to_synth(
    rows: dict[str, Worker], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = _template(tmp_path / "stale.json", ["mail"])
    assert _main(rows, monkeypatch, "--worker", "tick", "--template", str(stale)) == 1
    assert capsys.readouterr().err.strip() == (
        "make invoke: the template has no function for worker 'tick': run `make synth` first"
    )


def test_no_workers_says_where_to_start(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _main({}, monkeypatch, "--worker", "x") == 1
    assert "declares no worker (docs/recipes.md: a nightly job)" in capsys.readouterr().err
