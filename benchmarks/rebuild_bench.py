"""What a stream of additions costs the match index: rebuilds and searches, in the same run.

Every worker applies every addition to its own index; each `delta_rows` (16,384) additions the
delta is merged into a frozen base on a worker thread (`matching/mih.py`). This script builds
an index of ``--n`` random PDQ hashes twice and adds ``--batches`` deltas' worth to each:

- ``whole``: every rebuild merges everything into one base (`recent_share` so large that the
  recent base is never kept: what the index did before it had one);
- ``recent``: the service's index, where a rebuild merges the delta into the recent base, and
  the recent base into the main one once it would hold a sixteenth as many.

Per rebuild it prints the time on the caller's thread (the event loop's share: the capture),
the time of the job (on the worker thread), and the mean time of a search at distance 31 after
it (``--queries`` random queries). From the repository root::

    .venv/bin/python benchmarks/rebuild_bench.py --n 10M --batches 12
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from _common import parse_count, print_machine
from hashshare.matching.mih import MultiIndexHammingIndex

DELTA_ROWS = 16_384
WHOLE = 10**15  # a recent share no set reaches: every rebuild merges into the main base


def run(name: str, n: int, batches: int, queries: list[bytes], recent_share: int) -> list[str]:
    rng = np.random.default_rng(1)
    values = rng.integers(0, 2**63, size=(n, 4), dtype=np.uint64)
    started = time.perf_counter()
    index = MultiIndexHammingIndex.from_arrays(
        256, np.arange(1, n + 1, dtype=np.int64), values, recent_share=recent_share
    )
    lines = [f"{name:<7} built {n:,} in {time.perf_counter() - started:.1f} s"]
    del values
    added = rng.integers(0, 256, size=(batches * (DELTA_ROWS + 1), 32), dtype=np.uint8)
    next_id = n + 1
    totals = []
    for batch in range(batches):
        for row in added[batch * (DELTA_ROWS + 1) : (batch + 1) * (DELTA_ROWS + 1)]:
            index.add(next_id, row.tobytes())
            next_id += 1
        assert index.needs_rebuild()
        started = time.perf_counter()
        job = index.rebuild_job()
        capture = time.perf_counter() - started
        started = time.perf_counter()
        base = job.run()
        work = time.perf_counter() - started
        index.install(base)
        totals.append(capture + work)
        started = time.perf_counter()
        for query in queries:
            index.search(query, 31)
        search = (time.perf_counter() - started) / len(queries)
        lines.append(
            f"{name:<7} rebuild {batch + 1:>2} into {'main' if job.merges_main else 'recent':<6} "
            f"capture {capture * 1000:7.1f} ms  job {work:6.2f} s  "
            f"search {search * 1e6:7.1f} us  ({len(index):,} hashes)"
        )
    median = statistics.median(totals)
    lines.append(f"{name:<7} rebuild seconds: total {sum(totals):.2f}, median {median:.2f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--n", type=parse_count, default=1_000_000)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()
    print_machine()
    rng = np.random.default_rng(2)
    queries = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(args.queries)]
    for name, share in (("whole", WHOLE), ("recent", 16)):
        for line in run(name, args.n, args.batches, queries, share):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
