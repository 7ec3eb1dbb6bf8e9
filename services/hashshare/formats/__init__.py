"""Hash files in and out: the formats platforms already exchange.

| name | import | export | what |
|---|---|---|---|
| `csv` | yes | yes | `signal_type,value,labels,external_ref`, labels `;`-separated |
| `jsonl` | yes | yes | `hashshare hash` output, or items of `POST /v1/hashes` (`jsonl.py`) |
| `hash-csv` | yes | | `hashshare hash --format csv` |
| `pytx` | yes | yes | python-threatexchange's file exchange, `<signal_type> <signal>` (`pytx.py`) |
| `tcap` | yes | | Tech Against Terrorism's TCAP hash list v2 JSON (`tcap.py`) |
| `stopncii` | | yes | StopNCII's `FetchHashes` page (`stopncii.py`) |

Readers yield `HashRecord`s and, for what they cannot take, `Skipped` with the reason;
writers take `ExportRecord`s and return what they could not write. `detect` names the
format of a file from its first line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from hashshare.formats import jsonl, plain_csv, pytx, stopncii, tcap
from hashshare.formats.records import ExportRecord, FormatError, HashRecord, Skipped

Reader = Callable[[IO[str]], Iterator[HashRecord | Skipped]]
Writer = Callable[[IO[str], Iterable[ExportRecord]], list[Skipped]]

READERS: dict[str, Reader] = {
    "csv": plain_csv.read,
    "jsonl": jsonl.read,
    "hash-csv": jsonl.read_hash_csv,
    "pytx": pytx.read,
    "tcap": tcap.read,
}
WRITERS: dict[str, Writer] = {
    "csv": plain_csv.write,
    "jsonl": jsonl.write,
    "pytx": pytx.write,
    "stopncii": stopncii.write,
}
_PYTX_LINE = re.compile(r"^[a-z][a-z0-9_]* +\S+$")

__all__ = [
    "READERS",
    "WRITERS",
    "ExportRecord",
    "FormatError",
    "HashRecord",
    "Skipped",
    "detect",
    "read_file",
]


def _first_line(path: Path) -> str:
    with path.open(encoding="utf-8-sig") as stream:
        for line in stream:
            if line.strip() and not line.lstrip().startswith("#"):
                return line.strip()
    return ""


def detect(path: Path) -> str:
    """The import format of a hash file, from its first line."""
    first = _first_line(path)
    if not first:
        raise FormatError(f"{path}: empty")
    if first.startswith("{") or first.startswith("["):
        if "hash_digest" in first or first in ("{", "["):
            return "tcap"
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            return "tcap"  # one JSON document over several lines
        if isinstance(row, dict) and "hashRecords" in row:
            raise FormatError(f"{path}: a StopNCII page is an export format, not an import one")
        if isinstance(row, dict) and ("results" in row or "hash_digest" in row):
            return "tcap"
        return "jsonl"
    header = [name.strip().lower() for name in first.split(",")]
    if "signal_type" in header and "value" in header:
        return "csv"
    if header[0] == "path":
        return "hash-csv"
    if _PYTX_LINE.match(first):
        return "pytx"
    raise FormatError(
        f"{path}: cannot tell the format from its first line; give --format ({', '.join(READERS)})"
    )


def read_file(path: Path, fmt: str | None = None) -> tuple[str, list[HashRecord | Skipped]]:
    """(format, records and skipped entries) of a hash file."""
    fmt = fmt or detect(path)
    reader = READERS.get(fmt)
    if reader is None:
        raise FormatError(f"{fmt!r} cannot be imported; choose from {', '.join(READERS)}")
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return fmt, list(reader(stream))
