"""Deployment files: their structure is checked here, since no container engine runs in CI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from hashshare.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return document


def test_compose_runs_postgres_a_migration_two_replicas_and_a_proxy(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "hashshare", "proxy"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["hashshare"]["deploy"]["replicas"] == 2
    assert services["proxy"]["image"].startswith("nginx:")


def test_compose_migrates_once_before_the_replicas_start(compose: dict[str, Any]) -> None:
    services = compose["services"]
    migrate, replica = services["migrate"], services["hashshare"]
    assert build_parser().parse_args(migrate["command"]).func.__name__ == "cmd_db_upgrade"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert build_parser().parse_args(replica["command"]).command == "serve"
    # The migration builds the image the replicas run.
    assert migrate["build"]["context"] == ".."
    assert (DEPLOY / migrate["build"]["context"] / migrate["build"]["dockerfile"]).is_file()
    assert replica["image"] == migrate["image"]
    assert services["proxy"]["depends_on"]["hashshare"]["condition"] == "service_healthy"


def test_compose_gives_every_hashshare_container_the_settings_production_needs(
    compose: dict[str, Any],
) -> None:
    for name in ("migrate", "hashshare"):
        env = compose["services"][name]["environment"]
        assert "+asyncpg://" in env["HASHSHARE_DATABASE_URL"]
        assert env["HASHSHARE_AUDIT_KEY"].startswith("${HASHSHARE_AUDIT_KEY:?")
        assert env["HASHSHARE_JWKS_FILE"] == "/keys/jwks.json"
        assert "HASHSHARE_DEV_MODE" not in env
    mounts = compose["services"]["hashshare"]["volumes"]
    assert "./keys/jwks.json:/keys/jwks.json:ro" in mounts


def test_compose_proxy_config_sends_requests_to_the_replicas(compose: dict[str, Any]) -> None:
    (mount,) = compose["services"]["proxy"]["volumes"]
    local = DEPLOY / mount.split(":")[0]
    conf = local.read_text()
    assert re.search(r"server\s+hashshare:8000;", conf)
    assert "proxy_pass http://hashshare;" in conf
    listen = re.search(r"listen\s+(\d+);", conf)
    assert listen is not None
    assert compose["services"]["proxy"]["ports"] == [f"127.0.0.1:8080:{listen.group(1)}"]
