"""`make workflows`' schema checks: the GitHub workflows and Dependabot's file against SchemaStore's schemas (as
check-jsonschema vendors them), both in one process, and without the IRI grammar jsonschema would build on import
(rfc3987_syntax, ~1.3 s): no format either schema or their draft-07 metaschema names is an IRI one."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# jsonschema checks the "iri" and "iri-reference" formats with this package, if it imports; none of the schemas
# below names them (tests/tools/test_workflow_schemas.py), so the Lark grammar it builds on import is never used.
IRI_GRAMMAR = "rfc3987_syntax"
IRI_FORMATS = frozenset({"iri", "iri-reference"})
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
    sys.modules.setdefault(IRI_GRAMMAR, None)  # type: ignore[arg-type]  # its import fails: the IRI formats go unchecked
    sys.exit(main())
