"""FastAPI dependencies, as `Annotated` aliases used by every router.

- `UoW`: one transaction per request; commits when the handler returns, rolls back when it
  raises. `ReadUoW`: the same on the read database (a replica, when configured), for the
  read-only routes that tolerate its lag. Refused requests of an authenticated caller are
  audited by the error handlers (`audit_refusal`), whatever the route.
- `require_scope(...)`: authenticates the bearer token and checks that it carries one of the
  scopes; both kinds of refusal are audited.
- One alias per service (`Hashes`, `Matches`, ...), built once in the lifespan.
- Shared query parameters: `TimeRange`, and cursors through `validation.parse_cursor`.
- `known_query_parameters`: installed on the service's app, refuses a query parameter the route does
  not declare (a misspelt `limt=` or a blank name would otherwise be ignored silently).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from hashshare.audit.service import AuditService, Outcome
from hashshare.auth.principal import Actor, Principal
from hashshare.auth.scopes import Scope
from hashshare.auth.tokens import TokenError
from hashshare.changes.feed import FeedReader
from hashshare.changes.service import ChangeService
from hashshare.contributions.service import ContributionService
from hashshare.db import UnitOfWork
from hashshare.edgereports.service import EdgeReportService
from hashshare.errors import (
    AuthenticationError,
    HashshareError,
    PermissionDenied,
    ValidationFailed,
)
from hashshare.feedback.service import FeedbackService
from hashshare.hashes.service import HashService
from hashshare.hashes.snapshot import SnapshotService
from hashshare.hashing.service import ImageService
from hashshare.labels.service import ReferenceService
from hashshare.matching.service import MatchService
from hashshare.members.service import MemberService
from hashshare.runtime import Runtime
from hashshare.stats.service import StatsService
from hashshare.validation import iso_8601_text, require_time_zone


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with runtime_of(request).database.unit() as uow:
        yield uow


UoW = Annotated[UnitOfWork, Depends(get_uow, scope="function")]


async def get_read_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    async with runtime_of(request).read_database.unit() as uow:
        yield uow


# A transaction on HASHSHARE_READ_DATABASE_URL (a replica) when set, else on the primary: only
# for read-only routes that tolerate the replica's lag.
ReadUoW = Annotated[UnitOfWork, Depends(get_read_uow, scope="function")]


def _service(name: str) -> Any:
    """A dependency on the runtime's service `name` (a plain `async def`: a sync dependency
    would run in a worker thread)."""

    async def service(request: Request) -> Any:
        return getattr(runtime_of(request), name)

    return Depends(service)


Hashes = Annotated[HashService, _service("hashes")]
Feedback = Annotated[FeedbackService, _service("feedback")]
Snapshots = Annotated[SnapshotService, _service("snapshots")]
Feed = Annotated[FeedReader, _service("feed")]
Changes = Annotated[ChangeService, _service("changes")]
Matches = Annotated[MatchService, _service("matches")]
Images = Annotated[ImageService, _service("images")]
Members = Annotated[MemberService, _service("members")]
AuditLog = Annotated[AuditService, _service("audit_log")]
Statistics = Annotated[StatsService, _service("stats")]
Reference = Annotated[ReferenceService, _service("reference")]
Contributions = Annotated[ContributionService, _service("contributions")]
EdgeReports = Annotated[EdgeReportService, _service("edge_reports")]


@dataclass(frozen=True, slots=True)
class Period:
    """A time range of a query: `since` inclusive, `until` exclusive, both with a zone."""

    since: datetime | None
    until: datetime | None


async def _period(
    since: Annotated[
        datetime | None, BeforeValidator(iso_8601_text), Query(description="Inclusive, ISO 8601.")
    ] = None,
    until: Annotated[
        datetime | None, BeforeValidator(iso_8601_text), Query(description="Exclusive, ISO 8601.")
    ] = None,
) -> Period:
    return Period(require_time_zone("since", since), require_time_zone("until", until))


TimeRange = Annotated[Period, Depends(_period)]


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameters `route` takes, its dependencies' included."""
    names: set[str] = set()
    todo: list[Dependant] = [route.dependant]
    while todo:
        dependant = todo.pop()
        names.update(param.alias for param in dependant.query_params)
        todo.extend(dependant.dependencies)
    return frozenset(names)


