"""How errors become HTTP responses: the one error shape for every failure.

Refusals (`HashshareError` and request validation) are also reported to a hook, after any
transaction of the request was rolled back, so that the app can audit them.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from hashshare.errors import HashshareError, RateLimited, error_body
from hashshare.faults import RETRY_AFTER_SECONDS, database_unavailable

log = logging.getLogger(__name__)

# What FastAPI says when a body cannot be decoded at all (e.g. it is not UTF-8).
BODY_PARSE_ERROR = "There was an error parsing the body"

_STATUS_CODES = {
    400: "bad_request",
    401: "invalid_token",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
}

# Called with (request, status, code) for every refused request that was not audited where
# it was refused; the app records those of an authenticated caller (deps.audit_refusal).
RefusalHook = Callable[[Request, int, str], Awaitable[None]]


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    """Keep location, type and message; drop echoed input, which may be huge or hostile."""
    cleaned = []
    for err in list(errors)[:50]:
        cleaned.append(
            {
                "loc": [part if isinstance(part, int) else str(part)[:100] for part in err["loc"]],
                "type": str(err.get("type", "")),
                "message": str(err.get("msg", ""))[:300],
            }
        )
    return cleaned


async def _hashshare_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HashshareError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
    if isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return error_response(exc.status_code, exc.code, exc.message, exc.details, headers)


def _is_malformed_json(exc: RequestValidationError) -> bool:
    return any(err.get("type") == "json_invalid" for err in exc.errors())


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    if _is_malformed_json(exc):
        return error_response(400, "malformed_json", "request body is not valid JSON")
    return error_response(
        422, "validation_error", "request failed validation", _clean_validation_errors(exc.errors())
    )


def _refusal_code(exc: Exception) -> str:
    if isinstance(exc, HashshareError):
        return exc.code
    assert isinstance(exc, RequestValidationError)
    return "malformed_json" if _is_malformed_json(exc) else "validation_error"


def _audited(
    handler: Callable[[Request, Exception], Awaitable[JSONResponse]], on_refusal: RefusalHook
) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        response = await handler(request, exc)
        if not getattr(exc, "audited", False):
            await on_refusal(request, response.status_code, _refusal_code(exc))
        return response

    return handle


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        code = "malformed_json"
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed_methods(request)}
    return error_response(exc.status_code, code, message, headers=headers)


def _allowed_methods(request: Request) -> str:
    """Every method the API documents for this path: the routes of one path may live in
    different routers, and the first of them alone would name only its own methods."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        if _path_pattern(template).fullmatch(request.url.path):
            methods |= {method.upper() for method in operations}
    return ", ".join(sorted(methods))


@functools.lru_cache(maxsize=256)
def _path_pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile(
        "".join("[^/]+" if part.startswith("{") else re.escape(part) for part in parts)
    )


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    """The database went away (connection dropped or refused, pool exhausted, SQLite's file
    locked past the busy timeout): 503 with a stable code, and the client may retry. The
    request's transaction was rolled back and its connection discarded (`Database.unit`)."""
    if not database_unavailable(exc):
        return await _unexpected_error(request, exc)
    log.warning(
        "database unavailable on %s %s: %s", request.method, request.url.path, _first_line(exc)
    )
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI, on_refusal: RefusalHook) -> None:
    """The one error shape for every failure; refusals (our errors and request validation)
    are also reported to `on_refusal`, after any transaction of the request was rolled back."""
    app.add_exception_handler(HashshareError, _audited(_hashshare_error, on_refusal))
    app.add_exception_handler(RequestValidationError, _audited(_validation_error, on_refusal))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    # Database failures (and a connection refused or timed out while connecting) are told
    # apart from bugs in `_database_error`.
    for database_failure in (sa_exc.DBAPIError, sa_exc.TimeoutError, OSError, TimeoutError):
        app.add_exception_handler(database_failure, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
