"""Image files, pure: names that give a slot, content known by its first bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ValidationProblem
from connector.flows.image_files import ImageKey, check_content, image_type, parse_key

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(20)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(20)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(20)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("images/TS2301/NOIR_COTON/1.jpg", ImageKey("TS2301", "NOIR_COTON", 1, "jpg")),
        ("images/TS2301/ROSE-POUDRE_SOIE/8.JPEG", ImageKey("TS2301", "ROSE-POUDRE_SOIE", 8, "jpeg")),
        ("images/TS 23/NOIR/3.webp", ImageKey("TS 23", "NOIR", 3, "webp")),
        ("images/TS2301/NOIR/2.png", ImageKey("TS2301", "NOIR", 2, "png")),
    ],
)
def test_a_well_named_file_gives_its_slot(key: str, expected: ImageKey) -> None:
    image = parse_key(key)
    assert image == expected
    assert image.slot == f"{expected.model}/{expected.fabric_code}/{expected.index}"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("images/TS2301/NOIR_COTON/0.jpg", "not a number from 1 to 8"),
        ("images/TS2301/NOIR_COTON/9.jpg", "not a number from 1 to 8"),
        ("images/TS2301/NOIR_COTON/01.jpg", "not a number from 1 to 8"),
        ("images/TS2301/NOIR_COTON/one.jpg", "not a number from 1 to 8"),
        ("images/TS2301/NOIR_COTON/1.gif", "extension must be"),
        ("images/TS2301/NOIR_COTON/1", "extension must be"),
        ("images/TS2301/1.jpg", "not named images/<model>/<fabric_code>/"),
        ("images/TS2301/NOIR/COTON/1.jpg", "not named images/<model>/<fabric_code>/"),
        ("photos/TS2301/NOIR_COTON/1.jpg", "not named images/<model>/<fabric_code>/"),
    ],
)
def test_a_badly_named_file_is_refused_with_the_reason(key: str, reason: str) -> None:
    with pytest.raises(ValidationProblem) as raised:
        parse_key(key)
    assert reason in raised.value.reason
    assert raised.value.key == key


NAMES = st.text(max_size=8)
KEYS = st.text(max_size=60) | st.builds(
    "images/{}/{}/{}.{}".format,
    NAMES,
    NAMES,
    st.integers(-1, 12) | NAMES,
    st.sampled_from(["jpg", "JPG", "jpeg", "png", "webp", "gif", ""]) | NAMES,
)


@given(KEYS)
def test_any_key_is_refused_or_gives_the_slot_that_names_it_back(key: str) -> None:
    try:
        image = parse_key(key)
    except ValidationProblem:
        return
    stem, _, extension = key.rpartition(".")
    assert image.s3_key == f"{stem}.{extension.lower()}"
    assert 1 <= image.index <= 8
    assert "/" not in image.model + image.fabric_code


@pytest.mark.parametrize(("content", "media"), [(JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp")])
def test_images_are_known_by_their_first_bytes(content: bytes, media: str) -> None:
    assert image_type(content) == media
    assert check_content("k", content, 1024) == media


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"prix de gros 2026\n", "not a JPEG, PNG or WebP image (the file starts with 70 72 69 78"),
        (b"GIF89a\x01\x00", "not a JPEG, PNG or WebP image"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a JPEG, PNG or WebP image"),
        (b"", "the file starts with nothing"),
        (JPEG + bytes(2000), "over the 1024-byte limit"),
    ],
)
def test_anything_else_is_refused_with_the_reason(content: bytes, reason: str) -> None:
    with pytest.raises(ValidationProblem) as raised:
        check_content("TS2301/NOIR/1", content, 1024)
    assert reason in raised.value.reason