async def known_query_parameters(request: Request) -> None:
    """Refuse query parameters the route does not declare (422 `unknown_query_parameter`,
    naming them and the allowed ones)."""
    if not request.query_params:
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed = declared_query_parameters(route)
    unknown = sorted({name for name in request.query_params if name not in allowed})
    if unknown:
        raise ValidationFailed(
            "unknown query parameter(s): "
            + ", ".join(repr(name) for name in unknown)
            + (
                f"; this route takes {', '.join(sorted(allowed))}"
                if allowed
                else "; this route takes none"
            ),
            code="unknown_query_parameter",
            details={"unknown": unknown, "allowed": sorted(allowed)},
        )


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "") or "")


async def audit_refusal(request: Request, status: int, code: str) -> None:
    """Record a refused request of an authenticated caller (the error handlers call this
    once the response is known, after the request's transaction was rolled back)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        return
    outcome = Outcome.DENIED if status in (401, 403) else Outcome.REJECTED
    await runtime_of(request).audit.record(
        principal.actor,
        "request.denied" if outcome is Outcome.DENIED else "request.rejected",
        outcome,
        details={
            "method": request.method,
            "path": request.url.path,
            "status": status,
            "code": code,
        },
    )


async def _refuse(
    request: Request,
    runtime: Runtime,
    error: HashshareError,
    actor: Actor,
    action: str,
) -> HashshareError:
    await runtime.audit.record(
        actor,
        action,
        Outcome.DENIED,
        details={"method": request.method, "path": request.url.path, "code": error.code},
    )
    error.audited = True
    return error


# Declares the bearer scheme in the OpenAPI document; the header is parsed below so that
# every refusal gets its own error code and audit event.
_bearer_scheme = HTTPBearer(auto_error=False, description="JWT issued for a member.")


async def authenticate(request: Request, runtime: Runtime) -> Principal:
    """The caller named by the bearer token; refusals are audited and raised."""
    request_id = request_id_of(request)
    anonymous = Actor(sub=None, member_id=None, request_id=request_id)
    header = request.headers.get("authorization")
    try:
        if header is None:
            raise TokenError("missing_token", "an Authorization: Bearer token is required")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise TokenError("malformed_authorization", "expected 'Authorization: Bearer <JWT>'")
        claims = runtime.verifier.verify(token)
    except TokenError as exc:
        raise await _refuse(
            request,
            runtime,
            AuthenticationError(exc.message, code=exc.code),
            anonymous,
            "auth.failed",
        ) from None
    try:
        await runtime.access.admit(claims)
    except HashshareError as exc:
        raise await _refuse(
            request,
            runtime,
            exc,
            Actor(sub=claims.sub, member_id=claims.member, request_id=request_id),
            "auth.failed",
        ) from None
    principal = Principal(
        sub=claims.sub, member_id=claims.member, scopes=claims.scopes, request_id=request_id
    )
    request.state.principal = principal
    if runtime.limiter.enabled:
        route = getattr(request.scope.get("route"), "path", request.url.path)
        await runtime.limiter.admit(principal.actor, f"{request.method} {route}")
    return principal


async def _check_scope(
    request: Request, runtime: Runtime, principal: Principal, wanted: frozenset[str]
) -> Principal:
    if not principal.scopes & wanted:
        raise await _refuse(
            request,
            runtime,
            PermissionDenied(
                f"this route needs one of the scopes: {', '.join(sorted(wanted))}",
                code="insufficient_scope",
                details={"required_any_of": sorted(wanted)},
            ),
            principal.actor,
            "auth.forbidden",
        )
    return principal


# The scope checks below are single dependencies (no sub-dependencies but the bearer
# scheme, which only documents the header): FastAPI's per-dependency cost is a sizeable part
# of a match request.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_scheme)]


def require_scope(*scopes: Scope) -> Any:
    """Depend on an authenticated caller holding at least one of `scopes`."""
    wanted = frozenset(scope.value for scope in scopes)

    async def check_scope(request: Request, _credentials: Credentials) -> Principal:
        runtime = runtime_of(request)
        principal = await authenticate(request, runtime)
        return await _check_scope(request, runtime, principal, wanted)

    check_scope.required_scopes = wanted  # type: ignore[attr-defined]
    return Depends(check_scope)


def require_scope_unless_public(*scopes: Scope) -> Any:
    """Like `require_scope`, but anyone may call when HASHSHARE_STATS_PUBLIC is set."""
    wanted = frozenset(scope.value for scope in scopes)

    async def check_scope_unless_public(
        request: Request, _credentials: Credentials
    ) -> Principal | None:
        runtime = runtime_of(request)
        if runtime.settings.stats_public:
            return None
        principal = await authenticate(request, runtime)
        return await _check_scope(request, runtime, principal, wanted)

    check_scope_unless_public.required_scopes = wanted  # type: ignore[attr-defined]
    return Depends(check_scope_unless_public)
