"""The running service of the client tests, and an analyst's environment pointing at it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.client.conftest import Live
from tests.client.conftest import live as live


@pytest.fixture
def analyst(live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A token file of member alpha, the service URL in the environment, private config and
    cache folders; returns the token file."""
    for name in list(os.environ):
        if name.startswith("HASHSHARE_") and name not in ("HASHSHARE_DATABASE_URL",):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    token_file = tmp_path / "alpha.token"
    token_file.write_text(live.token("alpha") + "\n")
    token_file.chmod(0o600)
    monkeypatch.setenv("HASHSHARE_URL", live.url)
    monkeypatch.setenv("HASHSHARE_TOKEN_FILE", str(token_file))
    monkeypatch.chdir(tmp_path)
    return token_file
