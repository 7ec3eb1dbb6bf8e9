"""POST /v1/edge-reports: edges' hourly match counts, recorded once, audited, in /v1/stats."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hashshare.stats.report import markdown, parse_period
from hashshare.stats.service import StatsService
from tests.conftest import Api

MANIFESTO = "attacker-manifesto"
ISIL = "entity:isil"
REPORT = "matches:report"


def _hour(hours_ago: int) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=hours_ago)


def _item(hour: datetime, matches: int = 3, **labels: int) -> dict[str, Any]:
    by_label = labels or {MANIFESTO: matches}
    return {"hour": hour.isoformat(), "matches": matches, "matches_by_label": by_label}


async def _report(
    api: Api, hours: list[dict[str, Any]], member: str = "alpha", edge: str = "edge-1", **kw: Any
) -> Any:
    headers = kw.pop("headers", None) or api.auth(member, REPORT)
    return await api.client.post(
        "/v1/edge-reports", json={"edge": edge, "hours": hours, **kw}, headers=headers
    )


async def _edge_stats(api: Api, query: str = "") -> list[dict[str, Any]]:
    response = await api.client.get(f"/v1/stats{query}", headers=api.auth("alpha", "audit:read"))
    assert response.status_code == 200, response.text
    days: list[dict[str, Any]] = response.json()["edge_matches_by_day"]
    return days


async def test_a_report_is_recorded_audited_and_counted_in_the_stats(api: Api) -> None:
    hour = _hour(2)
    response = await _report(api, [_item(hour, 5, **{MANIFESTO: 5, ISIL: 2})])
    assert response.status_code == 200, response.text
    assert response.json() == {
        "member": "alpha",
        "edge": "edge-1",
        "results": [{"hour": hour.isoformat().replace("+00:00", "Z"), "outcome": "recorded"}],
    }
    days = await _edge_stats(api)
    assert days == [
        {
            "day": hour.date().isoformat(),
            "matches": 5,
            "matches_by_label": {ISIL: 2, MANIFESTO: 5},
            "edges": 1,
            "members": 1,
        }
    ]
    rows = await api.sql(
        "SELECT member_id, actor, details FROM audit_events WHERE action = 'edge.report'"
    )
    assert len(rows) == 1
    member, actor, details = rows[0]
    details = json.loads(details) if isinstance(details, str) else details
    assert (member, actor) == ("alpha", "tester")
    assert details["edge"] == "edge-1"
    assert details["hours"][0]["matches_by_label"] == {ISIL: 2, MANIFESTO: 5}
    assert details["hours"][0]["outcome"] == "recorded"


async def test_the_same_report_again_is_not_counted_twice(api: Api) -> None:
    hours = [_item(_hour(3), 4), _item(_hour(2), 1)]
    assert (await _report(api, hours[:1])).status_code == 200
    again = await _report(api, hours)
    assert again.status_code == 200, again.text
    assert [r["outcome"] for r in again.json()["results"]] == ["already_recorded", "recorded"]
    assert sum(day["matches"] for day in await _edge_stats(api)) == 5


async def test_concurrent_retries_record_an_hour_once(api: Api) -> None:
    hours = [_item(_hour(4), 7)]
    answers = await asyncio.gather(*(_report(api, hours) for _ in range(4)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    outcomes = sorted(a.json()["results"][0]["outcome"] for a in answers)
    assert outcomes == ["already_recorded"] * 3 + ["recorded"]
    assert sum(day["matches"] for day in await _edge_stats(api)) == 7


async def test_other_counts_for_a_recorded_hour_are_refused_whole(api: Api) -> None:
    first, second = _hour(3), _hour(2)
    assert (await _report(api, [_item(first, 4)])).status_code == 200
    response = await _report(api, [_item(second, 1), _item(first, 9)])
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "edge_report_conflict"
    assert error["details"] == {"hours": [first.isoformat()]}
    # Nothing of the refused report was kept: the second hour is still free.
    assert sum(day["matches"] for day in await _edge_stats(api)) == 4
    assert (await _report(api, [_item(second, 1)])).json()["results"][0]["outcome"] == "recorded"


async def test_hours_are_kept_apart_per_member_and_per_edge(api: Api) -> None:
    hour = _item(_hour(2), 2)
    for member, edge in (("alpha", "edge-1"), ("alpha", "edge-2"), ("beta", "edge-1")):
        response = await _report(api, [hour], member=member, edge=edge)
        assert response.json()["results"][0]["outcome"] == "recorded", response.text
    assert await _edge_stats(api) == [
        {
            "day": _hour(2).date().isoformat(),
            "matches": 6,
            "matches_by_label": {MANIFESTO: 6},
            "edges": 3,
            "members": 2,
        }
    ]
    members = await api.sql("SELECT DISTINCT member_id FROM edge_reports ORDER BY member_id")
    assert [m for (m,) in members] == ["alpha", "beta"]


async def test_the_stats_period_counts_hours_that_start_in_it(api: Api) -> None:
    old, recent = _hour(50), _hour(2)
    await _report(api, [_item(old, 10), _item(recent, 1)])
    since = (recent - timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    until = (recent + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert [d["matches"] for d in await _edge_stats(api, f"?since={since}&until={until}")] == [1]
    until_old = (old + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    assert [d["matches"] for d in await _edge_stats(api, f"?until={until_old}")] == [10]


async def test_the_transparency_report_lists_edge_matches(api: Api) -> None:
    hour = _hour(2)
    await _report(api, [_item(hour, 3, **{MANIFESTO: 3, ISIL: 1})])
    year = str(hour.year)
    async with api.app.state.runtime.database.unit() as uow:
        stats = await StatsService().compute(uow, *parse_period(year))
    text = markdown(stats, year)
    section = text.split("## Matches reported by edges", 1)[1]
    assert "- matches: 3" in section
    assert f"| {ISIL} | 1 |" in section


@pytest.mark.parametrize(
    "scopes", ["hashes:read", "hashes:match", "hashes:read hashes:match audit:read"]
)
async def test_reporting_needs_the_matches_report_scope(api: Api, scopes: str) -> None:
    response = await _report(api, [_item(_hour(2))], headers=api.auth("alpha", scopes))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


async def test_reporting_needs_a_token(api: Api) -> None:
    response = await api.client.post(
        "/v1/edge-reports", json={"edge": "e", "hours": [_item(_hour(2))]}
    )
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda h: {**h, "hour": h["hour"].replace("+00:00", "")}, 422, "naive_datetime"),
        (lambda h: {**h, "hour": h["hour"].replace(":00:00+", ":30:00+")}, 422, "hour_not_aligned"),
        (lambda h: {**h, "hour": _hour(0).isoformat()}, 422, "hour_not_over"),
        (lambda h: {**h, "hour": _hour(-5).isoformat()}, 422, "hour_not_over"),
        (lambda h: {**h, "matches_by_label": {"not-a-label": 1}}, 422, "unknown_label"),
        (lambda h: {**h, "matches_by_label": {MANIFESTO: 4}}, 422, "inconsistent_counts"),
        (lambda h: {**h, "matches": -1}, 422, "validation_error"),
        (lambda h: {**h, "matches": 10**13}, 422, "validation_error"),
        (lambda h: {**h, "matches": False}, 422, "validation_error"),
        (lambda h: {**h, "matches": "3"}, 422, "validation_error"),
        (lambda h: {**h, "matches_by_label": {MANIFESTO: True}}, 422, "validation_error"),
        (lambda h: {**h, "query_digest": "ab" * 32}, 422, "validation_error"),
        (lambda h: {**h, "hour": 1765000000}, 422, "validation_error"),
    ],
)
async def test_bad_hours_are_refused_with_stable_codes(
    api: Api, change: Any, status: int, code: str
) -> None:
    response = await _report(api, [change(_item(_hour(2), 3))])
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert await api.sql("SELECT id FROM edge_reports") == []


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"edge": "", "hours": [None]}, "validation_error"),
        ({"edge": "../etc", "hours": [None]}, "validation_error"),
        ({"edge": "e" * 65, "hours": [None]}, "validation_error"),
        ({"edge": "e", "hours": []}, "validation_error"),
        ({"edge": "e", "hours": [None] * 745}, "validation_error"),
        ({"edge": "e", "hours": [None, None]}, "duplicate_hour"),
        ({"edge": "e", "hours": [None], "values": ["ab" * 32]}, "validation_error"),
    ],
)
async def test_bad_reports_are_refused_with_stable_codes(
    api: Api, body: dict[str, Any], code: str
) -> None:
    body = {**body, "hours": [_item(_hour(2)) for _ in body["hours"]]}
    response = await api.client.post(
        "/v1/edge-reports", json=body, headers=api.auth("alpha", REPORT)
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == code


async def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    response = await api.client.post(
        "/v1/edge-reports",
        content=b"{not json",
        headers={**api.auth("alpha", REPORT), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"
