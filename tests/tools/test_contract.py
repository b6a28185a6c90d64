"""The fuzzer: schemathesis, driven by the OpenAPI document `make serve` serves, holds the local server to it.

Every operation gets generated requests, valid and invalid, with the caller its security asks for: no 5xx,
every status documented, every body valid against its schema, every documented refusal really refused (a body
that breaks the schema, a request without its token). Bounded for `make test` (CONTRACT_EXAMPLES, default 12
per operation and mode); the weekly workflow runs it longer (.github/workflows/fuzz.yml).
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

EXAMPLES = int(os.environ.get("CONTRACT_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def contract_server(template_file: Path) -> Iterator[LocalApi]:
    with serving(serve(0, template_file)) as api:
        yield api


@pytest.fixture(scope="module")
def contract(contract_server: LocalApi) -> Any:
    return schemathesis.openapi.from_url(contract_server.url + OPENAPI_PATH)


class _SignedForIam(requests.auth.AuthBase):
    """Signs a request with the local development credentials, as an IAM caller of make serve would."""

    def __init__(self, callers: Callers) -> None:
        self.callers = callers

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body.encode() if isinstance(request.body, str) else request.body
        body = body if isinstance(body, bytes) else None
        headers = {name.lower(): str(value) for name, value in request.headers.items()}
        signed = sign_iam(str(request.method), str(request.url), headers, body, self.callers.credentials(), "us-east-1")
        request.headers.update(signed)
        return request


def caller(case: Any, callers: Callers) -> tuple[dict[str, str], requests.Session]:
    """The headers and session of an operation's caller: a token with its scopes, a signature, or nobody."""
    session = requests.Session()
    security = case.operation.definition.raw.get("security") or [{}]
    (kind, scopes), *_ = security[0].items() if security[0] else [(None, [])]
    if kind == JWT:
        return {"Authorization": f"Bearer {callers.token(list(scopes))}"}, session
    if kind == IAM:
        session.auth = _SignedForIam(callers)
    return {}, session


def operations(contract: Any) -> list[Any]:
    return [result.ok() for result in contract.get_all_operations()]


def test_the_document_make_serve_serves_has_every_route(contract: Any, contract_server: LocalApi) -> None:
    keys = {f"{operation.method.upper()} {operation.path}" for operation in operations(contract)}
    assert keys == {key.replace("+}", "}") for key in contract_server.routes}


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_local_server_keeps_the_contract_it_publishes(contract: Any, mode: GenerationMode) -> None:
    """Hypothesis drives schemathesis' strategies directly: its pytest loader does not run on pytest 9."""
    callers = Callers(local=True, region=configured().region, audiences=configured().jwt_audiences)
    for operation in operations(contract):
        if mode == GenerationMode.NEGATIVE and not {"parameters", "requestBody"} & set(operation.definition.raw):
            continue  # nothing a request could break: no parameter, no body

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def holds(case: Any) -> None:
            headers, session = caller(case, callers)
            case.call_and_validate(headers=headers, session=session)

        holds()
