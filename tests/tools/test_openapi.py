"""The OpenAPI 3.1 document: generated from the table and the settings, valid (openapi-spec-validator), current
in docs/openapi.json, and served by make serve at a path the deployed API does not have."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from service.routes import ROUTES
from service.routing import ERROR_ANSWER, Healthy, Route, Sample
from tests.infra.helpers import SETTINGS
from tests.tools.helpers import serving
from tools import openapi
from tools.local_server import OPENAPI_PATH, LocalApi, serve


def validate(document: dict[str, Any]) -> None:
    """openapi-spec-validator's check, imported at the first use: its jsonschema builds a grammar on import (~2 s),
    which make test's process of CDK tests need never pay."""
    from openapi_spec_validator import validate as check

    check(document)


DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
ITEM = {
    "type": "object",
    "properties": {"id": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
    "required": ["id", "qty"],
    "additionalProperties": False,
}


def _answer(request: Any) -> tuple[int, dict[str, Any]]:
    return 200, {}


def _routes() -> list[Route]:
    put = Route(
        "PUT",
        "/items/{id}",
        _answer,
        summary="Store an item",
        jwt=("items:write",),
        body={"type": "object", "properties": {"qty": {"type": "integer"}}},
        path_parameters={"type": "object", "properties": {"id": {"type": "string", "maxLength": 8}}},
        answers={200: ITEM},
        healthy=Healthy(200),
        sample=Sample("/items/7", body={"qty": 1}),
    )
    get = Route(
        "GET",
        "/items/{id}",
        _answer,
        summary="Read an item",
        iam=True,
        query={"type": "object", "properties": {"view": {"type": "string"}}, "required": ["view"]},
        answers={200: ITEM},
        refusals=(404,),
        healthy=Healthy(404),
        sample=Sample("/items/7", query="view=full"),
    )
    files = Route("GET", "/files/{key+}", _answer, summary="A file", public="p", healthy=Healthy(200, ()))
    return [put, get, files]


def test_the_shipped_document_is_valid_openapi_3_1_and_describes_every_route() -> None:
    document = json.loads(DOCUMENT.read_text())
    validate(document)
    assert document["openapi"] == "3.1.0"
    operations = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert operations == {route.key for route in ROUTES}


def test_a_public_route_says_so_and_lists_the_errors_http_api_gives_it() -> None:
    (route,) = [r for r in _routes() if r.path == "/files/{key+}"]
    operation = openapi.operation(route)
    assert (operation["security"], operation["description"]) == ([], "Public: p")
    assert sorted(operation["responses"]) == ["200", "429", "500", "503", "504"]
    # A row without an answer schema: its healthy keys, each required, as the release checks hold it.
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {},
        "required": [],
    }


def test_a_jwt_route_with_a_body_has_its_scopes_schemas_and_every_refusal() -> None:
    put = _routes()[0]
    operation = openapi.operation(put)
    assert operation["operationId"] == "putItemsId"
    assert operation["security"] == [{"jwt": ["items:write"]}]
    assert operation["requestBody"] == {"required": True, "content": {"application/json": {"schema": put.body}}}
    assert operation["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 8}}
    ]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == ITEM
    assert sorted(operation["responses"]) == ["200", "400", "401", "403", "413", "415", "429", "500", "503", "504"]


def test_an_iam_route_with_a_query_and_a_refusal() -> None:
    get = _routes()[1]
    operation = openapi.operation(get)
    assert operation["security"] == [{"iam": []}]
    assert operation["parameters"] == [
        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "view", "in": "query", "required": True, "schema": {"type": "string"}},
    ]
    assert sorted(operation["responses"]) == ["200", "400", "403", "404", "429", "500", "503", "504"]
    assert operation["responses"]["404"] == {"$ref": "#/components/responses/404"}


