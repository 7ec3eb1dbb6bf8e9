"""Authentication and authorisation over HTTP: refusals, their audit trail, and route scopes."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import fastapi.routing
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route

from hashshare.app import HEALTH_PATHS, create_app
from hashshare.auth.principal import Principal
from hashshare.auth.scopes import ALL_SCOPES, Scope
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.deps import require_scope
from tests.conftest import AUDIT_KEY, Api

UNPROTECTED = frozenset({"/healthz", "/readyz"})
# FastAPI's own documentation routes are plain Starlette routes, outside the API.
FASTAPI_DOC_ROUTES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# The console's static files hold no data: its pages call the API with the user's token.
# Nor do the assets of the documentation pages (Swagger UI and ReDoc bundles).
STATIC_MOUNTS = frozenset({"/console", "/docs-assets"})


# --- helpers -------------------------------------------------------------------------------


def _details(value: Any) -> dict[str, Any]:
    """JSON columns come back as text through a raw SQL query on some drivers."""
    if isinstance(value, str):
        return dict(json.loads(value))
    return dict(value or {})


async def _denied_events(api: Api) -> list[dict[str, Any]]:
    rows = await api.sql(
        "SELECT actor, member_id, action, outcome, request_id, details FROM audit_events "
        "WHERE outcome = 'denied' ORDER BY id"
    )
    return [
        {
            "actor": row[0],
            "member_id": row[1],
            "action": row[2],
            "outcome": row[3],
            "request_id": row[4],
            "details": _details(row[5]),
        }
        for row in rows
    ]


def _assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


def _expired_token(api: Api) -> str:
    an_hour_ago = int(time.time()) - 3600
    return issue_token(
        api.settings,
        member="alpha",
        scopes=sorted(ALL_SCOPES),
        sub="tester",
        ttl_seconds=60,
        now=an_hour_ago,
    )


def _scope_dependencies(dependant: Dependant) -> Iterator[frozenset[str]]:
    """Every `required_scopes` declared anywhere in a route's dependency tree."""
    for dependency in dependant.dependencies:
        scopes = getattr(dependency.call, "required_scopes", None)
        if scopes is not None:
            yield frozenset(scopes)
        yield from _scope_dependencies(dependency)


def _effective_routes(app: FastAPI) -> list[tuple[Any, Any]]:
    """(original route, effective route) pairs, with included routers flattened.

    Recent FastAPI keeps each included router as one entry of `app.routes`; the routes it
    serves, with their full paths and router-level dependencies, come from
    `iter_route_contexts`. Older FastAPI copied them into `app.routes` directly.
    """
    iter_route_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if iter_route_contexts is None:
        return [(route, route) for route in app.routes]
    return [(context.original_route, context) for context in iter_route_contexts(app.routes)]


def _routes_without_scope(app: FastAPI) -> list[str]:
    """Routes that answer without a scope check (health endpoints excepted)."""
    missing = []
    for original, route in _effective_routes(app):
        if isinstance(original, APIRoute):
            if route.path in UNPROTECTED:
                continue
            if not any(scopes for scopes in _scope_dependencies(route.dependant)):
                missing.append(f"{sorted(route.methods)} {route.path}")
        elif (isinstance(original, Route) and route.path in FASTAPI_DOC_ROUTES) or (
            isinstance(original, Mount) and original.path in STATIC_MOUNTS
        ):
            continue
        else:
            missing.append(f"{type(original).__name__} {getattr(route, 'path', original)}")
    return missing


def _app() -> FastAPI:
    return create_app(Settings(dev_mode=True, database_url="sqlite+aiosqlite:///:memory:"))


def _api_routes(app: FastAPI) -> list[tuple[str, str, frozenset[str]]]:
    """(method, concrete path, required scopes) of every protected route."""
    found = []
    for original, route in _effective_routes(app):
        if not isinstance(original, APIRoute) or route.path in UNPROTECTED:
            continue
        scopes = frozenset().union(*_scope_dependencies(route.dependant))
        path = route.path.replace("{hash_id}", "1")
        for method in sorted(route.methods):
            found.append((method, path, scopes))
    return found


PROTECTED_ROUTES = _api_routes(_app())


# --- 401: who are you? ---------------------------------------------------------------------


