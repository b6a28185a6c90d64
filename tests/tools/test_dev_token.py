"""`make token SCOPES=…`: a token of the development issuer that make serve's JWT check accepts for a route with one of
its scopes; a mistake is one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prod_serverless.settings import Settings, parse_pairs
from tools import dev_token
from tools.local_auth import JWT, DevIssuer, RouteAuth, check_jwt


@pytest.fixture
def issuer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DevIssuer:
    made = DevIssuer(tmp_path / "key.pem")
    monkeypatch.setattr(dev_token, "DevIssuer", lambda: made)
    # The settings of CONTEXT alone, whatever a team's cdk.json holds (its own issuer, say).
    monkeypatch.setattr(dev_token, "configured", lambda: Settings.from_context(parse_pairs(os.environ["CONTEXT"])))
    return made


def test_the_token_is_accepted_for_its_scopes_and_the_configured_audience(
    issuer: DevIssuer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONTEXT", "jwtIssuer=https://issuer.example.com/ jwtAudiences=first,second")
    assert dev_token.main(["--scopes", "items:read other"]) == 0
    token = capsys.readouterr().out.strip()
    assert check_jwt(token, RouteAuth(JWT, ("items:read",), ("first",)), issuer.keys)[0] is None
    assert check_jwt(token, RouteAuth(JWT, ("items:read",), ("second",)), issuer.keys)[0] is not None
    assert check_jwt(token, RouteAuth(JWT, ("items:write",), ("first",)), issuer.keys)[0] is not None


@pytest.mark.parametrize(
    ("context", "scopes", "message"),
    [
        ("jwtIssuer=https://issuer.example.com/ jwtAudiences=a", "", "SCOPES must name the scopes"),
        ("jwtIssuer=https://issuer.example.com/ jwtAudiences=a", 'say"hi', "is not a scope"),
        ("", "items:read", "set jwtIssuer and jwtAudiences in cdk.json first"),
        ("jwtIssuer=http://x.example.com jwtAudiences=a", "items:read", "must be the issuer's https URL"),
    ],
)
def test_a_mistake_is_one_line(
    issuer: DevIssuer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    context: str,
    scopes: str,
    message: str,
) -> None:
    monkeypatch.setenv("CONTEXT", context)
    assert dev_token.main(["--scopes", scopes]) == 1
    out, err = capsys.readouterr()
    assert out == "" and message in err and err.count("\n") == 1
