"""The package keeps its layers: see `tests/architecture.py` for the rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.architecture import violations
from tests.conftest import ROOT

PACKAGE = ROOT / "services" / "hashshare"


def test_the_package_keeps_its_layers() -> None:
    assert violations(PACKAGE) == []


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "shop"
    for name, source in {"__init__.py": "", **files}.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    "source",
    [
        "from fastapi import Request\n",
        "import starlette.types\n",
        "def later():\n    from fastapi.responses import JSONResponse\n",
        "from shop.deps import Session\n",
        "from shop.orders import router\n",
    ],
)
def test_a_service_that_reaches_the_web_layer_is_reported(tmp_path: Path, source: str) -> None:
    root = _package(
        tmp_path,
        {
            "deps.py": "",
            "orders/__init__.py": "",
            "orders/router.py": "from fastapi import APIRouter\n",
            "orders/service.py": source,
        },
    )
    [violation] = violations(root)
    assert violation.startswith("shop.orders.service imports the web")


def test_routers_and_the_app_may_use_the_web_framework(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "app.py": "from fastapi import FastAPI\nfrom shop.orders.router import router\n",
            "deps.py": "from fastapi import Depends\n",
            "orders/__init__.py": "",
            "orders/router.py": "from fastapi import APIRouter\nfrom shop.deps import Depends\n",
        },
    )
    assert violations(root) == []


def test_a_cycle_between_features_is_reported(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "orders/__init__.py": "",
            "orders/service.py": "from shop.billing.service import charge\n",
            "billing/__init__.py": "",
            "billing/service.py": "from shop.stock.service import reserve\n",
            "stock/__init__.py": "",
            "stock/service.py": "from shop.orders.service import place\n",
        },
    )
    assert violations(root) == ["feature cycle: billing -> stock -> orders -> billing"]


def test_one_way_dependencies_between_features_are_allowed(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "orders/__init__.py": "",
            "orders/service.py": "from shop.billing.service import charge\n",
            "billing/__init__.py": "",
            "billing/service.py": "from shop.billing.repository import save\n",
            "billing/repository.py": "",
        },
    )
    assert violations(root) == []


def test_reading_another_features_repository_is_reported(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "orders/__init__.py": "",
            "orders/service.py": "from shop.billing import repository\n",
            "billing/__init__.py": "",
            "billing/repository.py": "",
        },
    )
    assert violations(root) == [
        "shop.orders.service imports another feature's repository (shop.billing.repository)"
    ]
