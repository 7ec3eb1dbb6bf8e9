"""The edge's settings are production settings whatever the environment says: no default
secret, no development mode, no numpy kernel unless allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from hashshare.auth.tokens import TokenError, TokenVerifier, issue_token
from hashshare.config import DEFAULT_DEV_AUDIT_KEY, DEFAULT_DEV_SECRET, ConfigError, Settings
from hashshare.edge.app import create_edge_app, edge_settings
from hashshare.edge.runtime import EdgeOptions
from hashshare.matching import mih

DEVELOPMENT_ENVIRONMENT = {
    "HASHSHARE_DEV_MODE": "1",
    "HASHSHARE_JWT_SECRET": DEFAULT_DEV_SECRET,
    "HASHSHARE_JWT_ALGORITHMS": "HS256",
    "HASHSHARE_AUDIT_KEY": DEFAULT_DEV_AUDIT_KEY,
}


@pytest.fixture
def development_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in DEVELOPMENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("development_environment")
def test_the_edge_takes_no_development_mode_or_secret_from_the_environment() -> None:
    settings = edge_settings()
    assert settings.dev_mode is False
    assert settings.jwt_secret is None
    assert settings.jwt_algorithms == ["EdDSA"]
    assert settings.audit_key not in (None, DEFAULT_DEV_AUDIT_KEY)
    assert settings.audit_key != edge_settings().audit_key


@pytest.mark.usefixtures("development_environment")
def test_no_token_passes_the_edge_settings() -> None:
    development = Settings(dev_mode=True)
    token = issue_token(
        development, member="alpha", scopes=["hashes:match"], sub="x", ttl_seconds=60
    )
    assert TokenVerifier(development).verify(token).member == "alpha"
    with pytest.raises(TokenError):
        TokenVerifier(edge_settings()).verify(token)


@pytest.mark.usefixtures("development_environment")
def test_the_edge_refuses_the_numpy_kernel_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(mih, "default_kernel", mih.NumpyKernel)
    options = EdgeOptions(upstream="http://central", token="unused", data=tmp_path)
    with pytest.raises(ConfigError, match="compiled match kernel"):
        create_edge_app(options)
    monkeypatch.setenv("HASHSHARE_ALLOW_NUMPY_KERNEL", "1")
    assert create_edge_app(options).title == "hashshare edge"
