"""The image flow's pure parts: file names, content checks by magic bytes, the staging diff, exported colours."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.errors import ValidationProblem
from connector.flows.catalogue import fabric_code
from connector.flows.images import (
    ImageKey,
    Staged,
    check_content,
    exported_colours,
    image_type,
    parse_key,
    staged_digests,
    stale_slots,
)
from connector.flows.products import map_products
from connector.settings import Settings

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


def _staged(sha: str, etag: str, key: str) -> str:
    return Staged(sha, etag, key).encode()


def test_staged_digests_keep_only_files_the_bucket_still_holds_untouched() -> None:
    manifest = {
        "M/F/1": _staged("a1", '"e1"', "images/M/F/1.jpg"),
        "M/F/2": _staged("a2", '"e2"', "images/M/F/2.jpg"),  # replaced by hand since
        "M/F/3": _staged("a3", '"e3"', "images/M/F/3.jpg"),  # deleted since
        "M G/F/1": _staged("b1", '"f1"', "images/M G/F/1.jpg"),
    }
    listing = {
        "images/M/F/1.jpg": '"e1"',
        "images/M/F/2.jpg": '"other"',
        "images/M G/F/1.jpg": '"f1"',
        "images/M/F/4.jpg": '"e4"',  # dropped by hand: not the export's
    }
    uploaded = {"uploaded/M/F/1/a1", "uploaded/M G/F/1/b1", "uploaded/M/F/2/a2"}
    assert staged_digests(manifest, listing, uploaded) == {"M/F/1": "a1", "M G/F/1": "b1"}


def test_a_staged_photo_lnb_never_accepted_counts_as_not_staged() -> None:
    manifest = {"M/F/1": _staged("new", '"e1"', "images/M/F/1.jpg")}
    listing = {"images/M/F/1.jpg": '"e1"'}
    assert staged_digests(manifest, listing, {"uploaded/M/F/1/old"}) == {}
    assert staged_digests(manifest, listing, {"uploaded/M/F/1/new"}) == {"M/F/1": "new"}


def test_stale_slots_only_for_colours_read_in_full() -> None:
    manifest = {slot: _staged("s", "e", f"images/{slot}.jpg") for slot in ("M/F/1", "M/F/2", "M/F/3", "N/G/1")}
    # M/F now has photos 1 and 2 only; N/G could not be read this run, so it keeps what it had.
    assert stale_slots(manifest, {"M/F": {"M/F/1", "M/F/2"}}) == ["M/F/3"]
    assert stale_slots(manifest, {}) == []


def test_staged_round_trips_keys_with_spaces() -> None:
    staged = Staged("abc", '"etag"', "images/TS 23/NOIR/1.jpg")
    assert Staged.decode(staged.encode()) == staged


def test_exported_colours_are_exactly_the_product_exports_variants() -> None:
    base = {"designation": "Robe", "family": "ROBES", "season": "AH25", "active": "1", "ean13": ""}
    rows = [
        {**base, "reference": "RO1", "colour": "ROSE POUDRÉ", "material": "soie", "size": "S"},
        {**base, "reference": "RO1", "colour": "NOIR", "material": "soie", "size": "S"},
        {**base, "reference": "RO2", "colour": "NOIR", "material": "", "size": "M", "family": ""},  # no category
        {**base, "reference": "RO3", "colour": "NOIR", "material": "", "size": "M", "active": "0"},  # inactive
    ]
    settings = Settings()
    colours = exported_colours(rows, settings)
    assert [(c.model, c.fabric_code, c.colour) for c in colours] == [
        ("RO1", fabric_code("NOIR", "soie"), "NOIR"),
        ("RO1", "ROSE-POUDRE_SOIE", "ROSE POUDRÉ"),
    ]
    variants = {(m, v["fabric_code"]) for m, p in map_products(rows, settings).products.items() for v in p["variants"]}
    assert {(c.model, c.fabric_code) for c in colours} == variants
