"""`hashshare login/submit/match/export/sync` against a running service."""

from __future__ import annotations

import csv
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hashshare.analyst import EXPORT_FORMATS, IMPORT_FORMATS
from hashshare.cli import main as cli
from hashshare.formats import READERS, WRITERS
from tests.client.conftest import Live
from tests.hashing.pictures import encode, scene
from tests.test_cli import _rows
from tests.values import far_pdq

pytestmark = pytest.mark.processes

LABEL = "attacker-manifesto"
SAMPLES = Path(__file__).parents[1] / "formats" / "samples"


def _csv(path: Path, count: int, first: int = 1) -> Path:
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["signal_type", "value", "labels", "external_ref"])
        for n in range(first, first + count):
            writer.writerow(["pdq", far_pdq(n), LABEL, f"case-{n}"])
    return path


def test_the_format_names_of_the_parsers_are_those_of_the_formats() -> None:
    assert sorted(IMPORT_FORMATS) == sorted(READERS)
    assert sorted(EXPORT_FORMATS) == sorted(WRITERS)


def test_no_command_takes_a_token_on_the_command_line() -> None:
    for command in (["submit", "f"], ["match", "f"], ["export", "--format", "csv"], ["sync"]):
        with pytest.raises(SystemExit) as refused:
            cli([*command, "--token", "secret"])
        assert refused.value.code == 2


