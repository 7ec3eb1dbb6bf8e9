"""The access log: one JSON line per request, with its id, member, route, status and duration,
and never a token or a queried value."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from hashshare.accesslog import ACCESS_LOGGER, uvicorn_log_config
from tests.conftest import Api

UNKNOWN_PDQ = "5a" * 32


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]


async def test_one_json_line_per_request_with_id_member_route_status_duration(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    headers = {**api.auth("beta", "hashes:match"), "X-Request-ID": "upload-4711"}
    response = await api.client.post(
        "/v1/match",
        json={"queries": [{"signal_type": "pdq", "value": UNKNOWN_PDQ}]},
        headers=headers,
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "upload-4711"
    (line,) = _lines(caplog)
    assert line["request_id"] == "upload-4711"
    assert (line["member"], line["sub"]) == ("beta", "tester")
    assert (line["method"], line["route"], line["status"]) == ("POST", "/v1/match", 200)
    assert 0 <= line["duration_ms"] < 60_000
    record = caplog.records[-1].getMessage()
    assert headers["Authorization"].split()[1] not in record
    assert UNKNOWN_PDQ not in record


async def test_a_route_with_a_parameter_is_logged_by_its_template(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    response = await api.client.get("/v1/hashes/987654321", headers=api.auth("alpha"))
    assert response.status_code == 404
    (line,) = _lines(caplog)
    assert line["route"].startswith("/v1/hashes/{")
    assert "987654321" not in json.dumps(line)
    assert line["status"] == 404


async def test_a_refused_request_is_logged_with_a_fresh_id(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    response = await api.client.post("/v1/match", json={"queries": []})
    assert response.status_code == 401
    (line,) = _lines(caplog)
    assert line["member"] is None
    assert line["status"] == 401
    assert line["request_id"] == response.headers["x-request-id"]


async def test_health_probes_that_succeed_are_not_logged(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    assert (await api.client.get("/healthz")).status_code == 200
    assert _lines(caplog) == []


def test_serve_writes_the_access_log_bare_to_stdout() -> None:
    config = uvicorn_log_config()
    assert config["loggers"][ACCESS_LOGGER]["level"] == "INFO"
    (handler,) = config["loggers"][ACCESS_LOGGER]["handlers"]
    assert config["handlers"][handler]["stream"] == "ext://sys.stdout"
    assert config["formatters"][handler]["format"] == "%(message)s"


async def test_docs_pages_are_logged_by_their_path_and_unknown_paths_by_none(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=ACCESS_LOGGER)
    assert (await api.client.get("/docs")).status_code == 200
    assert (await api.client.get("/no/such/f0f0f0f0")).status_code == 404
    docs, unknown = _lines(caplog)
    assert (docs["route"], docs["status"]) == ("/docs", 200)
    assert (unknown["route"], unknown["status"]) == (None, 404)
