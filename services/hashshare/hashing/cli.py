"""`hashshare hash PATH...`: hash image files and folders on this machine, on every core.

Each image becomes one line on stdout (JSON Lines or CSV) in the order the paths were
given, folders walked recursively in sorted order. Files that cannot be hashed are reported
on stderr and skipped; the exit status is then 1. Images are hashed in worker processes, so
a decoder that crashes on a hostile file costs that file, not the run. Nothing here needs a
database or the service's configuration.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from hashshare.hashing import DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS

# Names of files a folder walk picks up; files named on the command line are always tried.
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".dib", ".tif", ".tiff"}
)
DEFAULT_TYPES_TEXT = "pdq,phash,dhash,md5,sha256"


@dataclass(frozen=True, slots=True)
class Job:
    path: str
    types: tuple[str, ...]
    max_bytes: int
    max_pixels: int
    regions: bool = True
    central: bool = False  # the canonical central crops a submission stores (regions.py)


@dataclass(frozen=True, slots=True)
class Outcome:
    path: str
    record: dict[str, Any] | None = None
    error: str | None = None


def hash_one(job: Job) -> Outcome:
    """Hash one file (runs in a worker process); errors come back as text, never raise."""
    from hashshare.errors import HashshareError
    from hashshare.hashing.hashers import hash_file
    from hashshare.hashing.images import ImageLimits

    limits = ImageLimits(max_bytes=job.max_bytes, max_pixels=job.max_pixels)
    try:
        hashes = hash_file(job.path, job.types, limits, regions=job.regions, central=job.central)
    except HashshareError as exc:
        return Outcome(job.path, error=f"{exc.code}: {exc.message}")
    except Exception as exc:  # a decoder bug must not end the run
        return Outcome(job.path, error=f"image_unreadable: {type(exc).__name__}: {exc}")
    return Outcome(job.path, record={"path": job.path, **hashes.as_record()})


def iter_paths(arguments: Sequence[str]) -> Iterator[tuple[str, str | None]]:
    """(path, problem) for each file to hash: named files as given, folders walked sorted."""
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            for folder, subfolders, files in os.walk(path):
                subfolders.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                        yield str(Path(folder) / name), None
        elif path.is_file():
            yield str(path), None
        else:
            yield str(path), "image_unreadable: no such file or folder"


class Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal."""

    WIDTH = 30

    def __init__(self, stream: IO[str], enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self.last_draw = 0.0
        self.done = 0
        self.skipped = 0

    def update(self, total_known: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not final and now - self.last_draw < 0.1:
            return
        self.last_draw = now
        total = max(total_known, self.done, 1)
        filled = self.WIDTH * self.done // total
        rate = self.done / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (self.WIDTH - filled)}] {self.done}/{total_known} "
            f"images, {self.skipped} skipped, {rate:.1f}/s "
        )
        if final:
            self.stream.write("\n")
        self.stream.flush()


class Writer:
    def __init__(self, stream: IO[str], fmt: str, types: tuple[str, ...], regions: bool) -> None:
        self.stream = stream
        self.fmt = fmt
        self.columns = ["path", *types] + (["pdq_quality"] if "pdq" in types else [])
        if regions:
            self.columns.append("regions")
        self._csv: Any = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=self.columns, lineterminator="\n")
            self._csv.writeheader()

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            if "regions" in record:  # a list of records: JSON text in its one cell
                record = {**record, "regions": json.dumps(record["regions"])}
            self._csv.writerow(record)
        else:
            self.stream.write(json.dumps(record) + "\n")


def run_jobs(jobs: list[Job], workers: int) -> Iterator[Outcome]:
    """Outcomes in the order of `jobs`, with a bounded number in flight."""
    if workers <= 1:
        for job in jobs:
            yield hash_one(job)
        return
    pending = deque(jobs)
    in_flight: deque[tuple[Job, Future[Outcome]]] = deque()
    pool = ProcessPoolExecutor(max_workers=workers)
    try:
        while pending or in_flight:
            while pending and len(in_flight) < workers * 4:
                job = pending.popleft()
                in_flight.append((job, pool.submit(hash_one, job)))
            job, future = in_flight.popleft()
            try:
                yield future.result()
            except BrokenProcessPool:
                # A worker died (a decoder crashed): that file is lost, the others are retried.
                yield Outcome(job.path, error="image_unreadable: the decoder crashed")
                pool.shutdown(wait=False, cancel_futures=True)
                pending.extendleft(reversed([queued for queued, _ in in_flight]))
                in_flight.clear()
                pool = ProcessPoolExecutor(max_workers=workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def cmd_hash(args: argparse.Namespace) -> int:
    from hashshare.hashing.hashers import parse_types

    types = parse_types(args.types)
    listed = list(iter_paths(args.paths))
    jobs = [
        Job(
            path,
            types,
            args.max_bytes,
            args.max_pixels,
            not args.no_regions,
            central=not args.no_regions,  # what a member submits
        )
        for path, problem in listed
        if problem is None
    ]
    progress = Progress(sys.stderr, enabled=not args.no_progress and sys.stderr.isatty())
    writer = Writer(sys.stdout, args.format, types, not args.no_regions)
    skipped = 0
    for path, problem in listed:
        if problem:
            print(f"hashshare hash: skipped {path}: {problem}", file=sys.stderr)
            skipped += 1
    progress.skipped = skipped
    for outcome in run_jobs(jobs, max(1, args.jobs)):
        progress.done += 1
        if outcome.record is not None:
            writer.write(outcome.record)
        else:
            skipped += 1
            progress.skipped = skipped
            if progress.enabled:
                sys.stderr.write("\r\033[K")
            print(f"hashshare hash: skipped {outcome.path}: {outcome.error}", file=sys.stderr)
        progress.update(len(jobs))
    sys.stdout.flush()
    progress.update(len(jobs), final=True)
    if skipped:
        print(f"hashshare hash: {len(listed) - skipped} hashed, {skipped} skipped", file=sys.stderr)
    return 1 if skipped else 0


def register(commands: Any) -> None:
    """Add the `hash` subcommand to the `hashshare` parser's subcommands."""
    parser = commands.add_parser(
        "hash",
        help="hash image files and folders (one line per image)",
        description="Hash images with hashshare's pipeline: pdq (with quality), phash, dhash, "
        "ahash, whash, md5, sha256. Folders are walked recursively for image files.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument(
        "--types",
        default=DEFAULT_TYPES_TEXT,
        help=f"comma-separated signal types (default {DEFAULT_TYPES_TEXT})",
    )
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes (default: one per core)",
    )
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES)
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    parser.add_argument(
        "--no-regions",
        action="store_true",
        help="hash the whole image only, not the regions a frame was taken off nor the "
        "central crops a submission stores as well "
        "(`regions`: a list of {region, box, <type>: hex, pdq_quality})",
    )
    parser.add_argument("--no-progress", action="store_true", help="never draw a progress bar")
    parser.set_defaults(func=cmd_hash)
