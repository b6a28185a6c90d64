"""The routes' authorization offline, as HTTP API applies it before the function runs, for `make serve`, `make token`,
`make smoke` and the tests.

JWT routes (API Gateway "Control access to HTTP APIs with JWT authorizers"): the token from `Authorization` (with
or without `Bearer `), an RSA signature by a key of the issuer named by the header's `kid`, then `iss`, `aud` (or
`client_id` when the token has no `aud`), `exp`, `nbf`, `iat`, and one of the route's scopes in `scope` or `scp`.
Offline there is no issuer to fetch keys from, so the local server trusts one issuer of its own, the development
issuer: a key made on first use in `.local/` (never committed), named `https://local-issuer.invalid/` — `.invalid`
never resolves (RFC 2606), and `jwtIssuer` refuses it, so the deployed API never accepts these tokens.
Refusals are HTTP API's own: 401 `{"message":"Unauthorized"}` and 403 `{"message":"Forbidden"}` with a
`www-authenticate` header ("Troubleshooting issues with HTTP API JWT authorizers" shows its form).

IAM routes ("Control access to HTTP APIs with IAM authorization"): a Signature Version 4 request for `execute-api`,
recomputed with botocore's signer from the local development credentials, which exist nowhere in AWS. Anything
else is HTTP API's 403. The verified caller goes into the payload 2.0 event where HTTP API puts it:
`requestContext.authorizer.jwt` (claims and scopes) or `requestContext.authorizer.iam`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEV_ISSUER = "https://local-issuer.invalid/"
KEY_FILE = Path(__file__).resolve().parent.parent / ".local" / "dev-issuer-key.pem"
# "Currently, only RSA-based algorithms are supported": none, HMAC and EC tokens are refused before any key is used.
ALGORITHMS = ("RS256", "RS384", "RS512")
TOKEN_LIFETIME_SECONDS = 3600
# Signature Version 4 for execute-api, with credentials that AWS has never issued: good for this machine only.
LOCAL_CREDENTIALS = Credentials("AKIALOCALDEVELOPMENT", "local-development-secret-not-valid-in-any-aws-account")
LOCAL_ACCOUNT = "123456789012"
LOCAL_USER_ID = "AIDALOCALDEVELOPER00"
# AWS General Reference, "Signature Version 4": a request signed more than 15 minutes away from now is refused.
SIGV4_MAX_SKEW_SECONDS = 15 * 60
_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r" ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<signature>[0-9a-f]{64})"
)
NONE, JWT, IAM = "NONE", "JWT", "AWS_IAM"  # the template's AuthorizationType values


@dataclass(frozen=True)
class RouteAuth:
    """A route's authorization as the template declares it."""

    kind: str
    scopes: tuple[str, ...] = ()
    audiences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """HTTP API's own answer to a caller its authorizer refused."""

    status: int
    headers: dict[str, str]
    body: str


def route_authorization(template: Mapping[str, Any]) -> dict[str, RouteAuth]:
    """Every route key of the template's HTTP API and its authorization (type, scopes, the authorizer's audiences)."""
    resources = template["Resources"]
    found = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        route = resource["Properties"]
        kind = route.get("AuthorizationType", NONE)
        audiences: tuple[str, ...] = ()
        if kind == JWT:
            authorizer = resources[route["AuthorizerId"]["Ref"]]["Properties"]
            audiences = tuple(authorizer["JwtConfiguration"]["Audience"])
        found[route["RouteKey"]] = RouteAuth(kind, tuple(route.get("AuthorizationScopes", ())), audiences)
    return found


