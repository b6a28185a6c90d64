"""Workers' packages in a scratch directory, for tests that build rows without touching workers/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from prod_serverless import workers

# A worker that answers its event back: enough for a row to be built and run.
ECHO = "def handler(event, context):\n    return {'received': event}\n"


@contextmanager
def worker_code(root: Path, packages: Mapping[str, str]) -> Iterator[Path]:
    """While inside: workers' code is read from `root`, holding the repository's packages and `packages` (name ->
    handler.py source) for the names the repository lacks."""
    if workers.WORKERS_CODE.is_dir():
        shutil.copytree(workers.WORKERS_CODE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in packages.items():
        package = root / name
        if not (package / "handler.py").exists():
            package.mkdir(parents=True, exist_ok=True)
            (package / "__init__.py").write_text("")
            (package / "handler.py").write_text(source)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(workers, "WORKERS_CODE", root)
        yield root
