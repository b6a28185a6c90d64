"""Who `make smoke` and `make verify` are, to a protected route: the credentials each of its requests carries.

- Against `make serve` (127.0.0.1 or localhost): JWT routes get a token of the local development issuer, minted
  per route with its scopes; IAM routes a request signed with the local development credentials.
- Against the deployed API: JWT routes get `API_TOKEN` from the environment (an access token of `jwtIssuer` with
  the route's scope; without it the row fails and says so); IAM routes a request signed with your own AWS
  credentials, which need execute-api:Invoke on the route (the stack's verifier policy grants it).
Public routes get nothing. Nothing here writes a token or a signature to any output.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from service.routing import IAM, JWT
from tools.local_auth import LOCAL_CREDENTIALS, DevIssuer, sign_iam

TOKEN_ENV = "API_TOKEN"  # noqa: S105 - the name of the variable, not a token
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# A scope no route declares: the local smoke test's token that must be refused with 403.
NO_SUCH_SCOPE = "smoke:no-such-scope"


class CallerError(Exception):
    """A protected route cannot be called as asked; the message says what to give."""


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


class Callers:
    """Adds a check's credentials to its request: a bearer token (JWT) or a Signature Version 4 (IAM)."""

    def __init__(
        self,
        *,
        local: bool,
        region: str,
        audiences: tuple[str, ...] = (),
        environ: Mapping[str, str] = os.environ,
        aws_credentials: Callable[[], Any] | None = None,
        issuer: Callable[[], DevIssuer] = DevIssuer,
    ) -> None:
        self.local, self.region, self.audiences, self.environ = local, region, audiences, environ
        self._aws_credentials = aws_credentials
        self._issuer_factory = issuer
        self._issuer: DevIssuer | None = None

    def token(self, scopes: list[str]) -> str:
        """A bearer token for a JWT route with `scopes`: minted locally, or API_TOKEN for the deployed API."""
        if self.local:
            if not self.audiences:
                raise CallerError("a JWT route needs jwtAudiences in cdk.json (the local issuer's tokens name it)")
            self._issuer = self._issuer or self._issuer_factory()
            return self._issuer.mint(scopes=scopes, audience=self.audiences[0])
        token = self.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise CallerError(
                f"set {TOKEN_ENV} to an access token of jwtIssuer with scope {' or '.join(scopes)} "
                "to check this route's healthy answer"
            )
        return token

    def credentials(self) -> Any:
        if self.local:
            return LOCAL_CREDENTIALS
        if self._aws_credentials is None:
            from tools.aws import session

            self._aws_credentials = lambda: session(self.region).get_credentials().get_frozen_credentials()
        return self._aws_credentials()

    def authenticate(
        self, request: urllib.request.Request, check: Mapping[str, Any], scopes: list[str] | None = None
    ) -> None:
        """Give `request` the credentials its check's route requires (`scopes` overrides a JWT route's own)."""
        kind = check.get("authorization")
        if kind == JWT:
            request.add_header(
                "Authorization", f"Bearer {self.token(scopes if scopes is not None else check['scopes'])}"
            )
        elif kind == IAM:
            body = request.data if isinstance(request.data, bytes) else None
            headers = {name.lower(): value for name, value in request.header_items()}
            signed = sign_iam(request.get_method(), request.full_url, headers, body, self.credentials(), self.region)
            for name, value in signed.items():
                request.add_header(name, value)


def callers_for(url: str, environ: Mapping[str, str] = os.environ) -> Callers:
    """The callers for `url`, in the configured Region, with the configured audiences."""
    from prod_serverless.settings import configured

    settings = configured(environ)
    return Callers(local=is_local(url), region=settings.region, audiences=settings.jwt_audiences, environ=environ)
