"""Match index benchmark: our multi-index Hamming index against faiss, in the same run.

Compared, on the same hashes and queries:

- ``ours``: `hashshare.matching.mih.MultiIndexHammingIndex` through its public
  `search(value, max_distance)` (Python wrapper included);
- ``faiss-flat``: faiss `IndexBinaryFlat`, an exact linear scan (HMA's flat PDQ index);
- ``faiss-mih``: faiss `IndexBinaryMultiHash(d, nhash=16, b=16)` with ``nflip=1``
  (python-threatexchange's default `PDQIndex`; 256 bits only, slow to build, skipped above
  ``--skip-faiss-multihash-above``).

faiss range search is strictly ``< radius``, so it is given ``max_distance + 1``.

Populations: ``uniform`` random hashes, and ``clustered`` ones shaped like real PDQ: N/100
random bases each with 100 variants within 40 bits (each variant flips a random 0..40 bits of
its base, 0..10 at 64 bits; rows shuffled). Queries are stored hashes with a random 0..20 bits
flipped (0..8 at 64 bits), so most have true matches; recall is checked against a numpy brute
force. ``--check-targets`` prints each figure beside the issue's target (pdq at 10M on one
core); ``--recall-sweep`` checks recall at every distance 0..31 on 100 queries. At 10M a run
takes about 3 minutes and 2 GiB; faiss MultiHash is skipped there by default (about 100 s to
build): ``--skip-faiss-multihash-above 10M`` runs it.

Install the benchmark-only dependency, then run from the repository root::

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/index_bench.py --n 100k 1M --population both
    .venv/bin/python benchmarks/index_bench.py --n 10M --population both --check-targets \
        --recall-sweep
    .venv/bin/python benchmarks/index_bench.py --bits 64 --n 1M 10M
"""

from __future__ import annotations

import abc
import argparse
import contextlib
import ctypes
import datetime as dt
import gc
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from _common import cpu_model, machine_jiffies, parse_count, total_ram_gib
from hashshare.matching.mih import MultiIndexHammingIndex, radii

try:
    import faiss
except ImportError:
    sys.exit("faiss is needed for this benchmark: .venv/bin/pip install faiss-cpu")

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

FAMILY_SIZE = 100
FAMILY_RADIUS_256 = 40
QUERY_FLIPS = {256: 20, 64: 8}
DEFAULT_DISTANCES = {256: [31], 64: [8, 12]}
RECALL_QUERIES = 200
SWEEP_QUERIES = 100
WARMUP_QUERIES = 10
FAISS_SUB_BATCH = 100
BRUTE_FORCE_BLOCK = 1 << 18
SCALING_TARGET = 1.5  # 2-thread throughput over 1-thread: "scales with the 2nd core"


# -- options ----------------------------------------------------------------------------------