async def test_request_without_authorization_header_is_refused_with_a_bearer_challenge(
    api: Api,
) -> None:
    response = await api.client.get("/v1/labels")

    _assert_error(response, 401, "missing_token")
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "header",
    ["Basic xyz", "Bearer", "Bearer ", "bearer", "Token abc", "Bearer a b", "Bearerabc"],
)
async def test_authorization_header_that_is_not_a_bearer_token_is_malformed(
    api: Api, header: str
) -> None:
    response = await api.client.get("/v1/labels", headers={"Authorization": header})

    _assert_error(response, 401, "malformed_authorization")
    assert response.headers["www-authenticate"].lower().startswith("bearer")


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    response = await api.client.get(
        "/v1/labels", headers={"Authorization": f"bearer {api.token('alpha')}"}
    )

    assert response.status_code == 200, response.text


async def test_expired_token_is_refused(api: Api) -> None:
    response = await api.client.get(
        "/v1/labels", headers={"Authorization": f"Bearer {_expired_token(api)}"}
    )

    _assert_error(response, 401, "token_expired")
    assert "www-authenticate" in response.headers


async def test_garbage_bearer_token_is_refused(api: Api) -> None:
    response = await api.client.get("/v1/labels", headers={"Authorization": "Bearer abc.def.ghi"})

    _assert_error(response, 401, "malformed_token")


async def test_alg_none_token_is_refused(api: Api) -> None:
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(_claims("alpha", "admin")).encode())
    token = f"{header}.{payload.rstrip(b'=').decode()}."
    response = await api.client.get("/v1/labels", headers={"Authorization": f"Bearer {token}"})

    _assert_error(response, 401, "unsupported_algorithm")


async def test_token_for_a_member_that_does_not_exist_is_refused(api: Api) -> None:
    response = await api.client.get("/v1/labels", headers=api.auth("ghost"))

    _assert_error(response, 401, "unknown_member")
    assert "www-authenticate" in response.headers


async def test_token_for_a_member_added_later_is_accepted(api: Api) -> None:
    await api.add_member("gamma")

    response = await api.client.get("/v1/labels", headers=api.auth("gamma"))

    assert response.status_code == 200, response.text


# --- 403: you may not ----------------------------------------------------------------------


async def test_valid_token_without_the_route_scope_is_forbidden(api: Api) -> None:
    response = await api.client.get("/v1/audit", headers=api.auth("alpha", "hashes:match"))

    _assert_error(response, 403, "insufficient_scope")
    assert response.json()["error"]["details"] == {"required_any_of": ["audit:read"]}
    assert "www-authenticate" not in response.headers


async def test_token_with_no_scopes_is_forbidden_even_on_routes_open_to_any_scope(
    api: Api,
) -> None:
    response = await api.client.get("/v1/labels", headers=api.auth("alpha", []))

    _assert_error(response, 403, "insufficient_scope")


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    PROTECTED_ROUTES,
    ids=[f"{method} {path}" for method, path, _ in PROTECTED_ROUTES],
)
async def test_every_protected_route_refuses_a_caller_without_a_token(
    api: Api, method: str, path: str, scopes: frozenset[str]
) -> None:
    response = await api.client.request(method, path)

    _assert_error(response, 401, "missing_token")


@pytest.mark.parametrize(
    ("method", "path", "scopes"),
    [route for route in PROTECTED_ROUTES if ALL_SCOPES - route[2]],
    ids=[f"{method} {path}" for method, path, scopes in PROTECTED_ROUTES if ALL_SCOPES - scopes],
)
async def test_every_protected_route_forbids_a_token_with_only_other_scopes(
    api: Api, method: str, path: str, scopes: frozenset[str]
) -> None:
    other_scopes = sorted(ALL_SCOPES - scopes)

    response = await api.client.request(method, path, headers=api.auth("alpha", other_scopes))

    _assert_error(response, 403, "insufficient_scope")


# --- every refusal is audited --------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Basic xyz", "malformed_authorization"),
        ("Bearer", "malformed_authorization"),
        ("Bearer abc.def.ghi", "malformed_token"),
    ],
    ids=["missing", "basic", "bearer-empty", "garbage"],
)
async def test_unauthenticated_refusal_writes_one_anonymous_audit_event(
    api: Api, header: str | None, code: str
) -> None:
    headers = {"X-Request-ID": "req-auth-1"}
    if header is not None:
        headers["Authorization"] = header

    response = await api.client.get("/v1/labels", headers=headers)

    _assert_error(response, 401, code)
    [event] = await _denied_events(api)
    assert event["action"] == "auth.failed"
    assert event["outcome"] == "denied"
    assert event["actor"] is None
    assert event["member_id"] is None
    assert event["request_id"] == "req-auth-1"
    assert event["details"]["code"] == code
    assert event["details"]["path"] == "/v1/labels"


