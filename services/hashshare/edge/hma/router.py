"""HMA's (OpenMediaMatch's) HTTP routes on the edge, with HMA's paths, parameters, status
codes and response shapes, so an HMA client (a review tool such as Coop) is pointed at the
edge by changing its URL. What the answers mean is in `service.py`; refusals carry HMA's
`message` beside hashshare's `error` object (see `edge.app`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse

from hashshare.edge.hma.schemas import ContentUpload, PhotoUpload
from hashshare.edge.hma.service import (
    EXCHANGE_API,
    SHARED_BANKS,
    BadRequest,
    HmaService,
    Upload,
    check_metadata,
    check_note,
    coin,
    fetch_status,
    refuse_exchange_change,
)
from hashshare.edge.router import Caller, SyncedCaller, edge_of
from hashshare.edge.runtime import EdgeRuntime
from hashshare.errors import ERROR_RESPONSES, NotFound
from hashshare.hashing.router import form_body, read_form

# Paths that take an uploaded file, for the request body limit.
UPLOAD_PATHS = ("/h/hash", "/m/lookup")
MAX_FORM_FIELD_BYTES = 64 * 1024

router = APIRouter(responses=ERROR_RESPONSES)


def hma_of(request: Request) -> HmaService:
    return edge_of(request).hma


def _banks(text: str | None) -> set[str] | None:
    """HMA's `banks`: comma-separated names; none given means every bank."""
    if not text:
        return None
    return {name.strip() for name in text.split(",") if name.strip()}


async def _upload(request: Request) -> tuple[Upload, dict[str, str]]:
    """HMA's upload: one file, in a multipart field named for its content type (`photo`)."""
    edge = edge_of(request)
    files, fields = await read_form(
        request,
        edge.settings,
        "send the file as multipart/form-data in a field named for its content type (photo)",
        MAX_FORM_FIELD_BYTES,
    )
    if not files:
        raise BadRequest("Missing multipart/form-data file upload", code="missing_file")
    field, data = files[0]
    return Upload(field, data), fields


