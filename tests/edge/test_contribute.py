"""`hashshare edge contribute`: a local bank goes upstream only when asked, as an ordinary,
audited submission, and the edge then finds it in the shared set too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from hashshare.cli import main as cli
from hashshare.client import ApiError
from hashshare.edge.contribute import ContributeError, Outcome, contribute, external_ref
from hashshare.edge.hma.banks import LocalBanks, Signal
from tests.conftest import Api
from tests.edge.hma_edge import hma_edge, until_held
from tests.values import pdq_value

LABELS = ["glorification-of-terrorist-acts"]


async def _contribute(api: Api, data: Path, bank: str, scopes: str = "hashes:submit") -> Outcome:
    return await contribute(
        data,
        bank,
        LABELS,
        "http://central",
        api.token("alpha", scopes, sub="alpha-analyst"),
        transport=httpx.ASGITransport(app=api.app),
    )


async def test_a_contributed_bank_is_submitted_audited_and_shared(api: Api, tmp_path: Path) -> None:
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "PRIVATE"})
        first = (await edge.post("/c/bank/PRIVATE/signal", json={"pdq": pdq_value(31)})).json()
        second = (await edge.post("/c/bank/PRIVATE/signal", json={"md5": "ab" * 16})).json()
        disabled = (await edge.post("/c/bank/PRIVATE/signal", json={"pdq": pdq_value(41)})).json()
        await edge.put(f"/c/bank/PRIVATE/content/{disabled['id']}", json={"disable_until_ts": 0})
        # Nothing has left the edge yet.
        feed = await api.client.get("/v1/changes", headers=api.auth("alpha"))
        assert feed.json()["changes"] == []

        outcome = await _contribute(api, tmp_path, "PRIVATE")
        assert outcome.sent == 2
        assert outcome.created == 2
        done = {(cid, name): hash_id for cid, name, hash_id, _ in outcome.done}
        pdq_hash = done[(first["id"], "pdq")]
        assert (second["id"], "md5") in done

        held = await api.client.get(f"/v1/hashes/{pdq_hash}", headers=api.auth("alpha"))
        assert held.json()["labels"] == LABELS
        assert held.json()["your_contribution"]["external_ref"] == external_ref(
            "PRIVATE", first["id"]
        )
        audit = await api.client.get(
            "/v1/audit", params={"action": "hashes.submit"}, headers=api.auth("alpha")
        )
        [event] = audit.json()["events"]
        assert event["actor"] == "alpha-analyst"
        assert sorted(event["target_ids"]) == sorted(done.values())

        content = await edge.get(f"/c/bank/PRIVATE/content/{first['id']}")
        [recorded] = content.json()["contributions"]
        assert recorded["hash_id"] == pdq_hash
        assert recorded["labels"] == LABELS

        await until_held(edge, 1)
        found = await edge.get("/m/lookup", params={"signal_type": "pdq", "signal": pdq_value(31)})
        assert found.json()["SHARED_GLORIFICATION_OF_TERRORIST_ACTS"][0]["hash_id"] == pdq_hash
        assert found.json()["PRIVATE"][0]["bank_content_id"] == first["id"]

        again = await _contribute(api, tmp_path, "PRIVATE")
        assert again.existing == 2


async def test_contribute_refuses_before_sending_anything(api: Api, tmp_path: Path) -> None:
    with pytest.raises(ContributeError, match="no local banks"):
        await _contribute(api, tmp_path / "empty", "ANY")
    async with hma_edge(api, tmp_path) as edge:
        await edge.post("/c/banks", json={"name": "REAL"})
        await edge.post("/c/bank/REAL/signal", json={"pdq": pdq_value(51)})
    with pytest.raises(ContributeError, match="not found"):
        await _contribute(api, tmp_path, "MISSING")
    with pytest.raises(ContributeError):
        await contribute(tmp_path, "REAL", ["no-such-label"], "http://central", "token")
    with pytest.raises(ApiError) as refused:
        await _contribute(api, tmp_path, "REAL", scopes="hashes:read")
    assert refused.value.status == 403
    feed = await api.client.get("/v1/changes", headers=api.auth("alpha"))
    assert feed.json()["changes"] == []


async def test_values_the_service_would_refuse_are_skipped(api: Api, tmp_path: Path) -> None:
    banks = LocalBanks.open(tmp_path)
    try:
        await banks.create_bank("MIXED", 1.0)
        faint = await banks.add_content(
            "MIXED", [Signal("pdq", bytes.fromhex(pdq_value(71)), quality=10)], None, None
        )
        kept = await banks.add_content(
            "MIXED", [Signal("pdq", bytes.fromhex(pdq_value(72)), quality=90)], None, None
        )
    finally:
        banks.close()
    outcome = await _contribute(api, tmp_path, "MIXED")
    assert [(cid, name) for cid, name, _, _ in outcome.done] == [(kept, "pdq")]
    [(content_id, signal_type, reason)] = outcome.skipped
    assert (content_id, signal_type) == (faint, "pdq")
    assert "quality 10" in reason


def test_the_command_line_says_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["edge"]) == 2
    assert "needs --upstream and --token-file" in capsys.readouterr().err
    token = tmp_path / "token"
    token.write_text("a-token")
    arguments = ["edge", "contribute", "ANY", "--label", LABELS[0], "--upstream"]
    arguments += ["http://127.0.0.1:9", "--token-file", str(token), "--data", str(tmp_path)]
    assert cli(arguments) == 1
    assert "no local banks" in capsys.readouterr().err
