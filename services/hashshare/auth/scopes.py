"""The scopes a token may carry."""

from enum import StrEnum


class Scope(StrEnum):
    HASHES_SUBMIT = "hashes:submit"
    HASHES_MATCH = "hashes:match"
    HASHES_READ = "hashes:read"
    HASHES_FEEDBACK = "hashes:feedback"
    MATCHES_REPORT = "matches:report"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"


ALL_SCOPES = frozenset(scope.value for scope in Scope)
