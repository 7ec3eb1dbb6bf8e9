"""What `hashshare submit` and `hashshare match` read: hash files in any supported format,
or image files and folders, hashed here with the service's own pipeline (only the hashes
leave the machine)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from hashshare.formats import HashRecord, Skipped, read_file
from hashshare.formats.jsonl import records_from_hash_line
from hashshare.hashing import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS
from hashshare.hashing.cli import IMAGE_SUFFIXES, Job, iter_paths, run_jobs
from hashshare.hashing.hashers import parse_types


@dataclass
class Inputs:
    """Records to send, where each came from, and what could not be read."""

    records: list[HashRecord] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (origin, reason)
    formats: set[str] = field(default_factory=set)
    images: int = 0


def is_image_input(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES


def _add(inputs: Inputs, origin: str, entry: HashRecord | Skipped) -> None:
    if isinstance(entry, Skipped):
        inputs.skipped.append((origin, entry.reason))
    else:
        inputs.records.append(entry)
        inputs.origins.append(origin)


def gather(
    paths: list[str],
    fmt: str | None,
    types: str | None,
    jobs: int,
    quiet: bool = False,
    central: bool = False,
) -> Inputs:
    """Read hash files and hash image files/folders, in the order given; with `central` (to
    submit), images' canonical central crops too."""
    inputs = Inputs()
    image_paths = [p for p in paths if is_image_input(Path(p))]
    for argument in paths:
        path = Path(argument)
        if path in map(Path, image_paths):
            continue
        if not path.is_file():
            inputs.skipped.append((argument, "no such file or folder"))
            continue
        detected, entries = read_file(path, fmt)
        inputs.formats.add(detected)
        for entry in entries:
            _add(inputs, f"{argument}:{entry.line}", entry)
    if image_paths:
        inputs.formats.add("images")
        wanted = parse_types(types)
        listed = list(iter_paths(image_paths))
        job_list = [
            Job(path, wanted, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, central=central)
            for path, problem in listed
            if problem is None
        ]
        inputs.skipped.extend((path, problem) for path, problem in listed if problem)
        if not quiet and job_list:
            print(f"hashing {len(job_list)} images locally...", file=sys.stderr)
        for outcome in run_jobs(job_list, max(1, jobs)):
            if outcome.record is None:
                inputs.skipped.append((outcome.path, outcome.error or "cannot be hashed"))
                continue
            inputs.images += 1
            for entry in records_from_hash_line(0, outcome.record):
                _add(inputs, outcome.path, entry)
    return inputs
