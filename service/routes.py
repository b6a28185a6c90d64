"""The route table: the single source of truth for what the API serves.

The HTTP API's routes and their invoke permissions, the handler's dispatch, CORS methods, the local server,
`make smoke`, `make verify`, the pre-traffic hook, the dashboard, the cost model and docs/routes.md all read
these rows, and so do the function's request validation and docs/openapi.json (their JSON Schemas). Adding a
route is a row here, a function in `service/endpoints.py` and its test.
"""

from __future__ import annotations

from service import endpoints
from service.routing import Healthy, Route

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/",
        endpoints.hello,
        summary="Who answered: message, Lambda request id, environment label and version",
        public="GET / is the public, read-only hello endpoint the API exists for; stage throttling bounds abuse.",
        answers={200: endpoints.HELLO},
        healthy=Healthy(200),
    ),
)
