"""The stack and the handler agree: every environment variable the synthesized function gets is one the
handler reads, and a value the handler cannot use falls back instead of breaking it."""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Iterator
from types import ModuleType

import pytest

from prod_serverless.function import ENVIRONMENT, SERVICE_CODE
from tests.conftest import FakeContext, Synthesized, load_event
from tests.infra.helpers import SETTINGS
from tools.local_server import function_variables
from tools.offline_aws import offline_aws

Load = Callable[[dict[str, str]], ModuleType]


@pytest.fixture
def reload_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[Load]:
    """Import the service again under given variables (the modules that read them at import, then the handler
    over them); the original modules are restored afterwards."""
    import service.endpoints
    import service.handler
    import service.routes

    def reload_all() -> ModuleType:
        for module in (service.endpoints, service.routes, service.handler):
            importlib.reload(module)
        return service.handler

    def load(variables: dict[str, str]) -> ModuleType:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        return reload_all()

    yield load
    monkeypatch.undo()
    reload_all()


def _names(synthesized: Synthesized) -> set[str]:
    return set(function_variables(synthesized.template))


def test_the_function_gets_exactly_the_variables_of_the_environment_table(synthesized: Synthesized) -> None:
    """The table's rows, as values; any other variable names a resource of the stack (main.py's `resources`)."""
    variables = function_variables(synthesized.template)
    assert {name for name, value in variables.items() if isinstance(value, str)} == {row.name for row in ENVIRONMENT}
    for name, value in variables.items():
        if not isinstance(value, str):
            assert isinstance(value, dict) and set(value) <= {"Ref", "Fn::GetAtt"}, name
            named = value.get("Ref") or value["Fn::GetAtt"][0]
            assert named in synthesized.resources, name


def test_every_variable_of_the_table_is_read_by_the_service() -> None:
    code = "\n".join(path.read_text() for path in SERVICE_CODE.glob("*.py"))
    for row in ENVIRONMENT:
        assert f'"{row.name}"' in code, f"{row.name} is set on the function but no module of service/ reads it"


def test_the_handler_picks_up_each_variable_the_stack_sets(synthesized: Synthesized, reload_handler: Load) -> None:
    # Values unlike any default, under exactly the names the template uses (a team's own rows get one too).
    chosen = {"ENVIRONMENT_NAME": "wired-env", "APP_VERSION": "9.8.7", "LOG_LEVEL": "DEBUG"}
    handler = reload_handler({name: chosen.get(name, f"wired-{name.lower()}") for name in _names(synthesized)})
    body = json.loads(handler.handler(load_event("http_api_get_root.json"), FakeContext())["body"])
    assert (body["environment"], body["version"]) == ("wired-env", "9.8.7")
    assert handler.LOGGER.level == logging.DEBUG


def test_the_template_values_reach_the_handler_unchanged(synthesized: Synthesized, reload_handler: Load) -> None:
    variables = function_variables(synthesized.template)
    with offline_aws(variables, synthesized.resources, SETTINGS.region) as environment:
        handler = reload_handler(environment)
    body = json.loads(handler.handler(load_event("http_api_get_root.json"), FakeContext())["body"])
    assert (body["environment"], body["version"]) == (SETTINGS.environment_label, SETTINGS.app_version)
    assert logging.getLevelName(handler.LOGGER.level) == SETTINGS.log_level.replace("WARN", "WARNING")


def test_a_log_level_the_handler_cannot_use_falls_back_to_info(reload_handler: Load) -> None:
    handler = reload_handler({"LOG_LEVEL": "LOUD"})
    assert handler.LOGGER.level == logging.INFO
    assert handler.handler(load_event("http_api_get_root.json"), FakeContext())["statusCode"] == 200
