"""Setup of the HTTP benchmark: a seeded service, its token, match queries checked once.

The database and the service come from `_common` (a scratch database migrated and seeded with
`--n` hashes, `hashshare serve` ready with all of them); this module adds what the match
scenarios need: a `hashes:match` token, queries derived from the stored hashes (or random), and
a check that a sample of the request bodies finds exactly what it should.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from _common import (
    LABELS,
    MEMBER,
    U8,
    Database,
    Service,
    http_json,
    prepare_database,
    running_service,
    scratch_database,
)
from hashshare.auth.tokens import issue_token
from hashshare.config import Settings


@contextlib.contextmanager
def seeded_service(
    database_url: str | None, workdir: Path, values: U8, workers: int, ready_timeout: float
) -> Iterator[tuple[Database, Service]]:
    """A scratch database holding `values` served by ready workers; both removed on the way out."""
    with scratch_database(database_url, workdir) as database:
        prepare_database(database, values)
        with running_service(database, workdir, workers, len(values), ready_timeout) as service:
            yield database, service


def match_token(database: Database) -> str:
    """A `hashes:match` token of the member the hashes were seeded for."""
    return issue_token(
        Settings(dev_mode=True, database_url=database.url),
        member=MEMBER,
        scopes=["hashes:match"],
        sub="bench",
        ttl_seconds=3600,
    )


@dataclass
class Query:
    hex: str
    expected_id: int | None  # the stored hash it was derived from, None if random


def make_queries(
    values: U8, count: int, random_fraction: float, max_flip: int, rng: np.random.Generator
) -> list[Query]:
    """`count` queries: random ones, or stored values with 1..`max_flip` bits flipped."""
    queries: list[Query] = []
    for _ in range(count):
        if rng.random() < random_fraction:
            raw = rng.integers(0, 256, size=32, dtype=np.uint8)
            queries.append(Query(raw.tobytes().hex(), None))
            continue
        index = int(rng.integers(0, len(values)))
        bits = np.unpackbits(values[index])
        flip = rng.choice(256, size=int(rng.integers(1, max_flip + 1)), replace=False)
        bits[flip] ^= 1
        queries.append(Query(np.packbits(bits).tobytes().hex(), index + 1))
    return queries


def match_body(queries: Sequence[Query]) -> str:
    items = [{"signal_type": "pdq", "value": q.hex} for q in queries]
    return json.dumps({"queries": items}, separators=(",", ":"))


def check_bodies(
    service: Service, token: str, bodies: list[str], queries: list[list[Query]], label: str
) -> None:
    """Send a few bodies once; every derived query must find its hash, random ones nothing."""
    sample = min(len(bodies), 20)
    expected = found = unexpected = 0
    for body, body_queries in zip(bodies[:sample], queries[:sample], strict=True):
        status, answer = http_json(f"{service.base}/v1/match", body.encode(), token)
        if status != 200:
            raise RuntimeError(f"POST /v1/match answered {status}: {answer}")
        for query, result in zip(body_queries, answer["results"], strict=True):
            ids = {hit["hash_id"] for hit in result["matches"]}
            if query.expected_id is None:
                unexpected += bool(ids)
            else:
                expected += 1
                found += query.expected_id in ids
                hit = result["matches"][0]
                if hit["labels"] != LABELS or hit["contributors"] != 1:
                    raise RuntimeError(f"unexpected match metadata: {hit}")
    total = sum(len(q) for q in queries[:sample])
    print(
        f"check     {label}: {sample} bodies, {total} queries: {found}/{expected} near-duplicates "
        f"found, {unexpected} random queries matched"
    )
    if found != expected or unexpected:
        raise RuntimeError("prepared queries do not match as intended")