async def test_expired_token_refusal_is_audited(api: Api) -> None:
    response = await api.client.get(
        "/v1/labels", headers={"Authorization": f"Bearer {_expired_token(api)}"}
    )

    _assert_error(response, 401, "token_expired")
    [event] = await _denied_events(api)
    assert (event["action"], event["outcome"]) == ("auth.failed", "denied")
    assert event["details"]["code"] == "token_expired"


async def test_unknown_member_refusal_is_audited_with_the_claimed_identity(api: Api) -> None:
    response = await api.client.get("/v1/labels", headers=api.auth("ghost", sub="intruder"))

    _assert_error(response, 401, "unknown_member")
    [event] = await _denied_events(api)
    assert (event["action"], event["outcome"]) == ("auth.failed", "denied")
    assert event["member_id"] == "ghost"
    assert event["actor"] == "intruder"
    assert event["details"]["code"] == "unknown_member"


async def test_missing_scope_refusal_is_audited_with_the_caller(api: Api) -> None:
    response = await api.client.get(
        "/v1/audit", headers={**api.auth("alpha", "hashes:match", sub="pipeline")}
    )

    _assert_error(response, 403, "insufficient_scope")
    [event] = await _denied_events(api)
    assert event["action"] == "auth.forbidden"
    assert event["outcome"] == "denied"
    assert event["member_id"] == "alpha"
    assert event["actor"] == "pipeline"
    assert event["details"]["code"] == "insufficient_scope"
    assert event["details"]["path"] == "/v1/audit"


async def test_missing_scope_refusal_on_a_route_with_a_body_is_audited_once(api: Api) -> None:
    body = {"queries": [{"signal_type": "md5", "value": "0" * 32}]}

    response = await api.client.post(
        "/v1/match", json=body, headers=api.auth("alpha", "hashes:submit")
    )

    _assert_error(response, 403, "insufficient_scope")
    events = await _denied_events(api)
    assert [event["action"] for event in events] == ["auth.forbidden"]


async def test_refusals_can_be_read_back_through_the_audit_api(api: Api) -> None:
    await api.client.get("/v1/labels")
    await api.client.get("/v1/audit", headers=api.auth("beta", "hashes:match"))

    failed = await api.client.get(
        "/v1/audit", params={"action": "auth.failed"}, headers=api.auth("alpha", "audit:read")
    )
    forbidden = await api.client.get(
        "/v1/audit", params={"action": "auth.forbidden"}, headers=api.auth("alpha", "audit:read")
    )

    assert failed.status_code == forbidden.status_code == 200
    [failure] = failed.json()["events"]
    [refusal] = forbidden.json()["events"]
    assert (failure["outcome"], failure["details"]["code"]) == ("denied", "missing_token")
    assert (refusal["outcome"], refusal["member_id"]) == ("denied", "beta")
    assert refusal["details"]["code"] == "insufficient_scope"


async def test_successful_call_writes_no_denied_event(api: Api) -> None:
    labels = await api.client.get("/v1/labels", headers=api.auth("alpha", "hashes:match"))
    audit = await api.client.get("/v1/audit", headers=api.auth("alpha", "audit:read"))

    assert labels.status_code == 200, labels.text
    assert audit.status_code == 200, audit.text
    assert await _denied_events(api) == []
    actions = [event["action"] for event in audit.json()["events"]]
    assert "auth.failed" not in actions
    assert "auth.forbidden" not in actions


async def test_unprotected_health_endpoints_write_no_audit_events(api: Api) -> None:
    before = await api.sql("SELECT count(*) FROM audit_events")

    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get("/readyz")).status_code == 200

    assert await api.sql("SELECT count(*) FROM audit_events") == before


# --- production keys over HTTP -------------------------------------------------------------


def _public_pem(private_key: Any) -> str:
    pem: bytes = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def _claims(member: str, scope: str) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "hashshare",
        "aud": "hashshare",
        "sub": "idp-user",
        "member": member,
        "scope": scope,
        "iat": now,
        "exp": now + 600,
    }


