"""The audit log: every action leaves one event, written with the action or not at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from hashshare.audit.models import NewEvent
from hashshare.audit.repository import AuditRepository
from hashshare.auth.scopes import ALL_SCOPES
from hashshare.config import Settings
from tests.conftest import Api

LABELS = ["attacker-manifesto"]
# Stored values, pairwise far apart (at least 128 bits) so that each query hits one hash.
PDQ_A = "f0" * 32
PDQ_B = "33" * 32
PDQ_C = "0f" * 32
# Never stored; 128 bits from each stored value, far beyond pdq's default max distance.
PDQ_UNSEEN = "5a" * 16 + "a5" * 16
MD5_UNSEEN = "9e107d9d372bb6826bd81d3542a419d6"
SUB = "analyst-7"


def _items(*values: str, signal_type: str = "pdq") -> dict[str, Any]:
    return {"hashes": [{"signal_type": signal_type, "value": v, "labels": LABELS} for v in values]}


async def _submit(api: Api, *values: str, member: str = "alpha", **headers: str) -> httpx.Response:
    response = await api.client.post(
        "/v1/hashes", json=_items(*values), headers={**api.auth(member, sub=SUB), **headers}
    )
    assert response.status_code == 200, response.text
    return response


async def _match(api: Api, *queries: tuple[str, str], member: str = "alpha") -> httpx.Response:
    body = {"queries": [{"signal_type": st, "value": v} for st, v in queries]}
    response = await api.client.post("/v1/match", json=body, headers=api.auth(member, sub=SUB))
    assert response.status_code == 200, response.text
    return response


async def _events(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get("/v1/audit", params=params, headers=api.auth("alpha"))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def _only(api: Api, action: str) -> dict[str, Any]:
    events = await _events(api, action=action)
    assert len(events) == 1, events
    return events[0]


async def _audit_row_text(api: Api) -> str:
    """Every stored audit row, all columns, as one string."""
    rows = await api.sql("select * from audit_events")
    return "\n".join(repr(tuple(row)) for row in rows)


def _ids(events: list[dict[str, Any]]) -> list[int]:
    return [event["seq"] for event in events]


# --- what each action records ---------------------------------------------------------------


async def test_submission_records_actor_member_action_and_outcome(api: Api) -> None:
    await _submit(api, PDQ_A)
    event = await _only(api, "hashes.submit")
    assert event["actor"] == SUB
    assert event["member_id"] == "alpha"
    assert event["outcome"] == "ok"


async def test_submission_event_names_the_submitted_hashes_and_counts(api: Api) -> None:
    response = await _submit(api, PDQ_A, PDQ_B)
    hash_ids = sorted(r["hash_id"] for r in response.json()["results"])
    event = await _only(api, "hashes.submit")
    assert sorted(event["target_ids"]) == hash_ids
    assert event["details"]["items"] == 2
    assert event["details"]["created"] == 2
    assert event["details"]["existing"] == 0


async def test_resubmission_event_counts_existing_hashes(api: Api) -> None:
    await _submit(api, PDQ_A)
    await _submit(api, PDQ_A)
    latest = (await _events(api, action="hashes.submit"))[0]
    assert latest["details"]["created"] == 0
    assert latest["details"]["existing"] == 1


async def test_event_request_id_equals_the_response_header(api: Api) -> None:
    response = await _submit(api, PDQ_A)
    event = await _only(api, "hashes.submit")
    assert event["request_id"] == response.headers["x-request-id"]


async def test_event_keeps_the_request_id_the_client_sent(api: Api) -> None:
    await _submit(api, PDQ_A, **{"X-Request-ID": "upload-batch-42"})
    event = await _only(api, "hashes.submit")
    assert event["request_id"] == "upload-batch-42"


async def test_retraction_records_the_hash_and_the_outcome(api: Api) -> None:
    submitted = await _submit(api, PDQ_A)
    hash_id = submitted.json()["results"][0]["hash_id"]
    response = await api.client.delete(f"/v1/hashes/{hash_id}", headers=api.auth("alpha", sub=SUB))
    assert response.status_code == 200, response.text
    event = await _only(api, "hashes.retract")
    assert event["actor"] == SUB
    assert event["member_id"] == "alpha"
    assert event["outcome"] == "ok"
    assert event["target_ids"] == [hash_id]
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["details"]["contributors_left"] == 0


async def test_match_records_the_matched_hash_ids(api: Api) -> None:
    submitted = await _submit(api, PDQ_A, PDQ_B, PDQ_C)
    ids = {r["value"]: r["hash_id"] for r in submitted.json()["results"]}
    response = await _match(api, ("pdq", PDQ_A), ("pdq", PDQ_C), ("pdq", PDQ_UNSEEN))
    event = await _only(api, "match")
    assert sorted(event["target_ids"]) == sorted([ids[PDQ_A], ids[PDQ_C]])
    assert event["actor"] == SUB
    assert event["member_id"] == "alpha"
    assert event["outcome"] == "ok"
    assert event["request_id"] == response.headers["x-request-id"]


async def test_match_event_counts_queries_and_matches(api: Api) -> None:
    await _submit(api, PDQ_A)
    await _match(api, ("pdq", PDQ_A), ("pdq", PDQ_UNSEEN))
    details = (await _only(api, "match"))["details"]
    assert details["queries"] == 2
    assert details["matched_queries"] == 1
    assert details["matches"] == 1


async def test_match_without_hits_records_an_event_with_no_targets(api: Api) -> None:
    await _submit(api, PDQ_A)
    await _match(api, ("pdq", PDQ_UNSEEN))
    event = await _only(api, "match")
    assert event["target_ids"] == []
    assert event["details"]["matched_queries"] == 0


@pytest.mark.parametrize(
    ("signal_type", "value"), [("pdq", PDQ_UNSEEN), ("md5", MD5_UNSEEN)], ids=["pdq", "md5"]
)
async def test_unmatched_query_value_leaves_no_trace_in_the_audit_log(
    api: Api, signal_type: str, value: str
) -> None:
    await _submit(api, PDQ_A)
    await _match(api, ("pdq", PDQ_A), (signal_type, value.upper()))
    text = (await _audit_row_text(api)).lower()
    assert "match" in text  # the event itself is there
    assert value not in text
    assert value[:16] not in text
    assert bytes.fromhex(value).hex() not in text
    assert repr(bytes.fromhex(value)).lower()[2:-1] not in text


async def test_unmatched_query_value_is_not_stored_as_a_hash(api: Api) -> None:
    await _match(api, ("pdq", PDQ_UNSEEN))
    assert await api.sql("select count(*) from hashes") == [(0,)]


async def test_rejected_submission_is_recorded_as_request_rejected(api: Api) -> None:
    bad = _items(PDQ_A, "not-a-hash")
    response = await api.client.post("/v1/hashes", json=bad, headers=api.auth("alpha", sub=SUB))
    assert response.status_code == 422
    event = await _only(api, "request.rejected")
    assert event["actor"] == SUB
    assert event["member_id"] == "alpha"
    assert event["outcome"] == "rejected"
    assert event["request_id"] == response.headers["x-request-id"]
    assert event["details"]["code"] == "invalid_items"


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        pytest.param(
            '{"queries": [{"signal_type": "pdq", "value": "zz"}]}', 422, "invalid_items", id="item"
        ),
        pytest.param('{"queries": "pdq"}', 422, "validation_error", id="schema"),
    ],
)
async def test_a_refused_match_is_recorded_with_its_status_and_code(
    api: Api, content: str, status: int, code: str
) -> None:
    headers = {**api.auth("alpha", sub=SUB), "content-type": "application/json"}
    response = await api.client.post("/v1/match", content=content, headers=headers)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    event = await _only(api, "request.rejected")
    assert event["details"] == {
        "method": "POST",
        "path": "/v1/match",
        "status": status,
        "code": code,
    }
    assert event["request_id"] == response.headers["x-request-id"]


async def test_rejected_submission_stores_nothing_else(api: Api) -> None:
    before = await api.sql("select count(*) from audit_events")
    bad = _items(PDQ_A, "not-a-hash")
    response = await api.client.post("/v1/hashes", json=bad, headers=api.auth("alpha", sub=SUB))
    assert response.status_code == 422
    assert await api.sql("select count(*) from hashes") == [(0,)]
    assert await api.sql("select count(*) from contributions") == [(0,)]
    assert await api.sql("select count(*) from audit_events") == [(before[0][0] + 1,)]
    assert await _events(api, action="hashes.submit") == []


async def test_missing_scope_is_recorded_as_denied(api: Api) -> None:
    headers = api.auth("alpha", "hashes:match", sub=SUB)
    response = await api.client.post("/v1/hashes", json=_items(PDQ_A), headers=headers)
    assert response.status_code == 403
    event = await _only(api, "auth.forbidden")
    assert event["actor"] == SUB
    assert event["outcome"] == "denied"
    assert event["request_id"] == response.headers["x-request-id"]


# --- the same transaction ---------------------------------------------------------------------


class _Boom(RuntimeError):
    """A failure injected by a test."""


@pytest.fixture
def fail_after_record(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make a service raise right after it recorded its audit event (a late failure)."""

    def install(module: Any) -> None:
        real = module.record

        async def record_then_fail(*args: Any, **kwargs: Any) -> Any:
            await real(*args, **kwargs)
            raise _Boom("the action failed after its audit event was written")

        monkeypatch.setattr(module, "record", record_then_fail)

    yield install


