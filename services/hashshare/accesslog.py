"""The access log: one JSON line per request on the `hashshare.access` logger, and the
request metrics (`hashshare.metrics`) from the same measurement.

A line holds the request id, the member and token subject, the method, the route *template*
(`/v1/hashes/{hash_id}`, never the raw path or its query string, which may carry a queried
value), the status and the duration. Tokens, bodies and images are never seen here.
Successful health probes are not logged: an orchestrator asks every few seconds.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hashshare.metrics import observe_request

ACCESS_LOGGER = "hashshare.access"
PROBE_PATHS = frozenset({"/healthz", "/readyz"})

logger = logging.getLogger(ACCESS_LOGGER)


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            observe_request(scope.get("method", ""), route_of(scope), status, seconds)
            if logger.isEnabledFor(logging.INFO) and not (
                status < 400 and scope.get("path") in PROBE_PATHS
            ):
                logger.info(access_line(scope, status, seconds))


def route_of(scope: Scope) -> str | None:
    """The API route's template; the path of a fixed page (docs and their assets); None for a
    path that matched nothing (it may be anything a client typed)."""
    route = scope.get("route")
    if route is not None:
        return str(route.path)
    if scope.get("endpoint") is not None:
        return str(scope.get("path"))
    return None


def access_line(scope: Scope, status: int, seconds: float) -> str:
    state: dict[str, Any] = scope.get("state") or {}
    principal = state.get("principal")
    return json.dumps(
        {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "request_id": state.get("request_id"),
            "member": getattr(principal, "member_id", None),
            "sub": getattr(principal, "sub", None),
            "method": scope.get("method"),
            "route": route_of(scope),
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
        },
        separators=(",", ":"),
    )


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration plus the access log, written bare to stdout, and the
    service's own messages (start-up: the index loaded and its kernels) beside uvicorn's."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["hashshare-access"] = {"format": "%(message)s"}
    config["handlers"]["hashshare-access"] = {
        "formatter": "hashshare-access",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"][ACCESS_LOGGER] = {
        "handlers": ["hashshare-access"],
        "level": "INFO",
        "propagate": False,
    }
    config["loggers"]["hashshare"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
