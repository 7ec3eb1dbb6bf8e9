"""Settings: safe defaults in development mode, refusal to start unsafely outside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hashshare.config import (
    DEFAULT_DEV_AUDIT_KEY,
    DEFAULT_DEV_SECRET,
    ConfigError,
    Settings,
    load_settings,
)
from tests.conftest import AUDIT_KEY


@pytest.fixture(autouse=True)
def _no_hashshare_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test sets exactly the HASHSHARE_* variables it is about."""
    for name in list(os.environ):
        if name.startswith("HASHSHARE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HASHSHARE_AUDIT_KEY", AUDIT_KEY)


@pytest.fixture(scope="module")
def public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _clean_environment() -> dict[str, str]:
    """The environment without HASHSHARE_* settings, apart from the audit key."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith("HASHSHARE_")}
    return {**clean, "HASHSHARE_AUDIT_KEY": AUDIT_KEY}


# --- development mode ----------------------------------------------------------------------


def test_dev_mode_gets_the_default_secret_and_hs256() -> None:
    settings = Settings(dev_mode=True)

    assert settings.jwt_secret == DEFAULT_DEV_SECRET
    assert settings.jwt_algorithms == ["HS256"]


def test_dev_mode_keeps_a_secret_it_is_given() -> None:
    secret = "a-local-secret-of-a-sensible-length-0123456789"

    assert Settings(dev_mode=True, jwt_secret=secret).jwt_secret == secret


def test_dev_mode_may_use_asymmetric_keys_without_a_secret(public_pem: str) -> None:
    settings = Settings(dev_mode=True, jwt_algorithms=["ES256"], jwt_public_keys={"k": public_pem})

    assert settings.jwt_algorithms == ["ES256"]
    assert settings.jwt_secret is None


def test_production_defaults_to_asymmetric_algorithms_only(public_pem: str) -> None:
    settings = Settings(jwt_public_keys={"k": public_pem})

    assert settings.dev_mode is False
    assert settings.jwt_algorithms == ["RS256", "ES256", "EdDSA"]
    assert settings.jwt_secret is None


def test_database_defaults_to_an_embedded_sqlite_file() -> None:
    settings = Settings(dev_mode=True)

    assert settings.database_url == "sqlite+aiosqlite:///./hashshare.db"
    assert settings.is_sqlite


# --- refusals outside development mode -----------------------------------------------------


def test_production_without_keys_is_refused_naming_the_setting_to_add() -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings()

    assert "HASHSHARE_JWKS_FILE" in str(refused.value)
    assert "HASHSHARE_JWT_PUBLIC_KEYS" in str(refused.value)


def test_production_with_hs256_is_refused(public_pem: str) -> None:
    with pytest.raises(ConfigError, match="HASHSHARE_DEV_MODE"):
        load_settings(jwt_algorithms="HS256", jwt_public_keys={"k": public_pem})


def test_production_with_hs256_and_a_strong_secret_is_still_refused() -> None:
    with pytest.raises(ConfigError):
        load_settings(jwt_algorithms="HS512", jwt_secret="x" * 64)


def test_jwt_secret_set_outside_dev_mode_is_refused(public_pem: str) -> None:
    with pytest.raises(ConfigError, match="HASHSHARE_JWT_SECRET"):
        load_settings(
            jwt_secret="some-secret-value-long-enough-1234567", jwt_public_keys={"k": public_pem}
        )


def test_default_dev_secret_outside_dev_mode_is_refused(public_pem: str) -> None:
    with pytest.raises(ConfigError, match="HASHSHARE_JWT_SECRET"):
        load_settings(jwt_secret=DEFAULT_DEV_SECRET, jwt_public_keys={"k": public_pem})


@pytest.mark.parametrize("dev_mode", [True, False], ids=["dev", "production"])
def test_mixing_hs256_with_rs256_is_refused(dev_mode: bool, public_pem: str) -> None:
    with pytest.raises(ConfigError, match="must not mix"):
        load_settings(
            dev_mode=dev_mode, jwt_algorithms="HS256,RS256", jwt_public_keys={"k": public_pem}
        )


@pytest.mark.parametrize("algorithm", ["none", "HS1", "rs256", "PS128"])
def test_unknown_algorithm_is_refused(algorithm: str, public_pem: str) -> None:
    with pytest.raises(ConfigError, match="unsupported JWT algorithms"):
        load_settings(jwt_algorithms=algorithm, jwt_public_keys={"k": public_pem})


def test_load_settings_reports_problems_as_config_error_not_validation_error() -> None:
    with pytest.raises(ConfigError, match="invalid configuration"):
        load_settings(dev_mode=True, jwt_leeway_seconds=-1)


# --- environment variables -----------------------------------------------------------------


def test_settings_are_read_from_hashshare_prefixed_environment_variables(
    monkeypatch: pytest.MonkeyPatch, public_pem: str
) -> None:
    monkeypatch.setenv("HASHSHARE_JWT_ALGORITHMS", "RS256,ES256")
    monkeypatch.setenv("HASHSHARE_JWT_PUBLIC_KEYS", json.dumps({"idp-1": public_pem}))
    monkeypatch.setenv("HASHSHARE_JWT_ISSUER", "https://idp.example")
    monkeypatch.setenv("HASHSHARE_JWT_AUDIENCE", "hashshare-prod")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", "postgresql+asyncpg://db.example/hashshare")

    settings = load_settings()

    assert settings.jwt_algorithms == ["RS256", "ES256"]
    assert settings.jwt_public_keys == {"idp-1": public_pem}
    assert settings.jwt_issuer == "https://idp.example"
    assert settings.jwt_audience == "hashshare-prod"
    assert settings.database_url == "postgresql+asyncpg://db.example/hashshare"
    assert not settings.is_sqlite


def test_algorithm_list_tolerates_spaces_and_empty_items(
    monkeypatch: pytest.MonkeyPatch, public_pem: str
) -> None:
    monkeypatch.setenv("HASHSHARE_JWT_ALGORITHMS", " ES256 , ,EdDSA ")
    monkeypatch.setenv("HASHSHARE_JWT_PUBLIC_KEYS", json.dumps({"k": public_pem}))

    assert load_settings().jwt_algorithms == ["ES256", "EdDSA"]


def test_dev_mode_and_secret_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_JWT_SECRET", "from-the-environment-0123456789abcdef")

    settings = load_settings()

    assert settings.dev_mode is True
    assert settings.jwt_secret == "from-the-environment-0123456789abcdef"
    assert settings.jwt_algorithms == ["HS256"]


def test_jwks_file_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    jwks = tmp_path / "jwks.json"
    monkeypatch.setenv("HASHSHARE_JWKS_FILE", str(jwks))

    assert load_settings().jwks_file == jwks


def test_secret_in_the_environment_outside_dev_mode_is_refused(
    monkeypatch: pytest.MonkeyPatch, public_pem: str
) -> None:
    monkeypatch.setenv("HASHSHARE_JWT_SECRET", "leaked-into-production-0123456789abcdef")
    monkeypatch.setenv("HASHSHARE_JWT_PUBLIC_KEYS", json.dumps({"k": public_pem}))

    with pytest.raises(ConfigError, match="HASHSHARE_JWT_SECRET"):
        load_settings()


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_MODE", "1")
    monkeypatch.setenv("JWT_SECRET", "not-for-us")

    with pytest.raises(ConfigError):
        load_settings()


# --- the serve command ---------------------------------------------------------------------


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hashshare", "serve", "--port", "0"],
        cwd=tmp_path,
        env={**_clean_environment(), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.processes
def test_serve_outside_dev_mode_without_keys_exits_before_starting(tmp_path: Path) -> None:
    result = _serve(tmp_path)

    assert result.returncode == 2, result.stderr
    assert "HASHSHARE_JWKS_FILE" in result.stderr
    assert "Traceback" not in result.stderr
    assert "http://" not in result.stderr + result.stdout  # the start-up banner
    assert list(tmp_path.iterdir()) == []  # no database was created


@pytest.mark.processes
@pytest.mark.parametrize(
    "env",
    [
        {"HASHSHARE_DEV_MODE": "0"},
        {"HASHSHARE_JWT_SECRET": "some-secret-value-0123456789abcdef"},
        {"HASHSHARE_JWT_ALGORITHMS": "HS256"},
    ],
    ids=["dev-mode-off", "secret-without-dev-mode", "hs256-without-dev-mode"],
)
def test_serve_with_an_unsafe_token_configuration_exits_with_code_2(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = _serve(tmp_path, **env)

    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("hashshare: ")
    assert "Traceback" not in result.stderr


@pytest.mark.processes
def test_serve_with_an_unusable_public_key_exits_with_code_2(tmp_path: Path) -> None:
    result = _serve(tmp_path, HASHSHARE_JWT_PUBLIC_KEYS=json.dumps({"k": "not a pem key"}))

    assert result.returncode == 2, result.stderr
    assert "PEM" in result.stderr
    assert "Traceback" not in result.stderr


def test_outside_dev_mode_a_missing_audit_key_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, public_pem: str
) -> None:
    monkeypatch.delenv("HASHSHARE_AUDIT_KEY")
    with pytest.raises(ConfigError, match="HASHSHARE_AUDIT_KEY"):
        load_settings(jwt_public_keys={"k": public_pem})


def test_outside_dev_mode_the_development_audit_key_is_refused(public_pem: str) -> None:
    with pytest.raises(ConfigError, match="development key"):
        load_settings(jwt_public_keys={"k": public_pem}, audit_key=DEFAULT_DEV_AUDIT_KEY)


def test_dev_mode_supplies_an_audit_key() -> None:
    assert Settings(dev_mode=True, audit_key=None).audit_key == DEFAULT_DEV_AUDIT_KEY


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    undocumented = [name for name in Settings.model_fields if f"`{name.upper()}`" not in readme]
    assert undocumented == []
