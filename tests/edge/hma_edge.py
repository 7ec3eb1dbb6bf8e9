"""An edge in-process for the HMA tests: following an in-process central service, fetching
URLs from a small in-process image server (`images.test`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from hashshare.edge.app import create_edge_app
from hashshare.edge.runtime import EdgeOptions
from tests.conftest import Api
from tests.hashing.pictures import encode, scene

LABELS = ["attacker-manifesto"]
PHOTO = encode(scene(seed=7))
OTHER_PHOTO = encode(scene(seed=8))
IMAGE_HOST = "images.test"


async def _image(request: Request) -> Response:
    name = request.path_params["name"]
    if name == "photo.png":
        return Response(PHOTO, media_type="image/png")
    if name == "other.png":
        return Response(OTHER_PHOTO, media_type="image/png")
    if name == "page.html":
        return Response(b"<html></html>", media_type="text/html")
    if name == "moved.png":
        return RedirectResponse("http://internal.test/secret.png")
    return Response(b"", status_code=404)


IMAGES = Starlette(routes=[Route("/{name}", _image)])


@asynccontextmanager
async def serving(app: FastAPI, base_url: str = "http://edge") -> AsyncIterator[httpx.AsyncClient]:
    """A client of the edge app, inside its lifespan."""
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=30
        ) as client:
            yield client
    finally:
        await lifespan.__aexit__(None, None, None)


@asynccontextmanager
async def hma_edge(
    api: Api, data: Path, base_url: str = "http://edge", **options: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An edge following `api`, once ready."""
    app = create_edge_app(
        EdgeOptions(
            upstream="http://central",
            token=api.token("alpha", "hashes:read", sub="edge-alpha"),
            data=data,
            **{
                "wait_seconds": 0.5,
                "persist_seconds": 0.2,
                "fetch_hosts": (IMAGE_HOST,),
                **options,
            },
        ),
        transport=httpx.ASGITransport(app=api.app),
        fetch_transport=httpx.ASGITransport(app=IMAGES),
    )
    async with serving(app, base_url) as client:
        started = time.monotonic()
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() - started < 15, "the edge did not get ready"
            await asyncio.sleep(0.02)
        yield client


async def submit(api: Api, values: list[str], labels: list[str] | None = None) -> list[int]:
    body = {
        "hashes": [
            {"signal_type": "pdq", "value": value, "labels": labels or LABELS} for value in values
        ]
    }
    response = await api.client.post("/v1/hashes", json=body, headers=api.auth("alpha"))
    assert response.status_code == 200, response.text
    return [item["hash_id"] for item in response.json()["results"]]


async def until_held(edge: httpx.AsyncClient, size: int) -> None:
    started = time.monotonic()
    while (await edge.get("/readyz")).json()["signal_types"]["pdq"]["size"] < size:
        assert time.monotonic() - started < 15, "the edge did not catch up"
        await asyncio.sleep(0.02)
