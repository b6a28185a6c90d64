"""A row's authorization: exactly one of public, jwt scopes or iam, each refusal naming the route; the caller the
function reads from `request.caller`, typed from where HTTP API puts it; the release hook's event for a protected
route carries its sample's authorizer context; a public route's check is what it was."""

from __future__ import annotations

from typing import Any

import pytest

from pre_traffic_hook.handler import route_event, verdict
from service import handler
from service.routing import (
    SAMPLE_IAM_CALLER,
    Healthy,
    IamCaller,
    JwtCaller,
    Request,
    Route,
    RouteError,
    Router,
    Sample,
    caller_of,
)
from tests.conftest import FakeContext

REASON = "a test route of the authorization tests only; never deployed, bounded by stage throttling"


def _who(request: Request) -> tuple[int, dict[str, Any]]:
    caller = request.caller
    if isinstance(caller, JwtCaller):
        return 200, {"subject": caller.subject, "scopes": list(caller.scopes)}
    if isinstance(caller, IamCaller):
        return 200, {"account": caller.account_id, "arn": caller.user_arn}
    return 200, {"anonymous": caller is None}


def _row(**authorization: Any) -> Route:
    return Route("GET", "/who", _who, summary="who", healthy=Healthy(200, ("subject", "scopes")), **authorization)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        ({}, "got none"),
        ({"public": REASON, "jwt": ("a:b",)}, "got public and jwt"),
        ({"public": REASON, "iam": True}, "got public and iam"),
        ({"jwt": ("a:b",), "iam": True}, "got jwt and iam"),
        ({"jwt": ()}, "one or more scopes"),
        ({"jwt": "items:read"}, "one or more scopes"),  # a bare string would be read as one scope per letter
        ({"jwt": ("items read",)}, "without spaces"),
        ({"jwt": ('say"hi',)}, "without spaces"),
        ({"iam": True, "sample": Sample(claims={"sub": "x"})}, "sample claims are for a jwt route"),
    ],
)
def test_a_row_without_exactly_one_authorization_is_refused_naming_the_route(
    authorization: dict[str, Any], message: str
) -> None:
    with pytest.raises(RouteError, match=r"^route GET '/who': .*" + message):
        _row(**authorization)


def test_each_kind_is_its_own_authorization() -> None:
    assert _row(public=REASON).authorization == "public"
    assert _row(jwt=("a:b",)).authorization == "jwt"
    assert _row(iam=True).authorization == "iam"


def test_a_public_routes_check_carries_nothing_about_callers() -> None:
    """So the release hook's checks.json, and the template, of a public table are what they were."""
    assert set(_row(public=REASON).check()) == {"route", "method", "path", "query", "body", "status", "keys"}


def test_the_hook_sends_a_jwt_route_its_samples_claims_and_the_function_reads_them() -> None:
    route = _row(jwt=("items:read", "items:write"), sample=Sample(claims={"sub": "user-7", "scope": "items:read"}))
    check = route.check()
    assert (check["authorization"], check["scopes"]) == ("jwt", ["items:read", "items:write"])
    event = route_event(check, 0.0)
    assert event["requestContext"]["authorizer"] == {
        "jwt": {"claims": {"sub": "user-7", "scope": "items:read"}, "scopes": ["items:read", "items:write"]}
    }
    answer = handler.handle(Router((route,)), event, FakeContext())
    assert verdict(answer, check) is None
    assert '"subject":"user-7"' in answer["body"]


def test_a_jwt_sample_without_claims_has_a_subject_and_the_routes_scopes() -> None:
    claims = _row(jwt=("items:read", "items:list")).sample_authorizer()
    assert claims == {
        "jwt": {
            "claims": {"sub": "pre-traffic-check", "scope": "items:read items:list"},  # as a token holds them
            "scopes": ["items:read", "items:list"],
        }
    }
    assert _row(public=REASON).sample_authorizer() is None  # a public route's event has no authorizer


def test_the_hook_sends_an_iam_route_a_sample_caller() -> None:
    route = Route("GET", "/who", _who, summary="who", healthy=Healthy(200, ("account", "arn")), iam=True)
    event = route_event(route.check(), 0.0)
    assert event["requestContext"]["authorizer"] == {"iam": SAMPLE_IAM_CALLER}
    answer = handler.handle(Router((route,)), event, FakeContext())
    assert verdict(answer, route.check()) is None


def test_the_caller_is_typed_from_the_authorizer_context() -> None:
    jwt = caller_of({"jwt": {"claims": {"sub": "u", "exp": "1", "groups": 7}, "scopes": ["a", 3]}})
    assert isinstance(jwt, JwtCaller)
    assert (jwt.subject, jwt.claims, jwt.scopes) == ("u", {"sub": "u", "exp": "1"}, ("a",))  # only text passes
    # Scopes null (a route without scopes): read from the claims, `scope` or `scp`, as HTTP API did.
    assert caller_of({"jwt": {"claims": {"scope": "a b"}, "scopes": None}}).scopes == ("a", "b")  # type: ignore[union-attr]
    assert caller_of({"jwt": {"claims": {"scp": "[a b]"}}}).scopes == ("a", "b")  # type: ignore[union-attr]
    iam = caller_of({"iam": SAMPLE_IAM_CALLER})
    assert isinstance(iam, IamCaller)
    assert (iam.account_id, iam.user_arn, iam.user_id, iam.access_key, iam.principal_org_id) == (
        SAMPLE_IAM_CALLER["accountId"],
        SAMPLE_IAM_CALLER["userArn"],
        SAMPLE_IAM_CALLER["userId"],
        SAMPLE_IAM_CALLER["accessKey"],
        "",
    )
    for nothing in (None, {}, "jwt", {"lambda": {"x": "y"}}, {"jwt": "x"}):
        assert caller_of(nothing) is None
    # Claims that are not a map, or no scopes anywhere: an empty caller, never an error or an invented scope.
    bare = caller_of({"jwt": {"claims": "x"}})
    assert isinstance(bare, JwtCaller) and (bare.claims, bare.scopes) == ({}, ())
    in_org = caller_of({"iam": {**SAMPLE_IAM_CALLER, "principalOrgId": "o-a1b2c3d4e5"}})
    assert isinstance(in_org, IamCaller) and in_org.principal_org_id == "o-a1b2c3d4e5"


def test_a_public_route_reads_no_caller_even_if_the_event_claims_one() -> None:
    """The function trusts the gateway's context; a public route's event from HTTP API has none."""
    route = _row(public=REASON)
    event = route_event(route.check(), 0.0)
    answer = handler.handle(Router((route,)), event, FakeContext())
    assert '"anonymous":true' in answer["body"]
