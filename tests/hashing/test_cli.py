"""`hashshare hash`: files and folders in, one line per image out, on every core."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from hashshare.cli import main
from hashshare.hashing import cli as hashing_cli
from hashshare.hashing.hashers import hash_file
from tests.hashing.pictures import PDQ_DATA, encode, scene

SAMPLE_B_PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.fixture
def pictures(tmp_path: Path) -> Path:
    """a.png, b.jpg, nested/c.gif, nested/deeper/d.webp, notes.txt and broken.jpg."""
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "a.png").write_bytes(encode(scene(seed=1)))
    (tmp_path / "b.jpg").write_bytes(encode(scene(seed=2), "JPEG"))
    (tmp_path / "nested" / "c.gif").write_bytes(encode(scene(seed=3), "GIF"))
    (tmp_path / "nested" / "deeper" / "d.webp").write_bytes(encode(scene(seed=4), "WEBP"))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["hash", "--no-progress", *args])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_prints_one_json_line_per_image_with_path_and_hashes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sample = PDQ_DATA / "pytx" / "sample-b.jpg"

    code, lines, _ = run(capsys, str(sample))

    assert code == 0
    record = json.loads(lines[0])
    assert record == {
        "path": str(sample),
        **hash_file(sample, regions=True, central=True).as_record(),
    }
    assert (record["pdq"], record["pdq_quality"]) == (SAMPLE_B_PDQ, 100)


def test_walks_folders_recursively_in_order_picking_only_image_files(
    pictures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines, _ = run(capsys, str(pictures), "--types", "md5")

    assert code == 0
    assert [Path(json.loads(line)["path"]).relative_to(pictures) for line in lines] == [
        Path("a.png"),
        Path("b.jpg"),
        Path("nested/c.gif"),
        Path("nested/deeper/d.webp"),
    ]


def test_keeps_the_order_of_the_arguments(
    pictures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = [pictures / "b.jpg", pictures / "nested", pictures / "a.png"]

    _, lines, _ = run(capsys, *map(str, order), "--types", "md5")

    names = [Path(json.loads(line)["path"]).name for line in lines]
    assert names == ["b.jpg", "c.gif", "d.webp", "a.png"]


def test_writes_csv_with_a_header(pictures: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, _ = run(capsys, str(pictures / "a.png"), "--format", "csv", "--types", "pdq,md5")

    rows = list(csv.DictReader(io.StringIO("\n".join(lines))))
    assert code == 0
    assert list(rows[0]) == ["path", "pdq", "md5", "pdq_quality", "regions"]
    assert rows[0]["pdq"] == hash_file(pictures / "a.png", ["pdq"]).hex("pdq")


def test_skips_and_reports_unreadable_files_without_stopping(
    pictures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (pictures / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    named = [
        pictures / "a.png",
        pictures / "broken.jpg",
        pictures / "notes.txt",
        pictures / "missing.png",
        pictures / "b.jpg",
    ]

    code, lines, err = run(capsys, *map(str, named))

    assert code == 1
    assert [Path(json.loads(line)["path"]).name for line in lines] == ["a.png", "b.jpg"]
    assert f"skipped {pictures / 'broken.jpg'}: image_unreadable" in err
    assert f"skipped {pictures / 'notes.txt'}: unsupported_image_format" in err
    assert f"skipped {pictures / 'missing.png'}: image_unreadable" in err
    assert "2 hashed, 3 skipped" in err


def test_two_worker_processes_give_the_same_lines_as_one(
    pictures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, one, _ = run(capsys, str(pictures), "--jobs", "1")
    _, two, _ = run(capsys, str(pictures), "--jobs", "2")

    assert two == one
    assert len(one) == 4


def crash_on_b(job: hashing_cli.Job) -> hashing_cli.Outcome:
    if job.path.endswith("b.jpg"):
        os._exit(1)  # a decoder crashing the worker process
    return hashing_cli.hash_one.__wrapped__(job)  # type: ignore[attr-defined]


def test_a_crashing_worker_loses_only_its_file(
    pictures: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_on_b.__wrapped__ = hashing_cli.hash_one  # type: ignore[attr-defined]
    crash_on_b.__qualname__ = crash_on_b.__name__ = "hash_one"
    crash_on_b.__module__ = hashing_cli.__name__
    monkeypatch.setattr(hashing_cli, "hash_one", crash_on_b)

    code, lines, err = run(capsys, str(pictures), "--types", "md5", "--jobs", "2")

    assert code == 1
    assert [Path(json.loads(line)["path"]).name for line in lines] == ["a.png", "c.gif", "d.webp"]
    assert "b.jpg: image_unreadable: the decoder crashed" in err


def test_refuses_an_unknown_signal_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines, err = run(capsys, str(PDQ_DATA / "pytx"), "--types", "pdq,tmk")

    assert (code, lines) == (1, [])
    assert "unknown signal types tmk" in err


def test_file_over_the_byte_limit_is_skipped(
    pictures: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, str(pictures / "a.png"), "--max-bytes", "100")

    assert code == 1
    assert "image_too_large" in err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def hash_with_stderr(stderr: io.StringIO, monkeypatch: pytest.MonkeyPatch, *args: Any) -> str:
    monkeypatch.setattr("sys.stderr", stderr)
    assert main(["hash", *args]) == 0
    return stderr.getvalue()


def test_draws_a_progress_bar_on_a_terminal(
    pictures: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    err = hash_with_stderr(FakeTerminal(), monkeypatch, str(pictures), "--jobs", "1")

    assert "\r[" in err
    assert "4/4 images, 0 skipped" in err


def test_draws_no_progress_bar_when_stderr_is_not_a_terminal(
    pictures: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hash_with_stderr(io.StringIO(), monkeypatch, str(pictures), "--jobs", "1") == ""
