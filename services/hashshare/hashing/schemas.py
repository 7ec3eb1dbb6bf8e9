"""API models of image hashing and image matching."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from hashshare.matching.schemas import MatchHit


class HashOptions(BaseModel):
    """Form fields of POST /v1/hash besides the image."""

    model_config = ConfigDict(extra="forbid")

    signal_types: str | None = Field(
        default=None,
        max_length=200,
        description="Comma-separated signal types to compute; default "
        "pdq,phash,dhash,md5,sha256 (ahash and whash on request).",
    )
    dihedral: bool = Field(
        default=False, description="Also return the PDQ hashes of the 8 rotations and mirrors."
    )
    regions: bool = Field(
        default=True,
        description="Also the PDQ hash of each region a frame was taken off (`trimmed`: "
        "uniform borders and letterbox bars; `framed`: caption bands, a screenshot's or a "
        "post's frame), and of the central crops and turned views a submission stores "
        "(`central-95`, `central-91`: 2.5 % and 4.5 % of each side cut off; `rotated+3`, "
        "`rotated-3`) so that cropped and slightly turned re-uploads are found.",
    )


class MatchImageOptions(HashOptions):
    """Form fields of POST /v1/match/image besides the image."""

    signal_types: str | None = Field(
        default=None,
        max_length=200,
        description="Comma-separated signal types to compute and match; default "
        "pdq,phash,dhash,md5,sha256 (phash and dhash find re-encodes of small images that "
        "PDQ misses; ahash and whash only on request).",
    )
    dihedral: bool = Field(
        default=False,
        description="Match the PDQ hashes of the 8 rotations and mirror images of the image "
        "(of each region too).",
    )
    regions: bool = Field(
        default=True,
        description="Also match the PDQ hashes of the regions a frame was taken off "
        "(borders, letterbox bars, caption bands, a screenshot's or a post's frame).",
    )
    include_disputed: bool = Field(
        default=False, description="Also report hashes whose listing is disputed."
    )


class UploadForm(BaseModel):
    """The multipart body (documentation of the request; it is parsed in memory)."""

    image: bytes = Field(description="The image file: JPEG, PNG, GIF, WebP, BMP or TIFF.")
    signal_types: str | None = None
    dihedral: bool = False
    regions: bool = True


class MatchUploadForm(UploadForm):
    include_disputed: bool = False


class ImageOut(BaseModel):
    format: str = Field(description="As identified from the content, never the file name.")
    width: int
    height: int
    animated: bool = Field(description="The image has several frames; only the first is hashed.")
    exif_orientation: int = Field(
        description="EXIF orientation (1-8, 1 when absent); it is applied before hashing."
    )
    reduction: int = Field(
        description="Factor (1, 2, 4 or 8) the image was reduced by before hashing."
    )


class HashValue(BaseModel):
    """One hash, in the shape POST /v1/hashes accepts (add labels to submit it)."""

    signal_type: str
    value: str
    quality: int | None = Field(
        default=None, description="PDQ only: 0-100; hashes below 50 are unreliable."
    )


class DihedralHash(BaseModel):
    transform: str = Field(
        description="original, rotate_90, rotate_180, rotate_270 (counter-clockwise), "
        "flip_left_right, flip_top_bottom, transpose or transverse."
    )
    value: str


class RegionOut(BaseModel):
    """The hashes of one region of the image, each in the shape POST /v1/hashes accepts."""

    region: str = Field(
        description="`trimmed` (uniform borders and letterbox bars taken off), `framed` "
        "(caption bands, a screenshot's title bar and margins, a post's header and footer), "
        "`banded` (a frame of the colour of the image's outer edge taken off), or, from "
        "POST /v1/hash only, `central-95` and `central-91` (central crops) and `rotated+3` "
        "and `rotated-3` (turned by 3 degrees and cut to hide the corners)."
    )
    box: list[int] = Field(
        description="left, top, right, bottom in pixels of the upright image (right and "
        "bottom exclusive)."
    )
    hashes: list[HashValue]


class HashWarning(BaseModel):
    code: str = Field(description="`low_quality`: the PDQ quality is under the minimum.")
    message: str


class HashResponse(BaseModel):
    hashes: list[HashValue]
    pdq_dihedral: list[DihedralHash] | None = Field(
        default=None, description="With `dihedral`: the PDQ hash of each rotation and mirror."
    )
    image: ImageOut | None = Field(
        default=None, description="Absent when only md5/sha256 were asked for (not decoded)."
    )
    regions: list[RegionOut] = Field(
        default_factory=list,
        description="With `regions` and `pdq`: the PDQ hash of each region a frame was taken "
        "off. Submit them with `hashes`, in one POST /v1/hashes request, so that a re-upload "
        "is found whichever side had the frame.",
    )
    warnings: list[HashWarning] = Field(default_factory=list)


class ImageMatchResult(BaseModel):
    index: int = Field(description="Position of the query.")
    signal_type: str
    region: str = Field(
        default="whole",
        description="The region of the image queried: whole, trimmed, framed, banded.",
    )
    transform: str | None = Field(
        default=None, description="PDQ: which rotation or mirror of the image was queried."
    )
    value: str = Field(description="The hash of the image that was queried.")
    max_distance: int
    matches: list[MatchHit] = Field(description="Nearest first.")


class MatchedHash(BaseModel):
    """One stored hash the image matched: the nearest of the queries that found it."""

    hash_id: int
    signal_type: str
    distance: int
    region: str = Field(description="The region of the image whose hash found it.")
    transform: str | None = Field(default=None, description="PDQ: the rotation or mirror.")


class ImageMatchResponse(BaseModel):
    hashes: list[HashValue]
    image: ImageOut | None = None
    regions: list[RegionOut] = Field(
        default_factory=list, description="The regions queried besides the whole image."
    )
    results: list[ImageMatchResult]
    matched_queries: int
    matched_hashes: list[MatchedHash] = Field(
        default_factory=list,
        description="Each stored hash matched, once, however many regions, transforms or "
        "queries found it (nearest first).",
    )
    warnings: list[HashWarning] = Field(default_factory=list)
