"""One line for a failure an operator can fix (a database that is not there, a missing file),
instead of a traceback. `describe` answers None for anything else: that is a bug to report."""

from __future__ import annotations

import socket


def redact_url(url: str) -> str:
    """A database URL fit to print: the credentials replaced by ***."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def describe(exc: BaseException) -> str | None:
    """A one-line description of an operator-fixable failure, or None."""
    from sqlalchemy.exc import DBAPIError, NoSuchModuleError, OperationalError

    if isinstance(exc, DBAPIError | OperationalError):
        cause = exc.orig if exc.orig is not None else exc
        # asyncpg's own exceptions say it plainly ('database "x" does not exist').
        inner = getattr(cause, "__cause__", None) or cause
        text = _first_line(str(inner)) or type(inner).__name__
        if "no such table" in text or ("relation" in text and "does not exist" in text):
            text += " (is the schema there? run `hashshare db upgrade`)"
        return f"cannot use the database: {text}"
    if isinstance(exc, NoSuchModuleError):
        return f"unsupported database URL: {_first_line(str(exc))}"
    if isinstance(exc, socket.gaierror):
        return f"cannot reach the database: host name not found ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return f"cannot reach the database: connection refused ({_first_line(str(exc))})"
    if isinstance(exc, TimeoutError):
        return "cannot reach the database: timed out"
    if isinstance(exc, OSError):
        if exc.filename is not None:
            return f"{exc.filename}: {exc.strerror or exc}"
        return _first_line(str(exc)) or type(exc).__name__
    if type(exc).__module__.startswith("asyncpg"):
        return f"cannot use the database: {_first_line(str(exc)) or type(exc).__name__}"
    return None
