"""Who acts: the authenticated caller as services see it, and the actor an audit event
names (no web framework here)."""

from __future__ import annotations

from dataclasses import dataclass

from hashshare.auth.scopes import Scope


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted: the token subject, the member it speaks for, and the request."""

    sub: str | None
    member_id: str | None
    request_id: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    sub: str
    member_id: str
    scopes: frozenset[str]
    request_id: str

    @property
    def actor(self) -> Actor:
        return Actor(sub=self.sub, member_id=self.member_id, request_id=self.request_id)

    def has(self, scope: Scope) -> bool:
        return scope.value in self.scopes
