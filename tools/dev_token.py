"""`make token SCOPES="items:read"`: print an access token of the local development issuer for the JWT routes of
`make serve` (tools/local_auth.py). Its audience is the first of `jwtAudiences`, so the local server checks `aud`
as the deployed authorizer would; its issuer is one the deployed API never trusts."""

from __future__ import annotations

import argparse
import sys

from prod_serverless.settings import SettingsError, configured
from service.routing import SCOPE_PATTERN
from tools.local_auth import TOKEN_LIFETIME_SECONDS, DevIssuer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scopes", default="", help="space-separated scopes the token holds")
    parser.add_argument("--lifetime", type=int, default=TOKEN_LIFETIME_SECONDS, help="seconds until it expires")
    args = parser.parse_args(argv)
    scopes = args.scopes.split()
    bad = [scope for scope in scopes if not SCOPE_PATTERN.fullmatch(scope)]
    if not scopes or bad:
        print(
            'make token: SCOPES must name the scopes the token holds, space-separated: make token SCOPES="items:read"'
            + (f"; {bad[0]!r} is not a scope" if bad else ""),
            file=sys.stderr,
        )
        return 1
    try:
        audiences = configured().jwt_audiences
    except SettingsError as error:
        print(f"make token: {error}", file=sys.stderr)
        return 1
    if not audiences:
        print("make token: no JWT routes to call: set jwtIssuer and jwtAudiences in cdk.json first", file=sys.stderr)
        return 1
    print(DevIssuer().mint(scopes=scopes, audience=audiences[0], lifetime=args.lifetime))
    return 0


if __name__ == "__main__":
    sys.exit(main())
