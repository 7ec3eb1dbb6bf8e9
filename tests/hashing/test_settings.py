"""The image settings: upload bytes, pixels and formats, from HASHSHARE_* variables."""

from __future__ import annotations

import pytest

from hashshare.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHSHARE_DEV_MODE", "1")


def test_image_limits_default_to_20_mib_50_megapixels_and_six_formats() -> None:
    settings = load_settings()

    assert (settings.max_upload_bytes, settings.max_image_pixels) == (20 * 1024 * 1024, 50_000_000)
    assert settings.image_formats == ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"]


def test_image_formats_are_read_as_comma_separated_names_in_any_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HASHSHARE_IMAGE_FORMATS", "jpeg, Png")

    assert load_settings().image_formats == ["JPEG", "PNG"]


def test_unknown_image_format_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHSHARE_IMAGE_FORMATS", "JPEG,HEIC")

    with pytest.raises(ConfigError, match="HASHSHARE_IMAGE_FORMATS"):
        load_settings()


def test_upload_limit_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HASHSHARE_MAX_UPLOAD_BYTES", "5000000")

    assert load_settings().max_upload_bytes == 5_000_000
