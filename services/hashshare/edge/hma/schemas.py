"""The multipart bodies of HMA's upload routes (documentation: they are parsed in memory)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class PhotoUpload(BaseModel):
    photo: bytes = Field(
        description="The photo, in a field named for its content type as HMA does: JPEG, PNG, "
        "GIF, WebP, BMP or TIFF."
    )


class ContentUpload(PhotoUpload):
    metadata: str | None = Field(
        default=None,
        description='JSON: HMA\'s {"content_id", "content_uri", "json"}; any other object is '
        "kept as `json`.",
    )
    content_id: str | None = None
    content_uri: str | None = None
    note: str | None = Field(default=None, max_length=255)
