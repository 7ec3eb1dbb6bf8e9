"""A running `hashshare serve` process with members alpha and beta, for client tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from hashshare.auth.scopes import ALL_SCOPES
from hashshare.auth.tokens import issue_token
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.matching.test_replicas import running_service


@dataclass(frozen=True)
class Live:
    url: str
    database_url: str

    def token(self, member: str = "alpha", scopes: list[str] | None = None) -> str:
        return issue_token(
            Settings(dev_mode=True, database_url=self.database_url),
            member=member,
            scopes=sorted(ALL_SCOPES) if scopes is None else scopes,
            sub=f"{member}-client-test",
            ttl_seconds=900,
        )


@pytest.fixture
def live(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", database_url)
    for member in ("alpha", "beta"):
        assert cli(["member", "add", member, "--name", member.title()]) == 0
    with running_service(database_url) as url:
        yield Live(url, database_url)
