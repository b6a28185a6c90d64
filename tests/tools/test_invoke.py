"""`make invoke`: a worker run once, offline, as its trigger would run it; every mistake is one line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from prod_serverless.names import WORKER_METADATA, worker_construct_id
from prod_serverless.workers import Queue, Schedule, Worker, WorkerError
from tests.workers import worker_code
from tools import invoke
from tools.local_server import assembly_region

# Answers its event and the environment variable the template gives it; refuses a message whose body says so.
READS = (
    "import datetime, os\n\ndef handler(event, context):\n    return {'event': event, 'label': os.environ['LABEL'], "
    "'name': context.function_name, 'memory': context.memory_limit_in_mb,"
    " 'left': context.get_remaining_time_in_millis(), 'queue': os.environ.get('QUEUE_URL', ''),"
    " 'day': datetime.date(2026, 12, 3)}\n"
)
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
    # First, the API's function without worker metadata and a resource of another type: neither is a worker's.
    resources: dict[str, Any] = {
        "ProdQueue": {"Type": "AWS::SQS::Queue", "Metadata": {WORKER_METADATA: names[0]}, "Properties": {}},
        "ProdFunction": {"Type": "AWS::Lambda::Function", "Properties": {}},
    }
    resources |= {
        f"{worker_construct_id(name)}Function": {
            "Type": "AWS::Lambda::Function",
            "Metadata": {WORKER_METADATA: name},
            # As the CDK writes a function without variables: no Environment at all.
            "Properties": {"Environment": {"Variables": {"LABEL": f"{name}-label"}}} if name != "broken" else {},
        }
        for name in names
    }
    path.write_text(json.dumps({"Resources": resources}))
    return path


@pytest.fixture
def template_path(tmp_path: Path, rows: dict[str, Worker]) -> Path:
    return _template(tmp_path / "template.json", list(rows))


def _main(rows: dict[str, Worker], monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(invoke, "worker_table", lambda: tuple(rows.values()))
    monkeypatch.setattr(invoke, "install", lambda stream: None)  # the root logger stays as pytest has it
    return invoke.main(list(argv))


def test_a_scheduled_worker_gets_its_rows_event_and_its_templates_environment(
    rows: dict[str, Worker], template_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(rows, monkeypatch, "--worker", "tick", "--template", str(template_path)) == 0
    answer = json.loads(capsys.readouterr().out)
    left = answer.pop("left")
    assert answer == {
        "event": {"job": "tick"},
        "label": "tick-label",
        "name": "ProdTickWorker-local",  # the context Lambda would give it: its name, its memory, its time
        "memory": rows["tick"].memory_mb,
        "queue": "",
        "day": "2026-12-03",  # what JSON cannot hold is printed as text, as the handler's answer shows it
    }
    assert (rows["tick"].timeout_seconds - 5) * 1000 < left <= rows["tick"].timeout_seconds * 1000


def test_a_variable_naming_a_resource_of_the_stack_reads_its_offline_twin(
    rows: dict[str, Worker], template_path: Path
) -> None:
    template = json.loads(template_path.read_text())
    variables = template["Resources"]["ProdTickWorkerFunction"]["Properties"]["Environment"]["Variables"]
    variables["QUEUE_URL"] = {"Ref": "ProdQueue"}
    healthy, answer = invoke.run(rows["tick"], {}, template, "eu-west-1")
    assert healthy and answer["queue"].startswith("https://sqs.eu-west-1.amazonaws.com/")


def test_make_invoke_runs_the_offline_aws_in_the_stacks_region(
    rows: dict[str, Worker], template_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    template = json.loads(template_path.read_text())
    variables = template["Resources"]["ProdTickWorkerFunction"]["Properties"]["Environment"]["Variables"]
    variables["QUEUE_URL"] = {"Ref": "ProdQueue"}
    template_path.write_text(json.dumps(template))
    assert _main(rows, monkeypatch, "--worker", "tick", "--template", str(template_path)) == 0
    region = assembly_region(template_path)  # no manifest beside it: the configured Region
    assert json.loads(capsys.readouterr().out)["queue"].startswith(f"https://sqs.{region}.amazonaws.com/")


def test_a_queue_worker_gets_an_sqs_event_and_a_failed_message_fails_the_run(
    rows: dict[str, Worker], template_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert _main(rows, monkeypatch, "--worker", "mail", "--template", str(template_path)) == 0
    assert json.loads(capsys.readouterr().out) == {"batchItemFailures": []}
    event = rows["mail"].sample_event()
    event["Records"][0]["body"] = json.dumps({"fail": True})  # one thing changed: the message asks to fail
    (tmp_path / "event.json").write_text(json.dumps(event))
    code = _main(
        rows, monkeypatch, "--worker", "mail", "--template", str(template_path), "--event", str(tmp_path / "event.json")
    )
    assert code == 1
    assert "reported failed messages" in capsys.readouterr().err


def test_a_raising_worker_is_one_line_after_its_traceback(
    rows: dict[str, Worker], template_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _main(rows, monkeypatch, "--worker", "broken", "--template", str(template_path)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "Traceback (most recent call last):" and err[-2] == "RuntimeError: the job broke"
    assert err[-1] == "make invoke: worker broken raised RuntimeError: the job broke"


def test_each_run_imports_the_handler_afresh(
    rows: dict[str, Worker], template_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = invoke.run(rows["tick"], {"n": 1}, json.loads(template_path.read_text()), "us-east-1")
    handler = rows["tick"].code / "handler.py"
    handler.write_text(READS.replace("'event': event", "'event': event, 'edited': True"))
    second = invoke.run(rows["tick"], {"n": 1}, json.loads(template_path.read_text()), "us-east-1")
    assert "edited" not in first[1] and second[1]["edited"] is True


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--worker", "nope"], "make invoke: WORKER must be one of broken, mail, tick, got 'nope'"),
        (["--worker", ""], "make invoke: WORKER must be one of broken, mail, tick, got ''"),
        ([], "make invoke: WORKER must be one of broken, mail, tick, got ''"),
        (["--worker", "tick", "--template", "/nonexistent/t.json"], "not found: run `make synth` first"),
        (["--worker", "tick", "--event", "/nonexistent/e.json"], "is not a readable JSON file"),
    ],
)
def test_a_mistake_is_one_line(
    rows: dict[str, Worker], template_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    argv: list[str], message: str,
) -> None:  # fmt: skip
    if "--template" not in argv:
        argv = [*argv, "--template", str(template_path)]
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
    assert (
        capsys.readouterr().err == "make invoke: workers/table.py declares no worker (docs/recipes.md: a nightly job)\n"
    )


def test_a_malformed_table_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def table() -> tuple[Worker, ...]:
        raise WorkerError("worker 'Tick': name must match [a-z][a-z0-9]{0,19}")

    monkeypatch.setattr(invoke, "worker_table", table)
    assert invoke.main(["--worker", "tick"]) == 1
    assert capsys.readouterr().err == (
        "make invoke: workers/table.py: worker 'Tick': name must match [a-z][a-z0-9]{0,19}\n"
    )


def test_the_help_says_what_each_option_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        invoke.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage:") and (invoke.__doc__ or "").splitlines()[0] in text
    for said in ("a name in workers/table.py", "a JSON file to send instead of the row's sample",
                 "default: the configured stage's (the `stage` setting)"):  # fmt: skip
        assert re.search(rf"(^|\s){re.escape(said)}(\s|$)", text), said
