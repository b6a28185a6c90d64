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
STATUS_MESSAGES = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
}

Body = dict[str, "Any"]
Answer = tuple[int, Body]


class RouteError(ValueError):
    """A row of the route table is malformed; the message names the route and what is allowed."""


class HttpError(Exception):
    """Raised by a route function to answer a client error: `status` with `{"message": …}`."""

    def __init__(self, status: int, message: str | None = None) -> None:
        super().__init__(message or STATUS_MESSAGES.get(status, "Error"))
        self.status = status
        self.message = message or STATUS_MESSAGES.get(status, "Error")


class Request:
    """The parts of an HTTP API payload 2.0 event a route function may use, already type-checked."""

    __slots__ = (
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
    ) -> None:
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
        """The body decoded as JSON; 400 when it is missing or malformed, 415 when it says it is not JSON."""
        content_type = self.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise HttpError(415, "send the body as application/json")
        data = self.raw_body()
        if not data:
            raise HttpError(400, "a JSON body is required")
        try:
            return json.loads(data)
        except (UnicodeDecodeError, ValueError):
            raise HttpError(400, "body is not valid JSON") from None


class Sample:
    """A request that a healthy deployment answers: the release hook, smoke and verify send it."""

    __slots__ = ("body", "path", "query")

    def __init__(self, path: str | None = None, *, body: Any = None, query: str = "") -> None:
        self.path = path
        self.body = body
        self.query = query


class Healthy:
    """What a healthy answer to the sample is: its status and exactly its body's top-level keys."""

    __slots__ = ("keys", "status")

    def __init__(self, status: int, keys: tuple[str, ...]) -> None:
        self.status = status
        self.keys = frozenset(keys)


class Route:
    """One row of the route table: everything that knows about routes reads it."""

    __slots__ = (
        "_pattern",
        "alarm_5xx",
        "answer",
        "client_errors_page",
        "healthy",
        "max_body_bytes",
        "method",
        "path",
        "public",
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
        public: str,
        healthy: Healthy,
        sample: Sample | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
        client_errors_page: bool = True,
        alarm_5xx: int | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.answer = answer
        self.summary = summary
        self.public = public
        self.healthy = healthy
        self.sample = sample or Sample(path)
        self.max_body_bytes = max_body_bytes
        self.client_errors_page = client_errors_page  # False: this route's 4xx answers never page
        self.alarm_5xx = alarm_5xx  # 5xx answers of this route per minute that alarm (and page); None: none
        self._pattern = _compile(self)

    @property
    def key(self) -> str:
        """The HTTP API route key, e.g. `GET /items/{id}`."""
        return f"{self.method} {self.path}"

    @property
    def sample_path(self) -> str:
        return self.sample.path or self.path

    def check(self) -> dict[str, Any]:
        """The sample and its healthy answer as plain JSON: what the release hook, smoke and verify send and
        expect (the hook reads it from its environment, so it is small and self-contained)."""
        return {
            "route": self.key,
            "method": self.method,
            "path": self.sample_path,
            "query": self.sample.query,
            "body": None if self.sample.body is None else sample_body(self.sample.body),
            "status": self.healthy.status,
            "keys": sorted(self.healthy.keys),
        }

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
    return pattern


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
