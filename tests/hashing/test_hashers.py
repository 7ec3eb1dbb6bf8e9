"""Computing hashes: types, formats of the values, one decode, dihedral PDQ."""

from __future__ import annotations

import hashlib

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from hashshare.errors import HashshareError
from hashshare.hashing import hashers
from hashshare.hashing.hashers import DIHEDRAL, SIGNAL_TYPES, hash_bytes, parse_types, pdq
from hashshare.signals import get_signal_type
from tests.hashing.pictures import PDQ_DATA, distance, encode, scene

PICTURE = encode(scene())


def test_default_types_are_pdq_phash_dhash_md5_sha256() -> None:
    assert tuple(hash_bytes(PICTURE).values) == ("pdq", "phash", "dhash", "md5", "sha256")


def test_only_the_requested_types_are_computed() -> None:
    assert tuple(hash_bytes(PICTURE, ["sha256", "whash"]).values) == ("whash", "sha256")


def test_every_value_parses_as_its_signal_type() -> None:
    hashes = hash_bytes(PICTURE, SIGNAL_TYPES)

    for name in SIGNAL_TYPES:
        st = get_signal_type(name)
        assert st.parse(hashes.hex(name)) == hashes.values[name]


def test_file_hashes_are_of_the_bytes() -> None:
    hashes = hash_bytes(PICTURE, ["md5", "sha256"])

    assert hashes.hex("md5") == hashlib.md5(PICTURE, usedforsecurity=False).hexdigest()
    assert hashes.hex("sha256") == hashlib.sha256(PICTURE).hexdigest()


def test_file_hashes_alone_do_not_decode_the_file() -> None:
    not_an_image = b"%PDF-1.7 a manifesto, not an image"

    hashes = hash_bytes(not_an_image, ["md5", "sha256"])

    assert hashes.image is None
    assert hashes.hex("sha256") == hashlib.sha256(not_an_image).hexdigest()


@pytest.mark.parametrize(
    ("name", "function"),
    [
        ("phash", imagehash.phash),
        ("dhash", imagehash.dhash),
        ("ahash", imagehash.average_hash),
    ],
)
def test_64_bit_hashes_equal_imagehash_s_text_form(name: str, function: object) -> None:
    expected = str(function(scene()))  # type: ignore[operator]

    assert hash_bytes(PICTURE, [name]).hex(name) == expected


def test_whash_is_computed_at_a_fixed_small_scale() -> None:
    big = scene(1000, 800)

    expected = str(imagehash.whash(big, image_scale=hashers.WHASH_IMAGE_SCALE))
    assert hash_bytes(encode(big), ["whash"]).hex("whash") == expected


def test_pdq_text_form_is_python_threatexchange_s() -> None:
    """pytx writes the 256 bits in order, four to a hex digit."""
    image = Image.open(PDQ_DATA / "pytx" / "rgb.jpeg").convert("RGB")
    bits, _ = pdqhash.compute(np.asarray(image))
    bit_text = "".join(str(b) for b in bits)
    pytx_hex = "".join(f"{int(bit_text[i : i + 4], 2):x}" for i in range(0, 256, 4))

    assert pdq(image).hex == pytx_hex


def test_image_is_decoded_once_whatever_the_number_of_types(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    real = hashers.decode

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hashers, "decode", counting)

    hash_bytes(PICTURE, SIGNAL_TYPES, dihedral=True)

    assert len(calls) == 1


def test_unknown_signal_type_is_refused() -> None:
    with pytest.raises(HashshareError) as caught:
        parse_types("pdq,colorhash")

    assert caught.value.code == "unknown_signal_type"
    assert caught.value.details["unknown"] == ["colorhash"]


def test_types_may_be_given_as_comma_separated_text_in_any_case() -> None:
    assert parse_types(" MD5, pdq ") == ("pdq", "md5")


def test_dihedral_hashes_are_the_hashes_of_the_transposed_pixels() -> None:
    image = scene(300, 200)
    variants = hash_bytes(encode(image), ["pdq"], dihedral=True).dihedral

    expected = {
        name: pdq(image if method is None else image.transpose(method)).value
        for name, method in DIHEDRAL.items()
    }
    assert {name: v.value for name, v in variants.items()} == expected


def test_dihedral_original_is_the_plain_hash() -> None:
    hashes = hash_bytes(PICTURE, ["pdq"], dihedral=True)

    assert hashes.dihedral["original"].value == hashes.values["pdq"]


def test_pdqhash_dct_dihedral_shortcut_is_wrong_for_some_images() -> None:
    """Why pdq_dihedral transposes pixels instead of using pdqhash.compute_dihedral."""
    image = Image.open(PDQ_DATA / "pytx" / "LA.png").convert("RGB")
    shortcut, _ = pdqhash.compute_dihedral(np.asarray(image))
    rotated = pdq(image.transpose(Image.Transpose.ROTATE_270)).value
    shortcut_270 = np.packbits(np.asarray(shortcut[3], dtype=np.uint8)).tobytes()

    assert distance(shortcut_270, rotated) > 31
