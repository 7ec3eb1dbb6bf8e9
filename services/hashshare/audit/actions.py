"""Every action the audit log records: the values `GET /v1/audit?action=` accepts."""

from __future__ import annotations

ACTIONS = frozenset(
    {
        "audit.checkpoint",  # a signed checkpoint was issued
        "auth.failed",  # a token was refused (401)
        "auth.forbidden",  # a token lacked the route's scope (403)
        "dispute.resolved",
        "feedback.given",
        "hash.disputed",
        "hash.undisputed",
        "hashes.retract",
        "hashes.submit",
        "match",
        "member.add",
        "member.reactivate",
        "member.suspend",
        "request.denied",  # any other 401/403 of an authenticated caller
        "request.rate_limited",  # refusals over a member's rate, counted in `refused`
        "request.rejected",  # any other refusal (4xx) of an authenticated caller
        "token.issue",
        "token.revoke",
    }
)
