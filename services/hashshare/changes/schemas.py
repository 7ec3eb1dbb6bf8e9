"""API models of the change feed.

A page is a set of plain dataclasses that `orjson` writes in one go (`ChangePage.json`):
a first sync of a member's copy reads millions of entries, and building and validating a
pydantic model for each one, then having the framework serialise it again, was most of its
time. The route declares the same classes as its response model, for the documentation.
Neither frozen nor slotted, as the match answer's (see `matching/schemas.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Literal

import orjson
from pydantic import Field


@dataclass
class ChangeOut:
    seq: Annotated[int, Field(description="Sequence number; strictly increasing in commit order.")]
    kind: Annotated[
        Literal["upsert", "tombstone"],
        Field(description="`tombstone`: the hash is retracted; drop it from a local copy."),
    ]
    hash_id: int
    signal_type: str
    value: str
    status: Literal["active", "disputed", "retracted"]
    labels: list[str]
    contributors: int
    changed_at: datetime


@dataclass
class ChangePage:
    changes: Annotated[list[ChangeOut], Field(description="In sequence order.")]
    next_cursor: Annotated[str, Field(description="Pass as `after` to continue from here.")]
    has_more: Annotated[bool, Field(description="More changes follow right now.")]
    head_seq: Annotated[
        int, Field(description="The feed's highest sequence number when it was read.")
    ]

    def json(self) -> bytes:
        """The response body."""
        return orjson.dumps(self)


@dataclass
class HashHistory:
    hash_id: int
    changes: Annotated[
        list[ChangeOut],
        Field(
            description="Every state the hash has had on the change feed (contributed, "
            "retracted, disputed, reinstated), oldest first."
        ),
    ]
