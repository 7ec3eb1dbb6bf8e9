"""Which kernel serves the index is never a secret: /readyz and the start-up log say it, and
outside development mode the service will not start on the slow numpy fallback unless told."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hashshare.app import create_app
from hashshare.config import ConfigError, Settings
from hashshare.matching import mih
from hashshare.signals import REGISTRY
from tests.conftest import AUDIT_KEY, Api


@pytest.fixture
def without_compiled_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if the wheel had been built without its setup.py (no compiled extension)."""
    monkeypatch.setattr(mih, "default_kernel", mih.NumpyKernel)


def _production(**overrides: object) -> Settings:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        jwt_public_keys={"k": pem},
        audit_key=AUDIT_KEY,
        **overrides,  # type: ignore[arg-type]
    )


async def test_readyz_names_the_kernel_of_every_index(api: Api) -> None:
    ready = (await api.client.get("/readyz")).json()

    kernels = {name: entry["kernel"] for name, entry in ready["signal_types"].items()}
    assert kernels == {
        name: "compiled" if st.distance_kind.value == "hamming" else "dict"
        for name, st in REGISTRY.items()
    }


async def test_the_start_up_log_names_the_kernels(
    api_factory: object, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hashshare.matching.loader"):
        await api_factory(settings)  # type: ignore[operator]

    [line] = [r.getMessage() for r in caplog.records if "match index loaded" in r.getMessage()]
    assert "pdq compiled" in line
    assert "md5 dict" in line


@pytest.mark.usefixtures("without_compiled_kernel")
def test_production_refuses_to_start_on_the_numpy_fallback() -> None:
    with pytest.raises(ConfigError, match="HASHSHARE_ALLOW_NUMPY_KERNEL"):
        create_app(_production())


@pytest.mark.usefixtures("without_compiled_kernel")
def test_production_starts_on_the_numpy_fallback_when_allowed() -> None:
    assert create_app(_production(allow_numpy_kernel=True)) is not None


@pytest.mark.usefixtures("without_compiled_kernel")
def test_development_mode_warns_about_the_numpy_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="hashshare.runtime"):
        create_app(Settings(dev_mode=True))

    assert any("match kernel: numpy" in r.getMessage() for r in caplog.records)
