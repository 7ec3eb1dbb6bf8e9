"""Errors the client raises: the service's own error code and details, or a lost connection."""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base of every error `hashshare.client` raises."""


class ApiError(ClientError):
    """The service refused the request: `code` is its stable error code (e.g. `invalid_items`)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.request_id = request_id

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the service's `{"error": {code, message, details}}`; anything else by status."""
        request_id = response.headers.get("x-request-id")
        try:
            error = response.json()["error"]
            return cls(
                response.status_code,
                str(error["code"]),
                str(error["message"]),
                error.get("details"),
                request_id,
            )
        except (ValueError, KeyError, TypeError):
            text = response.text[:200] if response.content else response.reason_phrase
            return cls(response.status_code, f"http_{response.status_code}", text, None, request_id)


class ConnectionFailed(ClientError):
    """The service could not be reached, or kept failing, after every retry."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts
