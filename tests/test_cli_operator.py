"""The command line as a new operator meets it: every problem named at once, in one line each,
with a non-zero exit, and no keys asked of commands that do not use them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from hashshare.cli import main
from hashshare.keys import generate
from hashshare.migrations import upgrade
from tests.conftest import PG_URL


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HASHSHARE_* variable at all: production mode with nothing configured."""
    for name in list(os.environ):
        if name.startswith("HASHSHARE_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sqlite_db(tmp_path: Path, clean_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", url)
    return url


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_config_check_reports_every_problem_at_once_in_plain_words(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HASHSHARE_MAX_SUBMIT_ITEMS", "lots")
    monkeypatch.setenv("HASHSHARE_JWT_SECRET", "x" * 40)
    assert main(["config", "check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("5 problems:\n")
    for expected in (
        "HASHSHARE_MAX_SUBMIT_ITEMS: Input should be a valid integer",
        "HASHSHARE_AUDIT_KEY must be set",
        "HASHSHARE_JWT_SECRET is set outside development mode",
        "no token verification keys",
        "has no schema: run `hashshare db upgrade`",
    ):
        assert expected in out
    assert "Value error" not in out
    assert "Traceback" not in out


def test_config_check_accepts_what_keys_generate_made(
    sqlite_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    made = generate(tmp_path / "keys", kid="k1")
    assert made.audit_key is not None
    upgrade(sqlite_db)
    monkeypatch.setenv("HASHSHARE_JWKS_FILE", str(made.jwks))
    monkeypatch.setenv("HASHSHARE_AUDIT_KEY", made.audit_key.read_text())
    monkeypatch.setenv("HASHSHARE_JWT_PRIVATE_KEY_FILE", str(made.signing_key))
    assert main(["config", "check"]) == 0
    out = capsys.readouterr().out
    assert "ok: token verification keys (kid): k1" in out
    assert out.endswith("configuration OK\n")


def test_config_check_names_a_schema_older_than_the_code(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(sqlite_db, "0002")
    assert main(["config", "check"]) == 1
    assert "is at schema 0002, this code needs" in capsys.readouterr().out


def test_config_check_checks_the_read_database_too(
    sqlite_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upgrade(sqlite_db)
    replica = f"sqlite+aiosqlite:///{tmp_path / 'replica.db'}"
    upgrade(replica, "0003")
    monkeypatch.setenv("HASHSHARE_READ_DATABASE_URL", replica)
    assert main(["config", "check"]) == 1
    out = capsys.readouterr().out
    assert "reachable, schema current" in out  # the primary
    assert "replica.db is at schema 0003, this code needs" in out


def test_commands_that_read_or_migrate_need_no_keys(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["member", "list"]) == 0
    assert main(["report", "--period", "2026"]) == 0
    assert (
        main(
            ["audit", "export", "--out", str(Path(sqlite_db.split("///")[1]).with_suffix(".jsonl"))]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "transparency report" in out
    assert "exported 0 events" in out


def test_serving_still_demands_keys(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["serve"]) == 2
    assert "HASHSHARE_AUDIT_KEY" in capsys.readouterr().err


def test_serve_refuses_a_database_without_schema_in_one_line(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert _lines(err) == [err.strip()]
    assert "has no schema: run `hashshare db upgrade`" in err


def test_a_url_without_the_asyncpg_driver_is_one_clear_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")
    assert main(["db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert len(_lines(err)) == 1
    assert "must start with postgresql+asyncpg://" in err


@pytest.mark.postgres
def test_a_missing_postgres_database_is_one_clear_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Reachability of the server itself is what the postgres marker's tests rely on.
    missing = f"hashshare_missing_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_URL).set(database=missing).render_as_string(hide_password=False)
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", url)
    code = main(["db", "upgrade"])
    err = capsys.readouterr().err
    if "connection refused" in err:
        pytest.skip("PostgreSQL is not reachable")
    assert code == 2
    expected = f'hashshare: cannot use the database: database "{missing}" does not exist'
    assert _lines(err) == [expected]


def test_an_unreachable_database_is_one_clear_line(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard) on loopback: nothing listens there.
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", "postgresql+asyncpg://u@127.0.0.1:9/db")
    assert main(["member", "list"]) == 2
    err = capsys.readouterr().err
    assert _lines(err) == [err.strip()]
    assert "cannot reach the database: connection refused" in err


def test_audit_verify_of_a_missing_file_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "export.jsonl"
    assert main(["audit", "verify", str(missing)]) == 2
    assert capsys.readouterr().err == f"hashshare: {missing}: No such file or directory\n"


def test_a_closed_pipe_ends_the_report_with_one_line_and_no_traceback(
    sqlite_db: str, tmp_path: Path
) -> None:
    assert main(["db", "upgrade"]) == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "hashshare", "report", "--period", "2026"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the report is written (`| head`)
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert err == "hashshare: output closed before it was all written (broken pipe)\n"