def test_login_saves_url_and_token_readable_by_the_owner_only(
    analyst: Path, live: Live, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("HASHSHARE_URL")
    monkeypatch.delenv("HASHSHARE_TOKEN_FILE")
    assert cli(["login", "--url", live.url, "--token-file", str(analyst)]) == 0
    printed = capsys.readouterr().out
    token = analyst.read_text().strip()
    assert token not in printed
    saved = Path(os.environ["XDG_CONFIG_HOME"]) / "hashshare" / "client.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text()) == {"url": live.url, "token": token}
    # The commands then need neither flags nor environment.
    assert cli(["submit", str(_csv(Path("a.csv"), 2)), "--no-progress"]) == 0
    assert "created           2" in capsys.readouterr().out


def test_submit_reports_each_refused_line_stores_the_rest_and_exits_non_zero(
    analyst: Path, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _csv(Path("hashes.csv"), 5)
    lines = path.read_text().splitlines()
    lines[2] = f"pdq,{'00' * 32},{LABEL},zero"  # line 3 of the file
    lines[4] = f"md5,xyz,{LABEL},bad"  # line 5
    path.write_text("\n".join(lines) + "\n")
    assert cli(["submit", str(path), "--batch-size", "2", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "created           3" in out
    assert "rejected          2" in out
    assert f"rejected {path}:3: degenerate_hash (value):" in out
    assert f"rejected {path}:5: invalid_hash (value):" in out
    assert _rows(live.database_url, "SELECT count(*) FROM contributions")[0][0] == 3


def test_what_hash_prints_and_a_folder_of_images_are_submitted_as_they_are(
    analyst: Path, live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    for seed in (1, 2):
        (images / f"{seed}.png").write_bytes(encode(scene(seed=seed)))
    assert cli(["hash", str(images), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    Path("hashes.jsonl").write_text(printed)
    # Five types of each whole image, and the PDQ of each region a frame was taken off.
    records = [json.loads(line) for line in printed.splitlines()]
    count = sum(5 + len(record["regions"]) for record in records)
    assert len(records) == 2 and count >= 10
    assert cli(["submit", "hashes.jsonl", "--label", LABEL, "--no-progress"]) == 0
    assert f"created {count:>11}" in capsys.readouterr().out
    # The same images, hashed by submit itself: all already there.
    assert cli(["submit", str(images), "--label", LABEL, "--jobs", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"existing {count:>10}" in out and "created           0" in out


def test_a_tcap_list_is_imported_and_its_deleted_entries_retract(
    analyst: Path, live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = json.loads((SAMPLES / "tcap_page.json").read_text())
    page["results"][3]["deleted"] = False
    Path("first.json").write_text(json.dumps(page))
    assert cli(["submit", "first.json", "--label", LABEL, "--no-progress"]) == 1  # 2 unread
    out = capsys.readouterr().out
    assert "created           3" in out
    assert "unread first.json:3: TCAP algorithm 'SHA512'" in out
    page["results"][3]["deleted"] = True
    Path("later.json").write_text(json.dumps(page))
    cli(["submit", "later.json", "--label", LABEL, "--no-progress"])
    out = capsys.readouterr().out
    assert "retracted         1  (deletions in the input)" in out
    rows = _rows(
        live.database_url,
        "SELECT external_ref, retracted_at IS NOT NULL FROM contributions ORDER BY id",
    )
    assert rows[2] == ("tcap:2822 ideology=islamist file_type=gif", True)


def test_match_prints_json_lines_when_piped_and_a_table_when_asked(
    analyst: Path, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["submit", str(_csv(Path("a.csv"), 3)), "--no-progress"])
    capsys.readouterr()
    Path("q.txt").write_text(f"pdq {far_pdq(2)}\npdq {far_pdq(99)}\n")
    assert cli(["match", "q.txt"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["source"], len(line["matches"])) for line in lines] == [
        ("q.txt:1", 1),
        ("q.txt:2", 0),
    ]
    assert lines[0]["matches"][0]["labels"] == [LABEL]
    assert cli(["match", "q.txt", "--output", "table"]) == 0
    table = capsys.readouterr().out
    assert "1 of 2 queries matched" in table and "q.txt:1" in table


def test_export_writes_the_set_or_your_own_contributions_in_each_format(
    analyst: Path, live: Live, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["submit", str(_csv(Path("a.csv"), 3)), "--no-progress"])
    beta = Path("beta.token")
    beta.write_text(live.token("beta"))
    os.environ["HASHSHARE_TOKEN_FILE"] = str(beta)
    Path("b.txt").write_text(f"video_md5 {'ab' * 16}\n")
    cli(["submit", "b.txt", "--label", LABEL, "--no-progress"])
    capsys.readouterr()

    assert cli(["export", "--format", "pytx", "--out", "all.txt"]) == 0
    assert Path("all.txt").read_text().splitlines() == [
        *(f"pdq {far_pdq(n)}" for n in (1, 2, 3)),
        f"video_md5 {'ab' * 16}",
    ]
    assert cli(["export", "--format", "csv", "--mine"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "signal_type,value,labels,external_ref",
        f"md5,{'ab' * 16},{LABEL},",
    ]
    os.environ["HASHSHARE_TOKEN_FILE"] = str(analyst)
    assert cli(["export", "--format", "stopncii", "--mine"]) == 0
    captured = capsys.readouterr()
    page = json.loads(captured.out)
    assert [r["hashValue"] for r in page["hashRecords"]] == [far_pdq(n) for n in (1, 2, 3)]
    assert "exported 3 your contributions as stopncii" in captured.err


def test_sync_takes_its_token_from_a_file(
    analyst: Path, live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli(["submit", str(_csv(Path("a.csv"), 2)), "--no-progress"])
    os.environ.pop("HASHSHARE_TOKEN_FILE")
    command = ["sync", "--url", live.url, "--out", str(tmp_path / "copy")]
    assert cli([*command, "--token-file", str(analyst)]) == 0
    assert "holding 2 hashes" in capsys.readouterr().out
    assert cli(command) == 2  # no token anywhere
    assert "no token: give --token-file" in capsys.readouterr().err


def test_a_killed_submission_resumes_without_duplicates_or_losses(
    analyst: Path, live: Live, tmp_path: Path
) -> None:
    path = _csv(tmp_path / "big.csv", 3000)
    command = [sys.executable, "-m", "hashshare", "submit", str(path), "--batch-size", "100"]
    command += ["--concurrency", "1"]
    cache = Path(os.environ["XDG_CACHE_HOME"]) / "hashshare"
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        saved = list(cache.glob("submit-*.json")) if cache.exists() else []
        if saved and len(json.loads(saved[0].read_text())["batches"]) >= 3:
            break
        assert first.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait()
    acknowledged = len(json.loads(saved[0].read_text())["batches"])
    assert acknowledged < 30
    stored_before = _rows(live.database_url, "SELECT count(*) FROM contributions")[0][0]
    assert 300 <= stored_before < 3000

    second = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert "resuming: " in second.stderr
    total = sum(
        int(line.split()[1].replace(",", ""))
        for line in second.stdout.splitlines()
        if line.strip().startswith(("created", "existing"))
    )
    assert total == 3000
    assert _rows(live.database_url, "SELECT count(*) FROM hashes")[0][0] == 3000
    assert _rows(live.database_url, "SELECT count(*) FROM contributions")[0][0] == 3000
    assert not list(cache.glob("submit-*.json"))
