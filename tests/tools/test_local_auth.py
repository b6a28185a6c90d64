"""make serve's authorizers: every token HTTP API's JWT authorizer refuses is refused here, each test changing one
thing from a valid token; IAM requests are accepted only with a valid local Signature Version 4. A refused request
never reaches the function, and no token reaches a log."""

from __future__ import annotations

import base64
import io
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives.asymmetric import rsa

from prod_serverless.log_formats import access_log_format
from service import handler
from service.routing import Healthy, Route, Router
from tests.tools.helpers import serving
from tools import smoke
from tools.callers import CallerError, Callers
from tools.local_auth import (
    DEV_ISSUER,
    IAM,
    JWT,
    LOCAL_CREDENTIALS,
    DevIssuer,
    RouteAuth,
    authorize,
    check_iam,
    check_jwt,
    sign_iam,
)
from tools.local_server import LocalApi

AUDIENCE = "test-audience"
SCOPES = ("items:read", "items:write")
AUTH = RouteAuth(JWT, SCOPES, (AUDIENCE, "other-audience"))


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> DevIssuer:
    return DevIssuer(tmp_path_factory.mktemp("issuer") / "key.pem")


def _valid(issuer: DevIssuer, **claims: Any) -> str:
    return issuer.mint(scopes=["items:read"], audience=AUDIENCE, claims=claims)


