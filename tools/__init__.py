"""Developer tools that never deploy: local server, benchmark, smoke test, verify, cost, docs, preflight.

Every tool reads the route table, so it is loaded here first: a malformed row stops any `make` target that runs a
tool with the same one line as synth, never a traceback."""

import sys

from service.routing import RouteError

try:
    import service.routes  # noqa: F401
except RouteError as error:
    sys.exit(f"Route table error (service/routes.py): {error}")
