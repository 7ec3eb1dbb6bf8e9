"""The worker processes that hash uploads for the server (see `service.ImageHasher`).

One pool per size, shared by the process's hashers (one app per server process; many in the
tests). Spawned, not forked: the server has threads. Each worker exits as soon as the
process that started it is gone, however it went: a worker holds its own end of the job
queue, so it would otherwise never see the queue close and would outlive a killed server.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PARENT_CHECK_SECONDS = 0.5

_POOLS: dict[int, ProcessPoolExecutor] = {}


def pool(workers: int) -> ProcessPoolExecutor:
    """The shared pool of `workers` processes, started on first use."""
    found = _POOLS.get(workers)
    if found is None:
        found = _POOLS[workers] = _new(workers)
    return found


def single() -> ProcessPoolExecutor:
    """A pool of one process of its own, for a job that must run alone (shut it down after)."""
    return _new(1)


def _new(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent,
        initargs=(os.getpid(),),
    )


def replace(workers: int, broken: ProcessPoolExecutor) -> None:
    """Drop a pool whose worker died; the next `pool()` starts a new one."""
    if _POOLS.get(workers) is broken:
        del _POOLS[workers]
    broken.shutdown(wait=False, cancel_futures=True)


def kill(workers: int | None, stuck: ProcessPoolExecutor) -> None:
    """End a pool at once, its running jobs too (a job past its deadline cannot be taken back
    from its worker); jobs in flight on it fail as after a crash. `workers` names the shared
    pool it is, if it is one, so that the next `pool()` starts a new one."""
    processes = list((stuck._processes or {}).values())
    for process in processes:
        process.kill()
    if workers is not None and _POOLS.get(workers) is stuck:
        del _POOLS[workers]
    stuck.shutdown(wait=False, cancel_futures=True)


def exit_with_parent(parent: int) -> None:
    """Runs in each worker: end the worker when `parent` is no longer its parent."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@atexit.register
def _shut_down() -> None:
    for each in _POOLS.values():
        each.shutdown(wait=False, cancel_futures=True)
    _POOLS.clear()
