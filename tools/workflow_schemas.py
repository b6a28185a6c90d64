"""`make workflows`' schema checks: the GitHub workflows and Dependabot's file against SchemaStore's schemas (as
check-jsonschema vendors them), both in one process, and without the IRI grammar jsonschema would build on import
(rfc3987_syntax, ~1.3 s): no format either schema or their draft-07 metaschema names is an IRI one."""

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
    from prod_serverless.schemas import without_iri_grammar

    without_iri_grammar()  # neither schema nor their metaschema names an IRI format
    sys.exit(main())