class DevIssuer:
    """The development issuer: an RSA key made once in `key_file`, which mints tokens and verifies them."""

    def __init__(self, key_file: Path | None = None) -> None:
        key_file = key_file or KEY_FILE  # read when called: the tests point it at a temporary directory
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            key_file.touch(mode=0o600)
            key_file.write_bytes(pem)
        loaded = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError(f"{key_file} is not an RSA key: delete it, and the next use makes a new one")
        self.private_key = loaded
        self.kid = _thumbprint(loaded.public_key())  # the key id a token names in its header

    @property
    def keys(self) -> dict[str, Any]:
        """The issuer's public keys by key id, as its jwks_uri would list them."""
        return {self.kid: self.private_key.public_key()}

    def mint(
        self,
        *,
        scopes: Sequence[str],
        audience: str,
        lifetime: int = TOKEN_LIFETIME_SECONDS,
        claims: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> str:
        """An access token of this issuer for `audience` with `scopes` (RS256, this key's `kid`)."""
        issued = int(time.time() if now is None else now)
        payload = {
            "iss": DEV_ISSUER,
            "sub": "local-developer",
            "aud": audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(scopes),
            **(claims or {}),
        }
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": self.kid})


def _thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """The key's RFC 7638 JWK thumbprint (SHA-256 of its canonical JWK), base64url."""
    numbers = public_key.public_numbers()

    def b64(value: int) -> str:
        return base64.urlsafe_b64encode(value.to_bytes((value.bit_length() + 7) // 8, "big")).rstrip(b"=").decode()

    canonical = json.dumps({"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _json(message: str) -> str:
    return json.dumps({"message": message}, separators=(",", ":"))


def unauthorized(description: str) -> Refusal:
    """401 as HTTP API's JWT authorizer answers it."""
    challenge = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return Refusal(401, {"content-type": "application/json", "www-authenticate": challenge}, _json("Unauthorized"))


def insufficient_scope(scopes: Sequence[str]) -> Refusal:
    """403: a valid token without any of the route's scopes."""
    challenge = (
        f'Bearer scope="{" ".join(scopes)}" error="insufficient_scope" '
        'error_description="the token does not have the required scope"'
    )
    return Refusal(403, {"content-type": "application/json", "www-authenticate": challenge}, _json("Forbidden"))


def forbidden(message: str = "Forbidden") -> Refusal:
    """403 as HTTP API answers a request its IAM authorization refused."""
    return Refusal(403, {"content-type": "application/json"}, _json(message))


def _as_http_api_passes(value: Any) -> str:
    """A claim as HTTP API passes it to the function: text; a list as `[a b]`, anything else as JSON text."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + " ".join(str(item) for item in value) + "]"
    return json.dumps(value, separators=(",", ":"))


def token_scopes(claims: Mapping[str, Any]) -> list[str]:
    """The scopes of a token: `scope` (space-separated text) or `scp` (a list, or text)."""
    raw = claims.get("scope", claims.get("scp", ""))
    return [str(scope) for scope in raw] if isinstance(raw, list) else str(raw).split()


def check_jwt(
    identity: str | None, auth: RouteAuth, keys: Mapping[str, Any]
) -> tuple[Refusal | None, dict[str, Any] | None]:
    """(None, the event's authorizer context) for a token HTTP API would accept on this route; else (refusal, None)."""
    if not identity:
        return unauthorized("the token is missing"), None
    token = identity.removeprefix("Bearer ").strip()
    try:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            return unauthorized(f"the token's algorithm is not one of {', '.join(ALGORITHMS)}"), None
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in keys:
            return unauthorized("the token's key id is not one of the issuer's keys"), None
        claims = jwt.decode(
            token,
            keys[kid],
            algorithms=[algorithm],
            issuer=DEV_ISSUER,
            options={"require": ["exp", "iss"], "verify_aud": False},
        )
    except jwt.ExpiredSignatureError:
        return unauthorized("the token has expired"), None
    except jwt.ImmatureSignatureError:
        return unauthorized("the token is not valid yet"), None
    except jwt.InvalidIssuerError:
        return unauthorized("the token does not have a valid issuer"), None
    except jwt.InvalidSignatureError:
        return unauthorized("the token's signature is not valid"), None
    except jwt.PyJWTError:
        return unauthorized("the token is malformed"), None
    # "API Gateway validates client_id only if aud is not present."
    named = claims["aud"] if "aud" in claims else claims.get("client_id")
    named = named if isinstance(named, list) else [named]
    if not set(named) & set(auth.audiences):
        return unauthorized("the token does not have a valid audience"), None
    scopes = token_scopes(claims)
    if not set(scopes) & set(auth.scopes):
        return insufficient_scope(auth.scopes), None
    passed = {name: _as_http_api_passes(value) for name, value in claims.items()}
    return None, {"jwt": {"claims": passed, "scopes": scopes}}


def sign_iam(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None, credentials: Any, region: str
) -> dict[str, str]:
    """The headers of `method url` signed with Signature Version 4 for execute-api (botocore's signer)."""
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers))
    SigV4Auth(credentials, "execute-api", region).add_auth(request)
    return dict(request.headers.items())


def check_iam(
    method: str, url: str, headers: Mapping[str, str], body: bytes, now: float | None = None
) -> tuple[Refusal | None, dict[str, Any] | None]:
    """(None, the event's authorizer context) for a request signed with the local development credentials."""
    signature = _SIGV4.fullmatch(headers.get("authorization", ""))
    if signature is None:
        return forbidden(), None
    if signature["service"] != "execute-api" or signature["key"] != LOCAL_CREDENTIALS.access_key:
        return forbidden("The security token included in the request is invalid."), None
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return forbidden(), None
    if abs((time.time() if now is None else now) - signed_at) > SIGV4_MAX_SKEW_SECONDS or stamp[:8] != signature["day"]:
        return forbidden("Signature expired"), None
    names = signature["signed"].split(";")
    if "host" not in names or any(name not in headers for name in names):
        return forbidden(), None
    request = AWSRequest(method=method, url=url, data=body, headers={name: headers[name] for name in names})
    request.context["timestamp"] = stamp
    signer = SigV4Auth(LOCAL_CREDENTIALS, "execute-api", signature["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, signature["signature"]):
        return forbidden(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method. Consult the service documentation for details."
        ), None
    caller = {
        "accessKey": signature["key"],
        "accountId": LOCAL_ACCOUNT,
        "callerId": LOCAL_USER_ID,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT}:user/local-developer",
        "userId": LOCAL_USER_ID,
    }
    return None, {"iam": caller}


def authorize(
    auth: RouteAuth | None,
    *,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    keys: Mapping[str, Any],
) -> tuple[Refusal | None, dict[str, Any] | None]:
    """What HTTP API does with a request to a route of `auth` before the function: (refusal, None) or (None, the
    event's `requestContext.authorizer`, None for a public route). `headers` are lower-cased."""
    if auth is None or auth.kind == NONE:
        return None, None
    if auth.kind == JWT:
        return check_jwt(headers.get("authorization"), auth, keys)
    return check_iam(method, url, headers, body)
