"""The fuzzer: schemathesis, driven by the OpenAPI document `make serve` serves, holds the local server to it.

Every operation gets generated requests, valid and invalid, with the caller its security asks for: no 5xx,
every status documented, every body valid against its schema, every documented refusal really refused (a body
that breaks the schema, a request without its token). Bounded for `make test` (12 examples per operation and
mode here, 4 for the recipes' routes); the weekly workflow runs both with CONTRACT_EXAMPLES=1000
(.github/workflows/fuzz.yml).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from prod_serverless.settings import configured
from service.routing import IAM, JWT
from tests.tools.helpers import serving
from tools.callers import Callers
from tools.local_auth import sign_iam
from tools.local_server import OPENAPI_PATH, LocalApi, serve

# Examples per operation and mode: CONTRACT_EXAMPLES when set (the weekly run), else each test's own bound.
GIVEN = int(os.environ.get("CONTRACT_EXAMPLES", "0"))
EXAMPLES = GIVEN or 12


@pytest.fixture(scope="module")
def contract_server(template_file: Path) -> Iterator[LocalApi]:
    with serving(serve(0, template_file)) as api:
        yield api


@pytest.fixture(scope="module")
def contract(contract_server: LocalApi) -> Any:
    return schemathesis.openapi.from_url(contract_server.url + OPENAPI_PATH)


def caller(case: Any, callers: Callers, base_url: str) -> dict[str, str]:
    """The headers of an operation's caller: a token with its scopes, a Signature Version 4, or none. Given
    explicitly, so schemathesis can take them away and check that the server then refuses the request."""
    security = case.operation.definition.raw.get("security") or [{}]
    kind, scopes = next(iter(security[0].items()), (None, []))
    if kind == JWT:
        return {"Authorization": f"Bearer {callers.token(list(scopes))}"}
    if kind == IAM:
        sent = case.as_transport_kwargs(base_url=base_url)
        fields = {key: sent.get(key) for key in ("method", "url", "headers", "params", "json", "data")}
        prepared = requests.Request(**fields).prepare()
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        signed = sign_iam(
            str(prepared.method), str(prepared.url), {}, body if isinstance(body, bytes) else None,
            callers.credentials(), callers.region,
        )  # fmt: skip
        return {name: value for name, value in signed.items() if name.lower() in ("authorization", "x-amz-date")}
    return {}


def operations(contract: Any) -> list[Any]:
    return [result.ok() for result in contract.get_all_operations()]


def fuzz(contract: Any, base_url: str, callers: Callers, examples: int) -> None:
    """Every operation of `contract`, valid requests then invalid ones, each checked by schemathesis' checks.
    Hypothesis drives schemathesis' strategies directly: its pytest loader does not run on pytest 9."""
    for operation in operations(contract):
        modes = [GenerationMode.POSITIVE]
        if {"parameters", "requestBody"} & set(operation.definition.raw):  # else nothing a request could break
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def holds(case: Any) -> None:
                case.call_and_validate(base_url=base_url, headers=caller(case, callers, base_url))

            holds()


def test_the_document_make_serve_serves_has_every_route(contract: Any, contract_server: LocalApi) -> None:
    keys = {f"{operation.method.upper()} {operation.path}" for operation in operations(contract)}
    assert keys == {key.replace("+}", "}") for key in contract_server.routes}


def test_the_local_server_keeps_the_contract_it_publishes(contract: Any, contract_server: LocalApi) -> None:
    settings = configured()
    fuzz(
        contract,
        contract_server.url,
        Callers(local=True, region=settings.region, audiences=settings.jwt_audiences),
        EXAMPLES,
    )
