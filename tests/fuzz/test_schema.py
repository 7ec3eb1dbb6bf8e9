"""Fuzzing from the spec: schemathesis generates requests from the app's own OpenAPI document
and sends them to the app in-process (ASGI), with a valid token of each scope and with none.

Every response must be free of 5xx, carry a documented status code, content type and `Allow`
header, and match the documented schema; a request outside the schema must be refused. Not
checked: that every schema-valid request is accepted (`positive_data_acceptance`): hash
values, labels and batch rules are checked beyond what the JSON schema says, and refused
with 422 and a code (see the README's error codes).

The bounded run (fixed seed, a few examples per operation and token) is part of the test
command; a longer one:

    HASHSHARE_FUZZ_EXAMPLES=300 .venv/bin/pytest tests/fuzz -p no:randomly -q
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from hashshare.app import create_app
from hashshare.auth.scopes import ALL_SCOPES
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from hashshare.migrations import upgrade
from tests.serving import add_members

EXAMPLES = int(os.environ.get("HASHSHARE_FUZZ_EXAMPLES", "6"))
# Every scope alone, all of them, and no token at all.
TOKENS = [*sorted(ALL_SCOPES), "all", "none"]


# The schema is read when the module is collected; the app's lifespan starts at its first
# request, after the fixture below has migrated the database.
_DIRECTORY = Path(tempfile.mkdtemp(prefix="hashshare-fuzz-"))
SETTINGS = Settings(
    dev_mode=True,
    database_url=f"sqlite+aiosqlite:///{_DIRECTORY / 'fuzz.db'}",
    # A generated `wait=` long-polls the feed; keep it within the client's read timeout.
    feed_max_wait_seconds=1,
)
APP = create_app(SETTINGS)
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture(scope="module", autouse=True)
def _database() -> Iterator[None]:
    upgrade(SETTINGS.database_url)
    asyncio.run(add_members(SETTINGS.database_url, "fuzz", "alpha", "beta"))
    yield
    shutil.rmtree(_DIRECTORY, ignore_errors=True)


def _headers(token: str) -> dict[str, str]:
    if token == "none":
        return {}
    scopes = sorted(ALL_SCOPES) if token == "all" else [token]
    bearer = issue_token(SETTINGS, member="alpha", scopes=scopes, sub="fuzz", ttl_seconds=3600)
    return {"Authorization": f"Bearer {bearer}"}


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_keeps_its_documented_contract(case: Any) -> None:
    """Each generated request is sent once per token: every scope alone, all, none."""
    for token in TOKENS:
        case.call_and_validate(headers=_headers(token), excluded_checks=[positive_data_acceptance])
