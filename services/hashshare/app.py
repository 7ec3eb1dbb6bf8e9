"""The application factory.

`create_app(settings)` builds a fresh app; nothing touches the database or the network until
its lifespan starts: then the components and services are built (`Runtime.build`), the match
index is loaded and the change feed followed, all kept on `app.state.runtime`.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from hashshare import __version__
from hashshare.accesslog import AccessLogMiddleware
from hashshare.apidocs import install_api_docs
from hashshare.audit.router import router as audit_router
from hashshare.auth.tokens import TokenVerifier
from hashshare.changes.router import router as changes_router
from hashshare.config import Settings, load_settings
from hashshare.console.router import mount_console
from hashshare.contributions.router import router as contributions_router
from hashshare.deps import audit_refusal, known_query_parameters
from hashshare.edgereports.router import router as edge_reports_router
from hashshare.error_handlers import install_error_handlers
from hashshare.feedback.router import disputes_router
from hashshare.feedback.router import router as feedback_router
from hashshare.hashes.router import router as hashes_router
from hashshare.hashes.router import snapshot_router
from hashshare.hashing.router import router as hashing_router
from hashshare.hashing.router import upload_body_limits
from hashshare.labels.router import router as labels_router
from hashshare.matching.router import router as matching_router
from hashshare.members.router import router as members_router
from hashshare.metrics import install_metrics
from hashshare.middleware import RequestContextMiddleware
from hashshare.runtime import Runtime, check_kernel
from hashshare.startup import wait_startup_jitter
from hashshare.stats.router import router as stats_router

HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
# /readyz asks the database a trivial query; an unreachable database makes it not ready.
READINESS_DATABASE_TIMEOUT = 2.0


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes: settings from HASHSHARE_* variables."""
    app = create_app(load_settings())
    tune_gc_for_serving()
    return app


def tune_gc_for_serving() -> None:
    """Keep the cyclic garbage collector off the request path of a server process.

    A 10,000-hash submission allocates millions of objects, and each full collection then
    walked every object of the process (modules, the app, SQLAlchemy's metadata): measured,
    collections took a quarter to a third of a bulk submission. Objects that exist once the
    app is built live as long as the process, so they are frozen out of collections, and
    young collections run less often. Only for `hashshare serve`: a test process builds
    hundreds of apps and must collect them.
    """
    gc.freeze()
    gc.set_threshold(20_000, 20, 50)


def create_app(settings: Settings) -> FastAPI:
    verifier = TokenVerifier(settings)  # fails fast on unusable key configuration
    check_kernel(settings)  # and on a missing compiled kernel outside development mode

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime.build(settings, verifier)
        app.state.runtime = runtime
        try:
            await wait_startup_jitter(settings.startup_jitter_seconds)
            await runtime.start()
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title="hashshare",
        version=__version__,
        summary="Shared hashes of terrorist and violent-extremist content: submit, match, "
        "retract, audit.",
        lifespan=lifespan,
        docs_url=None,  # served from local assets by install_api_docs
        redoc_url=None,
        dependencies=[Depends(known_query_parameters)],
    )
    install_api_docs(app)
    install_metrics(app)
    install_error_handlers(app, audit_refusal)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        body_limits=upload_body_limits(settings),
    )
    app.add_middleware(AccessLogMiddleware)  # outermost: sees every answer, 413s included
    # Routes are tried in order: the match route, called for every upload, comes first.
    # Reading a hash (feedback's router) comes before retracting it (hashes'), so that a
    # wrong method on /v1/hashes/{id} is told `Allow: GET` first.
    for router in (
        matching_router,
        feedback_router,
        hashes_router,
        disputes_router,
        changes_router,
        snapshot_router,
        hashing_router,
        audit_router,
        members_router,
        labels_router,
        stats_router,
        edge_reports_router,
        contributions_router,
    ):
        app.include_router(router)
    mount_console(app)

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: the match index is loaded and the database answers",
    )
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None or not runtime.holder.ready:
            return JSONResponse({"status": "loading"}, status_code=503)
        if not await runtime.database.reachable(READINESS_DATABASE_TIMEOUT):
            return JSONResponse(
                {"status": "database_unavailable"},
                status_code=503,
                headers={"Retry-After": "1"},
            )
        feed = runtime.follower.position.status()
        kernels = runtime.holder.kernels()
        return JSONResponse(
            {
                "status": "ready",
                "load_seconds": runtime.holder.load_seconds,
                "feed": feed,
                "signal_types": {
                    name: {
                        "size": size,
                        "kernel": kernels[name],
                        "behind": feed["behind"],
                        "behind_seconds": feed["behind_seconds"],
                    }
                    for name, size in runtime.holder.sizes().items()
                },
            }
        )

    return app
