"""`create_edge_app(options, settings)`: the edge's FastAPI app. Its lifespan builds the
`EdgeRuntime` and starts it (load the saved copy, catch up with the central feed in the
background, then follow it); `/readyz` answers during the sync and says how far it is."""

from __future__ import annotations

import inspect
import json
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from hashshare import __version__
from hashshare.config import Settings, load_settings
from hashshare.edge.hma.router import UPLOAD_PATHS
from hashshare.edge.hma.router import router as hma_router
from hashshare.edge.router import router
from hashshare.edge.runtime import EdgeOptions, EdgeRuntime
from hashshare.error_handlers import install_error_handlers
from hashshare.hashing.router import upload_body_limits
from hashshare.middleware import RequestContextMiddleware
from hashshare.runtime import check_kernel


def edge_settings() -> Settings:
    """The match and upload limits (HASHSHARE_* variables, as the service reads them).

    The edge verifies no JWT and writes no audit log, so none of the service's secrets
    apply; the settings are nonetheless production ones, whatever HASHSHARE_DEV_MODE and
    the HASHSHARE_JWT_* variables say: no development mode (so the numpy kernel is refused
    as the service refuses it), no shared secret (least of all the well-known development
    one), and a verification key whose private half nobody holds (generated here and
    dropped), so that no token could pass them if anything ever asked. The audit key that
    digests unmatched queries is a random one of this process."""
    public_key = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return load_settings(
        dev_mode=False,
        jwt_secret=None,
        jwt_algorithms=["EdDSA"],
        jwt_public_keys={"edge-verifies-no-token": public_key},
        jwks_file=None,
        jwt_private_key_file=None,
        jwt_private_key_id=None,
        checkpoint_key_file=None,
        audit_key=secrets.token_hex(32),
    )


HMA_PATHS = re.compile(r"/(m|h|c)/|/status(/live)?$")
SLASHES = re.compile(r"//+")


class MergeSlashes:
    """`//c/banks` is `/c/banks`: HMA's server merges slashes, and clients rely on it (Coop
    joins its default base URL, which ends in a slash, with paths that start with one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            scope = {**scope, "path": SLASHES.sub("/", scope["path"])}
        await self.app(scope, receive, send)


Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def _with_hma_message(handler: Handler) -> Handler:
    """On HMA's routes, a refusal also carries HMA's `{"message": ...}` at the top level."""

    async def handle(request: Request, exc: Exception) -> Response:
        answer = handler(request, exc)
        response = await answer if inspect.isawaitable(answer) else answer
        if not HMA_PATHS.match(request.url.path) or response.media_type != "application/json":
            return response
        body = json.loads(bytes(response.body))
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            body = {"message": body["error"].get("message"), **body}
            headers = {
                key: value for key, value in response.headers.items() if key != "content-length"
            }
            return Response(
                json.dumps(body), response.status_code, headers, media_type="application/json"
            )
        return response

    return handle


async def _no_audit(request: Request, status: int, code: str) -> None:
    """The edge keeps no audit log of refusals: its callers are the platform's own."""


def create_edge_app(
    options: EdgeOptions,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    fetch_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or edge_settings()
    check_kernel(settings)  # the compiled one, unless HASHSHARE_ALLOW_NUMPY_KERNEL says not

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        edge = EdgeRuntime(options, settings, transport, fetch_transport)
        await edge.start()
        app.state.edge = edge
        try:
            yield
        finally:
            await edge.stop()

    app = FastAPI(
        title="hashshare edge",
        version=__version__,
        summary="A member's local copy of the shared set: match without sending hashes out.",
        lifespan=lifespan,
    )
    install_error_handlers(app, _no_audit)
    for kind, handler in list(app.exception_handlers.items()):
        app.add_exception_handler(kind, _with_hma_message(handler))
    limits = upload_body_limits(settings)
    upload_limit = max(limits.values())
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_limits={**limits, **dict.fromkeys(UPLOAD_PATHS, upload_limit)},
    )
    app.add_middleware(MergeSlashes)
    app.include_router(router)
    app.include_router(hma_router)
    return app