def format_count(n: int) -> str:
    for unit, size in (("M", 1_000_000), ("k", 1_000)):
        if n >= size and n % (size // 10) == 0:
            return f"{n / size:g}{unit}"
    return str(n)


@dataclass(frozen=True)
class Options:
    sizes: list[int]
    populations: list[str]
    queries: int
    distances: list[int]
    bits: int
    skip_multihash_above: int
    threads: list[int]
    check_targets: bool
    recall_sweep: bool
    time_budget: float
    min_seconds: float
    seed: int


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", nargs="+", default=["100k", "1M"], help="set sizes: 100k 1M 10M")
    parser.add_argument("--population", choices=["uniform", "clustered", "both"], default="both")
    parser.add_argument("--queries", type=int, default=1000, help="single queries for latency")
    parser.add_argument("--distance", type=int, nargs="+", help="default 31 (256 bits), 8 12 (64)")
    parser.add_argument("--bits", type=int, choices=[256, 64], default=256)
    parser.add_argument("--skip-faiss-multihash-above", default="1M", metavar="N")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--check-targets", action="store_true")
    parser.add_argument("--recall-sweep", action="store_true", help="recall at every d 0..max")
    parser.add_argument(
        "--time-budget", type=float, default=10.0, help="seconds per latency/throughput phase"
    )
    parser.add_argument("--min-seconds", type=float, default=1.0, help="least batch duration")
    parser.add_argument("--seed", type=int, default=20240601)
    args = parser.parse_args(argv)
    populations = ["uniform", "clustered"] if args.population == "both" else [args.population]
    return Options(
        sizes=[parse_count(text) for text in args.n],
        populations=populations,
        queries=args.queries,
        distances=args.distance or DEFAULT_DISTANCES[args.bits],
        bits=args.bits,
        skip_multihash_above=parse_count(args.skip_faiss_multihash_above),
        threads=args.threads,
        check_targets=args.check_targets,
        recall_sweep=args.recall_sweep,
        time_budget=args.time_budget,
        min_seconds=args.min_seconds,
        seed=args.seed,
    )


# -- machine ----------------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30


def release_free_heap() -> None:
    """Collect garbage and hand free heap pages back, so RSS growth is the build's own."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: RSS is only rougher
        ctypes.CDLL("libc.so.6").malloc_trim(0)


@dataclass
class CpuClock:
    """Cores used by this process and by every other process since `start`."""

    wall: float = field(default_factory=time.perf_counter)
    ours: float = field(default_factory=time.process_time)
    busy: tuple[int, int] = field(default_factory=lambda: machine_jiffies())

    def cores(self) -> tuple[float, float]:
        wall = time.perf_counter() - self.wall
        ours = (time.process_time() - self.ours) / wall if wall > 0 else 0.0
        busy, total = (a - b for a, b in zip(machine_jiffies(), self.busy, strict=True))
        machine = busy / total * (os.cpu_count() or 1) if total else 0.0
        return ours, max(0.0, machine - ours)


def print_machine(options: Options) -> None:
    now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"date        {now}")
    print(f"cpu         {cpu_model()}, {os.cpu_count()} cores, {total_ram_gib():.1f} GiB RAM")
    print(f"load avg    {load} (other work on the machine skews the figures)")
    print(
        f"software    python {platform.python_version()}, numpy {np.__version__}, "
        f"faiss {faiss.__version__}, our kernel {MultiIndexHammingIndex(64).kernel.name}"
    )
    sizes = " ".join(format_count(n) for n in options.sizes)
    print(
        f"run         bits={options.bits} N={sizes} populations={','.join(options.populations)}"
        f" distances={options.distances} queries={options.queries} threads={options.threads}"
        f" time budget/phase={options.time_budget:g}s seed={options.seed}"
    )
    print()


# -- data -------------------------------------------------------------------------------------


@dataclass
class Dataset:
    population: str
    hashes: U8  # [N, bits/8]: faiss rows
    words: U64  # [N, bits/64]: the same bytes as big-endian words, for our index
    queries: U8
    query_words: U64

    @property
    def n(self) -> int:
        return len(self.hashes)

    @property
    def bits(self) -> int:
        return int(self.hashes.shape[1]) * 8


def to_words(hashes: U8) -> U64:
    words: U64 = np.ascontiguousarray(hashes).view(">u8").astype(np.uint64)
    return words


def flip_bits(rng: np.random.Generator, hashes: U8, max_flips: int) -> U8:
    """Each row with a random k in 0..max_flips of its bits flipped.

    The k positions are drawn with replacement, so at most k distinct bits change: a row
    stays within max_flips of the original, which is what the populations promise.
    """
    out = hashes.copy()
    bits = hashes.shape[1] * 8
    block = 1 << 20
    for start in range(0, len(hashes), block):
        stop = min(len(hashes), start + block)
        flips = rng.integers(0, max_flips + 1, stop - start)
        positions = rng.integers(0, bits, (stop - start, max_flips))
        positions[np.arange(max_flips) >= flips[:, None]] = bits  # a spare column: no flip
        mask = np.zeros((stop - start, bits + 1), dtype=bool)
        np.put_along_axis(mask, positions, True, axis=1)
        out[start:stop] ^= np.packbits(mask[:, :bits], axis=1)
    return out


def uniform_population(rng: np.random.Generator, n: int, nbytes: int) -> U8:
    return rng.integers(0, 256, (n, nbytes), dtype=np.uint8)


def clustered_population(rng: np.random.Generator, n: int, nbytes: int) -> U8:
    """n/100 random bases, each with 100 variants within 40 bits (scaled at 64 bits)."""
    bases = uniform_population(rng, -(-n // FAMILY_SIZE), nbytes)
    family = np.repeat(bases, FAMILY_SIZE, axis=0)[:n]
    variants = flip_bits(rng, family, FAMILY_RADIUS_256 * nbytes * 8 // 256)
    del family
    return variants[rng.permutation(n)]


def make_dataset(options: Options, population: str, n: int) -> Dataset:
    rng = np.random.default_rng([options.seed, n, options.bits, population == "clustered"])
    nbytes = options.bits // 8
    make = uniform_population if population == "uniform" else clustered_population
    hashes = make(rng, n, nbytes)
    sources = rng.integers(0, n, options.queries)
    queries = flip_bits(rng, hashes[sources], QUERY_FLIPS[options.bits])
    return Dataset(population, hashes, to_words(hashes), queries, to_words(queries))


def mean_weight(hashes: U8) -> float:
    return float(np.bitwise_count(hashes[:100_000]).sum(axis=1).mean())


# -- brute force ------------------------------------------------------------------------------


@dataclass
class Truth:
    """Rows within `max_distance` of each recall query, with their distances."""

    max_distance: int
    rows: list[I64]
    distances: list[I32]

    def within(self, query: int, distance: int) -> dict[int, int]:
        keep = self.distances[query] <= distance
        rows, distances = self.rows[query][keep], self.distances[query][keep]
        return dict(zip(rows.tolist(), distances.tolist(), strict=True))


def block_distances(columns: U64, query: U64, acc: U8, word: U64, count: U8) -> U8:
    """Hamming distances of one query to a block of rows stored column by column."""
    np.bitwise_count(np.bitwise_xor(columns[0], query[0], out=word), out=acc)
    for k in range(1, len(columns)):
        np.bitwise_count(np.bitwise_xor(columns[k], query[k], out=word), out=count)
        acc += count
    return acc


def brute_force(words: U64, queries: U64, max_distance: int) -> Truth:
    found: list[list[tuple[I64, I32]]] = [[] for _ in queries]
    for start in range(0, len(words), BRUTE_FORCE_BLOCK):
        columns = np.ascontiguousarray(words[start : start + BRUTE_FORCE_BLOCK].T)
        size = columns.shape[1]
        acc, count = np.empty(size, np.uint8), np.empty(size, np.uint8)
        word = np.empty(size, np.uint64)
        for i, query in enumerate(queries):
            distances = block_distances(columns, query, acc, word, count)
            rows = np.flatnonzero(distances <= max_distance)
            if len(rows):
                found[i].append((rows + start, distances[rows].astype(np.int32)))
    rows_of = [np.concatenate([r for r, _ in f] or [np.empty(0, np.int64)]) for f in found]
    distances_of = [np.concatenate([d for _, d in f] or [np.empty(0, np.int32)]) for f in found]
    return Truth(max_distance, rows_of, distances_of)


# -- methods ----------------------------------------------------------------------------------


Hits = tuple[I64, I32]


class Method(Protocol):
    name: str

    def build(self, data: Dataset) -> None: ...

    def search(self, query: int, distance: int) -> Any:
        """One query through the method's own API; the raw answer (see `hits`)."""

    def hits(self, answer: Any) -> Hits: ...

    def batch(self, distance: int, threads: int, deadline: Deadline) -> int:
        """Run queries (cycling) on `threads` threads until the deadline; how many ran."""

    def memory_per_hash(self, rss_growth: int) -> float: ...

    def release(self) -> None: ...


@dataclass
class Deadline:
    min_seconds: float
    max_seconds: float
    start: float = field(default_factory=time.perf_counter)

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def done(self, full_pass: bool) -> bool:
        elapsed = self.elapsed()
        return elapsed >= self.max_seconds or (full_pass and elapsed >= self.min_seconds)


def cycle(items: Sequence[int]) -> Iterator[tuple[int, bool]]:
    """(item, whether a full pass is complete) forever."""
    passes = 0
    while True:
        for i, item in enumerate(items):
            yield item, passes > 0 or i == len(items) - 1
        passes += 1


class Ours:
    name = "ours"

    def __init__(self) -> None:
        self.index: MultiIndexHammingIndex | None = None
        self.queries: list[bytes] = []
        self.query_words: U64 = np.empty((0, 4), np.uint64)

    def build(self, data: Dataset) -> None:
        ids = np.arange(data.n, dtype=np.int64)
        self.index = MultiIndexHammingIndex.from_arrays(data.bits, ids, data.words)
        self.queries = [row.tobytes() for row in data.queries]
        self.query_words = data.query_words

    def _index(self) -> MultiIndexHammingIndex:
        assert self.index is not None
        return self.index

    def search(self, query: int, distance: int) -> list[tuple[int, int]]:
        return self._index().search(self.queries[query], distance)

    def hits(self, answer: list[tuple[int, int]]) -> Hits:
        pairs = np.array(answer, dtype=np.int64).reshape(-1, 2)
        return pairs[:, 0], pairs[:, 1].astype(np.int32)

    def _worker(self, queries: Sequence[int], distance: int, deadline: Deadline) -> int:
        search, done = self._index().search, 0
        for query, full_pass in cycle(queries):
            search(self.queries[query], distance)
            done += 1
            if deadline.done(full_pass):
                return done
        return done

    def batch(self, distance: int, threads: int, deadline: Deadline) -> int:
        order = list(range(len(self.queries)))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = [
                pool.submit(self._worker, order[t::threads], distance, deadline)
                for t in range(threads)
            ]
            return sum(future.result() for future in futures)

    def candidates(self, distance: int, queries: int) -> float | None:
        """Mean candidates verified per query by the bucket tables (None: no table)."""
        base = self._index()._bases[0]
        if base.table is None:
            return None
        taus = radii(distance, len(base.offsets_bits))
        counts = [base.table.search(q, distance, taus)[2] for q in self.query_words[:queries]]
        return statistics.fmean(counts)

    def memory_per_hash(self, rss_growth: int) -> float:
        index = self._index()
        return index.memory_bytes() / len(index)

    def release(self) -> None:
        self.index = None


class FaissBinary(abc.ABC):
    """A faiss binary index queried by range search (radius = max_distance + 1)."""

    name = "faiss"

    def __init__(self) -> None:
        self.index: Any = None
        self.queries: U8 = np.empty((0, 32), np.uint8)
        self.n = 0

    @abc.abstractmethod
    def make(self, bits: int) -> Any:
        """The empty faiss index of this method."""

    def build(self, data: Dataset) -> None:
        self.index = self.make(data.bits)
        self.index.add(data.hashes)
        self.queries, self.n = data.queries, data.n

    def search(self, query: int, distance: int) -> tuple[Any, Any, Any]:
        result: tuple[Any, Any, Any] = self.index.range_search(
            self.queries[query : query + 1], distance + 1
        )
        return result

    def hits(self, answer: tuple[Any, Any, Any]) -> Hits:
        _, distances, labels = answer
        return np.asarray(labels, np.int64), np.asarray(distances).astype(np.int32)

    def batch(self, distance: int, threads: int, deadline: Deadline) -> int:
        starts = range(0, len(self.queries), FAISS_SUB_BATCH)
        done = 0
        faiss.omp_set_num_threads(threads)
        try:
            for start, full_pass in cycle(starts):
                block = self.queries[start : start + FAISS_SUB_BATCH]
                self.index.range_search(block, distance + 1)
                done += len(block)
                if deadline.done(full_pass):
                    return done
        finally:
            faiss.omp_set_num_threads(1)
        return done

    def memory_per_hash(self, rss_growth: int) -> float:
        return rss_growth / self.n

    def release(self) -> None:
        self.index = None


class FaissFlat(FaissBinary):
    name = "faiss-flat"

    def make(self, bits: int) -> Any:
        return faiss.IndexBinaryFlat(bits)

    def memory_per_hash(self, rss_growth: int) -> float:
        return float(self.queries.shape[1])  # the codes, nothing else


class FaissMultiHash(FaissBinary):
    name = "faiss-mih"

    def make(self, bits: int) -> Any:
        index = faiss.IndexBinaryMultiHash(bits, 16, 16)
        index.nflip = 1
        return index


# -- measurement ------------------------------------------------------------------------------


@dataclass
class Row:
    method: str
    population: str
    n: int
    distance: int
    build_s: float | None = None
    bytes_per_hash: float | None = None
    rss_per_hash: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    p50_cpu_ms: float | None = None
    p99_cpu_ms: float | None = None
    timed_queries: int = 0
    throughput: dict[int, float] = field(default_factory=dict)
    # cores used (ours, other processes) per phase: 0 the latency phase, else thread count
    cores: dict[int, tuple[float, float]] = field(default_factory=dict)
    recall: float | None = None
    false_hits: int | None = None
    wrong_distances: int | None = None
    recall_queries: int = 0
    candidates: float | None = None
    note: str = ""
    sweep: dict[int, tuple[float, int]] = field(default_factory=dict)


def timed_build(method: Method, data: Dataset) -> tuple[float, int]:
    release_free_heap()
    before = rss_bytes()
    start = time.perf_counter()
    method.build(data)
    seconds = time.perf_counter() - start
    release_free_heap()
    return seconds, rss_bytes() - before


@dataclass
class Latencies:
    """Per single query: wall time, and CPU time of the calling thread (which a busy
    machine does not inflate by descheduling us), in ms."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def measure_latency(
    method: Method, distance: int, options: Options, keep: int
) -> tuple[Latencies, list[Any]]:
    """Single-query latencies, at least `keep` queries; the answers of the first `keep`."""
    for query in range(min(WARMUP_QUERIES, options.queries)):
        method.search(query, distance)
    latencies = Latencies()
    answers: list[Any] = []
    deadline = time.perf_counter() + options.time_budget
    for query in range(options.queries):
        cpu_start, start = time.thread_time(), time.perf_counter()
        answer = method.search(query, distance)
        latencies.wall.append((time.perf_counter() - start) * 1000)
        latencies.cpu.append((time.thread_time() - cpu_start) * 1000)
        if query < keep:
            answers.append(answer)
        if query + 1 >= keep and time.perf_counter() > deadline:
            break
    return latencies, answers


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def score(
    method: Method, answers: list[Any], truth: Truth, distance: int
) -> tuple[float, int, int]:
    """(recall, hits beyond the distance, hits with a wrong distance) over the answers."""
    expected = found = false_hits = wrong = 0
    for query, answer in enumerate(answers):
        true = truth.within(query, distance)
        rows, distances = method.hits(answer)
        expected += len(true)
        for row, reported in zip(rows.tolist(), distances.tolist(), strict=True):
            if row not in true:
                false_hits += 1
            else:
                found += 1
                wrong += int(true[row] != reported)
    return (found / expected if expected else 1.0), false_hits, wrong


def measure_throughput(method: Method, distance: int, options: Options, row: Row) -> None:
    for threads in options.threads:
        clock = CpuClock()
        deadline = Deadline(options.min_seconds, options.time_budget)
        done = method.batch(distance, threads, deadline)
        row.throughput[threads] = done / deadline.elapsed()
        row.cores[threads] = clock.cores()


def measure(method: Method, data: Dataset, truth: Truth, distance: int, options: Options) -> Row:
    row = Row(method.name, data.population, data.n, distance)
    keep = min(RECALL_QUERIES, options.queries)
    clock = CpuClock()
    latencies, answers = measure_latency(method, distance, options, keep)
    row.cores[0] = clock.cores()
    row.p50_ms, row.p99_ms = percentile(latencies.wall, 50), percentile(latencies.wall, 99)
    row.p50_cpu_ms, row.p99_cpu_ms = percentile(latencies.cpu, 50), percentile(latencies.cpu, 99)
    row.timed_queries = len(latencies.wall)
    row.recall, row.false_hits, row.wrong_distances = score(method, answers, truth, distance)
    row.recall_queries = len(answers)
    measure_throughput(method, distance, options, row)
    if isinstance(method, Ours):
        row.candidates = method.candidates(distance, keep)
    return row


def recall_sweep(method: Method, truth: Truth, options: Options) -> dict[int, tuple[float, int]]:
    """Recall and false hits at every distance 0..truth.max_distance."""
    queries = min(SWEEP_QUERIES, options.queries)
    sweep: dict[int, tuple[float, int]] = {}
    for distance in range(truth.max_distance + 1):
        answers = [method.search(query, distance) for query in range(queries)]
        recall, false_hits, wrong = score(method, answers, truth, distance)
        sweep[distance] = (recall, false_hits + wrong)
    return sweep


def methods_for(options: Options, n: int) -> list[tuple[Method | None, str]]:
    """The methods to run at this size; None with a reason when one is skipped."""
    methods: list[tuple[Method | None, str]] = [(Ours(), "ours"), (FaissFlat(), "faiss-flat")]
    if options.bits != 256:
        return methods
    if n > options.skip_multihash_above:
        limit = format_count(options.skip_multihash_above)
        methods.append((None, f"skipped: N > {limit} (--skip-faiss-multihash-above)"))
    else:
        methods.append((FaissMultiHash(), "faiss-mih"))
    return methods


def run_method(method: Method, data: Dataset, truth: Truth, options: Options) -> Iterator[Row]:
    build_s, rss_growth = timed_build(method, data)
    for distance in options.distances:
        row = measure(method, data, truth, distance, options)
        row.build_s = build_s
        row.bytes_per_hash = method.memory_per_hash(rss_growth)
        row.rss_per_hash = rss_growth / data.n
        if options.recall_sweep and isinstance(method, Ours) and distance == max(options.distances):
            row.sweep = recall_sweep(method, truth, options)
        yield row
    method.release()
    gc.collect()


def run_dataset(options: Options, population: str, n: int) -> list[Row]:
    start = time.perf_counter()
    data = make_dataset(options, population, n)
    generated = time.perf_counter() - start
    keep = min(RECALL_QUERIES, options.queries)
    truth = brute_force(data.words, data.query_words[:keep], max(options.distances))
    matched = statistics.fmean(len(r) for r in truth.rows)
    brute_s = time.perf_counter() - start - generated
    print(
        f"# {population} N={format_count(n)}: generated in {generated:.1f}s, mean weight "
        f"{mean_weight(data.hashes):.1f}, brute force {brute_s:.1f}s,"
        f" {matched:.1f} true matches/query within {truth.max_distance}, "
        f"{np.mean([len(r) > 0 for r in truth.rows]) * 100:.0f}% of queries match",
        flush=True,
    )
    rows: list[Row] = []
    for method, label in methods_for(options, n):
        if method is None:
            rows.extend(Row("faiss-mih", population, n, d, note=label) for d in options.distances)
            continue
        rows.extend(run_method(method, data, truth, options))
        print(f"#   {method.name} done at {time.perf_counter() - start:.0f}s", flush=True)
    return rows


# -- report -----------------------------------------------------------------------------------


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


COLUMNS = [("method", 10), ("population", 10), ("N", 5), ("d", 3), ("build s", 8)]
COLUMNS += [("B/hash", 7), ("RSS B/h", 8), ("p50 ms", 8), ("p99 ms", 8), ("p50 cpu", 8)]
COLUMNS += [("p99 cpu", 8)]
COLUMNS += [("lat n", 6)]
COLUMNS += [("cpu lat", 8)]
LEGEND = """\
B/hash: ours memory_bytes(), faiss-flat the 32 B codes, faiss-mih RSS growth; RSS B/h: RSS
growth around the build; p50/p99 cpu: CPU time of the querying thread, which a busy machine
does not inflate by descheduling us; lat n: single queries timed (at least the recall ones,
then until the time budget); cpu: cores used by us/by other processes in that phase (others
> 0.2 means the machine was shared); /s Nt: lookups/s with N threads; recall: over the
first 200 queries against a numpy brute force; false: hits beyond d or with a wrong distance;
cand/q: candidates verified per query by our bucket tables."""


def header(options: Options) -> list[tuple[str, int]]:
    tails = [(name, 9) for t in options.threads for name in (f"/s {t}t", f"cpu {t}t")]
    return [*COLUMNS, *tails, ("recall", 8), ("false", 6), ("cand/q", 8)]


def cpu(row: Row, phase: int) -> str:
    cores = row.cores.get(phase)
    return "-" if cores is None else f"{cores[0]:.1f}/{cores[1]:.1f}"


def cells(row: Row, options: Options) -> list[str]:
    recall = "-" if row.recall is None else f"{row.recall * 100:.2f}%"
    bad = (row.false_hits or 0) + (row.wrong_distances or 0)
    head = [row.method, row.population, format_count(row.n), str(row.distance)]
    sizes = [fmt(row.build_s, ".2f"), fmt(row.bytes_per_hash, ".1f"), fmt(row.rss_per_hash, ".1f")]
    latency = [fmt(row.p50_ms, ".3f"), fmt(row.p99_ms, ".3f"), fmt(row.p50_cpu_ms, ".3f")]
    latency += [fmt(row.p99_cpu_ms, ".3f"), str(row.timed_queries), cpu(row, 0)]
    rates = [
        value
        for t in options.threads
        for value in (fmt(row.throughput.get(t), ",.0f"), cpu(row, t))
    ]
    return [*head, *sizes, *latency, *rates, recall, str(bad), fmt(row.candidates, ",.0f")]


def print_table(rows: list[Row], options: Options) -> None:
    columns = header(options)
    print(" ".join(name.rjust(width) for name, width in columns))
    for row in rows:
        if row.note:
            head = cells(row, options)[:4]
            print(" ".join(v.rjust(w) for v, (_, w) in zip(head, columns, strict=False)), row.note)
        else:
            values = cells(row, options)
            print(" ".join(v.rjust(w) for v, (_, w) in zip(values, columns, strict=True)))
    print(LEGEND)


def ratio(ours: float | None, theirs: float | None) -> str:
    return "-" if not ours or not theirs else f"{theirs / ours:.1f}x"


def print_ratios(rows: list[Row], options: Options) -> None:
    print(
        "\nours against faiss, same run (p50 speed-up = their p50 / our p50; throughput = "
        "ours / theirs)"
    )
    for row in (r for r in rows if r.method == "ours"):
        for other in rows:
            key = (other.population, other.n, other.distance)
            if key != (row.population, row.n, row.distance) or other.method == "ours":
                continue
            if other.note:
                print(
                    f"  {row.population:9} N={format_count(row.n):4} d={row.distance:2} vs "
                    f"{other.method:10} {other.note}"
                )
                continue
            rates = " ".join(
                f"{t}t {ratio(other.throughput.get(t), row.throughput.get(t))}"
                for t in options.threads
            )
            print(
                f"  {row.population:9} N={format_count(row.n):4} d={row.distance:2} vs "
                f"{other.method:10} p50 speed-up {ratio(row.p50_ms, other.p50_ms):>7}  "
                f"throughput {rates}"
            )


def print_sweeps(rows: list[Row]) -> None:
    for row in (r for r in rows if r.sweep):
        print(
            f"\nrecall sweep, ours, {row.population} N={format_count(row.n)}, "
            f"{SWEEP_QUERIES} queries (d: recall, false/wrong hits)"
        )
        items = [f"{d}:{r * 100:.0f}%/{bad}" for d, (r, bad) in row.sweep.items()]
        for start in range(0, len(items), 8):
            print("  " + "  ".join(f"{item:>12}" for item in items[start : start + 8]))


# -- targets ----------------------------------------------------------------------------------

Check = tuple[str, float | None, str, bool | None, str]  # label, value, target, passed, unit


def at_least(value: float | None, target: float) -> bool | None:
    return None if value is None else value >= target


def at_most(value: float | None, target: float) -> bool | None:
    return None if value is None else value <= target


def speed_up(row: Row, rows: list[Row], method: str) -> float | None:
    for other in rows:
        key = (other.method, other.population, other.n, other.distance)
        if key == (method, row.population, row.n, row.distance) and other.p50_ms and row.p50_ms:
            return other.p50_ms / row.p50_ms
    return None


def speed_checks(row: Row) -> list[Check]:
    one, two = row.throughput.get(1), row.throughput.get(2)
    our_cores = row.cores.get(1, (0.0, 0.0))[0]
    per_cpu = one / our_cores if one and our_cores else None
    scaling = two / one if one and two else None
    return [
        ("p50 single query", row.p50_ms, "<= 1 ms", at_most(row.p50_ms, 1), " ms"),
        ("p50, thread CPU time", row.p50_cpu_ms, "<= 1 ms", at_most(row.p50_cpu_ms, 1), " ms"),
        ("p99 single query", row.p99_ms, "<= 3 ms", at_most(row.p99_ms, 3), " ms"),
        ("p99, thread CPU time", row.p99_cpu_ms, "<= 3 ms", at_most(row.p99_cpu_ms, 3), " ms"),
        ("batch, 1 thread", one, ">= 2,000/s", at_least(one, 2000), "/s"),
        ("batch, 1 thread, per CPU-second", per_cpu, ">= 2,000/s", at_least(per_cpu, 2000), "/s"),
        (
            "2 threads / 1 thread",
            scaling,
            f">= {SCALING_TARGET}x",
            at_least(scaling, SCALING_TARGET),
            "x",
        ),
    ]


def exactness_checks(row: Row) -> list[Check]:
    bad = (row.false_hits or 0) + (row.wrong_distances or 0)
    checks: list[Check] = [
        ("recall at d", (row.recall or 0) * 100, "100 %", row.recall == 1.0, " %"),
        ("false or wrong hits", bad, "0", bad == 0, ""),
    ]
    if row.sweep:
        worst = min(recall for recall, _ in row.sweep.values()) * 100
        clean = all(recall == 1.0 and wrong == 0 for recall, wrong in row.sweep.values())
        checks.append(
            (f"recall, every d 0..{max(row.sweep)}", worst, "100 %, 0 false", clean, " %")
        )
    else:
        checks.append(("recall, every d 0..31", None, "--recall-sweep", None, ""))
    return checks


def cost_checks(row: Row, rows: list[Row]) -> list[Check]:
    mih, flat = speed_up(row, rows, "faiss-mih"), speed_up(row, rows, "faiss-flat")
    return [
        ("memory per hash", row.bytes_per_hash, "<= 96 B", at_most(row.bytes_per_hash, 96), " B"),
        ("build", row.build_s, "<= 30 s", at_most(row.build_s, 30), " s"),
        ("p50 speed-up vs faiss MultiHash", mih, ">= 10x", at_least(mih, 10), "x"),
        ("p50 speed-up vs faiss Flat", flat, ">= 20x", at_least(flat, 20), "x"),
    ]


def print_check(
    label: str, value: float | None, target: str, passed: bool | None, unit: str
) -> None:
    shown = "-" if value is None else f"{value:,.2f}{unit}"
    verdict = "n/a" if passed is None else ("PASS" if passed else "FAIL")
    print(f"  {label:34} {shown:>14}   target {target:16} {verdict}")


def print_targets(rows: list[Row], options: Options) -> None:
    if options.bits != 256:
        print("\nthe targets of the issue are for 256-bit pdq: run with --bits 256")
        return
    print("\ntargets of the issue (defined for pdq at 10M on one core; shown for every run)")
    for row in (r for r in rows if r.method == "ours"):
        print(f" ours {row.population} N={format_count(row.n)} d={row.distance}")
        for check in [*speed_checks(row), *exactness_checks(row), *cost_checks(row, rows)]:
            print_check(*check)


# -- main -------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    options = parse_options(argv)
    faiss.omp_set_num_threads(1)
    print_machine(options)
    started = time.perf_counter()
    rows: list[Row] = []
    for population in options.populations:
        for n in options.sizes:
            rows.extend(run_dataset(options, population, n))
    print()
    print_table(rows, options)
    print_ratios(rows, options)
    print_sweeps(rows)
    if options.check_targets:
        print_targets(rows, options)
    print(f"\ntotal {time.perf_counter() - started:.0f}s, peak RSS {peak_rss_gib():.2f} GiB")


if __name__ == "__main__":
    main()