def _sign_as_issuer(issuer: DevIssuer, payload: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(payload, issuer.private_key, algorithm="RS256", headers={"kid": issuer.kid, **headers})


def _payload(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": DEV_ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600, "scope": "items:read"}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def test_a_valid_token_passes_with_its_claims_where_http_api_puts_them(issuer: DevIssuer) -> None:
    refusal, authorizer = check_jwt(f"Bearer {_valid(issuer)}", AUTH, issuer.keys)
    assert refusal is None and authorizer is not None
    assert authorizer["jwt"]["scopes"] == ["items:read"]
    claims = authorizer["jwt"]["claims"]
    assert claims["iss"] == DEV_ISSUER and claims["aud"] == AUDIENCE and claims["sub"] == "local-developer"
    assert all(isinstance(value, str) for value in claims.values())  # HTTP API passes each claim as text
    # The identity source may hold the token alone, without "Bearer ".
    assert check_jwt(_valid(issuer), AUTH, issuer.keys)[0] is None


def _forged_hmac(issuer: DevIssuer) -> str:
    """An HS256 token whose secret is the issuer's public key: the algorithm-confusion attack."""
    from cryptography.hazmat.primitives import serialization

    public = issuer.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": issuer.kid}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(_payload()).encode()).rstrip(b"=")
    import hashlib
    import hmac

    signature = base64.urlsafe_b64encode(hmac.new(public, header + b"." + body, hashlib.sha256).digest()).rstrip(b"=")
    return (header + b"." + body + b"." + signature).decode()


def _unsigned(issuer: DevIssuer) -> str:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": issuer.kid}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(_payload()).encode()).rstrip(b"=")
    return (header + b"." + body + b".").decode()


def _tampered(issuer: DevIssuer) -> str:
    header, _, signature = _sign_as_issuer(issuer, _payload()).split(".")
    body = base64.urlsafe_b64encode(json.dumps(_payload(scope="items:read admin")).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


def _other_key(issuer: DevIssuer) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(_payload(), other, algorithm="RS256", headers={"kid": "not-the-issuers-key"})


REFUSED: dict[str, tuple[Callable[[DevIssuer], str | None], int, str]] = {
    "no token": (lambda i: None, 401, "missing"),
    "expired": (lambda i: _sign_as_issuer(i, _payload(exp=int(time.time()) - 1)), 401, "expired"),
    "not yet valid (nbf)": (lambda i: _sign_as_issuer(i, _payload(nbf=int(time.time()) + 600)), 401, "not valid yet"),
    "issued in the future (iat)": (lambda i: _sign_as_issuer(i, _payload(iat=int(time.time()) + 600)), 401, "yet"),
    "no exp": (lambda i: _sign_as_issuer(i, _payload(exp=None)), 401, "malformed"),
    "wrong issuer": (lambda i: _sign_as_issuer(i, _payload(iss="https://evil.example.com/")), 401, "issuer"),
    "wrong audience": (lambda i: _sign_as_issuer(i, _payload(aud="someone-else")), 401, "audience"),
    "aud wins over a matching client_id": (
        lambda i: _sign_as_issuer(i, _payload(aud="someone-else", client_id=AUDIENCE)), 401, "audience"),
    "no required scope": (lambda i: _sign_as_issuer(i, _payload(scope="items:delete")), 403, "insufficient_scope"),
    "alg none": (_unsigned, 401, "algorithm"),
    "HMAC signed with the public key": (_forged_hmac, 401, "algorithm"),
    "a key id the issuer does not have": (_other_key, 401, "key id"),
    "tampered payload": (_tampered, 401, "signature"),
    "malformed header": (lambda i: "not-a-jwt." + _valid(i).split(".", 1)[1], 401, "malformed"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_each_bad_token_is_refused_as_http_api_refuses_it(issuer: DevIssuer, case: str) -> None:
    make, status, reason = REFUSED[case]
    token = make(issuer)
    refusal, authorizer = check_jwt(None if token is None else f"Bearer {token}", AUTH, issuer.keys)
    assert authorizer is None and refusal is not None
    assert refusal.status == status
    assert json.loads(refusal.body) == {"message": "Unauthorized" if status == 401 else "Forbidden"}
    assert reason in refusal.headers["www-authenticate"]
    assert token is None or token not in refusal.body + json.dumps(refusal.headers)


@pytest.mark.parametrize(
    ("claims", "scopes"),
    [
        ({"aud": None, "client_id": AUDIENCE}, ["items:read"]),  # a Cognito access token: client_id, no aud
        ({"scope": None, "scp": ["items:write", "x"]}, ["items:write", "x"]),  # scp as a list
        ({"aud": ["x", "other-audience"]}, ["items:read"]),  # aud as a list: one match is enough
    ],
)
def test_tokens_http_api_accepts_other_than_the_minted_shape(
    issuer: DevIssuer, claims: dict[str, Any], scopes: list[str]
) -> None:
    refusal, authorizer = check_jwt(_sign_as_issuer(issuer, _payload(**claims)), AUTH, issuer.keys)
    assert refusal is None and authorizer is not None
    assert authorizer["jwt"]["scopes"] == scopes


def test_a_missing_key_file_is_made_once_and_reused(tmp_path: Path) -> None:
    first = DevIssuer(tmp_path / "k.pem")
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600
    again = DevIssuer(tmp_path / "k.pem")
    assert again.kid == first.kid
    assert check_jwt(first.mint(scopes=["items:read"], audience=AUDIENCE), AUTH, again.keys)[0] is None


URL = "http://127.0.0.1:3000/admin/7?x=1"
BODY = b'{"a":1}'


def _signed(credentials: Any = LOCAL_CREDENTIALS, **changes: str) -> dict[str, str]:
    headers = sign_iam("POST", URL, {"content-type": "application/json"}, BODY, credentials, "eu-west-1")
    lower = {name.lower(): value for name, value in headers.items()} | {"host": "127.0.0.1:3000"}
    return lower | changes


def test_a_request_signed_with_the_local_credentials_passes_with_its_caller() -> None:
    refusal, authorizer = check_iam("POST", URL, _signed(), BODY)
    assert refusal is None and authorizer is not None
    assert authorizer["iam"]["accessKey"] == LOCAL_CREDENTIALS.access_key
    assert authorizer["iam"]["userArn"].startswith(f"arn:aws:iam::{authorizer['iam']['accountId']}:")


@pytest.mark.parametrize(
    ("what", "request_of"),
    [
        ("unsigned", lambda: ("POST", URL, {"host": "127.0.0.1:3000"}, BODY)),
        ("another secret", lambda: ("POST", URL, _signed(Credentials(LOCAL_CREDENTIALS.access_key, "wrong")), BODY)),
        ("another access key", lambda: ("POST", URL, _signed(Credentials("AKIAOTHER", "x")), BODY)),
        ("a changed body", lambda: ("POST", URL, _signed(), b'{"a":2}')),
        ("a changed path", lambda: ("POST", URL.replace("/7", "/8"), _signed(), BODY)),
        ("a changed method", lambda: ("PUT", URL, _signed(), BODY)),
        ("an old date", lambda: ("POST", URL, _signed(**{"x-amz-date": "20200101T000000Z"}), BODY)),
    ],
)
def test_each_bad_signature_is_refused_with_403(what: str, request_of: Callable[[], Any]) -> None:
    method, url, headers, body = request_of()
    refusal, authorizer = check_iam(method, url, headers, body)
    assert authorizer is None and refusal is not None and refusal.status == 403, what
    assert json.loads(refusal.body)["message"]


def test_a_public_route_passes_untouched() -> None:
    for auth in (None, RouteAuth("NONE")):
        assert authorize(auth, method="GET", url=URL, headers={}, body=b"", keys={}) == (None, None)


@pytest.fixture
def protected_api(issuer: DevIssuer) -> Iterator[tuple[LocalApi, list[Any]]]:
    """A local server with a JWT route and an IAM route whose function records every event it is given."""
    invoked: list[Any] = []
    me = Route("GET", "/me", lambda r: (200, {"sub": r.caller.subject}), summary="s", healthy=Healthy(200, ("sub",)),  # type: ignore[union-attr]
               jwt=SCOPES)  # fmt: skip
    who = Route("GET", "/who", lambda r: (200, {"arn": r.caller.user_arn}), summary="s", healthy=Healthy(200, ("arn",)),  # type: ignore[union-attr]
                iam=True)  # fmt: skip
    router = Router((me, who))

    def function(event: Any, context: Any) -> Any:
        invoked.append(event)
        return handler.handle(router, event, context)

    api = LocalApi(
        ("127.0.0.1", 0),
        routes=frozenset({me.key, who.key}),
        access_log_format=json.loads(access_log_format("full")),
        handler=function,
        access_log=io.StringIO(),
        authorization={me.key: AUTH, who.key: RouteAuth(IAM)},
        keys=issuer.keys,
    )
    with serving(api):
        yield api, invoked


def _get(url: str, headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
    status, answered, raw = smoke.send(urllib.request.Request(url, headers=headers), timeout=5)
    return status, json.loads(raw), answered


def test_the_local_server_refuses_before_the_function_and_logs_no_token(
    protected_api: tuple[LocalApi, list[Any]], issuer: DevIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    api, invoked = protected_api
    expired = _sign_as_issuer(issuer, _payload(exp=int(time.time()) - 1))
    unscoped = _sign_as_issuer(issuer, _payload(scope="x"))
    for headers, status in (({}, 401), ({"authorization": f"Bearer {expired}"}, 401),
                            ({"authorization": f"Bearer {unscoped}"}, 403)):  # fmt: skip
        answered_status, body, answered = _get(api.url + "/me", headers)
        assert (answered_status, body) == (status, {"message": {401: "Unauthorized", 403: "Forbidden"}[status]})
        assert "www-authenticate" in answered
    assert _get(api.url + "/who", {})[0] == 403
    assert invoked == []
    good = _valid(issuer)
    status, body, _ = _get(api.url + "/me", {"authorization": f"Bearer {good}"})
    assert (status, body) == (200, {"sub": "local-developer"})
    assert invoked[0]["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] == "local-developer"
    assert isinstance(api.access_log, io.StringIO)
    logged = api.access_log.getvalue() + "".join(capsys.readouterr())
    assert expired not in logged and good not in logged


def test_smoke_proves_each_protected_route_locally(
    protected_api: tuple[LocalApi, list[Any]], issuer: DevIssuer
) -> None:
    api, invoked = protected_api
    callers = Callers(local=True, region="eu-west-1", audiences=(AUDIENCE,), issuer=lambda: issuer)
    routes = [Route("GET", "/me", lambda r: (200, {}), summary="s", healthy=Healthy(200, ("sub",)), jwt=SCOPES),
              Route("GET", "/who", lambda r: (200, {}), summary="s", healthy=Healthy(200, ("arn",)),
                    iam=True)]  # fmt: skip
    assert len(smoke.run(api.url, 1, [route.check() for route in routes], callers)) == 2
    assert len(invoked) == 2  # the refusals (anonymous twice, a token without the scope) never reached it
    # A route that answers an anonymous caller is a failed smoke test, not a pass.
    api.authorization = {}
    with pytest.raises(smoke.SmokeError, match="an anonymous request got 500"):
        smoke.run(api.url, 1, [routes[0].check()], callers)


def test_against_the_deployed_api_a_jwt_route_needs_api_token() -> None:
    callers = Callers(local=False, region="eu-west-1", audiences=(AUDIENCE,), environ={})
    with pytest.raises(CallerError, match="API_TOKEN"):
        callers.token(["items:read"])
    given = Callers(local=False, region="eu-west-1", environ={"API_TOKEN": " abc "})
    assert given.token(["items:read"]) == "abc"


def test_verify_in_the_account_fails_a_jwt_rows_healthy_check_without_api_token(
    protected_api: tuple[LocalApi, list[Any]],
) -> None:
    """Without API_TOKEN the JWT route's refusal is still proven, and its healthy row fails saying what to give."""
    from tools import verify

    api, invoked = protected_api
    me = Route("GET", "/me", lambda r: (200, {}), summary="s", healthy=Healthy(200, ("sub",)), jwt=SCOPES)
    stack = verify.Stack(url=api.url, bucket="", key_arn="", topic_arn="", alias_arn="alias", alarms={})
    callers = Callers(local=False, region="eu-west-1", audiences=(AUDIENCE,), environ={})
    verifier = verify.Verifier(clients={}, stack=stack, checks=[me.check()], callers=callers)
    verifier.check_direct_invocation = lambda: True  # type: ignore[method-assign]
    assert not verifier.check_api()
    rows = {row.check: row for row in verifier.rows}
    assert rows["GET /me refuses an anonymous request"].ok
    healthy = rows["GET /me answers its healthy sample"]
    assert not healthy.ok and "API_TOKEN" in healthy.detail
    assert invoked == []


def test_verify_fails_a_protected_route_that_answers_an_anonymous_caller(
    protected_api: tuple[LocalApi, list[Any]], issuer: DevIssuer
) -> None:
    """The API in the account lost its authorizer (here: the local server has none): the refusal row fails."""
    from tools import verify

    api, _ = protected_api
    api.authorization = {}
    who = Route("GET", "/who", lambda r: (200, {}), summary="s", healthy=Healthy(200, ("arn",)), iam=True)
    stack = verify.Stack(url=api.url, bucket="", key_arn="", topic_arn="", alias_arn="alias", alarms={})
    callers = Callers(local=True, region="eu-west-1", audiences=(AUDIENCE,), issuer=lambda: issuer)
    verifier = verify.Verifier(clients={}, stack=stack, checks=[who.check()], callers=callers)
    verifier.check_direct_invocation = lambda: True  # type: ignore[method-assign]
    verifier.check_api()
    rows = {row.check: row for row in verifier.rows}
    refused = rows["GET /who refuses an anonymous request"]
    assert not refused.ok and refused.detail.startswith("500")  # the function ran, without a caller
