"""Hashing on the caller's machine with the service's own pipeline: only hashes leave it."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hashshare.hashing.hashers import DEFAULT_TYPES, ImageHashes, hash_bytes, hash_file
from hashshare.hashing.schemas import HashValue


def hash_values(hashes: ImageHashes) -> list[HashValue]:
    """The hashes of one image in the shape the API takes (add labels to submit them)."""
    return [
        HashValue(
            signal_type=name,
            value=value.hex(),
            quality=hashes.pdq_quality if name == "pdq" else None,
        )
        for name, value in hashes.values.items()
    ]


def hash_image(
    image: bytes | str | Path, signal_types: Iterable[str] = DEFAULT_TYPES
) -> list[HashValue]:
    """Hash an image file (path or bytes) locally, exactly as `POST /v1/hash` would."""
    if isinstance(image, bytes):
        return hash_values(hash_bytes(image, signal_types))
    return hash_values(hash_file(image, signal_types))
