"""`hashshare keys generate`: the files it writes configure a production service as they are."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from hashshare.auth.tokens import TokenVerifier, issue_token
from hashshare.cli import main
from hashshare.config import Settings
from hashshare.keys import generate


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _production_settings(keys: Path, signing: Path, kid: str) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///unused.db",
        jwks_file=keys / "jwks.json",
        jwt_private_key_file=signing,
        jwt_private_key_id=kid,
        audit_key=(keys / "audit-key").read_text(),
    )


def _token(settings: Settings) -> str:
    return issue_token(settings, member="acme", scopes=["hashes:match"], sub="s", ttl_seconds=60)


def test_secrets_are_private_and_the_jwks_is_readable(tmp_path: Path) -> None:
    made = generate(tmp_path / "keys", kid="k1")
    assert _mode(made.signing_key) == 0o600
    assert made.audit_key is not None and _mode(made.audit_key) == 0o600
    assert _mode(made.jwks) == 0o644
    audit_key = made.audit_key.read_text()
    assert len(audit_key) >= 32 and audit_key == audit_key.strip()
    (jwk,) = json.loads(made.jwks.read_text())["keys"]
    assert (jwk["kid"], jwk["alg"], jwk["kty"]) == ("k1", "EdDSA", "OKP")
    assert "d" not in jwk  # the public half only


def test_generated_files_configure_a_production_service_that_verifies_its_tokens(
    tmp_path: Path,
) -> None:
    made = generate(tmp_path, kid="k1")
    settings = _production_settings(tmp_path, made.signing_key, "k1")
    assert not settings.dev_mode
    claims = TokenVerifier(settings).verify(_token(settings))
    assert (claims.member, claims.scopes) == ("acme", frozenset({"hashes:match"}))


def test_a_rotated_jwks_verifies_tokens_of_the_old_key_and_the_new(tmp_path: Path) -> None:
    old = generate(tmp_path / "old", kid="k1")
    new = generate(tmp_path / "new", kid="k2", keep_jwks=old.jwks, audit_key=False)
    assert new.kept_kids == ["k1"]
    assert not (tmp_path / "new" / "audit-key").exists()
    (tmp_path / "new" / "audit-key").write_text((tmp_path / "old" / "audit-key").read_text())
    old_settings = _production_settings(tmp_path / "old", old.signing_key, "k1")
    new_settings = _production_settings(tmp_path / "new", new.signing_key, "k2")
    verifier = TokenVerifier(new_settings)
    assert verifier.verify(_token(old_settings)).member == "acme"
    assert verifier.verify(_token(new_settings)).member == "acme"


def test_keys_are_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--kid", "k1"]) == 0
    before = (tmp_path / "signing-key.pem").read_bytes()
    assert main(["keys", "generate", "--out", str(tmp_path)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    assert (tmp_path / "signing-key.pem").read_bytes() == before


def test_keys_generate_prints_the_settings_to_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--kid", "k9"]) == 0
    out = capsys.readouterr().out
    assert f"HASHSHARE_JWKS_FILE={(tmp_path / 'jwks.json').resolve()}" in out
    assert "HASHSHARE_JWT_PRIVATE_KEY_ID=k9" in out
    assert "HASHSHARE_AUDIT_KEY=" in out


def test_an_audit_key_alone_for_its_rotation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--audit-key-only"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audit-key"]
    assert _mode(tmp_path / "audit-key") == 0o600
    assert "HASHSHARE_AUDIT_KEY" in capsys.readouterr().out
    assert main(["keys", "generate", "--out", str(tmp_path), "--audit-key-only"]) == 2
