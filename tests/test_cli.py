"""The `hashshare` command line, run in-process against real databases."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import text

from hashshare import openapi
from hashshare.auth.tokens import TokenError, TokenVerifier
from hashshare.cli import main
from hashshare.config import Settings
from hashshare.db import create_engine
from tests.conftest import AUDIT_KEY

COMMANDS = ("serve", "db", "member", "token", "openapi")


def _rows(url: str, statement: str, **params: Any) -> list[Any]:
    async def query() -> list[Any]:
        engine = create_engine(url)
        try:
            async with engine.connect() as connection:
                return list((await connection.execute(text(statement), params)).all())
        finally:
            await engine.dispose()

    return asyncio.run(query())


def _clear_hashshare_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("HASHSHARE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HASHSHARE_AUDIT_KEY", AUDIT_KEY)
    monkeypatch.setenv("USER", "operator")


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite file named by the environment, in development mode; not yet migrated."""
    _clear_hashshare_env(monkeypatch)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", url)
    return url


@pytest.fixture
def acme(db_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    """A migrated database with member `acme`; returns the database URL."""
    assert main(["db", "upgrade"]) == 0
    assert main(["member", "add", "acme", "--name", "Acme"]) == 0
    capsys.readouterr()
    return db_url


def _issue(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["token", "issue", *args]) == 0
    return capsys.readouterr().out.strip()


# --- help --------------------------------------------------------------------------------


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out, f"`hashshare --help` does not mention {command}"


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main([])
    assert exited.value.code != 0


# --- db and members ------------------------------------------------------------------------


def test_db_upgrade_creates_the_schema(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    tables = {row[0] for row in _rows(db_url, "select name from sqlite_master where type='table'")}
    assert {"members", "hashes", "contributions", "audit_events"} <= tables


def test_added_member_appears_in_member_list(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["member", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fields = [line.split("\t") for line in lines]
    assert ["acme", "Acme", "active"] in [f[:3] for f in fields]


def test_adding_an_existing_member_again_fails(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["member", "add", "acme", "--name", "Acme again"]) != 0
    assert "acme" in capsys.readouterr().err
    assert _rows(acme, "select name from members where id = 'acme'") == [("Acme",)]


def test_member_with_an_invalid_id_is_refused(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["member", "add", "Not Valid!", "--name", "X"]) != 0
    assert capsys.readouterr().err
    assert _rows(acme, "select count(*) from members") == [(1,)]


def test_member_add_is_audited(acme: str) -> None:
    rows = _rows(
        acme,
        "select actor, outcome, details from audit_events where action = 'member.add'",
    )
    assert len(rows) == 1
    actor, outcome, details = rows[0]
    assert actor == "cli:operator"
    assert outcome == "ok"
    assert json.loads(details) == {"member": "acme", "name": "Acme"}


def test_refused_member_add_is_not_audited(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["member", "add", "acme", "--name", "Acme again"])
    rows = _rows(acme, "select count(*) from audit_events where action = 'member.add'")
    assert rows == [(1,)]


# --- tokens --------------------------------------------------------------------------------


def test_issued_token_is_accepted_with_its_scope_and_member(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _issue(capsys, "--member", "acme", "--scope", "hashes:match")
    claims = TokenVerifier(Settings(dev_mode=True, database_url=acme)).verify(token)
    assert claims.member == "acme"
    assert claims.scopes == frozenset({"hashes:match"})


def test_issued_token_carries_several_scopes(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = _issue(capsys, "--member", "acme", "--scope", "hashes:submit audit:read")
    claims = TokenVerifier(Settings(dev_mode=True, database_url=acme)).verify(token)
    assert claims.scopes == frozenset({"hashes:submit", "audit:read"})


def test_issued_token_honours_ttl_and_sub(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = _issue(
        capsys, "--member", "acme", "--scope", "hashes:match", "--ttl", "120", "--sub", "pipeline"
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120
    assert claims["sub"] == "pipeline"


def test_token_is_not_accepted_with_a_different_secret(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _issue(capsys, "--member", "acme", "--scope", "hashes:match")
    other = Settings(dev_mode=True, database_url=acme, jwt_secret="x" * 40)
    with pytest.raises(TokenError):
        TokenVerifier(other).verify(token)


def test_unknown_scope_is_refused(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "issue", "--member", "acme", "--scope", "hashes:everything"]) != 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ""
    assert "hashes:everything" in captured.err


def test_token_for_unknown_member_is_refused(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "issue", "--member", "nobody", "--scope", "hashes:match"]) != 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ""
    assert "nobody" in captured.err


def test_token_issue_is_audited_without_the_token(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token = _issue(capsys, "--member", "acme", "--scope", "hashes:match", "--sub", "pipeline")
    rows = _rows(acme, "select * from audit_events where action = 'token.issue'")
    assert len(rows) == 1
    row = rows[0]._mapping
    assert row["actor"] == "cli:operator"
    assert row["outcome"] == "ok"
    details = json.loads(row["details"])
    assert details["member"] == "acme"
    assert details["scopes"] == ["hashes:match"]
    assert token not in str(tuple(row))
    assert token.split(".")[2] not in str(tuple(row))


def test_refused_token_issue_is_not_audited(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["token", "issue", "--member", "acme", "--scope", "hashes:everything"])
    main(["token", "issue", "--member", "nobody", "--scope", "hashes:match"])
    assert _rows(acme, "select count(*) from audit_events where action = 'token.issue'") == [(0,)]


def _ec_key_pair(tmp_path: Path) -> tuple[Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    private_path = tmp_path / "signing.pem"
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private_path, public_pem


def test_outside_dev_mode_token_issue_without_private_key_is_refused(
    acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _, public_pem = _ec_key_pair(tmp_path)
    monkeypatch.delenv("HASHSHARE_DEV_MODE")
    monkeypatch.setenv("HASHSHARE_JWT_PUBLIC_KEYS", json.dumps({"k1": public_pem}))
    assert main(["token", "issue", "--member", "acme", "--scope", "hashes:match"]) != 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ""
    assert "HASHSHARE_JWT_PRIVATE_KEY_FILE" in captured.err


def test_outside_dev_mode_without_any_keys_token_issue_is_refused(
    acme: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HASHSHARE_DEV_MODE")
    assert main(["token", "issue", "--member", "acme", "--scope", "hashes:match"]) != 0
    captured = capsys.readouterr()
    assert captured.out.strip() == ""
    assert "HASHSHARE_JWKS_FILE" in captured.err


def test_outside_dev_mode_token_is_signed_with_the_private_key(
    acme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    private_path, public_pem = _ec_key_pair(tmp_path)
    monkeypatch.delenv("HASHSHARE_DEV_MODE")
    monkeypatch.setenv("HASHSHARE_JWT_PUBLIC_KEYS", json.dumps({"k1": public_pem}))
    monkeypatch.setenv("HASHSHARE_JWT_PRIVATE_KEY_FILE", str(private_path))
    monkeypatch.setenv("HASHSHARE_JWT_PRIVATE_KEY_ID", "k1")
    token = _issue(capsys, "--member", "acme", "--scope", "hashes:match")
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    verifier = TokenVerifier(
        Settings(database_url=acme, jwt_public_keys={"k1": public_pem}, jwt_algorithms=["ES256"])
    )
    assert verifier.verify(token).member == "acme"


# --- openapi -------------------------------------------------------------------------------


def test_openapi_command_writes_the_apps_spec(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "spec" / "hashshare.json"
    assert main(["openapi", "--out", str(out)]) == 0
    assert out.read_text() == openapi.render()


# --- PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.postgres
def test_db_upgrade_and_member_add_work_on_postgresql(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _clear_hashshare_env(monkeypatch)
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", postgres_url)
    member_id = f"cli-{uuid.uuid4().hex[:12]}"
    assert main(["db", "upgrade"]) == 0
    assert main(["member", "add", member_id, "--name", "CLI on PostgreSQL"]) == 0
    assert _rows(postgres_url, "select name, active from members where id = :id", id=member_id) == [
        ("CLI on PostgreSQL", True)
    ]
    capsys.readouterr()
    assert main(["member", "list"]) == 0
    assert member_id in capsys.readouterr().out
