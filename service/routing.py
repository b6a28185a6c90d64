"""What a route is, what a request is, and how a request finds its route: a small dispatcher over the table in
`service/routes.py`, standard library only (Powertools' event handler would cost ~55 ms of import at every cold
start; this costs about one).

The HTTP API routes only the route keys of the table to the function, so in production the function sees a
known route; the 404 and 405 answers here serve direct invocations, the local server and `ANY`-free safety.
"""

from __future__ import annotations

import json
import re

# typing costs a cold start ~2.5 ms of import; annotations need it only when checked (mypy knows this name).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

# Lambda quotas: an invocation payload (request and response) is at most 6 MB when synchronous; a body that
# arrived is inside it, so this bounds the decoded body a route may ask for (a route can set less).
MAX_BODY_BYTES = 6 * 1024 * 1024
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# HTTP API route paths: literal segments and `{name}` path variables; `{name+}` (greedy) only last.
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]+|\{[A-Za-z_][A-Za-z0-9_]*\}|\{[A-Za-z_][A-Za-z0-9_]*\+\}")
# RFC 6749 section 3.3: a scope token is printable ASCII without space, `"` or `\`.
SCOPE_PATTERN = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")
# Who may call a route (exactly one per row): anyone, a bearer of a JWT with one of its scopes, an IAM principal.
PUBLIC, JWT, IAM = "public", "jwt", "iam"
# The caller the release hook's event carries for an IAM route (its sample cannot name a real principal).
SAMPLE_IAM_CALLER = {
    "accessKey": "ASIASAMPLECALLER0000",
    "accountId": "123456789012",
    "callerId": "AROASAMPLECALLER0000:pre-traffic-check",
    "cognitoIdentity": None,
    "principalOrgId": None,
    "userArn": "arn:aws:sts::123456789012:assumed-role/pre-traffic-check/pre-traffic-check",
    "userId": "AROASAMPLECALLER0000:pre-traffic-check",
}
STATUS_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}

Body = dict[str, "Any"]
Answer = tuple[int, Body]
Schema = dict[str, "Any"]  # a JSON Schema (draft 2020-12, OpenAPI 3.1's dialect), as a JSON-shaped dict
# What the function answers a refused or failed request with (handler.error): the release checks and the
# OpenAPI document derive from it. HTTP API's own refusals carry only the message.
ERROR_ANSWER: Schema = {
    "type": "object",
    "properties": {"message": {"type": "string"}, "requestId": {"type": "string"}},
    "required": ["message", "requestId"],
    "additionalProperties": False,
}


class RouteError(ValueError):
    """A row of the route table is malformed; the message names the route and what is allowed."""


class HttpError(Exception):
    """Raised by a route function to answer a client error: `status` with `{"message": …}`."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or STATUS_MESSAGES.get(status, "Error"))
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "Error")


class JwtCaller:
    """The caller of a JWT route, as HTTP API verified it: the token's claims (HTTP API passes each as a string)
    and its scopes."""

    __slots__ = ("claims", "scopes")

    def __init__(self, claims: dict[str, str], scopes: tuple[str, ...]) -> None:
        self.claims = claims
        self.scopes = scopes

    @property
    def subject(self) -> str:
        """The token's `sub`: whom it was issued to (a user, or a client for client-credentials tokens)."""
        return self.claims.get("sub", "")