def _lenient_client(api: Api) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_failed_submission_leaves_no_event_and_no_hash(
    api: Api, fail_after_record: Any
) -> None:
    from hashshare.hashes import service

    fail_after_record(service)
    async with _lenient_client(api) as client:
        response = await client.post("/v1/hashes", json=_items(PDQ_A), headers=api.auth("alpha"))
    assert response.status_code == 500
    assert await api.sql("select count(*) from audit_events where action = 'hashes.submit'") == [
        (0,)
    ]
    assert await api.sql("select count(*) from hashes") == [(0,)]


async def test_failed_submission_does_not_reach_the_match_index(
    api: Api, fail_after_record: Any
) -> None:
    from hashshare.hashes import service

    fail_after_record(service)
    async with _lenient_client(api) as client:
        await client.post("/v1/hashes", json=_items(PDQ_A), headers=api.auth("alpha"))
    response = await _match(api, ("pdq", PDQ_A))
    assert response.json()["results"][0]["matches"] == []


async def test_failed_retraction_leaves_no_event_and_keeps_the_contribution(
    api: Api, fail_after_record: Any
) -> None:
    from hashshare.hashes import service

    hash_id = (await _submit(api, PDQ_A)).json()["results"][0]["hash_id"]
    fail_after_record(service)
    async with _lenient_client(api) as client:
        response = await client.delete(f"/v1/hashes/{hash_id}", headers=api.auth("alpha"))
    assert response.status_code == 500
    assert await api.sql("select count(*) from audit_events where action = 'hashes.retract'") == [
        (0,)
    ]
    assert await api.sql("select retracted_at from contributions") == [(None,)]
    assert (await _match(api, ("pdq", PDQ_A))).json()["matched_queries"] == 1


