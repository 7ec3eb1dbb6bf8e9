"""One error hierarchy, free of any web framework.

Every error leaves the service as `{"error": {"code", "message", "details"}}` with a stable
`code` that clients can branch on; messages are for people and may change. Services raise
these; `error_handlers.py`, next to the app, renders them as HTTP responses.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class HashshareError(Exception):
    """Base of every error the service reports to a client."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        # Set where the refusal was already written to the audit log (authentication).
        self.audited = False


class AuthenticationError(HashshareError):
    status_code = 401
    code = "invalid_token"


class PermissionDenied(HashshareError):
    status_code = 403
    code = "forbidden"


class NotFound(HashshareError):
    status_code = 404
    code = "not_found"


class Conflict(HashshareError):
    status_code = 409
    code = "conflict"


class ValidationFailed(HashshareError):
    status_code = 422
    code = "validation_error"


class MalformedUpload(HashshareError):
    status_code = 400
    code = "malformed_upload"


class NotMultipart(HashshareError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(HashshareError):
    """Too many requests from one member; `retry_after` seconds say when to come back."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class Unavailable(HashshareError):
    status_code = 503
    code = "unavailable"


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str = Field(description="Explanation for people; may change.")
    details: Any = Field(default=None, description="Structured details, e.g. bad items.")


class ErrorBody(BaseModel):
    error: ErrorDetail


# Documented on every authenticated router.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "`malformed_json`: the body is not JSON."},
    401: {"model": ErrorBody, "description": "Missing, malformed or invalid token."},
    403: {"model": ErrorBody, "description": "The token lacks the scope, or not yours."},
    413: {"model": ErrorBody, "description": "Request body over the configured limit."},
    429: {
        "model": ErrorBody,
        "description": "`rate_limited`: the member's requests are over the configured rate; "
        "retry after `Retry-After` seconds.",
    },
    422: {"model": ErrorBody, "description": "The request failed validation."},
    503: {
        "model": ErrorBody,
        "description": "`database_unavailable`: the database cannot be reached right now; "
        "retry after `Retry-After` seconds. Nothing of the request was stored.",
    },
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}