class IamCaller:
    """The caller of an IAM route, as HTTP API verified its Signature Version 4: account, principal ARN, user id."""

    __slots__ = ("access_key", "account_id", "principal_org_id", "user_arn", "user_id")

    def __init__(self, *, account_id: str, user_arn: str, user_id: str, access_key: str, principal_org_id: str) -> None:
        self.account_id = account_id
        self.user_arn = user_arn
        self.user_id = user_id
        self.access_key = access_key
        self.principal_org_id = principal_org_id


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def caller_of(authorizer: object) -> JwtCaller | IamCaller | None:
    """The caller described by a payload 2.0 event's `requestContext.authorizer`, typed; None for a public route.

    The function does not verify signatures again: HTTP API invokes it only after its authorizer accepted the
    request, and the alias's only invokers are this API (by SourceArn) and the release hook."""
    if not isinstance(authorizer, dict):
        return None
    jwt, iam = authorizer.get("jwt"), authorizer.get("iam")
    if isinstance(jwt, dict):
        raw = jwt.get("claims")
        claims = {str(k): v for k, v in raw.items() if isinstance(v, str)} if isinstance(raw, dict) else {}
        scopes = jwt.get("scopes")
        if isinstance(scopes, list):
            found = tuple(s for s in scopes if isinstance(s, str))
        else:  # null when the route requires none: read them from the claims, as HTTP API did (scope or scp)
            found = tuple((claims.get("scope") or claims.get("scp") or "").strip("[]").split())
        return JwtCaller(claims, found)
    if isinstance(iam, dict):
        return IamCaller(
            account_id=_text(iam.get("accountId")),
            user_arn=_text(iam.get("userArn")),
            user_id=_text(iam.get("userId")),
            access_key=_text(iam.get("accessKey")),
            principal_org_id=_text(iam.get("principalOrgId")),
        )
    return None


class Request:
    """The parts of an HTTP API payload 2.0 event a route function may use, already type-checked."""

    __slots__ = (
        "_authorizer",
        "_json",
        "api_request_id",
        "aws_request_id",
        "body",
        "headers",
        "is_base64_encoded",
        "max_body_bytes",
        "method",
        "path",
        "path_parameters",
        "query",
    )

    def __init__(
        self,
        *,
        method: str,
        path: str,
        api_request_id: str = "",
        aws_request_id: str = "unknown",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: str | None = None,
        is_base64_encoded: bool = False,
        authorizer: object = None,
    ) -> None:
        self._authorizer = authorizer  # typed only when a route asks (caller): a public route pays nothing
        self._json: Any = _UNREAD
        self.method = method
        self.path = path
        self.api_request_id = api_request_id
        self.aws_request_id = aws_request_id
        self.headers = dict(headers or {})
        self.query = dict(query or {})
        self.body = body
        self.is_base64_encoded = is_base64_encoded
        self.path_parameters: dict[str, str] = {}
        self.max_body_bytes = MAX_BODY_BYTES

    @property
    def caller(self) -> JwtCaller | IamCaller | None:
        """Who called, as HTTP API verified it: JwtCaller, IamCaller, or None on a public route."""
        return caller_of(self._authorizer)

    def raw_body(self) -> bytes:
        """The body as bytes, base64-decoded when API Gateway encoded it; 413 over the route's limit."""
        if not self.body:
            return b""
        if self.is_base64_encoded:
            import base64  # only routes that read a binary body pay for it
            import binascii

            try:
                data = base64.b64decode(self.body, validate=True)
            except (binascii.Error, ValueError):
                raise HttpError(400, "body is not valid base64") from None
        else:
            data = self.body.encode("utf-8", "surrogatepass")
        if len(data) > self.max_body_bytes:
            raise HttpError(413, f"body is over {self.max_body_bytes} bytes")
        return data

    def json(self) -> Any:
        """The body decoded as JSON (once: validation and the route share it); 400 when it is missing, malformed,
        nested past the interpreter's recursion limit or holds a number that is not finite; 415 when it says it
        is not JSON."""
        if self._json is _UNREAD:
            self._json = self._decode()
        return self._json

    def _decode(self) -> Any:
        content_type = self.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise HttpError(415, "send the body as application/json")
        data = self.raw_body()
        if not data:
            raise HttpError(400, "a JSON body is required")
        try:
            # JSON has no NaN or Infinity (RFC 8259 section 6); Python's decoder accepts both, and 1e400 as inf.
            return json.loads(data, parse_constant=_not_finite, parse_float=_finite)
        except RecursionError:
            raise HttpError(400, "body is nested too deeply") from None
        except _NotFiniteError:
            raise HttpError(400, "body holds a number that is not finite") from None
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "body is not valid JSON") from None


_UNREAD = object()


class _NotFiniteError(ValueError):
    pass


