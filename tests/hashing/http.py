"""Helpers of the HTTP tests: multipart uploads to the image routes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Api


async def upload(
    api: Api,
    data: bytes,
    path: str = "/v1/hash",
    filename: str = "upload.jpg",
    scopes: str = "hashes:match",
    member: str = "alpha",
    **fields: Any,
) -> httpx.Response:
    form = {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in fields.items()
    }
    return await api.client.post(
        path,
        files={"image": (filename, data, "application/octet-stream")},
        data=form,
        headers=api.auth(member, scopes),
    )


def error_of(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]
