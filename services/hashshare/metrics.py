"""GET /metrics: Prometheus' text format, for callers with the `admin` scope.

With several worker processes (`hashshare serve --workers N`) each has its own counters:
`serve` then points PROMETHEUS_MULTIPROC_DIR at an empty folder before the workers start,
prometheus-client keeps every worker's values in files there, and a scrape (answered by any
one worker) adds them up. Gauges of the index and the feed are refreshed by the worker that
answers the scrape; the others' last values are kept, and the largest is reported.
"""

from __future__ import annotations

import os
from typing import Annotated

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import text

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.deps import require_scope
from hashshare.instruments import labelled
from hashshare.metricsdir import MULTIPROCESS_DIR
from hashshare.runtime import Runtime

UNMATCHED_ROUTE = "unmatched"

REQUESTS = Counter(
    "hashshare_http_requests",
    "Requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "hashshare_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INDEX_HASHES = Gauge(
    "hashshare_index_hashes",
    "Hashes in the in-memory match index, by signal type.",
    ["signal_type"],
    multiprocess_mode="max",
)
INDEX_LOAD_SECONDS = Gauge(
    "hashshare_index_load_seconds",
    "How long the last start-up load of the index took.",
    multiprocess_mode="max",
)
INDEX_KERNEL = Gauge(
    "hashshare_index_kernel",
    "1 for the search kernel in use: compiled (Cython) or numpy (the slower fallback).",
    ["kernel"],
    multiprocess_mode="max",
)
FEED_BEHIND = Gauge(
    "hashshare_feed_behind_changes",
    "Changes on the feed not yet applied to this process's index.",
    multiprocess_mode="max",
)
FEED_BEHIND_SECONDS = Gauge(
    "hashshare_feed_behind_seconds",
    "Age of the oldest change on the feed not yet applied to this process's index.",
    multiprocess_mode="max",
)
ACCESS_LIST_AGE = Gauge(
    "hashshare_access_list_age_seconds",
    "Seconds since this process last read suspended members and revoked tokens.",
    multiprocess_mode="max",
)
AUDIT_HEAD = Gauge(
    "hashshare_audit_chain_head_seq",
    "Sequence number of the last event in the audit chain.",
    multiprocess_mode="max",
)


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    label = route or UNMATCHED_ROUTE
    labelled(REQUESTS, method, label, str(status)).inc()
    labelled(LATENCY, method, label).observe(seconds)


async def _refresh(runtime: Runtime) -> None:
    holder = runtime.holder
    for signal_type, size in holder.sizes().items():
        INDEX_HASHES.labels(signal_type).set(size)
    if holder.load_seconds is not None:
        INDEX_LOAD_SECONDS.set(holder.load_seconds)
    for kernel in set(holder.kernels().values()):
        INDEX_KERNEL.labels(kernel).set(1)
    feed = runtime.follower.position.status()
    FEED_BEHIND.set(feed["behind"])
    FEED_BEHIND_SECONDS.set(feed["behind_seconds"])
    ACCESS_LIST_AGE.set(runtime.access.age())
    async with runtime.database.sessions() as session:
        head = (await session.execute(text("SELECT seq FROM audit_head"))).scalar()
    AUDIT_HEAD.set(head or 0)


def _registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROCESS_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


def install_metrics(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics(
        request: Request, _principal: Annotated[Principal, require_scope(Scope.ADMIN)]
    ) -> Response:
        await _refresh(request.app.state.runtime)
        return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)