def _not_finite(name: str) -> Any:
    raise _NotFiniteError(name)


def _finite(text: str) -> float:
    value = float(text)
    if value - value != 0:  # inf and nan: their difference with themselves is nan
        raise _NotFiniteError(text)
    return value


class Sample:
    """A request that a healthy deployment answers: the release hook, smoke and verify send it. On a JWT route,
    `claims` are the verified claims the release hook's event carries (HTTP API passes each as a string)."""

    __slots__ = ("body", "claims", "path", "query")

    def __init__(
        self, path: str | None = None, *, body: Any = None, query: str = "", claims: dict[str, str] | None = None
    ) -> None:
        self.path = path
        self.body = body
        self.query = query
        self.claims = claims


class Healthy:
    """What a healthy answer to the sample is: its status and exactly its body's top-level keys. A row that
    declares the status's answer schema gives no keys: they are its properties (one source, not two)."""

    __slots__ = ("given", "status")

    def __init__(self, status: int, keys: tuple[str, ...] | None = None) -> None:
        self.status = status
        self.given = None if keys is None else frozenset(keys)


class Route:
    """One row of the route table: everything that knows about routes reads it."""

    __slots__ = (
        "_pattern",
        "alarm_5xx",
        "answer",
        "answers",
        "body",
        "client_errors_page",
        "healthy",
        "healthy_keys",
        "iam",
        "jwt",
        "max_body_bytes",
        "method",
        "path",
        "path_parameters",
        "public",
        "query",
        "refusals",
        "sample",
        "summary",
    )

    def __init__(
        self,
        method: str,
        path: str,
        answer: Callable[[Request], Answer],
        *,
        summary: str,
        healthy: Healthy,
        public: str | None = None,
        jwt: tuple[str, ...] | None = None,
        iam: bool = False,
        sample: Sample | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        client_errors_page: bool = True,
        alarm_5xx: int | None = None,
        body: Schema | None = None,
        query: Schema | None = None,
        path_parameters: Schema | None = None,
        answers: dict[int, Schema] | None = None,
        refusals: tuple[int, ...] = (),
    ) -> None:
        self.method = method
        self.path = path
        self.answer = answer
        self.summary = summary
        self.public = public  # why anyone may call it; or
        self.jwt = jwt  # the scopes a JWT must hold one of; or
        self.iam = iam  # a SigV4-signed caller with execute-api:Invoke on the route
        self.healthy = healthy
        self.sample = sample or Sample(path)
        self.max_body_bytes = max_body_bytes
        self.client_errors_page = client_errors_page  # False: this route's 4xx answers never page
        self.alarm_5xx = alarm_5xx  # 5xx answers of this route per minute that alarm (and page); None: none
        # JSON Schemas the function validates before the route runs (service/validation.py): the JSON body, and
        # objects of the query and path parameters (strings, as HTTP API passes them).
        self.body = body
        self.query = query
        self.path_parameters = path_parameters
        self.answers = dict(answers or {})  # the answers' schemas by status, for the OpenAPI document
        self.refusals = tuple(refusals)  # client errors the route's own function answers (HttpError), e.g. 404
        self._pattern = _compile(self)
        self.healthy_keys = _healthy_keys(self)

    @property
    def validates(self) -> bool:
        """Whether the request is checked against a schema before the route runs."""
        return self.body is not None or self.query is not None or self.path_parameters is not None

    @property
    def key(self) -> str:
        """The HTTP API route key, e.g. `GET /items/{id}`."""
        return f"{self.method} {self.path}"

    @property
    def sample_path(self) -> str:
        return self.sample.path or self.path

    @property
    def authorization(self) -> str:
        """Who may call it: PUBLIC, JWT or IAM."""
        return JWT if self.jwt is not None else IAM if self.iam else PUBLIC

    def sample_authorizer(self) -> dict[str, Any] | None:
        """`requestContext.authorizer` of the sample's event, as HTTP API writes it after accepting the caller."""
        if self.jwt is not None:
            claims = self.sample.claims or {"sub": "pre-traffic-check", "scope": " ".join(self.jwt)}
            return {"jwt": {"claims": dict(claims), "scopes": list(self.jwt)}}
        return {"iam": dict(SAMPLE_IAM_CALLER)} if self.iam else None

    def check(self) -> dict[str, Any]:
        """The sample and its healthy answer as plain JSON: what the release hook, smoke and verify send and
        expect (the hook reads it from its environment, so it is small and self-contained). A protected route's
        check adds who may call it and the authorizer context its event carries."""
        check: dict[str, Any] = {
            "route": self.key,
            "method": self.method,
            "path": self.sample_path,
            "query": self.sample.query,
            "body": None if self.sample.body is None else sample_body(self.sample.body),
            "status": self.healthy.status,
            "keys": sorted(self.healthy_keys),
        }
        if self.authorization != PUBLIC:
            check.update(authorization=self.authorization, scopes=list(self.jwt or ()))
            check["authorizer"] = self.sample_authorizer()
        return check

    def match(self, path: str) -> dict[str, str] | None:
        """The path parameters when `path` is this route's path, else None."""
        found = self._pattern.fullmatch(path)
        return found.groupdict() if found else None

    @property
    def specificity(self) -> tuple[int, int]:
        return specificity(self.path)