def _json_object(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise BadRequest(f"{what} must be valid JSON", code="invalid_metadata") from None


# Health


@router.get(
    "/status",
    tags=["hma"],
    response_class=PlainTextResponse,
    summary="HMA's health check: I-AM-ALIVE once synced and fresh, else 503",
)
async def status(request: Request) -> PlainTextResponse:
    edge: EdgeRuntime | None = getattr(request.app.state, "edge", None)
    if edge is None or edge.phase != "following":
        return PlainTextResponse("INDEX-NOT-LOADED", status_code=503)
    ready, _ = edge.status()
    if not ready:
        return PlainTextResponse("INDEX-STALE", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")


@router.get(
    "/status/live",
    tags=["hma"],
    response_class=PlainTextResponse,
    summary="HMA's liveness check: the process serves HTTP (synced or not)",
)
async def status_live() -> PlainTextResponse:
    return PlainTextResponse("I-AM-ALIVE")


# Matching


@dataclass
class LookupOptions:
    """HMA's lookup parameters besides the content: `banks` (comma-separated) restricts the
    lookup, `seed` seeds the coin flip of partly enabled banks, which `bypass_coinflip`
    skips; `include_disputed` is hashshare's."""

    banks: str | None = None
    seed: str | None = None
    bypass_coinflip: bool = False
    include_disputed: bool = False


Lookup = Annotated[LookupOptions, Depends()]


@router.get(
    "/m/lookup",
    tags=["hma"],
    summary="Look up a hash (signal_type, signal) or a URL's content in shared and local banks",
)
async def lookup_get(
    request: Request,
    caller: SyncedCaller,
    options: Lookup,
    url: str | None = None,
    content_type: str | None = None,
    types: str | None = None,
    signal: str | None = None,
    signal_type: str | None = None,
) -> dict[str, Any]:
    hma = hma_of(request)
    requested = _banks(options.banks)
    flip = coin(options.seed, options.bypass_coinflip)
    if url:
        found = await hma.lookup_file(
            caller,
            await hma.fetch(url, content_type),
            types,
            requested,
            flip,
            options.include_disputed,
        )
        if signal_type is not None:
            return found.get(signal_type, {})
        return found
    if not signal or not signal_type:
        raise BadRequest(
            "Either url or both signal and signal_type are required", code="missing_signal"
        )
    return hma.by_bank(
        await hma.lookup(caller, signal_type, signal, requested, flip, options.include_disputed)
    )


@router.post(
    "/m/lookup",
    tags=["hma"],
    openapi_extra=form_body(PhotoUpload),
    summary="Hash an uploaded photo (multipart field `photo`) and look it up",
)
async def lookup_post(
    request: Request, caller: SyncedCaller, options: Lookup, types: str | None = None
) -> dict[str, Any]:
    upload, _ = await _upload(request)
    return await hma_of(request).lookup_file(
        caller,
        upload,
        types,
        _banks(options.banks),
        coin(options.seed, options.bypass_coinflip),
        options.include_disputed,
    )


@router.get("/m/raw_lookup", tags=["hma"], summary="Content ids within the match distance")
async def raw_lookup(
    request: Request,
    caller: SyncedCaller,
    signal: str,
    signal_type: str,
    banks: str | None = None,
    include_distance: bool = False,
) -> dict[str, list[Any]]:
    found = await hma_of(request).lookup(
        caller, signal_type, signal, _banks(banks), 0.0, True, raw=True
    )
    seen: set[int] = set()
    matches: list[Any] = []
    for _, match in found:
        content_id = match["bank_content_id"]
        if content_id in seen:  # a shared hash is in one bank per behaviour label
            continue
        seen.add(content_id)
        if include_distance:
            matches.append({"bank_content_id": content_id, "distance": match["distance"]})
        else:
            matches.append(content_id)
    return {"matches": matches}


@router.post("/m/compare", tags=["hma"], summary="Distances between pairs of hashes")
async def compare(
    request: Request, caller: Caller, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    return hma_of(request).compare(body)


@router.get("/m/index/status", tags=["hma"], summary="The match indexes of each signal type")
async def index_status(
    request: Request, caller: Caller, signal_type: str | None = None
) -> dict[str, Any]:
    edge = edge_of(request)
    contact = edge.last_contact_at
    built_to = int(contact.timestamp()) if contact is not None else -1
    return edge.hma.index_status(
        signal_type, edge.phase == "following" and edge.holder.ready, built_to
    )


# Hashing


@router.get("/h/hash", tags=["hma"], summary="Hash the content at a URL (allowed hosts only)")
async def hash_url(
    request: Request,
    caller: Caller,
    url: Annotated[str, Query()],
    content_type: str | None = None,
    types: str | None = None,
) -> dict[str, str]:
    hma = hma_of(request)
    hashes, _ = await hma.hash_file(await hma.fetch(url, content_type), types)
    return hashes


@router.post(
    "/h/hash",
    tags=["hma"],
    openapi_extra=form_body(PhotoUpload),
    summary="Hash an uploaded photo (multipart field `photo`)",
)
async def hash_upload(request: Request, caller: Caller, types: str | None = None) -> dict[str, str]:
    hma = hma_of(request)
    upload, _ = await _upload(request)
    hashes, _ = await hma.hash_file(upload, types)
    return hashes


# Curation: banks


@router.get("/c/banks", tags=["hma"], summary="Shared banks (read-only), then local banks")
async def banks_index(request: Request, caller: Caller) -> list[dict[str, Any]]:
    return hma_of(request).banks()


def _ratio(value: Any) -> float | None:
    """HMA reads `enabled_ratio` leniently: Coop sends it as text ("1")."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise BadRequest("enabled_ratio must be a number", code="invalid_enabled_ratio")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise BadRequest("enabled_ratio must be a number", code="invalid_enabled_ratio") from None


def _body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_body")
    return body


def _enabled(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise BadRequest("enabled must be true or false", code="invalid_enabled")


@router.post("/c/banks", tags=["hma"], status_code=201, summary="Create a local bank")
async def bank_create(
    request: Request, caller: Caller, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    data = _body_object(body)
    name = data.get("name")
    if not isinstance(name, str):
        raise BadRequest("name is required", code="invalid_bank_name")
    ratio = _ratio(data.get("enabled_ratio"))
    enabled = _enabled(data.get("enabled"))
    if ratio is None:
        ratio = 1.0 if enabled is None or enabled else 0.0
    return await hma_of(request).create_bank(name, ratio)


@router.get("/c/bank/{bank_name}", tags=["hma"], summary="A bank")
async def bank_show(request: Request, caller: Caller, bank_name: str) -> dict[str, Any]:
    return hma_of(request).bank(bank_name)


@router.put("/c/bank/{bank_name}", tags=["hma"], summary="Rename or re-weight a local bank")
async def bank_update(
    request: Request, caller: Caller, bank_name: str, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    data = _body_object(body)
    new_name = data.get("name")
    if new_name is not None and not isinstance(new_name, str):
        raise BadRequest("name must be a string", code="invalid_bank_name")
    ratio = _ratio(data.get("enabled_ratio"))
    enabled = _enabled(data.get("enabled"))
    if ratio is None and enabled is not None:
        ratio = 1.0 if enabled else 0.0
    return await hma_of(request).update_bank(bank_name, new_name, ratio)


@router.delete("/c/bank/{bank_name}", tags=["hma"], summary="Delete a local bank and contents")
async def bank_delete(request: Request, caller: Caller, bank_name: str) -> dict[str, str]:
    await hma_of(request).delete_bank(bank_name)
    return {"message": "Done"}


# Curation: contents


@router.post(
    "/c/bank/{bank_name}/content",
    tags=["hma"],
    openapi_extra=form_body(ContentUpload),
    summary="Bank a photo (multipart field `photo`, or `url` from an allowed host)",
)
async def bank_add_content(request: Request, caller: Caller, bank_name: str) -> dict[str, Any]:
    hma = hma_of(request)
    hma.local_bank(bank_name)  # 404 (or 403 for a shared bank) before any fetching or hashing
    params = request.query_params
    url = params.get("url")
    fields: dict[str, str] = {}
    if url:
        upload = await hma.fetch(url, params.get("content_type"))
    elif request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        upload, fields = await _upload(request)
    else:
        raise BadRequest(
            "Neither `url` nor multipart file upload was received", code="missing_file"
        )
    metadata = check_metadata(
        _json_object(fields.get("metadata") or params.get("metadata"), "metadata"),
        fields.get("content_id") or params.get("content_id"),
        fields.get("content_uri") or params.get("content_uri"),
    )
    note = check_note(fields.get("note") or params.get("note"))
    return await hma.add_file(bank_name, upload, params.get("types"), metadata, note)


@router.post("/c/bank/{bank_name}/signal", tags=["hma"], summary="Bank hashes directly")
async def bank_add_signals(
    request: Request, caller: Caller, bank_name: str, body: Annotated[Any, Body()] = None
) -> dict[str, Any]:
    data = dict(_body_object(body))
    note = check_note(data.pop("note", None))
    return await hma_of(request).add_signals(bank_name, data, None, note)


@router.get("/c/bank/{bank_name}/content/{content_id}", tags=["hma"], summary="A banked content")
async def bank_get_content(
    request: Request,
    caller: Caller,
    bank_name: str,
    content_id: int,
    include_signals: bool = False,
    include_metadata: bool = True,
) -> dict[str, Any]:
    return await hma_of(request).content(bank_name, content_id, include_signals, include_metadata)


@router.put(
    "/c/bank/{bank_name}/content/{content_id}",
    tags=["hma"],
    summary="Disable a banked content for a while, or change its note",
)
async def bank_update_content(
    request: Request,
    caller: Caller,
    bank_name: str,
    content_id: int,
    body: Annotated[Any, Body()] = None,
) -> dict[str, Any]:
    return await hma_of(request).update_content(bank_name, content_id, body)


@router.delete("/c/bank/{bank_name}/content/{content_id}", tags=["hma"], summary="Unbank")
async def bank_delete_content(
    request: Request, caller: Caller, bank_name: str, content_id: int
) -> dict[str, int]:
    return {"deleted": await hma_of(request).delete_content(bank_name, content_id)}


# Exchanges: the shared banks are fed by the central service; nothing here configures it.


@router.get("/c/exchanges/apis", tags=["hma"], summary="Exchange types a client may configure")
async def exchange_apis(caller: Caller) -> list[str]:
    return []


@router.get("/c/exchanges", tags=["hma"], summary="Banks fed by an exchange: the shared banks")
async def exchanges(caller: Caller) -> list[str]:
    return list(SHARED_BANKS)


@router.post("/c/exchanges", tags=["hma"], summary="Refused: the edge's exchange is fixed")
async def exchange_create(caller: Caller) -> Response:
    raise refuse_exchange_change("exchanges cannot be created")


@router.get("/c/exchanges/api/{api_name}", tags=["hma"], summary="An exchange type")
async def exchange_api(caller: Caller, api_name: str) -> dict[str, bool]:
    return HmaService.exchange_api(api_name)


@router.post("/c/exchanges/api/{api_name}", tags=["hma"], summary="Refused: no credentials")
async def exchange_api_credentials(caller: Caller, api_name: str) -> Response:
    HmaService.exchange_api(api_name)
    raise refuse_exchange_change("exchange credentials cannot be set")


@router.get("/c/exchanges/api/{api_name}/schema", tags=["hma"], summary="Its settings: none")
async def exchange_api_schema(caller: Caller, api_name: str) -> dict[str, Any]:
    if api_name != EXCHANGE_API:
        raise NotFound(f"Exchange API '{api_name[:50]}' not found", code="unknown_exchange_api")
    return {"config_schema": {"fields": []}, "credentials_schema": None}


@router.get("/c/exchange/{exchange_name}", tags=["hma"], summary="The exchange of a shared bank")
async def exchange_show(request: Request, caller: Caller, exchange_name: str) -> dict[str, Any]:
    edge = edge_of(request)
    return edge.hma.exchange(exchange_name, edge.options.upstream)


@router.get(
    "/c/exchange/{exchange_name}/status",
    tags=["hma"],
    summary="How fresh a shared bank is (the edge's feed)",
)
async def exchange_status(request: Request, caller: Caller, exchange_name: str) -> dict[str, Any]:
    edge = edge_of(request)
    contact = edge.last_contact_at
    _, body = edge.status()
    return fetch_status(
        exchange_name,
        edge.phase == "following",
        contact.timestamp() if contact is not None else None,
        int(body["feed"]["behind"]),
        len(edge.copy.held),
    )
