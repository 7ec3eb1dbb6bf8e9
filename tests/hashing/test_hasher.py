"""The server's image hasher: worker processes, and a decoder crash costs one upload only."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hashshare.hashing.hashers import ImageHashes, hash_bytes
from hashshare.hashing.images import ImageHashingTimeout, ImageLimits, ImageUnreadable
from hashshare.hashing.service import ImageHasher
from tests.hashing.pictures import encode, scene

LIMITS = ImageLimits()
PICTURE = encode(scene())


# Stand-ins for the hashing function the workers run (`HashWork`: data, types, limits,
# dihedral, regions, central); module-level so that they reach the worker processes.


def crash(data: bytes, *_: Any) -> ImageHashes:
    """Stands in for a decoder that kills its process (runs in the worker), after a moment,
    so that other uploads are under way beside it when it does."""
    time.sleep(1.0)
    os._exit(70)


def slow_hash(data: bytes, types: tuple[str, ...], limits: ImageLimits, *_: Any) -> ImageHashes:
    """Hashes after a pause, so that it is in flight when another worker dies."""
    time.sleep(3.0)
    return hash_bytes(data, types, limits)


def warm_up(*_: Any) -> None:
    time.sleep(0.5)


def stuck(data: bytes, *_: Any) -> ImageHashes:
    """Stands in for a decoder caught in a loop: notes its process id in the file `data`
    names, then never returns."""
    Path(data.decode()).write_text(str(os.getpid()))
    time.sleep(3600)
    raise AssertionError("unreachable")


def worker_pid(*_: Any) -> int:
    return os.getpid()


async def an_upload_in_flight() -> asyncio.Future[ImageHashes]:
    """Both workers of the pool up (so that uploads really run side by side), and a slow
    upload of PICTURE under way on one of them."""
    warm = ImageHasher(LIMITS, concurrency=2, work=warm_up)
    await asyncio.gather(warm.hash(b"", (), False), warm.hash(b"", (), False))
    slow = ImageHasher(LIMITS, concurrency=2, work=slow_hash)
    return asyncio.ensure_future(slow.hash(PICTURE, ("pdq",), False))


async def test_images_are_hashed_in_another_process_with_the_same_result() -> None:
    hasher = ImageHasher(LIMITS, concurrency=2)

    hashes = await hasher.hash(PICTURE, ("pdq", "phash", "md5"), False)

    assert hashes.values == hash_bytes(PICTURE, ("pdq", "phash", "md5"), LIMITS).values
    pid = await ImageHasher(LIMITS, concurrency=2, work=worker_pid).hash(b"", (), False)
    assert pid != os.getpid()


async def test_a_decoder_that_kills_its_worker_costs_only_that_upload() -> None:
    innocent = await an_upload_in_flight()
    await asyncio.sleep(0.3)

    with pytest.raises(ImageUnreadable) as refused:
        await ImageHasher(LIMITS, concurrency=2, work=crash).hash(PICTURE, ("pdq",), False)

    assert refused.value.code == "image_unreadable"
    expected = hash_bytes(PICTURE, ("pdq",), LIMITS).values
    assert (await innocent).values == expected  # retried alone, not blamed
    healthy = ImageHasher(LIMITS, concurrency=2)
    assert (await healthy.hash(PICTURE, ("pdq",), False)).values == expected  # a new pool


async def test_an_upload_past_the_deadline_is_refused_and_its_worker_killed(
    tmp_path: Path,
) -> None:
    innocent = await an_upload_in_flight()
    noted = tmp_path / "pid"

    with pytest.raises(ImageHashingTimeout) as refused:
        await ImageHasher(LIMITS, concurrency=2, work=stuck, seconds=1.5).hash(
            str(noted).encode(), ("pdq",), False
        )

    assert (refused.value.status_code, refused.value.code) == (422, "image_hashing_timeout")
    assert refused.value.details == {"max_seconds": 1.5}
    worker = int(noted.read_text())
    deadline = time.monotonic() + 10
    while _running(worker):
        assert time.monotonic() < deadline, f"worker {worker} still runs the stuck upload"
        await asyncio.sleep(0.1)
    expected = hash_bytes(PICTURE, ("pdq",), LIMITS).values
    assert (await innocent).values == expected  # retried alone, not blamed
    healthy = ImageHasher(LIMITS, concurrency=2)
    assert (await healthy.hash(PICTURE, ("pdq",), False)).values == expected  # a new pool


async def test_image_errors_come_back_from_the_worker_with_their_code() -> None:
    hasher = ImageHasher(LIMITS, concurrency=2)

    with pytest.raises(ImageUnreadable) as refused:
        await hasher.hash(PICTURE[:100], ("pdq",), False)

    assert refused.value.code == "image_unreadable"
    assert refused.value.status_code == 422


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


@pytest.mark.processes
def test_workers_exit_when_the_server_is_killed() -> None:
    """A killed server runs no exit handlers; its hashing workers must not outlive it."""
    script = (
        "import os\n"
        "from hashshare.hashing import pool\n"
        "print(pool.pool(1).submit(os.getpid).result(), flush=True)\n"
        "os._exit(0)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    worker = int(done.stdout.strip())

    deadline = time.monotonic() + 10
    while _running(worker):
        assert time.monotonic() < deadline, f"worker {worker} outlived its server"
        time.sleep(0.1)
