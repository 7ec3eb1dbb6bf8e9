"""The edge's HMA routes and `hashshare edge contribute` as real processes: a local bank made
over HTTP, contributed from the command line while the edge runs, then found in the shared
set by the edge, and kept across a kill."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from hashshare.auth.tokens import issue_token
from hashshare.config import Settings
from tests.edge.test_edge_processes import Upstream, upstream  # noqa: F401 (the fixture)
from tests.serving import running_edge, running_service, seconds_until
from tests.values import pdq_value

pytestmark = pytest.mark.processes

LABEL = "radicalisation-recruitment-instruction"
SHARED = "SHARED_RADICALISATION_RECRUITMENT_INSTRUCTION"


def _lookup(base: str, value: str) -> dict[str, list[dict[str, object]]]:
    response = httpx.get(
        f"{base}/m/lookup", params={"signal_type": "pdq", "signal": value}, timeout=10
    )
    assert response.status_code == 200, response.text
    body: dict[str, list[dict[str, object]]] = response.json()
    return body


def test_a_local_bank_is_matched_contributed_and_kept(
    upstream: Upstream,  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = Settings(dev_mode=True, database_url=upstream.database_url)
    submit_token = tmp_path / "submit-token"
    submit_token.write_text(
        issue_token(
            settings, member="alpha", scopes=["hashes:submit"], sub="alpha-analyst", ttl_seconds=900
        )
    )
    data = tmp_path / "edge"
    with running_service(upstream.database_url) as base:
        with running_edge(base, upstream.token_file, data) as edge:
            url = edge.base_url
            assert httpx.get(f"{url}/status").text == "I-AM-ALIVE"
            created = httpx.post(f"{url}//c/banks", json={"name": "OURS", "enabled_ratio": "1"})
            assert created.status_code == 201
            added = httpx.post(f"{url}/c/bank/OURS/signal", json={"pdq": pdq_value(61)})
            content_id = added.json()["id"]
            assert list(_lookup(url, pdq_value(61))) == ["OURS"]

            contributed = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "hashshare",
                    "edge",
                    "contribute",
                    "OURS",
                    "--label",
                    LABEL,
                    "--upstream",
                    base,
                    "--token-file",
                    str(submit_token),
                    "--data",
                    str(data),
                ],
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert contributed.returncode == 0, contributed.stderr
            assert f"content {content_id} pdq: hash " in contributed.stdout
            assert "1 created" in contributed.stdout

            seconds_until(lambda: SHARED in _lookup(url, pdq_value(61)))
            found = _lookup(url, pdq_value(61))
            assert found[SHARED][0]["labels"] == [LABEL]
            assert found["OURS"][0]["bank_content_id"] == content_id
            edge.kill()
        with running_edge(base, upstream.token_file, data) as edge:
            found = _lookup(edge.base_url, pdq_value(61))
            assert set(found) == {SHARED, "OURS"}
            content = httpx.get(f"{edge.base_url}/c/bank/OURS/content/{content_id}").json()
            assert content["contributions"][0]["labels"] == [LABEL]
