"""A route table of a hundred rows (tests/infra/test_many_routes.py synthesizes the app with it)."""

from __future__ import annotations

from typing import Any

from service.routes import ROUTES
from service.routing import Healthy, Request, Route

MANY = 100


def _answer(request: Request) -> tuple[int, dict[str, Any]]:
    return 200, {"id": request.path_parameters.get("id", "")}


def routes(count: int) -> tuple[Route, ...]:
    """The shipped table and enough `GET /thingsNNN/{id}` rows to make `count`."""
    extra = tuple(
        Route(
            "GET",
            f"/things{n:03d}/{{id}}",
            _answer,
            summary=f"thing kind {n}",
            public="A test route of the many-routes synth; never deployed, and stage throttling bounds abuse.",
            healthy=Healthy(200, ("id",)),
        )
        for n in range(count - len(ROUTES))
    )
    return (*ROUTES, *extra)
