"""Which database failures mean "the database is unreachable right now".

Such a failure is not the client's fault nor a bug of the service: the request is answered
503 `database_unavailable` with `Retry-After`, and the next request, on a fresh connection
(the pool pings connections before handing them out), succeeds once the database is back.
Everything else a database raises (a constraint, a programming error) stays a 500.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import exc as sa_exc

# asyncpg's exceptions that say the connection or the server went away, by class name (the
# module is only installed for PostgreSQL).
_ASYNCPG_UNAVAILABLE = frozenset(
    {
        "ConnectionDoesNotExistError",  # "connection was closed in the middle of operation"
        "ConnectionFailureError",
        "InternalClientError",  # "another operation is in progress" on a broken connection
        "InterfaceError",
        "CannotConnectNowError",
        "TooManyConnectionsError",
        "AdminShutdownError",  # pg_terminate_backend
        "CrashShutdownError",
        "ObjectNotInPrerequisiteStateError",  # "database ... not accepting connections"
        "QueryCanceledError",  # statement_timeout
        "LockNotAvailableError",  # lock_timeout
    }
)

# SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57 operator
# intervention (shutdown, terminated, statement timeout).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")

RETRY_AFTER_SECONDS = 1


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen and len(chain) < 10:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return chain


def database_unavailable(error: BaseException) -> bool:
    """Whether `error` means the database could not be reached or dropped the connection."""
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection within the timeout
        return True
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return True  # SQLite: "database is locked"; asyncpg: connection errors
    for cause in _causes(error):
        if type(cause).__name__ in _ASYNCPG_UNAVAILABLE:
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATE_CLASSES):
            return True
        if isinstance(cause, ConnectionError | TimeoutError):
            return True
    return False


def sqlite_busy(error: BaseException) -> bool:
    """Whether `error` is SQLite's "database is locked": another connection holds the write
    lock for longer than this connection's busy timeout."""
    return any(
        isinstance(cause, sqlite3.OperationalError)
        and getattr(cause, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY
        for cause in _causes(error)
    )
