"""Report of the HTTP benchmark: the table of scenarios, who used the cores, the targets."""

from __future__ import annotations

import os

from _http_load import RunResult

SINGLE_TARGET_RPS = 1_500
BATCH_TARGET_LOOKUPS = 20_000


def print_results(results: list[RunResult], batch: int, postgres: bool, generator: str) -> None:
    """The table (ratios to `/healthz`), each run's machine load, then the targets."""
    print_table(results, postgres, "wrk" if generator == "wrk" else "python")
    print_runs(results)
    print_targets(results, batch)
    load = os.getloadavg()
    print(f"load avg  {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (1/5/15 min) after the run")


def print_table(results: list[RunResult], postgres: bool, gen: str) -> None:
    base = next((r for r in results if r.scenario.path == "/healthz"), None)
    print()
    header = (
        f"{'scenario':<20} {'requests/s':>10} {'lookups/s':>10} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'vs healthz':>10} {'non-2xx':>7} {'CPU ms/req':>10} | cores: {'service':>7} "
        f"{'workers':>11}" + (f" {'postgres':>8}" if postgres else "") + f" {gen:>6} {'other':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        lookups = f"{r.lookups:,.0f}" if r.scenario.queries_per_request else "-"
        ratio = f"{r.rps / base.rps:.1%}" if base is not None and base is not r else "-"
        per_worker = "+".join(f"{w:.2f}" for w in r.cpu.workers)
        print(
            f"{r.scenario.name:<20} {r.rps:>10,.0f} {lookups:>10} {r.p50_ms:>8.2f} "
            f"{r.p99_ms:>8.2f} {ratio:>10} {r.bad_status:>7} {r.cpu_ms_per_request:>10.2f} |"
            f"        {r.cpu.service:>7.2f} {per_worker:>11}"
            + (f" {r.cpu.database:>8.2f}" if postgres else "")
            + f" {r.cpu.generator:>6.2f} {r.cpu.other:>6.2f}"
        )
    print(
        "CPU ms/req: CPU time of the service"
        + (" and its PostgreSQL backends" if postgres else "")
        + f" per request; cores: busy during the run, of {os.cpu_count()}; 'other' = "
        "processes that are not part of this benchmark"
    )
    print()


def print_runs(results: list[RunResult]) -> None:
    for r in results:
        busiest = ", ".join(f"{name}[{pid}] {used:.2f}" for name, pid, used in r.cpu.busiest_other)
        print(
            f"{r.scenario.name}: {r.requests:,} requests in {r.seconds:.1f} s, socket errors: "
            f"{r.socket_errors}; machine busy {r.cpu.machine:.2f} of {os.cpu_count()} cores; "
            f"busiest other processes: {busiest or 'none'}"
        )
    print()


def print_targets(results: list[RunResult], batch_size: int) -> None:
    """Single-query requests/s and batched lookups/s against the targets, and the ceilings."""
    single = next((r for r in results if r.scenario.queries_per_request == 1), None)
    batch = next((r for r in results if r.scenario.queries_per_request > 1), None)
    if single is not None:
        met = single.rps >= SINGLE_TARGET_RPS and single.bad_status == 0
        print(
            f"target    single-query match >= {SINGLE_TARGET_RPS:,} requests/s: "
            f"{single.rps:,.0f} -> {'met' if met else 'NOT MET'}"
            f"{'' if single.bad_status == 0 else f' ({single.bad_status} errors)'}; at "
            f"{single.cpu_ms_per_request:.2f} CPU ms/request the whole machine would give "
            f"~{single.ceiling_rps():,.0f}"
        )
    if batch is not None:
        met = batch.lookups >= BATCH_TARGET_LOOKUPS and batch.bad_status == 0
        per_query = batch.scenario.queries_per_request
        print(
            f"target    batched match ({batch_size}/request) >= {BATCH_TARGET_LOOKUPS:,} "
            f"lookups/s: {batch.lookups:,.0f} -> {'met' if met else 'NOT MET'}"
            f"{'' if batch.bad_status == 0 else f' ({batch.bad_status} errors)'}; at "
            f"{batch.cpu_ms_per_request:.2f} CPU ms/request the whole machine would give "
            f"~{batch.ceiling_rps() * per_query:,.0f}"
        )
