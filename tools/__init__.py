"""Developer tools that never deploy: local server, benchmark, smoke test, verify, cost, docs, preflight.

Every tool reads the route table, so it is loaded here first: a malformed row stops any `make` target that runs a
tool with the same one line as synth, never a traceback."""

from prod_serverless.early import check_routes

check_routes()
