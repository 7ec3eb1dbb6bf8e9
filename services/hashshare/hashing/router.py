"""HTTP routes of image hashing: read the multipart upload in memory, call the service.

The upload is parsed here rather than by FastAPI's form handling, which spools files over
1 MiB to a temporary file on disk: an image sent to hashshare is never written anywhere.
The body limit of these two paths is `max_upload_bytes` plus room for the form
(`upload_body_limits`, applied by the request middleware before the route runs).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from hashshare.auth.principal import Principal
from hashshare.auth.scopes import Scope
from hashshare.config import Settings
from hashshare.deps import Images, RuntimeDep, require_scope
from hashshare.errors import (
    ERROR_RESPONSES,
    ErrorBody,
    MalformedUpload,
    NotMultipart,
    ValidationFailed,
)
from hashshare.hashing.schemas import (
    HashOptions,
    HashResponse,
    ImageMatchResponse,
    MatchImageOptions,
    MatchUploadForm,
    UploadForm,
)

HASH_PATH = "/v1/hash"
MATCH_IMAGE_PATH = "/v1/match/image"
# Multipart boundaries, part headers and the small option fields.
FORM_OVERHEAD_BYTES = 64 * 1024
IMAGE_FIELD = "image"

router = APIRouter(tags=["hashing"], responses=ERROR_RESPONSES)

IMAGE_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The multipart body is malformed."},
    413: {"model": ErrorBody, "description": "`image_too_large`: bytes or pixels over the limit."},
    415: {
        "model": ErrorBody,
        "description": "`unsupported_image_format`, or the body is not multipart/form-data.",
    },
    422: {
        "model": ErrorBody,
        "description": "`image_unreadable` (empty, truncated, corrupt), "
        "`image_hashing_timeout` (took longer than IMAGE_HASH_SECONDS), `missing_image`, "
        "`unknown_signal_type`, `validation_error`, or match items refused.",
    },
}


def upload_body_limits(settings: Settings) -> dict[str, int]:
    """Request body limits of the image routes, for the request middleware."""
    limit = max(settings.max_body_bytes, settings.max_upload_bytes + FORM_OVERHEAD_BYTES)
    return {HASH_PATH: limit, MATCH_IMAGE_PATH: limit}


def form_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    return {
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": schema}},
        }
    }


Options = TypeVar("Options", bound=BaseModel)


async def read_form(
    request: Request, settings: Settings, hint: str, max_field_bytes: int = 1024
) -> tuple[list[tuple[str, bytes]], dict[str, str]]:
    """A multipart form read in memory: its files as (field, bytes), and its text fields.

    `hint` says what to send when the body is not multipart."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise NotMultipart(hint)
    parser = MultiPartParser(
        request.headers, request.stream(), max_files=1, max_fields=8, max_part_size=max_field_bytes
    )
    # Keep the file part in memory whatever its size (the body is already bounded).
    parser.spool_max_size = settings.max_upload_bytes + FORM_OVERHEAD_BYTES
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise MalformedUpload(f"malformed multipart body: {exc.message}") from None
    try:
        files: list[tuple[str, bytes]] = []
        fields: dict[str, str] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                files.append((key, await value.read(settings.max_upload_bytes + 1)))
            else:
                fields[key] = value
    finally:
        await form.close()
    return files, fields


async def read_upload(
    request: Request, settings: Settings, options_model: type[Options]
) -> tuple[bytes, Options]:
    files, fields = await read_form(
        request, settings, f"send the image as multipart/form-data in a field named {IMAGE_FIELD!r}"
    )
    data = next((content for key, content in files if key == IMAGE_FIELD), None)
    if data is None:
        raise ValidationFailed(f"no file in the form field {IMAGE_FIELD!r}", code="missing_image")
    try:
        options = options_model.model_validate(fields)
    except ValidationError as exc:
        raise ValidationFailed(
            "invalid form fields",
            details=[
                {"field": ".".join(str(p) for p in err["loc"]), "message": err["msg"]}
                for err in exc.errors()
            ],
        ) from None
    return data, options


@router.post(
    HASH_PATH,
    response_model=HashResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=form_body(UploadForm),
    summary="Hash an image (multipart field `image`); the image is not stored",
)
async def hash_image(
    request: Request,
    principal: Annotated[Principal, require_scope(Scope.HASHES_MATCH)],
    runtime: RuntimeDep,
    images: Images,
) -> HashResponse:
    data, options = await read_upload(request, runtime.settings, HashOptions)
    return await images.hash_image(data, options)


@router.post(
    MATCH_IMAGE_PATH,
    response_model=ImageMatchResponse,
    responses=IMAGE_ERRORS,
    openapi_extra=form_body(MatchUploadForm),
    summary="Hash an image and match its hashes against the shared set",
)
async def match_image(
    request: Request,
    principal: Annotated[Principal, require_scope(Scope.HASHES_MATCH)],
    runtime: RuntimeDep,
    images: Images,
) -> ImageMatchResponse:
    data, options = await read_upload(request, runtime.settings, MatchImageOptions)
    return await images.match_image(principal, data, options)