async def _production_api(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]], keys: dict[str, Any]
) -> Api:
    settings = Settings(
        database_url=database_url,
        audit_key=AUDIT_KEY,
        jwt_public_keys={kid: _public_pem(key) for kid, key in keys.items()},
    )
    started = await api_factory(settings)
    await started.add_member("alpha")
    return started


async def test_production_service_accepts_a_token_signed_by_a_configured_key(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    api = await _production_api(database_url, api_factory, {"idp-1": key})
    token = jwt.encode(
        _claims("alpha", "hashes:match"), key, algorithm="RS256", headers={"kid": "idp-1"}
    )

    response = await api.client.get("/v1/labels", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200, response.text


async def test_production_service_refuses_a_dev_mode_token(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    api = await _production_api(database_url, api_factory, {"idp-1": key})
    dev_token = issue_token(
        Settings(dev_mode=True), member="alpha", scopes=["admin"], sub="x", ttl_seconds=60
    )

    response = await api.client.get("/v1/labels", headers={"Authorization": f"Bearer {dev_token}"})

    _assert_error(response, 401, "unsupported_algorithm")


async def test_token_whose_algorithm_does_not_fit_the_kid_key_is_refused_with_401(
    database_url: str, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    api = await _production_api(database_url, api_factory, {"ec-1": ec_key, "ed-1": ed_key})
    token = jwt.encode(
        _claims("alpha", "hashes:match"), ec_key, algorithm="ES256", headers={"kid": "ed-1"}
    )

    # A client that sees what a real server would answer, rather than the raised exception.
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/v1/labels", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] in {"unsupported_algorithm", "invalid_signature"}


# --- every route declares its scope --------------------------------------------------------


def test_every_route_of_the_app_declares_a_scope() -> None:
    assert _routes_without_scope(_app()) == []


def test_the_app_has_the_routes_this_check_is_meant_to_cover() -> None:
    paths = {path for _, path, _ in PROTECTED_ROUTES}

    assert {"/v1/hashes", "/v1/hashes/1", "/v1/match", "/v1/audit", "/v1/members"} <= paths
    assert {"/v1/labels", "/v1/signal-types"} <= paths


def test_health_endpoints_are_the_only_exceptions() -> None:
    assert HEALTH_PATHS == UNPROTECTED


def test_scope_check_flags_a_route_without_a_scope() -> None:
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, str]:
        return {}

    @app.get("/guarded", dependencies=[require_scope(Scope.ADMIN)])
    async def guarded_route() -> dict[str, str]:
        return {}

    assert _routes_without_scope(app) == ["['GET'] /open"]


async def _member_of_reader(
    principal: Annotated[Principal, require_scope(Scope.HASHES_READ)],
) -> str:
    return principal.member_id


def test_scope_check_finds_a_scope_declared_in_a_nested_dependency() -> None:
    app = FastAPI()

    @app.get("/nested")
    async def nested(member: Annotated[str, Depends(_member_of_reader)]) -> dict[str, str]:
        return {"member": member}

    assert _routes_without_scope(app) == []


def test_scope_check_flags_a_non_api_route_mounted_on_the_app() -> None:
    from starlette.responses import PlainTextResponse

    app = FastAPI()

    async def raw(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    app.add_route("/raw", raw)

    assert _routes_without_scope(app) == ["Route /raw"]


def test_scope_check_flags_an_unprotected_route_inside_an_included_router() -> None:
    router = APIRouter(prefix="/v1/things")

    @router.get("")
    async def list_things() -> list[str]:
        return []

    @router.get("/{thing_id}", dependencies=[require_scope(Scope.HASHES_READ)])
    async def get_thing(thing_id: int) -> dict[str, int]:
        return {"id": thing_id}

    app = FastAPI()
    app.include_router(router)

    assert _routes_without_scope(app) == ["['GET'] /v1/things"]


def test_scope_check_accepts_a_scope_given_when_a_router_is_included() -> None:
    router = APIRouter()

    @router.get("/admin-only")
    async def admin_only() -> dict[str, str]:
        return {}

    app = FastAPI()
    app.include_router(router, dependencies=[require_scope(Scope.ADMIN)])

    assert _routes_without_scope(app) == []
