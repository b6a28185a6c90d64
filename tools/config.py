"""`make config`: the settings every target will use (cdk.json's context, then CONTEXT), or one line that says
what is wrong with CONTEXT. Every target that takes CONTEXT runs it first, so a mistake stops before the CDK CLI
or AWS are asked anything."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from prod_serverless.early import SETTINGS_ERROR
from prod_serverless.settings import SETTINGS, SettingsError, configured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--show", action="store_true", help="print every setting and its value")
    parser.add_argument("--stack", action="store_true", help="print the stage's stack name (for the CDK CLI)")
    parser.add_argument("--template", action="store_true", help="print where synth writes the stage's template")
    args = parser.parse_args(argv)
    try:
        settings = configured()
    except SettingsError as error:
        print(SETTINGS_ERROR.format(error), file=sys.stderr)
        return 1
    if args.show:
        values = dataclasses.asdict(settings)
        width = max(len(spec.key) for spec in SETTINGS)
        for spec in SETTINGS:
            print(f"{spec.key:<{width}}  {values[spec.field]}")
    if args.stack:
        print(settings.names.stack)
    if args.template:
        print(settings.names.template)
    return 0


if __name__ == "__main__":
    sys.exit(main())
