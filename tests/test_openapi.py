"""The committed OpenAPI document is the app's spec, byte for byte."""

from __future__ import annotations

import json

from hashshare import openapi
from tests.conftest import ROOT

SPEC_PATH = ROOT / "openapi" / "hashshare.json"
REGENERATE = "run `hashshare openapi` and commit openapi/hashshare.json"


def test_committed_spec_file_exists() -> None:
    assert SPEC_PATH.is_file(), f"{SPEC_PATH} is missing: {REGENERATE}"


def test_committed_spec_equals_the_apps_spec() -> None:
    committed = SPEC_PATH.read_text() if SPEC_PATH.is_file() else ""
    assert committed == openapi.render(), f"openapi/hashshare.json is out of date: {REGENERATE}"


def test_spec_documents_every_versioned_route() -> None:
    paths = set(json.loads(openapi.render())["paths"])
    expected = {"/v1/hashes", "/v1/hashes/{hash_id}", "/v1/match", "/v1/audit", "/v1/members"}
    assert expected <= paths
