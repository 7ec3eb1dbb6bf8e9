"""/docs and /redoc load everything from the service itself: no CDN, no web fonts."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from hashshare.app import create_app
from hashshare.config import Settings

REFERENCE = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url:\s*["']([^"']+)["']""")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(dev_mode=True, database_url="sqlite+aiosqlite://"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hashshare.test") as c:
        yield c


def _references(html: str) -> list[str]:
    return [a or b for a, b in REFERENCE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_reference_no_outside_origin(client: httpx.AsyncClient, page: str) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    html = response.text
    references = _references(html)
    assert references, "the page loads its assets"
    assert all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    assert "http://" not in html and "https://" not in html
    assert "fonts.googleapis" not in html


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_every_asset_a_docs_page_loads_is_served(
    client: httpx.AsyncClient, page: str
) -> None:
    for reference in _references((await client.get(page)).text):
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 1000, reference


async def test_swagger_ui_does_not_call_the_public_validator(client: httpx.AsyncClient) -> None:
    assert '"validatorUrl": null' in (await client.get("/docs")).text


async def test_docs_routes_stay_out_of_the_spec(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]
