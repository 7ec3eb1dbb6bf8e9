"""Each format read from (or written to) a sample made from its own documentation or source."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hashshare.cli import main as cli
from hashshare.formats import (
    WRITERS,
    ExportRecord,
    FormatError,
    HashRecord,
    Skipped,
    detect,
    read_file,
)
from tests.hashing.pictures import encode, scene

SAMPLES = Path(__file__).parent / "samples"
WHEN = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _split(entries: list[HashRecord | Skipped]) -> tuple[list[HashRecord], list[Skipped]]:
    return (
        [e for e in entries if isinstance(e, HashRecord)],
        [e for e in entries if isinstance(e, Skipped)],
    )


def test_plain_csv_reads_labels_references_and_reports_incomplete_rows() -> None:
    fmt, entries = read_file(SAMPLES / "plain.csv")
    records, skipped = _split(entries)
    assert fmt == "csv"
    assert [(r.signal_type, r.labels, r.external_ref) for r in records] == [
        ("pdq", ("attacker-manifesto", "incident:christchurch-2019"), "case-101"),
        ("md5", ("glorification-of-terrorist-acts",), None),
        ("pdq", (), "case-103"),
    ]
    assert [(s.line, s.reason) for s in skipped] == [(5, "a row needs both signal_type and value")]
    assert records[0].submission(("attacker-manifesto", "entity:isil"))["labels"] == [
        "attacker-manifesto",
        "entity:isil",
        "incident:christchurch-2019",
    ]


def test_pytx_file_exchange_maps_its_type_names_and_reports_the_others() -> None:
    fmt, entries = read_file(SAMPLES / "pytx_signals.txt")
    records, skipped = _split(entries)
    assert fmt == "pytx"
    assert [(r.signal_type, r.line) for r in records] == [("pdq", 1), ("md5", 2), ("sha256", 5)]
    assert [s.line for s in skipped] == [3, 4]
    assert "'url_md5' is not one hashshare holds" in skipped[0].reason


def test_tcap_v2_maps_algorithms_turns_deleted_into_retractions_and_keeps_provenance() -> None:
    fmt, entries = read_file(SAMPLES / "tcap_page.json")
    records, skipped = _split(entries)
    assert fmt == "tcap"
    assert [(r.signal_type, r.retract, r.external_ref) for r in records] == [
        ("md5", False, "tcap:2819 ideology=islamist file_type=mp4"),
        ("sha256", False, "tcap:2820 ideology=far-right file_type=jpg"),
        ("md5", True, "tcap:2822 ideology=islamist file_type=gif"),
    ]
    assert records[1].value == records[1].value.lower()
    assert [(s.line, s.reason.split(" is ")[0]) for s in skipped] == [
        (3, "TCAP algorithm 'SHA512'"),
        (5, "TCAP algorithm 'TMK'"),
    ]


def test_a_tcap_entry_added_then_deleted_in_one_file_is_a_retraction(tmp_path: Path) -> None:
    entry = {"hash_digest": "0a" * 16, "algorithm": "MD5", "id": 1, "deleted": False}
    lines = [json.dumps(entry), json.dumps({**entry, "deleted": True})]
    (tmp_path / "tcap.jsonl").write_text("\n".join(lines) + "\n")
    _, entries = read_file(tmp_path / "tcap.jsonl")
    assert [(r.value, r.retract) for r in _split(entries)[0]] == [("0a" * 16, True)]


def test_what_hashshare_hash_prints_is_read_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.png").write_bytes(encode(scene(seed=5)))
    for fmt in ("jsonl", "csv"):
        args = ["hash", str(tmp_path), "--format", fmt, "--jobs", "1", "--no-regions"]
        assert cli(args) == 0
        out = tmp_path / f"hashes.{fmt}"
        out.write_text(capsys.readouterr().out)
        detected, entries = read_file(out)
        records, skipped = _split(entries)
        assert detected == {"jsonl": "jsonl", "csv": "hash-csv"}[fmt]
        assert not skipped
        assert [r.signal_type for r in records] == ["pdq", "phash", "dhash", "md5", "sha256"]
        assert records[0].quality is not None and records[1].quality is None
        assert {r.external_ref for r in records} == {str(tmp_path / "a.png")}


def _exported() -> list[ExportRecord]:
    return [
        ExportRecord("pdq", "ab" * 32, ("attacker-manifesto",), "active", WHEN, "mine-1"),
        ExportRecord("phash", "cd" * 8, ("attacker-manifesto",), "active", WHEN),
        ExportRecord("md5", "ef" * 16, ("attacker-manifesto",), "disputed", WHEN),
        ExportRecord("sha256", "01" * 32, ("attacker-manifesto",), "retracted", WHEN),
    ]


def test_stopncii_export_has_the_fetch_hashes_page_shape() -> None:
    out = io.StringIO()
    skipped = WRITERS["stopncii"](out, _exported())
    page = json.loads(out.getvalue())
    # The fields of pytx's FetchHashesResponse and StopNCIIHashRecord, and nothing else.
    assert set(page) == {
        "count",
        "nextPageToken",
        "nextSetTimestamp",
        "hasMoreRecords",
        "hashRecords",
    }
    assert (page["count"], page["hasMoreRecords"], page["nextPageToken"]) == (2, False, None)
    assert page["nextSetTimestamp"] == int(WHEN.timestamp())
    assert page["hashRecords"] == [
        {
            "lastModtimestamp": int(WHEN.timestamp()),
            "signalType": "ImagePDQ",
            "hashValue": "ab" * 32,
            "hashStatus": "Active",
            "caseNumbers": {},
            "CSPFeedbacks": [],
        },
        {
            "lastModtimestamp": int(WHEN.timestamp()),
            "signalType": "VideoMD5",
            "hashValue": "ef" * 16,
            "hashStatus": "Received",
            "caseNumbers": {},
            "CSPFeedbacks": [],
        },
    ]
    assert [s.reason for s in skipped] == [
        "StopNCII has no signal type for phash",
        "StopNCII has no signal type for sha256",
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "pytx"])
def test_an_export_reads_back_as_the_same_hashes(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"export.{fmt}"
    with path.open("w") as stream:
        skipped = WRITERS[fmt](stream, _exported())
    records, unread = _split(read_file(path)[1])
    assert not unread
    wanted = [
        (r.signal_type, r.value) for r in _exported() if fmt != "pytx" or r.signal_type != "phash"
    ]
    assert [(r.signal_type, r.value) for r in records] == wanted
    assert len(skipped) == (1 if fmt == "pytx" else 0)
    if fmt != "pytx":
        assert records[0].labels == ("attacker-manifesto",)


def test_a_file_of_no_known_format_is_refused_with_the_choices(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("what is this?\n")
    with pytest.raises(FormatError, match="give --format"):
        detect(tmp_path / "x.txt")
    (tmp_path / "s.json").write_text('{"count": 0, "hashRecords": []}\n')
    with pytest.raises(FormatError, match="export format"):
        detect(tmp_path / "s.json")


def test_pytx_reads_the_stopncii_and_file_exchange_exports_with_its_own_code(
    tmp_path: Path,
) -> None:
    pytest.importorskip("threatexchange")
    import dataclasses
    import enum

    import dacite
    from threatexchange.exchanges.clients.stopncii.api import (
        FetchHashesResponse,
        StopNCIICaseStatus,
        StopNCIIHashRecord,
    )
    from threatexchange.exchanges.impl.file_api import (
        FileCollaborationConfig,
        LocalFileSignalExchangeAPI,
    )

    out = io.StringIO()
    WRITERS["stopncii"](out, _exported())
    page = json.loads(out.getvalue())
    config = dacite.Config(cast=[enum.Enum, set])
    records = [dacite.from_dict(StopNCIIHashRecord, r, config=config) for r in page["hashRecords"]]
    response = dacite.from_dict(FetchHashesResponse, {**page, "hashRecords": []}, config=config)
    assert response.hasMoreRecords is False
    assert [r.hashStatus for r in records] == [
        StopNCIICaseStatus.Active,
        StopNCIICaseStatus.Received,
    ]
    assert {f.name for f in dataclasses.fields(StopNCIIHashRecord)} >= set(page["hashRecords"][0])

    path = tmp_path / "signals.txt"
    with path.open("w") as stream:
        WRITERS["pytx"](stream, _exported())
    collab = FileCollaborationConfig(
        name="file", api="local_file", enabled=True, filename=str(path)
    )
    [delta] = list(LocalFileSignalExchangeAPI(collab).fetch_iter([], None))
    assert set(delta.updates) == {
        ("pdq", "ab" * 32),
        ("video_md5", "ef" * 16),
        ("video_sha256", "01" * 32),
    }


def test_the_regions_hashshare_hash_prints_are_read_with_the_images_reference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.hashing.test_regions import PICTURE, captioned

    (tmp_path / "meme.png").write_bytes(encode(captioned(PICTURE)))
    for fmt in ("jsonl", "csv"):
        assert cli(["hash", str(tmp_path), "--format", fmt, "--jobs", "1"]) == 0
        out = tmp_path / f"hashes.{fmt}"
        out.write_text(capsys.readouterr().out)
        records, skipped = _split(read_file(out)[1])
        assert not skipped
        types = [r.signal_type for r in records]
        assert types[:5] == ["pdq", "phash", "dhash", "md5", "sha256"]
        assert len(types) > 5 and set(types[5:]) == {"pdq"}  # the regions
        assert all(r.quality is not None for r in records if r.signal_type == "pdq")
        assert {r.external_ref for r in records} == {str(tmp_path / "meme.png")}


def test_a_hash_line_with_malformed_regions_is_skipped_with_the_reason(tmp_path: Path) -> None:
    lines = [
        json.dumps({"path": "a.jpg", "md5": "ab" * 16, "regions": "{not json"}),
        json.dumps({"path": "b.jpg", "md5": "cd" * 16, "regions": [1, 2]}),
    ]
    (tmp_path / "h.jsonl").write_text("\n".join(lines) + "\n")

    records, skipped = _split(read_file(tmp_path / "h.jsonl")[1])

    assert records == []
    assert [s.reason.split(":")[0] for s in skipped] == [
        "regions is not JSON",
        "regions must be a list of objects",
    ]
