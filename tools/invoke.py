"""`make invoke WORKER=<name>`: run a worker of workers/table.py once, offline, as its trigger would.

The event is the row's sample (a schedule's event, or an SQS event holding the queue row's message), or
`EVENT=file.json`. The handler is imported as Lambda imports it (its package at the top of the path), with the
environment the synthesized template gives the function, resolved against an in-memory AWS when a variable names a
resource of the stack (tools/offline_aws.py). Its log lines print in Lambda's JSON format; its answer prints last.
Exit status 1 when the handler raised or, for a queue, reported a failed message.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prod_serverless import workers as worker_rows
from prod_serverless.names import WORKER_METADATA
from prod_serverless.workers import Queue, Worker, WorkerError
from tools.events import LambdaContext
from tools.lambda_logging import install, invocation
from tools.local_server import assembly_region, load_template, stage_template
from tools.offline_aws import OfflineError, offline_aws


def worker_table() -> tuple[Worker, ...]:
    from workers.table import WORKERS

    return WORKERS


def deployed_function(template: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The worker's function as the template declares it, found by its metadata; None if the template has none."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function" and resource.get("Metadata", {}).get(WORKER_METADATA) == name:
            return resource  # type: ignore[no-any-return]
    return None


def run(worker: Worker, event: dict[str, Any], template: dict[str, Any], region: str) -> tuple[bool, Any]:
    """(healthy, answer): the handler's answer to `event`, or the exception it raised."""
    function = deployed_function(template, worker.name)
    if function is None:
        raise OfflineError(f"the template has no function for worker {worker.name!r}: run `make synth` first")
    variables = function["Properties"].get("Environment", {}).get("Variables", {})
    context = LambdaContext(f"{worker.construct_id}-local", worker.memory_mb, worker.timeout_seconds)
    with offline_aws(variables, template["Resources"], region):
        sys.path.insert(0, str(worker_rows.WORKERS_CODE))  # as Lambda's /var/task: the package is top level
        try:
            for module in [m for m in sys.modules if m == worker.name or m.startswith(f"{worker.name}.")]:
                del sys.modules[module]  # a fresh import each run: a cold start
            handler = importlib.import_module(f"{worker.name}.handler").handler
            with invocation(context.aws_request_id):
                try:
                    answer = handler(event, context)
                except Exception as error:  # Lambda reports any exception as the run's error
                    return False, error
        finally:
            sys.path.remove(str(worker_rows.WORKERS_CODE))
    failed = isinstance(worker.trigger, Queue) and bool((answer or {}).get("batchItemFailures"))
    return not failed, answer


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--worker", default="", help="a name in workers/table.py")
    parser.add_argument("--event", type=Path, help="a JSON file to send instead of the row's sample")
    parser.add_argument("--template", type=Path, help="default: the configured stage's (the `stage` setting)")
    args = parser.parse_args(argv)
    try:
        rows = {row.name: row for row in worker_table()}
    except WorkerError as error:
        print(f"make invoke: workers/table.py: {error}", file=sys.stderr)
        return 1
    if not rows:
        print("make invoke: workers/table.py declares no worker (docs/recipes.md: a nightly job)", file=sys.stderr)
        return 1
    if args.worker not in rows:
        print(f"make invoke: WORKER must be one of {', '.join(sorted(rows))}, got {args.worker!r}", file=sys.stderr)
        return 1
    worker = rows[args.worker]
    template_path = args.template or stage_template()
    if not template_path.exists():
        print(f"make invoke: {template_path} not found: run `make synth` first", file=sys.stderr)
        return 1
    if args.event is not None:
        try:
            event = json.loads(args.event.read_text())
        except (OSError, ValueError) as error:
            print(f"make invoke: EVENT={args.event} is not a readable JSON file ({error})", file=sys.stderr)
            return 1
    else:
        event = worker.sample_event()
    install(sys.stderr)
    try:
        healthy, answer = run(worker, event, load_template(template_path), assembly_region(template_path))
    except OfflineError as error:
        print(f"make invoke: {error}", file=sys.stderr)
        return 1
    if isinstance(answer, BaseException):
        traceback.print_exception(answer, file=sys.stderr)
        print(f"make invoke: worker {worker.name} raised {type(answer).__name__}: {answer}", file=sys.stderr)
        return 1
    print(json.dumps(answer, default=str))
    if not healthy:
        print(f"make invoke: worker {worker.name} reported failed messages: {answer}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
