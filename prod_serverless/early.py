"""What synth refuses before the CDK loads: the settings and the route table, read as build_app reads them; and
the one line each mistake gets, from synth and from every tool.

Loading the CDK (its Node runtime and assemblies) takes about 1.5 s of every synth; a mistake in CONTEXT, in a
`-c` pair or in service/routes.py is found here in a tenth of that, as the same one line. build_app reads both
again, from the App's own context, and checks the workers and the dependencies too: this only says sooner what
it would say.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping

from prod_serverless.settings import Settings, SettingsError, app_context, configured_context
from service.routing import RouteError

SETTINGS_ERROR = "Configuration error: {}"
ROUTES_ERROR = "Route table error (service/routes.py): {}"
ROUTES = "service.routes"  # a malformed row raises as the module builds the table


def check_routes() -> None:
    """Exit with synth's one line if the route table is malformed; return if it builds."""
    try:
        importlib.import_module(ROUTES)
    except RouteError as error:
        sys.exit(ROUTES_ERROR.format(error))


def check(environ: Mapping[str, str] = os.environ) -> None:
    """Exit with synth's one line if the settings or the route table are malformed; return if both read."""
    try:
        Settings.from_context(app_context(configured_context(environ), environ))
    except SettingsError as error:
        sys.exit(SETTINGS_ERROR.format(error))
    check_routes()
