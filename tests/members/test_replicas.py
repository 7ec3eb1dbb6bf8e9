"""Operator's controls across replicas: real `hashshare serve` processes sharing one database
learn of a suspension or revocation made elsewhere (here: the command line) within the access
list's refresh window, and refuse with the same codes."""

from __future__ import annotations

import httpx
import jwt
import pytest

from hashshare.auth.tokens import issue_token
from hashshare.cli import main as cli
from hashshare.config import Settings
from tests.serving import running_service, seconds_until

pytestmark = pytest.mark.processes

REFRESH_SECONDS = 1.0  # HASHSHARE_ACCESS_REFRESH_SECONDS' default
# The window, plus a request in flight when the list is swapped, on a loaded machine.
WITHIN = REFRESH_SECONDS + 1.0


@pytest.fixture
def settings(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", database_url)
    assert cli(["member", "add", "alpha", "--name", "Alpha"]) == 0
    return Settings(dev_mode=True, database_url=database_url)


def _token(settings: Settings) -> str:
    return issue_token(
        settings, member="alpha", scopes=["hashes:match"], sub="pipeline", ttl_seconds=600
    )


def _answer(base_url: str, token: str) -> tuple[int, str | None]:
    response = httpx.get(
        f"{base_url}/v1/labels", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    code = response.json()["error"]["code"] if response.status_code >= 400 else None
    return response.status_code, code


def test_a_suspension_reaches_every_replica_within_the_refresh_window(settings: Settings) -> None:
    token = _token(settings)
    with (
        running_service(settings.database_url) as one,
        running_service(settings.database_url) as two,
    ):
        assert _answer(one, token) == _answer(two, token) == (200, None)

        assert cli(["member", "suspend", "alpha", "--reason", "test"]) == 0
        refused = (403, "member_suspended")
        waited = seconds_until(
            lambda: _answer(one, token) == refused and _answer(two, token) == refused,
            limit=WITHIN,
        )
        assert waited < WITHIN

        assert cli(["member", "reactivate", "alpha"]) == 0
        seconds_until(
            lambda: _answer(one, token) == _answer(two, token) == (200, None), limit=WITHIN
        )


def test_a_revocation_reaches_every_replica_within_the_refresh_window(settings: Settings) -> None:
    revoked, kept = _token(settings), _token(settings)
    jti = jwt.decode(revoked, options={"verify_signature": False})["jti"]
    with (
        running_service(settings.database_url) as one,
        running_service(settings.database_url) as two,
    ):
        assert _answer(one, revoked) == _answer(two, revoked) == (200, None)
        assert cli(["token", "revoke", "--jti", jti]) == 0
        refused = (401, "token_revoked")
        seconds_until(
            lambda: _answer(one, revoked) == refused and _answer(two, revoked) == refused,
            limit=WITHIN,
        )
        assert _answer(one, kept) == _answer(two, kept) == (200, None)