def sample_body(body: Any) -> str:
    """A sample's body as a client sends it: compact JSON in UTF-8 (not \\u escapes, which would be larger)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


def specificity(path: str) -> tuple[int, int]:
    """HTTP API prefers literal segments to variables, and any variable to a greedy one."""
    segments = path.strip("/").split("/")
    return (sum(not s.startswith("{") for s in segments), -sum(s.endswith("+}") for s in segments))


def path_pattern(path: str, where: str = "route") -> re.Pattern[str]:
    """A route path (`/items/{id}`, `/files/{key+}`) as a regular expression with one group per variable."""
    parts = []
    segments = path.strip("/").split("/") if path != "/" else []
    for index, segment in enumerate(segments):
        if not _SEGMENT.fullmatch(segment):
            raise RouteError(f"{where}: segment {segment!r} must be a literal or a {{name}} path variable")
        if segment.endswith("+}"):
            if index != len(segments) - 1:
                raise RouteError(f"{where}: a greedy variable {segment} must be the last segment")
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


def _compile(route: Route) -> re.Pattern[str]:
    """Check the row and turn its path into a regular expression."""
    where = f"route {route.method} {route.path!r}"
    if route.method not in METHODS:
        raise RouteError(f"{where}: method must be one of {', '.join(METHODS)}")
    if not route.path.startswith("/") or (route.path != "/" and route.path.endswith("/")):
        raise RouteError(f"{where}: path must start with '/' and not end with one, e.g. /items/{{id}}")
    if not route.summary.strip():
        raise RouteError(f"{where}: summary must say in one line what it answers")
    given = [name for name, value in (("public", route.public), ("jwt", route.jwt), ("iam", route.iam or None))
             if value is not None]  # fmt: skip
    if len(given) != 1:
        raise RouteError(
            f'{where}: give exactly one of public="<why anyone may call it>", jwt=("<scope>", ...) or iam=True; '
            f"got {' and '.join(given) or 'none'}"
        )
    if route.jwt is not None and (
        isinstance(route.jwt, str)
        or not route.jwt
        or not all(isinstance(s, str) and SCOPE_PATTERN.fullmatch(s) for s in route.jwt)
    ):
        raise RouteError(
            f'{where}: jwt must be a tuple of one or more scopes without spaces, e.g. jwt=("items:read",); AWS '
            f"recommends scopes, since an ID token cannot be told from an access token; got {route.jwt!r}"
        )
    if route.sample.claims is not None and route.jwt is None:
        raise RouteError(f"{where}: sample claims are for a jwt route; this one is {route.authorization}")
    if not 100 <= route.healthy.status <= 599:
        raise RouteError(f"{where}: healthy status must be an HTTP status; got {route.healthy.status}")
    if not 0 < route.max_body_bytes <= MAX_BODY_BYTES:
        raise RouteError(f"{where}: max_body_bytes must be 1 to {MAX_BODY_BYTES} (Lambda's 6 MB payload)")
    size = 0 if route.sample.body is None else len(sample_body(route.sample.body).encode())
    if size > route.max_body_bytes:
        raise RouteError(f"{where}: the sample's body is {size} bytes, over the route's max_body_bytes; raise it")
    pattern = path_pattern(route.path, where)
    if not pattern.fullmatch(route.sample.path or route.path):
        raise RouteError(f"{where}: the sample path must be a concrete path of the route, e.g. /items/42")
    _check_contract(route, where, pattern)
    return pattern


def _check_contract(route: Route, where: str, pattern: re.Pattern[str]) -> None:
    """The shape of the row's schemas (their validity as JSON Schema is checked at synth: prod_serverless/schemas)."""
    for name in ("body", "query", "path_parameters"):
        schema = getattr(route, name)
        if schema is not None and not isinstance(schema, dict):
            raise RouteError(f"{where}: {name} must be a JSON Schema (a dict); got {type(schema).__name__}")
    for name, schema in (("query", route.query), ("path_parameters", route.path_parameters)):
        if schema is not None and schema.get("type") != "object":
            raise RouteError(f'{where}: {name} must be an object schema, {{"type": "object", "properties": …}}')
    if route.path_parameters is not None:
        variables = sorted(pattern.groupindex)
        declared = sorted(route.path_parameters.get("properties", {}))
        if declared != variables:
            raise RouteError(f"{where}: path_parameters must describe exactly the path's variables {variables}")
    if route.body is not None and route.method in ("GET", "DELETE"):
        raise RouteError(f"{where}: a {route.method} request has no body to validate; use query or drop body")
    for status in (*route.answers, *route.refusals):
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise RouteError(f"{where}: answers and refusals are keyed by HTTP status; got {status!r}")
    for status in route.refusals:
        if not 400 <= status <= 499:
            raise RouteError(f"{where}: refusals are the route's own client errors (4xx); got {status}")
    for status, schema in route.answers.items():
        if not isinstance(schema, dict):
            raise RouteError(f"{where}: answers[{status}] must be a JSON Schema (a dict)")


