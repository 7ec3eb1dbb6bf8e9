"""The edge's HTTP routes: hashshare's match routes with the central service's shapes (the
same schemas and the same services), so a pipeline switches between central and edge by
changing a URL. Callers are the platform's own: with a local token configured they must
present it; without one, anyone who can reach the (loopback by default) address may call."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import request_id_of
from hashshare.edge.runtime import EdgeRuntime
from hashshare.errors import ERROR_RESPONSES, AuthenticationError, Unavailable
from hashshare.hashing.router import (
    HASH_PATH,
    IMAGE_ERRORS,
    MATCH_IMAGE_PATH,
    form_body,
    read_upload,
)
from hashshare.hashing.schemas import (
    HashOptions,
    HashResponse,
    ImageMatchResponse,
    MatchImageOptions,
    MatchUploadForm,
    UploadForm,
)
from hashshare.matching.schemas import MatchRequest, MatchResponse

LOCAL_SCOPES = frozenset({Scope.HASHES_MATCH.value})

router = APIRouter(responses=ERROR_RESPONSES)


def edge_of(request: Request) -> EdgeRuntime:
    edge: EdgeRuntime = request.app.state.edge
    return edge


async def local_caller(request: Request) -> Principal:
    """The platform's caller; checks the local bearer token when one is configured."""
    edge = edge_of(request)
    expected = edge.options.local_token
    if expected is not None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()
        ):
            raise AuthenticationError(
                "this edge needs its local token: Authorization: Bearer <token>",
                code="invalid_local_token",
            )
    return Principal(
        sub="edge-local",
        member_id=edge.member,
        scopes=LOCAL_SCOPES,
        request_id=request_id_of(request),
    )


async def synced_caller(request: Request) -> Principal:
    """A local caller, once the copy is complete: matching a half-synced copy would answer
    "no match" for hashes the shared set holds."""
    caller = await local_caller(request)
    if edge_of(request).phase != "following":
        raise Unavailable(
            "the edge is still syncing its copy of the shared set (see /readyz)",
            code="edge_syncing",
        )
    return caller


Caller = Annotated[Principal, Depends(local_caller)]
SyncedCaller = Annotated[Principal, Depends(synced_caller)]


@router.post(
    "/v1/match",
    tags=["matching"],
    response_model=MatchResponse,
    summary="Match hashes against the edge's copy of the shared set",
)
async def match(body: MatchRequest, caller: SyncedCaller, request: Request) -> Response:
    outcome = await edge_of(request).matches.match(caller, body.queries, body.include_disputed)
    return Response(outcome.json(), media_type="application/json")


@router.post(
    HASH_PATH,
    tags=["hashing"],
    response_model=HashResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=form_body(UploadForm),
    summary="Hash an image (multipart field `image`); the image is not stored",
)
async def hash_image(request: Request, caller: Caller) -> HashResponse:
    edge = edge_of(request)
    data, options = await read_upload(request, edge.settings, HashOptions)
    return await edge.images.hash_image(data, options)


@router.post(
    MATCH_IMAGE_PATH,
    tags=["hashing"],
    response_model=ImageMatchResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=form_body(MatchUploadForm),
    summary="Hash an image and match its hashes against the edge's copy",
)
async def match_image(request: Request, caller: SyncedCaller) -> ImageMatchResponse:
    edge = edge_of(request)
    data, options = await read_upload(request, edge.settings, MatchImageOptions)
    return await edge.images.match_image(caller, data, options)


@router.get("/healthz", tags=["health"], summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    tags=["health"],
    summary="Ready: synced, and the upstream answered within the staleness allowed",
)
async def readyz(request: Request) -> JSONResponse:
    edge: EdgeRuntime | None = getattr(request.app.state, "edge", None)
    if edge is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    ready, body = edge.status()
    return JSONResponse(body, status_code=200 if ready else 503)
