"""`create_edge_app(options, settings)`: the edge's FastAPI app. Its lifespan builds the
`EdgeRuntime` and starts it (load the saved copy, catch up with the central feed in the
background, then follow it); `/readyz` answers during the sync and says how far it is."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request

from hashshare import __version__
from hashshare.config import Settings, load_settings
from hashshare.edge.router import router
from hashshare.edge.runtime import EdgeOptions, EdgeRuntime
from hashshare.error_handlers import install_error_handlers
from hashshare.hashing.router import upload_body_limits
from hashshare.middleware import RequestContextMiddleware


def edge_settings() -> Settings:
    """The match and upload limits (HASHSHARE_* variables, as the service reads them).

    The edge verifies no JWT and writes no audit log: the service's token settings do not
    apply (development mode only lifts the service's refusal of a missing JWT key), and the
    audit key that digests unmatched queries is a random one of this process."""
    return load_settings(dev_mode=True, audit_key=secrets.token_hex(32))


async def _no_audit(request: Request, status: int, code: str) -> None:
    """The edge keeps no audit log of refusals: its callers are the platform's own."""


def create_edge_app(
    options: EdgeOptions,
    settings: Settings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    settings = settings or edge_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        edge = EdgeRuntime(options, settings, transport)
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
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_limits=upload_body_limits(settings),
    )
    app.include_router(router)
    return app
