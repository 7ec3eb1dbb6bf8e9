"""Each API operation once: the HTTP request it makes and how its answer is read.

`Client` and `AsyncClient` send the same `Call`s; only the I/O differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx
from pydantic import TypeAdapter

from hashshare.audit.schemas import AuditPage, ChainVerdict
from hashshare.changes.schemas import ChangePage
from hashshare.contributions.schemas import ContributionPage
from hashshare.feedback.schemas import FeedbackIn, FeedbackOut, HashOut
from hashshare.hashes.schemas import HashSubmission, RetractResponse, SubmitResponse
from hashshare.hashing.schemas import ImageMatchResponse
from hashshare.matching.schemas import MatchQuery, MatchResponse
from hashshare.stats.schemas import Stats

T = TypeVar("T")

SubmissionLike = HashSubmission | Mapping[str, Any]
QueryLike = MatchQuery | Mapping[str, Any] | tuple[str, str]
ImageSource = bytes | str | Path


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = field(default=None)


def _model(model: type[T]) -> Callable[[httpx.Response], T]:
    """Read an answer as `model`: a pydantic model, or a dataclass of the service's schemas."""
    adapter = TypeAdapter(model)

    def parse(response: httpx.Response) -> T:
        return adapter.validate_json(response.content)

    return parse


def submission(item: SubmissionLike) -> HashSubmission:
    return item if isinstance(item, HashSubmission) else HashSubmission.model_validate(item)


def query(item: QueryLike) -> MatchQuery:
    if isinstance(item, MatchQuery):
        return item
    if isinstance(item, tuple):
        return MatchQuery(signal_type=item[0], value=item[1])
    return MatchQuery.model_validate(item)


def submit(items: Iterable[SubmissionLike]) -> Call[SubmitResponse]:
    # Only the fields given are sent: a left-out external_ref or quality keeps the stored one.
    body = {"hashes": [submission(i).model_dump(exclude_unset=True) for i in items]}
    return Call("POST", "/v1/hashes", _model(SubmitResponse), json=body)


def match(queries: Iterable[QueryLike], include_disputed: bool) -> Call[MatchResponse]:
    body = {
        "queries": [query(q).model_dump(exclude_none=True) for q in queries],
        "include_disputed": include_disputed,
    }
    return Call("POST", "/v1/match", _model(MatchResponse), json=body)


def _image_bytes(image: ImageSource) -> tuple[str, bytes]:
    if isinstance(image, bytes):
        return "image", image
    path = Path(image)
    return path.name, path.read_bytes()


def match_image(
    image: ImageSource,
    signal_types: Iterable[str] | None,
    dihedral: bool,
    include_disputed: bool,
) -> Call[ImageMatchResponse]:
    name, data = _image_bytes(image)
    form = {"dihedral": str(dihedral).lower(), "include_disputed": str(include_disputed).lower()}
    if signal_types is not None:
        form["signal_types"] = ",".join(signal_types)
    return Call(
        "POST",
        "/v1/match/image",
        _model(ImageMatchResponse),
        files={"image": (name, data, "application/octet-stream")},
        data=form,
    )


def get(hash_id: int) -> Call[HashOut]:
    return Call("GET", f"/v1/hashes/{int(hash_id)}", _model(HashOut))


def retract(hash_id: int) -> Call[RetractResponse]:
    return Call("DELETE", f"/v1/hashes/{int(hash_id)}", _model(RetractResponse))


def feedback(
    hash_id: int, verdict: str, reason: str | None, comment: str | None
) -> Call[FeedbackOut]:
    body = FeedbackIn.model_validate({"verdict": verdict, "reason": reason, "comment": comment})
    return Call(
        "POST",
        f"/v1/hashes/{int(hash_id)}/feedback",
        _model(FeedbackOut),
        json=body.model_dump(exclude_none=True),
    )


def changes(after: str, limit: int) -> Call[ChangePage]:
    return Call("GET", "/v1/changes", _model(ChangePage), params={"after": after, "limit": limit})


def contributions(after: str, limit: int, include_retracted: bool) -> Call[ContributionPage]:
    params = {"after": after, "limit": limit, "include_retracted": str(include_retracted).lower()}
    return Call("GET", "/v1/contributions", _model(ContributionPage), params=params)


def audit(
    member: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    cursor: str | None,
    limit: int,
) -> Call[AuditPage]:
    params: dict[str, Any] = {"limit": limit}
    for name, value in (("member", member), ("action", action), ("cursor", cursor)):
        if value is not None:
            params[name] = value
    for name, moment in (("since", since), ("until", until)):
        if moment is not None:
            params[name] = moment.isoformat()
    return Call("GET", "/v1/audit", _model(AuditPage), params=params)


def verify_audit() -> Call[ChainVerdict]:
    return Call("GET", "/v1/audit/verify", _model(ChainVerdict))


def stats(since: datetime | None, until: datetime | None) -> Call[Stats]:
    params = {
        name: moment.isoformat()
        for name, moment in (("since", since), ("until", until))
        if moment is not None
    }
    return Call("GET", "/v1/stats", _model(Stats), params=params)
