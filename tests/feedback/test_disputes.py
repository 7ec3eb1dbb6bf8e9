"""Feedback and disputes: every status transition, its audit event and its change-feed entry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api

VALUE = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


async def _listed(api: Api, *contributors: str) -> int:
    body = {"hashes": [{"signal_type": "pdq", "value": VALUE, "labels": ["attacker-manifesto"]}]}
    hash_id = 0
    for member in contributors:
        response = await api.client.post("/v1/hashes", json=body, headers=api.auth(member))
        assert response.status_code == 200
        hash_id = response.json()["results"][0]["hash_id"]
    return hash_id


async def _judge(
    api: Api, member: str, hash_id: int, verdict: str, reason: str | None = "not-terrorist-content"
) -> Any:
    body: dict[str, Any] = {"verdict": verdict, "reason": reason if verdict == "disagree" else None}
    return await api.client.post(
        f"/v1/hashes/{hash_id}/feedback", json=body, headers=api.auth(member, "hashes:feedback")
    )


async def _status(api: Api, hash_id: int) -> str:
    response = await api.client.get(f"/v1/hashes/{hash_id}", headers=api.auth("alpha"))
    status: str = response.json()["status"]
    return status


async def _matches(api: Api, include_disputed: bool = False) -> list[dict[str, Any]]:
    body = {
        "queries": [{"signal_type": "pdq", "value": VALUE}],
        "include_disputed": include_disputed,
    }
    response = await api.client.post("/v1/match", json=body, headers=api.auth("beta"))
    matches: list[dict[str, Any]] = response.json()["results"][0]["matches"]
    return matches


async def _actions(api: Api) -> list[str]:
    return [row[0] for row in await api.sql("SELECT action FROM audit_events ORDER BY id")]


async def _feed_statuses(api: Api, hash_id: int) -> list[str]:
    rows = await api.sql("SELECT status FROM changes WHERE hash_id = :id ORDER BY seq", id=hash_id)
    return [row[0] for row in rows]


@pytest.fixture
async def judges(api: Api) -> Api:
    await api.add_member("gamma")
    await api.add_member("delta")
    return api


async def test_one_disagreement_disputes_a_hash_with_a_single_contributor(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")

    response = await _judge(judges, "beta", hash_id, "disagree")

    assert response.status_code == 200
    assert response.json()["status"] == "disputed"
    assert await _status(judges, hash_id) == "disputed"
    assert "hash.disputed" in await _actions(judges)
    assert await _feed_statuses(judges, hash_id) == ["active", "disputed"]


async def test_a_disputed_hash_matches_only_on_request_and_says_so(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")
    await _judge(judges, "beta", hash_id, "disagree")

    assert await _matches(judges) == []
    (hit,) = await _matches(judges, include_disputed=True)
    assert hit["hash_id"] == hash_id
    assert hit["status"] == "disputed"


async def test_two_contributors_need_two_disagreements(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha", "beta")

    assert (await _judge(judges, "gamma", hash_id, "disagree")).json()["status"] == "active"
    assert (await _judge(judges, "delta", hash_id, "disagree")).json()["status"] == "disputed"


async def test_disagreements_must_outnumber_agreements(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha", "beta")
    await judges.add_member("epsilon")
    await judges.add_member("zeta")
    await _judge(judges, "gamma", hash_id, "agree")
    await _judge(judges, "delta", hash_id, "agree")
    await _judge(judges, "epsilon", hash_id, "disagree")

    response = await _judge(judges, "zeta", hash_id, "disagree")

    assert response.json()["status"] == "active"
    assert response.json()["feedback"] == {
        "agree": 2,
        "disagree": 2,
        "disagree_by_reason": {"not-terrorist-content": 2},
    }


async def test_a_changed_verdict_replaces_the_old_one_and_can_lift_the_dispute(
    judges: Api,
) -> None:
    hash_id = await _listed(judges, "alpha")
    await _judge(judges, "beta", hash_id, "disagree")

    response = await _judge(judges, "beta", hash_id, "agree")

    assert response.json()["status"] == "active"
    assert response.json()["feedback"]["disagree"] == 0
    assert response.json()["your_feedback"]["verdict"] == "agree"
    actions = await _actions(judges)
    assert actions.count("feedback.given") == 2
    assert "hash.undisputed" in actions
    rows = await judges.sql(
        "SELECT details FROM audit_events WHERE action = 'feedback.given' ORDER BY id"
    )
    details = [row[0] if isinstance(row[0], dict) else json.loads(row[0]) for row in rows]
    assert details[1]["replaced"] == {"verdict": "disagree", "reason": "not-terrorist-content"}
    assert await _feed_statuses(judges, hash_id) == ["active", "disputed", "active"]


async def test_the_hash_shows_counts_by_reason_and_your_own_verdict(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha", "beta")
    await _judge(judges, "gamma", hash_id, "disagree", "wrong-label")
    await _judge(judges, "delta", hash_id, "disagree", "counter-speech")

    seen_by_gamma = (
        await judges.client.get(f"/v1/hashes/{hash_id}", headers=judges.auth("gamma"))
    ).json()
    seen_by_alpha = (
        await judges.client.get(f"/v1/hashes/{hash_id}", headers=judges.auth("alpha"))
    ).json()

    assert seen_by_gamma["feedback"]["disagree_by_reason"] == {
        "wrong-label": 1,
        "counter-speech": 1,
    }
    assert seen_by_gamma["your_feedback"]["reason"] == "wrong-label"
    assert seen_by_alpha["your_feedback"] is None


async def test_a_contributor_cannot_judge_its_own_hash(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")

    response = await _judge(judges, "alpha", hash_id, "disagree")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "own_hash"
    assert await _status(judges, hash_id) == "active"


@pytest.mark.parametrize(
    ("reason", "code"), [(None, "reason_required"), ("i-dont-like-it", "unknown_reason")]
)
async def test_a_disagreement_needs_a_known_reason(
    judges: Api, reason: str | None, code: str
) -> None:
    hash_id = await _listed(judges, "alpha")

    response = await _judge(judges, "beta", hash_id, "disagree", reason)

    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    assert await judges.sql("SELECT id FROM feedback") == []


async def test_feedback_needs_its_scope_and_an_existing_hash(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")
    body = {"verdict": "agree"}

    denied = await judges.client.post(
        f"/v1/hashes/{hash_id}/feedback", json=body, headers=judges.auth("beta", "hashes:read")
    )
    missing = await judges.client.post(
        "/v1/hashes/999999/feedback", json=body, headers=judges.auth("beta", "hashes:feedback")
    )

    assert denied.status_code == 403
    assert missing.status_code == 404


async def test_admin_reinstatement_restores_the_listing_and_resets_the_count(
    judges: Api,
) -> None:
    hash_id = await _listed(judges, "alpha")
    await _judge(judges, "beta", hash_id, "disagree")

    response = await judges.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "reinstate", "reason": "Verified propaganda of a listed group."},
        headers=judges.auth("delta", "admin"),
    )

    assert response.status_code == 200
    assert response.json()["status"] == "active"
    assert [hit["hash_id"] for hit in await _matches(judges)] == [hash_id]
    shown = (await judges.client.get(f"/v1/hashes/{hash_id}", headers=judges.auth("alpha"))).json()
    assert shown["feedback"]["disagree"] == 0
    assert "dispute.resolved" in await _actions(judges)
    # Only new feedback counts: a fresh disagreement disputes it again.
    assert (await _judge(judges, "gamma", hash_id, "disagree")).json()["status"] == "disputed"


async def test_admin_retraction_stops_matching_everywhere(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")
    await _judge(judges, "beta", hash_id, "disagree")

    response = await judges.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "retract", "reason": "News footage, not propaganda."},
        headers=judges.auth("delta", "admin"),
    )

    assert response.status_code == 200
    assert response.json()["status"] == "retracted"
    assert await _matches(judges, include_disputed=True) == []
    assert await _feed_statuses(judges, hash_id) == ["active", "disputed", "retracted"]
    contributions = await judges.sql(
        "SELECT retracted_at FROM contributions WHERE hash_id = :id", id=hash_id
    )
    assert all(row[0] is not None for row in contributions)


async def test_reinstating_a_hash_that_is_not_disputed_is_a_conflict(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")

    response = await judges.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "reinstate", "reason": "why not"},
        headers=judges.auth("delta", "admin"),
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_disputed"


async def test_resolution_needs_the_admin_scope(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")
    await _judge(judges, "beta", hash_id, "disagree")

    response = await judges.client.post(
        f"/v1/hashes/{hash_id}/resolution",
        json={"decision": "retract", "reason": "x"},
        headers=judges.auth("delta", "hashes:feedback audit:read"),
    )

    assert response.status_code == 403
    assert await _status(judges, hash_id) == "disputed"


async def test_a_retracted_hash_takes_no_feedback(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")
    await judges.client.delete(f"/v1/hashes/{hash_id}", headers=judges.auth("alpha"))

    response = await _judge(judges, "beta", hash_id, "disagree")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "hash_retracted"


async def test_a_disputed_hash_whose_last_contributor_retracts_is_retracted(judges: Api) -> None:
    hash_id = await _listed(judges, "alpha")
    await _judge(judges, "beta", hash_id, "disagree")

    response = await judges.client.delete(f"/v1/hashes/{hash_id}", headers=judges.auth("alpha"))

    assert response.json()["status"] == "retracted"
    assert await _matches(judges, include_disputed=True) == []
