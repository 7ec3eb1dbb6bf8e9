"""The OpenAPI document, generated from the app (`hashshare openapi`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hashshare.app import create_app
from hashshare.config import Settings


def spec() -> dict[str, Any]:
    # Development settings: the spec does not depend on keys or the database.
    return create_app(Settings(dev_mode=True, database_url="sqlite+aiosqlite://")).openapi()


def render() -> str:
    return json.dumps(spec(), indent=2, sort_keys=True) + "\n"


def write_spec(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render())
    return path