def test_a_whole_document_of_every_kind_of_route_validates_and_names_its_security_schemes() -> None:
    document = openapi.document(_routes(), SETTINGS, version="1.2.3")
    validate(document)
    assert sorted(document["components"]["securitySchemes"]) == ["iam", "jwt"]
    assert document["components"]["securitySchemes"]["iam"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    assert sorted(document["paths"]) == ["/files/{key}", "/items/{id}"]
    responses = sorted(document["components"]["responses"], key=int)
    assert responses == [str(status) for status in (400, 401, 403, 404, 413, 415, 429, 500, 503, 504)]
    assert document["info"]["version"] == "1.2.3"


def test_the_error_schema_is_the_functions_with_the_request_id_optional() -> None:
    assert openapi.ERROR_SCHEMA["properties"] == ERROR_ANSWER["properties"]
    assert openapi.ERROR_SCHEMA["required"] == ["message"]


def test_the_server_is_the_deployed_apis_custom_domain_or_a_given_url() -> None:
    import dataclasses

    assert openapi.document([], SETTINGS, version="1", server="http://127.0.0.1:9")["servers"][0]["url"] == (
        "http://127.0.0.1:9"
    )
    custom = dataclasses.replace(SETTINGS, custom_domain_name="api.example.com")
    assert openapi.document([], custom, version="1")["servers"] == [
        {"url": "https://api.example.com", "description": "the API's custom domain"}
    ]
    deployed = openapi.document([], SETTINGS, version="1")["servers"][0]
    assert deployed["url"] == "https://{apiId}.execute-api.{region}.amazonaws.com"
    assert deployed["variables"]["region"]["default"] == SETTINGS.region


@pytest.mark.parametrize(("path", "expected"), [("/", "getRoot"), ("/a-b/{c_d}", "getABCD"), ("/x/{k+}", "getXK")])
def test_operation_ids_come_from_the_route_key(path: str, expected: str) -> None:
    route = Route("GET", path, _answer, summary="s", public="p", healthy=Healthy(200, ()))
    assert openapi.operation_id(route) == expected


def test_make_serve_serves_the_document_for_its_own_url(template_file: Path) -> None:
    with serving(serve(0, template_file)) as api, urllib.request.urlopen(api.url + OPENAPI_PATH, timeout=5) as got:
        document = json.loads(got.read())
    validate(document)
    assert document["servers"] == [{"url": api.url, "description": "make serve"}]
    assert document["paths"] == json.loads(DOCUMENT.read_text())["paths"]


def test_a_route_of_the_table_at_that_path_wins_over_the_document() -> None:
    seen: list[str] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.append(event["routeKey"])
        return {"statusCode": 200, "body": "{}"}

    api = LocalApi(("127.0.0.1", 0), routes=frozenset({"GET /openapi.json"}), access_log_format={}, handler=handler)
    api.contract = lambda url: {"openapi": "3.1.0"}
    with serving(api), urllib.request.urlopen(api.url + OPENAPI_PATH, timeout=5) as got:
        assert json.loads(got.read()) == {}
    assert seen == ["GET /openapi.json"]


def test_the_security_schemes_are_exactly_what_http_api_checks() -> None:
    import dataclasses

    issuer = dataclasses.replace(SETTINGS, jwt_issuer="https://id.example.com", jwt_audiences=("app", "cli"))
    schemes = openapi.document(_routes(), issuer, version="1")["components"]["securitySchemes"]
    assert schemes == {
        "jwt": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A token of https://id.example.com for app, cli. HTTP API's JWT authorizer checks iss, aud "
            "(or client_id), exp, nbf and iat, and that the token holds one of the operation's scopes.",
        },
        "iam": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "AWS Signature Version 4 (service execute-api) by a principal allowed execute-api:Invoke on "
            "the route.",
            "x-amazon-apigateway-authtype": "awsSigv4",
        },
    }
    unset = dataclasses.replace(SETTINGS, jwt_issuer=None, jwt_audiences=())
    described = openapi.document(_routes()[:1], unset, version="1")["components"]["securitySchemes"]
    assert list(described) == ["jwt"]
    assert described["jwt"]["description"].startswith(
        "A token of the issuer in the jwtIssuer setting for the jwtAudiences setting. "
    )
    assert "securitySchemes" not in openapi.document(_routes()[2:], SETTINGS, version="1")["components"]


def test_each_error_answer_is_described_and_refers_to_the_error_schema() -> None:
    conflict = Route(
        "POST", "/c", _answer, summary="s", public="p", refusals=(409,), healthy=Healthy(200, ()), sample=Sample("/c")
    )
    responses = openapi.document([conflict], SETTINGS, version="1")["components"]["responses"]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    assert responses["429"] == {"description": openapi.WHY[429], "content": error}
    assert responses["409"] == {"description": "Conflict", "content": error}  # a status WHY does not know: its phrase
    assert "200" not in responses


def test_the_document_is_rendered_stably_in_utf8_with_a_final_newline() -> None:
    assert openapi.rendered({"b": "é", "a": [1]}) == '{\n  "b": "é",\n  "a": [\n    1\n  ]\n}\n'


def test_the_servers_and_info_are_exactly_these() -> None:
    deployed = openapi.document([], SETTINGS, version="7")
    assert deployed["servers"] == [
        {
            "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
            "description": "the deployed HTTP API (its URL is the stack's ProdApiUrl output)",
            "variables": {
                "apiId": {"default": "example123", "description": "the HTTP API's id"},
                "region": {"default": SETTINGS.region, "description": "the stack's Region"},
            },
        }
    ]
    assert deployed["info"] == {
        "title": "Prod serverless API",
        "version": "7",
        "description": "Generated from service/routes.py by `make docs`: do not edit.",
    }
    assert (deployed["openapi"], deployed["jsonSchemaDialect"]) == (
        "3.1.0",
        "https://json-schema.org/draft/2020-12/schema",
    )
    local = openapi.document([], SETTINGS, version="7", server="http://127.0.0.1:3000")
    assert local["servers"] == [{"url": "http://127.0.0.1:3000", "description": "make serve"}]


def test_a_healthy_refusal_without_a_schema_is_not_described_as_a_success() -> None:
    route = Route("GET", "/gone", _answer, summary="s", public="p", healthy=Healthy(400, ("message",)))
    assert sorted(openapi.operation(route)["responses"]) == ["429", "500", "503", "504"]


def test_upper_case_path_words_and_variables_are_kept() -> None:
    route = Route("GET", "/Items/{ID}", _answer, summary="s", public="p", healthy=Healthy(200, ()))
    assert openapi.operation_id(route) == "getItemsID"
    assert [parameter["name"] for parameter in openapi.parameters(route)] == ["ID"]
