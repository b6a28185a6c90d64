"""The mission's requirements, as the defaults: the one test that pins them.

Every other test reads the route table, the settings or the configured Region, so a team that changes any of
these (a route, the memory, the Region) changes this file and nothing unrelated.
"""

from __future__ import annotations

from aws_cdk import Stack

from main import STACK_NAME, build_app
from prod_serverless.settings import Settings, cdk_json_context
from service.routes import ROUTES
from tests.conftest import Synthesized


def test_the_mission_is_the_default(synthesized: Synthesized) -> None:
    # The defaults are the mission: one stack, ProdServerlessStack, for us-east-1, its function 128 MB and 15 s.
    # They are pinned here against Settings()'s own defaults, so a team's cdk.json (its memory, its Region) is
    # theirs; every other test reads the configured settings.
    defaults = Settings()
    assert (defaults.region, defaults.function_memory_mb, defaults.function_timeout_seconds) == ("us-east-1", 128, 15)
    assert STACK_NAME == "ProdServerlessStack"

    # The stack is built from the settings, so with the defaults it is the mission (and with a cdk.json, that).
    configured = Settings.from_context(cdk_json_context())
    app = build_app(control_tower=False)
    stacks = [child for child in app.node.children if isinstance(child, Stack)]
    assert [(stack.node.id, stack.region) for stack in stacks] == [(configured.names.stack, configured.region)]
    (function,) = [f for i, f in synthesized.of_type("AWS::Lambda::Function").items() if i.startswith("ProdFunction")]
    assert (function["Properties"]["MemorySize"], function["Properties"]["Timeout"]) == (
        configured.function_memory_mb,
        configured.function_timeout_seconds,
    )
    assert function["Properties"]["Environment"]["Variables"]

    # An HTTP API with the route GET /, proxying to the function. (A team adds routes beside it: GET / stays.)
    assert "GET /" in [route.key for route in ROUTES]
    assert "GET /" in [r["Properties"]["RouteKey"] for r in synthesized.of_type("AWS::ApiGatewayV2::Route").values()]

    # Every resource carries the Prod prefix (names: test_stack.test_every_physical_name_set_starts_with_prod).
    assert all(logical_id.startswith("Prod") for logical_id in synthesized.resources)