async def test_a_match_whose_event_cannot_be_written_returns_no_result(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Matches are audited by group commit: no result leaves without its committed event."""
    from hashshare.audit import writer

    await _submit(api, PDQ_A)
    real = writer.append_events

    async def refuse_matches(executor: Any, events: Any) -> None:
        if any(event.action == "match" for event in events):
            raise _Boom("the audit log cannot be written")
        await real(executor, events)

    monkeypatch.setattr(writer, "append_events", refuse_matches)
    body = {"queries": [{"signal_type": "pdq", "value": PDQ_A}]}
    async with _lenient_client(api) as client:
        response = await client.post("/v1/match", json=body, headers=api.auth("alpha"))
    assert response.status_code == 500
    assert PDQ_A not in response.text
    assert await api.sql("select count(*) from audit_events where action = 'match'") == [(0,)]


async def test_the_group_commit_survives_the_loss_of_its_database_connection(api: Api) -> None:
    """The writer keeps a connection of its own; when the server drops it, the next batch
    reconnects and nothing is lost or refused."""
    if api.settings.database_url.startswith("sqlite"):
        pytest.skip("a server-side disconnect needs PostgreSQL")
    await _submit(api, PDQ_A)
    await _match(api, ("pdq", PDQ_A))  # the writer has connected
    [connection] = api.app.state.runtime.audit._idle  # its idle connection
    pid = (await connection.exec_driver_sql("select pg_backend_pid()")).scalar()
    await connection.rollback()
    assert await api.sql("select pg_terminate_backend(:pid)", pid=pid) == [(True,)]

    await _match(api, ("pdq", PDQ_A))

    assert await api.sql("select count(*) from audit_events where action = 'match'") == [(2,)]


async def test_a_batch_whose_commit_answer_is_lost_is_not_written_twice(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The COMMIT reached the server but the connection dropped before its answer: retrying
    would record the events a second time, so the batch fails instead (503: the client may
    ask again)."""
    from sqlalchemy.exc import DBAPIError

    from hashshare.audit import writer

    await _submit(api, PDQ_A)
    real = writer._prepare

    class CommitThenDrop:
        def __init__(self, transaction: Any) -> None:
            self.transaction = transaction

        async def commit(self) -> None:
            await self.transaction.commit()
            raise DBAPIError("COMMIT", None, ConnectionError("lost"), connection_invalidated=True)

    async def prepare(connection: Any, events: Any) -> Any:
        return CommitThenDrop(await real(connection, events))

    monkeypatch.setattr(writer, "_prepare", prepare)
    body = {"queries": [{"signal_type": "pdq", "value": PDQ_A}]}
    async with _lenient_client(api) as client:
        response = await client.post("/v1/match", json=body, headers=api.auth("alpha"))

    assert response.status_code == 503  # the client may retry
    assert response.json()["error"]["code"] == "database_unavailable"
    assert await api.sql("select count(*) from audit_events where action = 'match'") == [(1,)]


async def test_a_match_does_not_wait_for_ever_on_a_stuck_head_lock(
    settings: Settings,
    api_factory: Callable[[Settings], Awaitable[Api]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A transaction that holds the chain's head row (stuck, say) fails the batch after the
    writer's lock timeout instead of hanging every match behind it."""
    if settings.database_url.startswith("sqlite"):
        pytest.skip("lock_timeout is PostgreSQL's")
    import time

    from sqlalchemy import text

    from hashshare.audit import writer

    monkeypatch.setattr(writer, "LOCK_TIMEOUT_MS", 300)
    # An app of its own: the shared app's writer keeps connections that earlier tests opened
    # with the default timeout, which a connection sets once, when it is opened.
    api = await api_factory(settings)
    await api.add_member("alpha", "beta")
    await _submit(api, PDQ_A)
    body = {"queries": [{"signal_type": "pdq", "value": PDQ_A}]}
    async with api.app.state.runtime.database.sessions() as stuck, stuck.begin():
        await stuck.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
        started = time.monotonic()
        async with _lenient_client(api) as client:
            response = await client.post("/v1/match", json=body, headers=api.auth("alpha"))
        waited = time.monotonic() - started

    assert response.status_code == 503  # the client may retry
    assert response.json()["error"]["code"] == "database_unavailable"
    assert waited < 5
    await _match(api, ("pdq", PDQ_A))  # and the writer recovers once the lock is gone


# --- reading the log ----------------------------------------------------------------------------


async def test_audit_log_is_newest_first(api: Api) -> None:
    await _submit(api, PDQ_A)
    await _match(api, ("pdq", PDQ_A))
    await _submit(api, PDQ_B, member="beta")
    events = await _events(api)
    assert _ids(events) == sorted(_ids(events), reverse=True)
    times = [datetime.fromisoformat(e["occurred_at"]) for e in events]
    assert times == sorted(times, reverse=True)
    assert [e["action"] for e in events[:3]] == ["hashes.submit", "match", "hashes.submit"]
    assert events[0]["member_id"] == "beta"


async def test_event_times_are_timezone_aware(api: Api) -> None:
    await _submit(api, PDQ_A)
    event = await _only(api, "hashes.submit")
    assert datetime.fromisoformat(event["occurred_at"]).utcoffset() == timedelta(0)


async def test_filter_by_member(api: Api) -> None:
    await _submit(api, PDQ_A, member="alpha")
    await _submit(api, PDQ_B, member="beta")
    await _match(api, ("pdq", PDQ_A), member="beta")
    events = await _events(api, member="beta")
    assert {e["member_id"] for e in events} == {"beta"}
    assert sorted(e["action"] for e in events) == ["hashes.submit", "match"]


async def test_filter_by_action(api: Api) -> None:
    await _submit(api, PDQ_A)
    await _match(api, ("pdq", PDQ_A))
    await _match(api, ("pdq", PDQ_B))
    events = await _events(api, action="match")
    assert len(events) == 2
    assert {e["action"] for e in events} == {"match"}


async def test_filter_by_member_and_action_combined(api: Api) -> None:
    await _match(api, ("pdq", PDQ_A), member="alpha")
    await _match(api, ("pdq", PDQ_A), member="beta")
    await _submit(api, PDQ_A, member="beta")
    events = await _events(api, member="beta", action="match")
    assert [(e["member_id"], e["action"]) for e in events] == [("beta", "match")]


async def test_filter_by_outcome(api: Api) -> None:
    await _submit(api, PDQ_A)
    refused = await api.client.post("/v1/hashes", json=_items("not-hex"), headers=api.auth("alpha"))
    assert refused.status_code == 422
    rejected = await _events(api, outcome="rejected")
    assert [(e["action"], e["outcome"]) for e in rejected] == [("request.rejected", "rejected")]
    assert {e["outcome"] for e in await _events(api, outcome="ok")} == {"ok"}


async def test_filter_for_an_unknown_member_returns_nothing(api: Api) -> None:
    await _submit(api, PDQ_A)
    assert await _events(api, member="nobody") == []


DAY_1 = datetime(2020, 1, 1, tzinfo=UTC)


async def _events_on_days(api: Api, days: int) -> list[int]:
    """Append one `token.issue` event at noon UTC on each of `days` days from DAY_1; return ids."""
    ids = []
    async with api.app.state.runtime.database.sessions() as session, session.begin():
        for day in range(days):
            event = await AuditRepository(session).append(
                NewEvent(
                    occurred_at=DAY_1 + timedelta(days=day, hours=12),
                    actor="clock",
                    member_id="alpha",
                    request_id=None,
                    action="token.issue",
                    outcome="ok",
                    target_ids=[],
                    details={"day": day},
                )
            )
            ids.append(event.id)
    return ids


def _iso(moment: datetime) -> str:
    return moment.isoformat()


async def test_since_is_inclusive_and_until_exclusive(api: Api) -> None:
    ids = await _events_on_days(api, 4)
    since = DAY_1 + timedelta(days=1, hours=12)  # exactly the second event
    until = DAY_1 + timedelta(days=3, hours=12)  # exactly the fourth event
    events = await _events(api, since=_iso(since), until=_iso(until))
    assert _ids(events) == [ids[2], ids[1]]


async def test_since_alone_keeps_later_events(api: Api) -> None:
    ids = await _events_on_days(api, 3)
    events = await _events(api, action="token.issue", since=_iso(DAY_1 + timedelta(days=1)))
    assert _ids(events) == [ids[2], ids[1]]


async def test_until_alone_keeps_earlier_events(api: Api) -> None:
    ids = await _events_on_days(api, 3)
    events = await _events(api, until=_iso(DAY_1 + timedelta(days=1)))
    assert _ids(events) == [ids[0]]


async def test_time_filters_respect_the_given_offset(api: Api) -> None:
    ids = await _events_on_days(api, 3)
    # 2020-01-02T14:00+02:00 is the second event's 12:00 UTC: inclusive.
    since = "2020-01-02T14:00:00+02:00"
    # 2020-01-03T07:00-05:00 is the third event's 12:00 UTC: exclusive.
    until = "2020-01-03T07:00:00-05:00"
    events = await _events(api, since=since, until=until)
    assert _ids(events) == [ids[1]]


async def test_time_filter_accepts_z_suffix(api: Api) -> None:
    ids = await _events_on_days(api, 2)
    events = await _events(api, since="2020-01-02T00:00:00Z", until="2020-01-03T00:00:00Z")
    assert _ids(events) == [ids[1]]


@pytest.mark.parametrize("name", ["since", "until"])
async def test_naive_datetime_is_refused(api: Api, name: str) -> None:
    response = await api.client.get(
        "/v1/audit", params={name: "2020-01-02T00:00:00"}, headers=api.auth("alpha")
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "naive_datetime"


@pytest.mark.parametrize("moment", ["yesterday", "2020-13-45T00:00:00Z", "", "\u00fc"])
async def test_unparseable_datetime_is_a_validation_error(api: Api, moment: str) -> None:
    response = await api.client.get(
        "/v1/audit", params={"since": moment}, headers=api.auth("alpha")
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def _walk(api: Api, limit: int, **params: Any) -> tuple[list[int], int]:
    """Follow next_cursor to the end; return the ids seen and the number of pages."""
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = {"limit": limit, **params}
        if cursor is not None:
            query["cursor"] = cursor
        response = await api.client.get("/v1/audit", params=query, headers=api.auth("alpha"))
        assert response.status_code == 200, response.text
        page = response.json()
        pages += 1
        assert len(page["events"]) <= limit
        seen.extend(_ids(page["events"]))
        cursor = page["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 100, "pagination does not end"


async def _many_events(api: Api) -> None:
    for value in (PDQ_A, PDQ_B, PDQ_C):
        await _submit(api, value)
        await _match(api, ("pdq", value), member="beta")
    await _events_on_days(api, 4)


@pytest.mark.parametrize("limit", [1, 3, 5, 1000])
async def test_cursor_pagination_walks_every_event_exactly_once(api: Api, limit: int) -> None:
    await _many_events(api)
    everything = _ids(await _events(api, limit=1000))
    seen, _ = await _walk(api, limit)
    assert len(seen) == len(set(seen)), "an event was returned twice"
    assert seen == everything


async def test_cursor_pagination_honours_filters(api: Api) -> None:
    await _many_events(api)
    everything = _ids(await _events(api, member="beta", limit=1000))
    assert len(everything) == 3
    seen, pages = await _walk(api, 2, member="beta")
    assert seen == everything
    assert pages >= 2


async def test_last_page_has_no_next_cursor(api: Api) -> None:
    await _submit(api, PDQ_A)
    response = await api.client.get("/v1/audit", params={"limit": 1000}, headers=api.auth("alpha"))
    assert response.json()["next_cursor"] is None


async def test_events_added_while_paging_do_not_repeat_or_shift_pages(api: Api) -> None:
    await _many_events(api)
    first = await api.client.get("/v1/audit", params={"limit": 3}, headers=api.auth("alpha"))
    page_one = _ids(first.json()["events"])
    await _submit(api, PDQ_A, member="beta")  # a newer event arrives between pages
    second = await api.client.get(
        "/v1/audit",
        params={"limit": 3, "cursor": first.json()["next_cursor"]},
        headers=api.auth("alpha"),
    )
    page_two = _ids(second.json()["events"])
    assert not set(page_one) & set(page_two)
    assert max(page_two) < min(page_one)


@pytest.mark.parametrize(
    "cursor",
    ["abc", "-1", "1.5", "", " 1", "\u00fc", "99999999999999999999", "9999999999999999999"],
)
async def test_invalid_cursor_is_refused(api: Api, cursor: str) -> None:
    response = await api.client.get(f"/v1/audit?cursor={quote(cursor)}", headers=api.auth("alpha"))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "abc"])
async def test_limit_out_of_range_is_a_validation_error(api: Api, limit: str) -> None:
    response = await api.client.get("/v1/audit", params={"limit": limit}, headers=api.auth("alpha"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_reading_the_log_needs_audit_read_scope(api: Api) -> None:
    others = sorted(ALL_SCOPES - {"audit:read"})
    response = await api.client.get("/v1/audit", headers=api.auth("alpha", others))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


async def test_audit_read_scope_alone_is_enough(api: Api) -> None:
    response = await api.client.get("/v1/audit", headers=api.auth("alpha", "audit:read"))
    assert response.status_code == 200


async def test_reading_the_log_needs_a_token(api: Api) -> None:
    response = await api.client.get("/v1/audit")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "missing_token"


async def test_auditor_sees_events_of_every_member(api: Api) -> None:
    await _submit(api, PDQ_A, member="alpha")
    await _submit(api, PDQ_B, member="beta")
    response = await api.client.get(
        "/v1/audit", params={"action": "hashes.submit"}, headers=api.auth("alpha", "audit:read")
    )
    assert {e["member_id"] for e in response.json()["events"]} == {"alpha", "beta"}
