"""Transparency statistics agree with a known history, figure by figure."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hashshare.cli import main as cli
from hashshare.config import Settings
from hashshare.stats.report import parse_period
from tests.conftest import Api

P1, P2, P3 = ("a5" * 32), ("b2" * 32), ("c3" * 32)
MD5 = "d4" * 16
MANIFESTO = "attacker-manifesto"
GLORIFY = "glorification-of-terrorist-acts"


async def _post(api: Api, member: str, path: str, body: dict[str, Any], scope: str = "*") -> Any:
    response = await api.client.post(path, json=body, headers=api.auth(member, scope))
    assert response.status_code == 200, response.text
    return response.json()


async def _history(api: Api) -> dict[str, int]:
    """Contributions, a retraction, two match requests, a dispute resolved and one open."""
    await api.add_member("gamma")
    await api.add_member("delta")
    item = {"signal_type": "pdq", "labels": [MANIFESTO]}
    submitted = await _post(
        api,
        "alpha",
        "/v1/hashes",
        {
            "hashes": [
                {**item, "value": P1},
                {**item, "value": P2},
                {**item, "value": P3, "labels": [GLORIFY, "entity:isil"]},
                {"signal_type": "md5", "value": MD5, "labels": [MANIFESTO]},
            ]
        },
    )
    ids = {r["value"]: r["hash_id"] for r in submitted["results"]}
    await _post(api, "beta", "/v1/hashes", {"hashes": [{**item, "value": P1}]})
    response = await api.client.delete(f"/v1/hashes/{ids[MD5]}", headers=api.auth("alpha"))
    assert response.status_code == 200

    await _post(
        api,
        "beta",
        "/v1/match",
        {
            "queries": [
                {"signal_type": "pdq", "value": P1},
                {"signal_type": "pdq", "value": "00" * 32},
            ]
        },
    )
    await _post(
        api,
        "gamma",
        "/v1/match",
        {"queries": [{"signal_type": "pdq", "value": P1}, {"signal_type": "pdq", "value": P3}]},
    )

    disagree = {"verdict": "disagree", "reason": "counter-speech"}
    await _post(api, "gamma", f"/v1/hashes/{ids[P3]}/feedback", disagree)
    await _post(
        api,
        "delta",
        f"/v1/hashes/{ids[P3]}/resolution",
        {"decision": "reinstate", "reason": "reviewed"},
        "admin",
    )
    await _post(api, "delta", f"/v1/hashes/{ids[P3]}/feedback", disagree)
    return ids


async def test_every_figure_agrees_with_the_history(api: Api) -> None:
    await _history(api)

    response = await api.client.get("/v1/stats", headers=api.auth("gamma", "audit:read"))

    assert response.status_code == 200
    stats = response.json()
    assert stats["hashes_by_status"] == {"active": 2, "disputed": 1, "retracted": 1}
    assert stats["hashes_by_signal_type"] == {
        "md5": {"retracted": 1},
        "pdq": {"active": 2, "disputed": 1},
    }
    assert stats["hashes_by_label"] == {MANIFESTO: 2, GLORIFY: 1, "entity:isil": 1}
    assert stats["contributions_by_member"] == {"alpha": 3, "beta": 1}
    (day,) = stats["matches_by_day"]
    assert day["day"] == datetime.now(UTC).date().isoformat()
    assert (day["match_requests"], day["queries"], day["matched_queries"], day["matches"]) == (
        2,
        4,
        3,
        3,
    )
    # Each request counts a matched hash once: P1 twice, P3 once.
    assert day["matches_by_label"] == {MANIFESTO: 2, GLORIFY: 1, "entity:isil": 1}
    assert stats["disputes"] == {
        "opened": 2,
        "lifted": 0,
        "resolved": {"reinstate": 1},
        "open_now": 1,
    }
    assert stats["retractions"] == {
        "contributions_retracted": 1,
        "hashes_retracted_by_admin": 0,
        "hashes_retracted_now": 1,
    }


async def test_activity_outside_the_period_is_not_counted(api: Api) -> None:
    await _history(api)
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    stats = (
        await api.client.get(
            "/v1/stats", params={"since": tomorrow}, headers=api.auth("gamma", "audit:read")
        )
    ).json()

    assert stats["matches_by_day"] == []
    assert stats["disputes"]["opened"] == 0
    assert stats["hashes_by_status"] == {"active": 2, "disputed": 1, "retracted": 1}


async def test_statistics_need_audit_read_unless_made_public(
    api: Api, api_factory: Callable[[Settings], Awaitable[Api]]
) -> None:
    assert (await api.client.get("/v1/stats")).status_code == 401
    denied = await api.client.get("/v1/stats", headers=api.auth("alpha", "hashes:read"))
    assert denied.status_code == 403

    public = await api_factory(api.settings.model_copy(update={"stats_public": True}))
    response = await public.client.get("/v1/stats")

    assert response.status_code == 200
    assert response.json()["hashes_by_status"] == {}


def test_periods_are_years_quarters_or_months() -> None:
    assert parse_period("2026-Q4") == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert parse_period("2026-02") == (
        datetime(2026, 2, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC),
    )
    assert parse_period("2025") == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="period"):
        parse_period("Q4-2026")


async def test_the_report_of_the_quarter_prints_the_same_figures(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    await _history(api)
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")
    monkeypatch.setenv("HASHSHARE_DATABASE_URL", api.settings.database_url)
    now = datetime.now(UTC)
    period = f"{now.year}-Q{(now.month - 1) // 3 + 1}"

    assert await asyncio.to_thread(cli, ["report", "--period", period, "--format", "json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert await asyncio.to_thread(cli, ["report", "--period", period]) == 0
    text = capsys.readouterr().out

    assert figures["hashes_by_status"] == {"active": 2, "disputed": 1, "retracted": 1}
    assert figures["disputes"]["opened"] == 2
    assert f"# hashshare transparency report, {period}" in text
    assert "- match requests: 2" in text
    assert "| attacker-manifesto | 2 |" in text
