"""HTTP load benchmark of ``POST /v1/match`` on a running service, over loopback.

What it does, in one run:

1. Prepares its own database: a temporary SQLite file (default), or with ``--database-url``
   a private database created on that PostgreSQL server (dropped afterwards). Runs the
   migrations, adds the member ``bench`` (audited, through the service layer) and
   bulk-inserts ``--n`` random PDQ hashes, not through the API but in the columns the
   migrations made, read back from the database (``executemany`` on SQLite; ``COPY`` on
   PostgreSQL, where executemany takes minutes for 1M rows): one ``hashes`` row each
   (active, labels ``["attacker-manifesto"]``, 1 contributor), one ``contributions`` row and
   one ``changes`` row (as the API leaves them).
   Then writes the load out (WAL checkpoint on SQLite, CHECKPOINT on PostgreSQL, sync), so
   the measurement does not pay for flushing the setup's rows.
2. Starts ``python -m hashshare serve --port P --workers W`` with ``HASHSHARE_DEV_MODE=1``,
   waits until every worker has loaded its match index (W x "Application startup complete."
   and ``/readyz`` reporting N PDQ hashes), and issues a ``hashes:match`` token.
3. Checks that prepared queries match as intended, then loads the service with ``wrk``
   (closed loop: ``--connections`` keep-alive connections, ``--threads`` threads, a warm-up
   run then ``--duration`` seconds per scenario): ``GET /healthz`` (framework ceiling),
   ``POST /v1/match`` with 1 query, with ``--batch`` (100) queries. Match bodies are
   pre-generated (``--bodies``) and rotated by a Lua script; ``--random-fraction`` of the
   queries are random hashes (no match), the others are loaded hashes with 1..``--max-flip``
   bits flipped (they match at the default max_distance of 31). Without ``wrk`` (or with
   ``--generator python``) an asyncio raw-socket generator is used instead, and the output
   says so: it needs far more CPU than wrk for the same load.
4. Prints the machine, the code version, the table (requests/s, lookups/s, p50/p99 latency,
   ratio to ``/healthz``, non-2xx answers, service CPU time per request, and the cores used
   during each run by the service, each worker, PostgreSQL, the generator and every other
   process on the machine), the targets (>= 1,500 single-query requests/s, >= 20,000
   lookups/s in batches) with the rate the measured CPU cost would allow on the whole
   machine, and the errors in the service's log (kept in /tmp when there are any). Stops the
   service and removes the database at the end, also on error or Ctrl-C.

Latency is what wrk measures per request at a fixed concurrency: queueing in the service is
included, so p50 is roughly connections / throughput.

The work is split: ``_http_setup`` (seeded service, token, queries and their check),
``_http_load`` (the scenarios under wrk or the Python generator) and ``_http_report`` (the
tables and the targets), over the plumbing every benchmark shares in ``_common``.

Needs ``wrk`` (Debian: ``apt-get install -y wrk``). From the repository root::

    .venv/bin/python benchmarks/http_bench.py
    .venv/bin/python benchmarks/http_bench.py --n 100k --duration 5 --workers 1
    .venv/bin/python benchmarks/http_bench.py \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import shutil
import signal
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np

from _common import (
    U8,
    parse_count,
    print_machine,
    report_service_log,
    service_exit_message,
    wrk_version,
)
from _http_load import Load, RunResult, Scenario, lua_script, run_scenario
from _http_report import print_results
from _http_setup import check_bodies, make_queries, match_body, match_token, seeded_service

DEFAULT_MAX_DISTANCE = 31


@dataclass(frozen=True)
class Options:
    n: int
    workers: int
    database_url: str | None
    load: Load
    batch: int
    bodies: int
    random_fraction: float
    max_flip: int
    seed: int
    ready_timeout: float


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=parse_count, default=1_000_000, help="PDQ hashes (1M, 100k)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--database-url",
        help="PostgreSQL server (postgresql+asyncpg://user@host:port/db): a private database "
        "is created there and dropped at the end. Default: a temporary SQLite file.",
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per scenario")
    parser.add_argument("--warmup", type=int, default=3, help="seconds of discarded warm-up")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--batch", type=int, default=100, help="queries per batch request")
    parser.add_argument("--bodies", type=int, default=300, help="pre-generated bodies per run")
    parser.add_argument("--random-fraction", type=float, default=0.2, help="queries not stored")
    parser.add_argument("--max-flip", type=int, default=16, help="bits flipped in near-dups")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ready-timeout", type=float, default=900.0, help="seconds")
    args = parser.parse_args(argv)
    if args.n < 1 or args.workers < 1 or args.connections < 1 or args.batch < 1:
        parser.error("--n, --workers, --connections and --batch must be positive")
    if not 0 < args.max_flip < DEFAULT_MAX_DISTANCE:
        parser.error(f"--max-flip must be in 1..{DEFAULT_MAX_DISTANCE - 1}")
    generator = args.generator
    if generator == "auto":
        generator = "wrk" if shutil.which("wrk") else "python"
    elif generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk not found: apt-get install -y wrk")
    return Options(
        n=args.n,
        workers=args.workers,
        database_url=args.database_url,
        load=Load(
            generator=generator,
            connections=args.connections,
            threads=args.threads,
            duration=args.duration,
            warmup=args.warmup,
        ),
        batch=args.batch,
        bodies=args.bodies,
        random_fraction=args.random_fraction,
        max_flip=args.max_flip,
        seed=args.seed,
        ready_timeout=args.ready_timeout,
    )


def print_setup(options: Options) -> None:
    print_machine()
    load = options.load
    print(
        f"setup     N={options.n:,} PDQ hashes, workers={options.workers}, "
        f"connections={load.connections}, wrk threads={load.threads}, "
        f"{load.duration} s per scenario (+{load.warmup} s warm-up), "
        f"batch={options.batch}, {options.random_fraction:.0%} of queries random"
    )
    if load.generator == "wrk":
        print(f"generator wrk ({wrk_version()}) on the same machine, loopback")
    else:
        print(
            "generator PYTHON ASYNCIO FALLBACK (wrk not used): one Python process, raw sockets; "
            "it costs far more CPU per request than wrk, so figures understate the service"
        )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    signal.signal(signal.SIGTERM, _terminate)
    print_setup(options)
    rng = np.random.default_rng(options.seed)
    values: U8 = rng.integers(0, 256, size=(options.n, 32), dtype=np.uint8)

    workdir = Path(tempfile.mkdtemp(prefix="hashshare-http-bench-"))
    try:
        with seeded_service(
            options.database_url, workdir, values, options.workers, options.ready_timeout
        ) as (database, service):
            token = match_token(database)
            scenarios = [Scenario("GET /healthz", "/healthz", 0)]
            for size, count in ((1, options.bodies), (options.batch, max(options.bodies // 3, 1))):
                groups = [
                    make_queries(values, size, options.random_fraction, options.max_flip, rng)
                    for _ in range(count)
                ]
                bodies = [match_body(group) for group in groups]
                name = f"POST /v1/match x{size}"
                check_bodies(service, token, bodies, groups, name)
                script = workdir / f"match_{size}.lua"
                script.write_text(lua_script(bodies, token))
                scenarios.append(Scenario(name, "/v1/match", size, bodies, script))

            results: list[RunResult] = []
            for scenario in scenarios:
                results.append(
                    run_scenario(service, scenario, options.load, token, database.pg_name)
                )
                if service.process.poll() is not None:
                    raise RuntimeError(service_exit_message(service))
            postgres = options.database_url is not None
            print_results(results, options.batch, postgres, options.load.generator)
            report_service_log(service)
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
