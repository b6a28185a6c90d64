"""`make workflows`' schema checks: the GitHub workflows and Dependabot's file against SchemaStore's schemas (as
check-jsonschema vendors them), both in one process: importing check-jsonschema takes ~1.7 s (jsonschema builds
its IRI grammar), paid once here rather than once per schema."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Each builtin schema and the files it judges.
CHECKS = (
    ("vendor.github-workflows", ".github/workflows/*.yml"),
    ("vendor.dependabot", ".github/dependabot.yml"),
)


def main(root: Path = ROOT) -> int:
    from check_jsonschema.cli import main as check_jsonschema

    failed = False
    for schema, pattern in CHECKS:
        files = sorted(str(path) for path in root.glob(pattern))
        if not files:
            print(f"make workflows: no file matches {pattern}", file=sys.stderr)
            failed = True
            continue
        # standalone_mode=False: the exit status is returned, not raised, so the next schema still runs.
        failed |= check_jsonschema.main(["--builtin-schema", schema, *files], standalone_mode=False) != 0
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
