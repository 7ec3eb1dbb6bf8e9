"""`--report-counts`: an edge sends its completed hours of match counts per label upstream,
once, and keeps what it could not send across a restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hashshare.edge import reports
from hashshare.edge.reports import HourlyCounts
from hashshare.edge.runtime import EdgeRuntime
from tests.conftest import Api
from tests.edge.test_edge_app import LABELS, _ready, _submit, _until, running_edge_app
from tests.values import pdq_value

SCOPES = "hashes:read matches:report"


class Clock:
    """The edge's idea of now, moved by the test (the service keeps its own clock)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


class Switch(httpx.AsyncBaseTransport):
    """The way to the central service, which the test can cut."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.reports = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/edge-reports":
            self.reports += 1
            if self.down:
                raise httpx.ConnectError("the central service is down", request=request)
        return await self.inner.handle_async_request(request)


def _hour(hours_ago: int) -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)


async def _match(edge: httpx.AsyncClient, values: list[str]) -> Any:
    body = {"queries": [{"signal_type": "pdq", "value": value} for value in values]}
    response = await edge.post("/v1/match", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _edge_days(api: Api) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/stats", headers=api.auth("alpha", "audit:read"))
    assert response.status_code == 200, response.text
    days: list[dict[str, Any]] = response.json()["edge_matches_by_day"]
    return days


async def _reported(api: Api) -> list[dict[str, Any]]:
    rows = await api.sql("SELECT details FROM audit_events WHERE action = 'edge.report'")
    return [json.loads(d) if isinstance(d, str) else d for (d,) in rows]


def _set_clock(runtime: EdgeRuntime, moment: datetime) -> Clock:
    assert runtime.reporter is not None
    clock = Clock(moment)
    runtime.reporter.counts.clock = clock
    return clock


async def test_completed_hours_are_reported_once_with_labels_only(api: Api, tmp_path: Path) -> None:
    await _submit(api, [pdq_value(i) for i in range(1, 6)])
    async with running_edge_app(api, tmp_path, SCOPES, report_counts=True) as (runtime, edge):
        await _until(lambda: _ready(edge))
        clock = _set_clock(runtime, _hour(3) + timedelta(minutes=20))
        answers = [
            await _match(edge, [pdq_value(1), pdq_value(2), pdq_value(40)]),
            await _match(edge, [pdq_value(3)]),
        ]
        # Matches once per matching query; labels once per hash a request matched.
        matches = sum(len(r["matches"]) for a in answers for r in a["results"])
        labelled = sum(
            len({m["hash_id"] for r in a["results"] for m in r["matches"]}) for a in answers
        )
        assert 0 < labelled <= matches
        clock.moment = _hour(2) + timedelta(minutes=5)
        await _match(edge, [pdq_value(4)])  # the hour in progress is not sent

        async def sent() -> bool:
            return bool(await _edge_days(api))

        await _until(sent)
        ready = (await edge.get("/readyz")).json()["reports"]
        assert ready["sent_hours"] == 1
        assert ready["pending_hours"] == 1
        assert ready["last_error"] is None
    assert await _edge_days(api) == [
        {
            "day": _hour(3).date().isoformat(),
            "matches": matches,
            "matches_by_label": {LABELS[0]: labelled},
            "edges": 1,
            "members": 1,
        }
    ]
    (event,) = await _reported(api)
    assert event["hours"] == [
        {
            "hour": _hour(3).isoformat(),
            "matches": matches,
            "matches_by_label": {LABELS[0]: labelled},
            "outcome": "recorded",
        }
    ]
    # What went upstream is counts: no value, no digest of a query.
    assert pdq_value(1) not in json.dumps(event) and pdq_value(40) not in json.dumps(event)
    saved = json.loads((tmp_path / reports.FILE_NAME).read_text())
    assert saved["edge"] == event["edge"]
    assert [h["hour"] for h in saved["hours"]] == [_hour(2).isoformat()]


async def test_unsent_hours_survive_an_upstream_outage_and_a_restart(
    api: Api, tmp_path: Path
) -> None:
    await _submit(api, [pdq_value(i) for i in range(1, 4)])
    switch = Switch(httpx.ASGITransport(app=api.app))
    switch.down = True
    async with running_edge_app(api, tmp_path, SCOPES, switch, report_counts=True) as (
        runtime,
        edge,
    ):
        await _until(lambda: _ready(edge))
        clock = _set_clock(runtime, _hour(5))
        answer = await _match(edge, [pdq_value(1)])
        matches = len(answer["results"][0]["matches"])
        clock.moment = _hour(4)

        async def refused() -> bool:
            return (
                switch.reports > 0
                and (await edge.get("/readyz")).json()["reports"]["last_error"] is not None
            )

        await _until(refused)
        edge_id = runtime.reporter.counts.edge_id if runtime.reporter else None
    assert await _edge_days(api) == []
    saved = json.loads((tmp_path / reports.FILE_NAME).read_text())
    assert saved["edge"] == edge_id
    assert saved["hours"] == [
        {
            "hour": _hour(5).isoformat(),
            "matches": matches,
            "matches_by_label": {LABELS[0]: matches},
        }
    ]

    switch.down = False
    async with running_edge_app(api, tmp_path, SCOPES, switch, report_counts=True) as (
        runtime,
        edge,
    ):
        assert runtime.reporter is not None
        assert runtime.reporter.counts.edge_id == edge_id

        async def sent() -> bool:
            return bool(await _edge_days(api))

        await _until(sent)
    assert [day["matches"] for day in await _edge_days(api)] == [matches]
    assert json.loads((tmp_path / reports.FILE_NAME).read_text())["hours"] == []


async def test_an_hour_sent_again_after_a_lost_answer_counts_once(api: Api, tmp_path: Path) -> None:
    hour = _hour(6)
    state = {
        "format": reports.FORMAT,
        "edge": "edge-lost-answer",
        "hours": [{"hour": hour.isoformat(), "matches": 4, "matches_by_label": {LABELS[0]: 4}}],
    }
    for _ in range(2):  # the second run resends what the first had sent
        HourlyCounts(tmp_path, "unused").write(state)
        async with running_edge_app(api, tmp_path, SCOPES, report_counts=True) as (_, edge):

            async def drained() -> bool:
                status = (await edge.get("/readyz")).json()["reports"]
                return bool(status["sent_hours"])

            await _until(drained)
    assert [day["matches"] for day in await _edge_days(api)] == [4]
    outcomes = [e["hours"][0]["outcome"] for e in await _reported(api)]
    assert outcomes == ["recorded", "already_recorded"]


async def test_a_token_without_the_report_scope_keeps_the_hours(api: Api, tmp_path: Path) -> None:
    await _submit(api, [pdq_value(1)])
    async with running_edge_app(api, tmp_path, "hashes:read", report_counts=True) as (
        runtime,
        edge,
    ):
        await _until(lambda: _ready(edge))
        clock = _set_clock(runtime, _hour(3))
        await _match(edge, [pdq_value(1)])
        clock.moment = _hour(2)

        async def refused() -> bool:
            error = (await edge.get("/readyz")).json()["reports"]["last_error"]
            return error is not None and "insufficient_scope" in error

        await _until(refused)
    saved = json.loads((tmp_path / reports.FILE_NAME).read_text())
    assert [h["matches"] for h in saved["hours"]] == [1]  # one hash in the set


async def test_without_report_counts_nothing_is_counted_or_sent(api: Api, tmp_path: Path) -> None:
    await _submit(api, [pdq_value(1)])
    async with running_edge_app(api, tmp_path, SCOPES) as (runtime, edge):
        await _until(lambda: _ready(edge))
        await _match(edge, [pdq_value(1)])
        assert (await edge.get("/readyz")).json()["reports"] is None
        assert runtime.reporter is None
    assert not (tmp_path / reports.FILE_NAME).exists()
    assert await _reported(api) == []


async def test_an_unreadable_counts_file_is_set_aside(tmp_path: Path) -> None:
    (tmp_path / reports.FILE_NAME).write_text("{not json")
    counts = HourlyCounts.load(tmp_path, None)
    assert counts.hours == {}
    assert counts.edge_id.startswith("edge-")
    assert (tmp_path / f"{reports.FILE_NAME}.unreadable").read_text() == "{not json"


@pytest.mark.parametrize("edge_id", ["", "-leading-dash", "has space", "x" * 65, "a/b"])
def test_the_command_refuses_a_bad_edge_id(tmp_path: Path, edge_id: str) -> None:
    from hashshare.cli import main

    token = tmp_path / "token"
    token.write_text("a-token")
    command = ["edge", "--upstream", "http://central", "--token-file", str(token)]
    assert main([*command, "--report-counts", f"--edge-id={edge_id}"]) == 2


async def test_hours_recorded_before_with_other_counts_are_dropped_and_the_rest_sent(
    api: Api, tmp_path: Path
) -> None:
    taken, free = _hour(8), _hour(7)
    first = {"hour": taken.isoformat(), "matches": 1, "matches_by_label": {LABELS[0]: 1}}
    response = await api.client.post(
        "/v1/edge-reports",
        json={"edge": "edge-twin", "hours": [first]},
        headers=api.auth("alpha", "matches:report"),
    )
    assert response.status_code == 200, response.text
    other = {**first, "matches": 5, "matches_by_label": {LABELS[0]: 5}}
    later = {"hour": free.isoformat(), "matches": 2, "matches_by_label": {LABELS[0]: 2}}
    state = {"format": reports.FORMAT, "edge": "edge-twin", "hours": [other, later]}
    HourlyCounts(tmp_path, "unused").write(state)
    async with running_edge_app(api, tmp_path, SCOPES, report_counts=True) as (_, edge):

        async def drained() -> bool:
            status = (await edge.get("/readyz")).json()["reports"]
            return status["pending_hours"] == 0 and status["sent_hours"] == 1

        await _until(drained)
    # The service kept the first counts of the taken hour, and took the free one.
    assert sum(day["matches"] for day in await _edge_days(api)) == 1 + 2
