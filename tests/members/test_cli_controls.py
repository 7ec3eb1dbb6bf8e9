"""`hashshare member suspend|reactivate` and `hashshare token revoke`, run in-process on a
real database: what they print, what they store, and what they refuse."""

from __future__ import annotations

import json

import jwt
import pytest

from hashshare.cli import main
from tests.test_cli import _issue, _rows

pytest_plugins = ["tests.test_cli"]


def _actions(url: str) -> list[tuple[str, dict[str, object]]]:
    rows = _rows(url, "SELECT action, details FROM audit_events ORDER BY id")
    return [(action, json.loads(details)) for action, details in rows]


def test_suspend_and_reactivate_print_what_changed(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["member", "suspend", "acme", "--reason", "abuse report"]) == 0
    assert capsys.readouterr().out == "suspended member acme\n"
    assert main(["member", "suspend", "acme"]) == 0
    assert capsys.readouterr().out == "member acme was already suspended\n"
    assert main(["member", "list"]) == 0
    assert "\tsuspended\t" in capsys.readouterr().out
    assert main(["member", "reactivate", "acme"]) == 0
    assert capsys.readouterr().out == "reactivated member acme\n"
    actions = [(a, d) for a, d in _actions(acme) if a.startswith("member.")]
    assert actions[1:] == [
        ("member.suspend", {"member": "acme", "reason": "abuse report"}),
        ("member.reactivate", {"member": "acme"}),
    ]


def test_suspending_an_unknown_member_fails(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["member", "suspend", "nobody"]) == 1
    assert "nobody" in capsys.readouterr().err


def test_a_suspended_member_gets_no_new_token(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["member", "suspend", "acme"]) == 0
    assert main(["token", "issue", "--member", "acme", "--scope", "hashes:match"]) == 2
    assert "no active member" in capsys.readouterr().err


def test_token_issue_names_the_token_id_on_stderr_and_in_the_audit_log(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "issue", "--member", "acme", "--scope", "hashes:match"]) == 0
    captured = capsys.readouterr()
    jti = jwt.decode(captured.out.strip(), options={"verify_signature": False})["jti"]
    assert captured.err == f"token id (jti): {jti}\n"
    (details,) = [d for a, d in _actions(acme) if a == "token.issue"]
    assert details["jti"] == jti


def test_revoke_by_jti_stores_and_audits_it(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    token = _issue(capsys, "--member", "acme", "--scope", "hashes:match")
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert main(["token", "revoke", "--jti", jti, "--reason", "leaked in a ticket"]) == 0
    assert capsys.readouterr().out == f"revoked token {jti}\n"
    assert main(["token", "revoke", "--jti", jti]) == 0
    assert capsys.readouterr().out == f"token {jti} was already revoked\n"
    assert _rows(acme, "SELECT jti, revoked_by FROM token_revocations") == [(jti, "cli:operator")]
    revokes = [d for a, d in _actions(acme) if a == "token.revoke"]
    assert revokes == [{"jti": jti, "reason": "leaked in a ticket"}]


def test_revoke_by_member_and_time(acme: str, capsys: pytest.CaptureFixture[str]) -> None:
    arguments = ["--member", "acme", "--issued-before", "2026-12-07T12:00:00Z"]
    assert main(["token", "revoke", *arguments]) == 0
    assert "issued before 2026-12-07T12:00:00+00:00" in capsys.readouterr().out
    assert main(["token", "revoke", "--member", "acme", "--issued-before", "now"]) == 0
    (first, second) = [d for a, d in _actions(acme) if a == "token.revoke"]
    assert first == {
        "member": "acme",
        "issued_before": "2026-12-07T12:00:00+00:00",
        "reason": None,
    }
    assert second["member"] == "acme"


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["--member", "acme"],
        ["--jti", "j-1", "--member", "acme", "--issued-before", "now"],
        ["--jti", "j-1", "--issued-before", "now"],
    ],
)
def test_revoke_needs_exactly_one_kind_of_target(
    acme: str, capsys: pytest.CaptureFixture[str], arguments: list[str]
) -> None:
    assert main(["token", "revoke", *arguments]) == 2
    assert capsys.readouterr().err.startswith("hashshare: ")
    assert _rows(acme, "SELECT count(*) FROM token_revocations") == [(0,)]


@pytest.mark.parametrize("moment", ["yesterday", "2026-12-07T12:00:00"])
def test_revoke_refuses_a_time_it_cannot_place(
    acme: str, capsys: pytest.CaptureFixture[str], moment: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["token", "revoke", "--member", "acme", "--issued-before", moment])
    assert exited.value.code == 2
    assert moment in capsys.readouterr().err


def test_revoking_an_unknown_members_tokens_fails(
    acme: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "revoke", "--member", "nobody", "--issued-before", "now"]) == 1
    assert "nobody" in capsys.readouterr().err
