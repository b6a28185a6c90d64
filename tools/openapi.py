"""The API's contract as an OpenAPI 3.1 document, generated from the route table and the settings: `make docs`
writes docs/openapi.json, `make test` validates it (openapi-spec-validator) and fails when it is stale,
`make serve` serves it at /openapi.json (unless a route of the table has that path), and the fuzzer
(tests/tools/test_contract.py) holds the local server to it. tools/openapi_diff.py compares two of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from http import HTTPStatus
from typing import Any

from prod_serverless.settings import Settings
from service.routing import ERROR_ANSWER, IAM, JWT, Route

OPENAPI_VERSION = "3.1.0"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
ERROR = "#/components/schemas/Error"
# HTTP API's own refusals carry {"message"} only; the function's carry the request id too (service/handler.py).
ERROR_SCHEMA = {
    **ERROR_ANSWER,
    "required": ["message"],
    "description": "An error answer. `requestId` (the Lambda request id) is there when the function answered, "
    "not when HTTP API refused the request before invoking it.",
}
BODY_METHODS = ("POST", "PUT", "PATCH")
# Why each error answer can happen, as API Gateway and the function document it.
WHY = {
    400: "The request does not match the route's schemas, or its body is not JSON (the message names where).",
    # API Gateway "Troubleshooting issues with HTTP API JWT authorizers": 401 {"message":"Unauthorized"}.
    401: "No valid token: missing, expired, or not issued by the trusted issuer for a trusted audience.",
    # Same page: a token that holds none of the route's scopes is refused with 403; so is a bad SigV4 signature.
    403: "The caller is not allowed: the token has none of the route's scopes, or the request's signature is wrong.",
    404: "What the route looked for does not exist.",
    # HTTP API quotas: payload 10 MB; the function's own limit is Lambda's 6 MB (or the route's max_body_bytes).
    413: "The body is over the route's limit (at most Lambda's 6 MB) or HTTP API's 10 MB.",
    415: "The body is declared as something other than JSON.",
    # API Gateway "Throttling requests to your HTTP API": over the rate or burst, 429 Too Many Requests.
    429: "Over the stage's throttling rate or burst: retry with backoff.",
    # API Gateway "Troubleshooting issues with HTTP API Lambda integrations": {"message":"Internal Server Error"}.
    500: "The function failed (its own answer carries requestId) or could not be invoked.",
    # Past HTTP API's 30 s integration timeout (its quotas page) no page we read names the status, and reports differ
    # (503, 504): both are documented, so a client written against this document handles either.
    503: "The function is unavailable or did not answer in time: retry with backoff.",
    504: "The function did not answer within HTTP API's 30 s: retry with backoff.",
}


def operation_id(route: Route) -> str:
    """`GET /` -> getRoot, `PUT /items/{id}` -> putItemsId: stable, and unique because route keys are."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", route.path) if w] or ["root"]
    return route.method.lower() + "".join(w[:1].upper() + w[1:] for w in words)


def openapi_path(path: str) -> str:
    """A route path in OpenAPI's templating: a greedy `{key+}` is `{key}` (its value may hold slashes)."""
    return path.replace("+}", "}")


def error_statuses(route: Route) -> list[int]:
    """The error answers this route can really give, by who gives them."""
    statuses = {429, 500, 503, 504, *route.refusals}  # HTTP API throttling and integration failures; the route's own
    if route.validates or route.method in BODY_METHODS:
        statuses.add(400)
    if route.method in BODY_METHODS:
        statuses.update((413, 415))
    if route.authorization == JWT:
        statuses.update((401, 403))
    elif route.authorization == IAM:
        statuses.add(403)
    return sorted(statuses)


