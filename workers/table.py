"""THE workers table: one row per function that no route calls (a scheduled job, a queue consumer).

Every consumer reads it (prod_serverless/workers.py): the function, its role and policy, its trigger and dead-letter
queue, its archived logs and Glue table, its alarms and dashboard row, `make cost`, `make invoke`. The shipped stack
has none; docs/recipes.md adds a nightly job and a queue consumer, one row and one package each.
"""

from __future__ import annotations

from prod_serverless.workers import Queue, Schedule, Worker

__all__ = ["WORKERS", "Queue", "Schedule", "Worker"]

WORKERS: tuple[Worker, ...] = ()