def _healthy_keys(route: Route) -> frozenset[str]:
    """The keys of the healthy answer: given by the row, or the properties of the status's answer schema."""
    where = f"route {route.method} {route.path!r}"
    status, given = route.healthy.status, route.healthy.given
    schema = route.answers.get(status) or (ERROR_ANSWER if status in route.refusals else None)
    if given is not None:
        if schema is not None:
            raise RouteError(f"{where}: its {status} answer has a schema; Healthy({status}) takes the keys from it")
        return given
    if schema is None:
        raise RouteError(
            f"{where}: Healthy({status}) needs the answer's keys, Healthy({status}, (...)), or answers={{{status}: "
            f"<schema>}} (or {status} in refusals)"
        )
    properties = schema.get("properties") if schema.get("type") == "object" else None
    if not isinstance(properties, dict) or sorted(schema.get("required", ())) != sorted(properties):
        raise RouteError(
            f"{where}: the healthy answer is checked by its exact keys, so answers[{status}] must be an object "
            "schema that requires each of its properties"
        )
    return frozenset(properties)


class Router:
    """Finds the route of a request: its answer function and path parameters, or 404 / 405 with `Allow`."""

    def __init__(self, routes: tuple[Route, ...]) -> None:
        keys = [route.key for route in routes]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise RouteError(f"routes {', '.join(duplicates)} appear more than once in the table")
        # Most specific first, as HTTP API matches.
        self.routes = tuple(sorted(routes, key=lambda route: route.specificity, reverse=True))

    def find(self, method: str, path: str) -> tuple[Route | None, dict[str, str], list[str]]:
        """(route, its path parameters, []) or (None, {}, the methods the path allows: [] for an unknown path)."""
        allowed = []
        for route in self.routes:
            parameters = route.match(path)
            if parameters is None:
                continue
            if route.method == method:
                return route, parameters, []
            allowed.append(route.method)
        return None, {}, sorted(set(allowed))