def parameters(route: Route) -> list[dict[str, Any]]:
    """Path parameters (each from its schema, or any string), then query parameters from the query schema."""
    found = []
    path_schema = route.path_parameters or {}
    for name in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\+?\}", route.path):
        schema = path_schema.get("properties", {}).get(name, {"type": "string"})
        found.append({"name": name, "in": "path", "required": True, "schema": schema})
    query = route.query or {}
    required = set(query.get("required", ()))
    for name, schema in query.get("properties", {}).items():
        found.append({"name": name, "in": "query", "required": name in required, "schema": schema})
    return found


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def operation(route: Route) -> dict[str, Any]:
    """One route as an OpenAPI operation."""
    found: dict[str, Any] = {"operationId": operation_id(route), "summary": route.summary}
    if route.authorization == JWT:
        found["security"] = [{"jwt": list(route.jwt or ())}]
    elif route.authorization == IAM:
        found["security"] = [{"iam": []}]
    else:
        found["security"] = []  # public: explicitly no authorization
        found["description"] = f"Public: {route.public}"
    if params := parameters(route):
        found["parameters"] = params
    if route.body is not None:
        found["requestBody"] = {"required": True, "content": _json(route.body)}
    responses: dict[str, Any] = {}
    answers = dict(route.answers)
    if route.healthy.status not in answers and route.healthy.status < 400:  # a row without schemas: its keys
        keys = sorted(route.healthy_keys)
        answers[route.healthy.status] = {"type": "object", "properties": {key: {} for key in keys}, "required": keys}
    for status, schema in sorted(answers.items()):
        responses[str(status)] = {"description": HTTPStatus(status).phrase, "content": _json(schema)}
    for status in error_statuses(route):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{status}"})
    found["responses"] = dict(sorted(responses.items()))
    return found


def document(routes: Iterable[Route], settings: Settings, *, version: str, server: str | None = None) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document. `server`: a concrete URL (make serve's); else the deployed API's."""
    routes = sorted(routes, key=lambda route: (route.path, route.method))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(openapi_path(route.path), {})[route.method.lower()] = operation(route)
    used = sorted({int(status) for item in paths.values() for op in item.values() for status in op["responses"]})
    schemes: dict[str, Any] = {}
    if any(route.authorization == JWT for route in routes):
        issuer = settings.jwt_issuer or "the issuer in the jwtIssuer setting"
        audiences = ", ".join(settings.jwt_audiences) or "the jwtAudiences setting"
        schemes["jwt"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"A token of {issuer} for {audiences}. HTTP API's JWT authorizer checks iss, aud "
            "(or client_id), exp, nbf and iat, and that the token holds one of the operation's scopes.",
        }
    if any(route.authorization == IAM for route in routes):
        schemes["iam"] = {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "AWS Signature Version 4 (service execute-api) by a principal allowed "
            "execute-api:Invoke on the route.",
            "x-amazon-apigateway-authtype": "awsSigv4",  # API Gateway's own OpenAPI extension for IAM
        }
    components: dict[str, Any] = {
        "schemas": {"Error": ERROR_SCHEMA},
        "responses": {
            str(status): {"description": WHY.get(status, HTTPStatus(status).phrase), "content": _json({"$ref": ERROR})}
            for status in used
            if status >= 400
        },
    }
    if schemes:
        components["securitySchemes"] = schemes
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": DIALECT,
        "info": {
            "title": "Prod serverless API",
            "version": version,
            "description": "Generated from service/routes.py by `make docs`: do not edit.",
        },
        "servers": [_server(settings, server)],
        "paths": paths,
        "components": components,
    }


def _server(settings: Settings, url: str | None) -> dict[str, Any]:
    if url:
        return {"url": url, "description": "make serve"}
    if settings.custom_domain_name:
        return {"url": f"https://{settings.custom_domain_name}", "description": "the API's custom domain"}
    return {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
        "description": "the deployed HTTP API (its URL is the stack's ProdApiUrl output)",
        "variables": {
            "apiId": {"default": "example123", "description": "the HTTP API's id"},
            "region": {"default": settings.region, "description": "the stack's Region"},
        },
    }


def rendered(document: dict[str, Any]) -> str:
    """The document as docs/openapi.json holds it: stable key order, two-space indent, a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
