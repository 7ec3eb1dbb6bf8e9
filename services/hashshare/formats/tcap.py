"""Tech Against Terrorism's TCAP hash list, v2 JSON (import only).

The shape is that of the hash list API's pages (`GET /hash-list/v2/all`, as read by
python-threatexchange's TAT client): `{"count", "next", "previous", "checkpoint",
"results": [entry, ...]}`; a bare list of entries, or JSON Lines of entries, is read too.
An entry:

- `algorithm` `PDQ`, `MD5`, `SHA256`: signal type `pdq`, `md5`, `sha256`; `SHA512`, `TMK`
  and any other are reported and skipped.
- `hash_digest`: the value (lower-cased).
- `deleted: true`: a retraction of your own contribution of that hash.
- `id`, `ideology`, `file_type`: the external reference
  `tcap:<id> ideology=<ideology> file_type=<type>`, shown to you only.
- `created_on`, `updated_on`: not kept (hashshare records its own times).

TCAP entries carry no behaviour label and hashshare's taxonomy has none for ideology
(`islamist`, `far-right`), so the labels come from `hashshare submit --label` and apply to
every entry. An entry that appears more than once counts as its last appearance (an entry
added and then deleted within the file is a retraction).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from hashshare.formats.records import FormatError, HashRecord, Skipped

ALGORITHMS = {"PDQ": "pdq", "MD5": "md5", "SHA256": "sha256"}


def _entries(stream: IO[str]) -> list[Any]:
    text = stream.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise FormatError(f"not TCAP JSON: {exc}") from None
    if isinstance(document, dict) and isinstance(document.get("results"), list):
        return list(document["results"])
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and "hash_digest" in document:
        return [document]
    raise FormatError("not a TCAP hash list: expected an object with `results`, or a list")


def _reference(entry: dict[str, Any]) -> str:
    parts = [f"tcap:{entry.get('id', '?')}"]
    for name in ("ideology", "file_type"):
        if entry.get(name):
            parts.append(f"{name}={entry[name]}")
    return " ".join(parts)[:256]


def read(stream: IO[str]) -> Iterator[HashRecord | Skipped]:
    last: dict[tuple[str, str], HashRecord] = {}
    for number, entry in enumerate(_entries(stream), start=1):
        if not isinstance(entry, dict) or not entry.get("hash_digest"):
            yield Skipped(number, "an entry needs `hash_digest` and `algorithm`", str(entry)[:120])
            continue
        algorithm = str(entry.get("algorithm", "")).upper()
        signal_type = ALGORITHMS.get(algorithm)
        if signal_type is None:
            yield Skipped(
                number,
                f"TCAP algorithm {algorithm or '(none)'!r} is not one hashshare holds "
                f"({', '.join(ALGORITHMS)})",
                str(entry["hash_digest"])[:120],
            )
            continue
        value = str(entry["hash_digest"]).strip().lower()
        record = HashRecord(
            signal_type,
            value,
            external_ref=_reference(entry),
            retract=entry.get("deleted") is True,
            line=number,
        )
        last.pop((signal_type, value), None)  # re-inserted: ordered by last appearance
        last[signal_type, value] = record
    yield from last.values()
