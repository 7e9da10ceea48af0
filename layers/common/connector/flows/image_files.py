"""Image files, pure: how a file in the staging bucket names its Le New Black slot, and which content LNB takes.

Both halves of the images flow read these rules: the export (flows/images.py) names the photos it stages with
them, the upload (flows/image_upload.py) checks every file against them, whoever dropped it there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connector.errors import ValidationProblem

PREFIX = "images/"
SLOTS = 8  # Le New Black holds images 1..8 per product colour
RESOURCE = "images"
COLOURS = "images-colours"  # snapshot: "<model>/<fabric_code>" → Fastmag colour, of every exported product colour

EXTENSIONS = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
MEDIA_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
_KEY = re.compile(r"images/(?P<model>[^/]+)/(?P<fabric_code>[^/]+)/(?P<name>[^/]+)")
_INDEX = re.compile(r"[1-9][0-9]*")
NAMING = f"{PREFIX}<model>/<fabric_code>/<index 1..{SLOTS}>.<jpg|png|webp>"
# Reasons are the same words for every item, so a run's summary groups them; the item is on the log line.
NO_COLOUR = "file matches no exported product colour: check its model and fabric code"


@dataclass(frozen=True)
class ImageKey:
    """One image slot of one product colour, as a file name in the bucket."""

    model: str
    fabric_code: str
    index: int
    extension: str

    @property
    def colour(self) -> str:
        return f"{self.model}/{self.fabric_code}"

    @property
    def slot(self) -> str:
        """The key of every log line about this image."""
        return f"{self.colour}/{self.index}"

    @property
    def s3_key(self) -> str:
        return f"{PREFIX}{self.slot}.{self.extension}"


def parse_key(key: str) -> ImageKey:
    """`images/TS2301/NOIR_COTON/2.jpg` → its slot; ValidationProblem says what is wrong with any other name."""
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValidationProblem(key, f"not named {NAMING}")
    stem, dot, extension = match["name"].rpartition(".")
    if not dot or extension.lower() not in EXTENSIONS:
        raise ValidationProblem(key, f"extension must be .jpg, .jpeg, .png or .webp ({NAMING})")
    if not _INDEX.fullmatch(stem) or int(stem) > SLOTS:
        raise ValidationProblem(key, f"image index {stem!r} is not a number from 1 to {SLOTS} ({NAMING})")
    return ImageKey(match["model"], match["fabric_code"], int(stem), extension.lower())


def image_type(content: bytes) -> str | None:
    """The media type the first bytes prove (JPEG, PNG or WebP), whatever the file is named."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_content(key: str, content: bytes, max_bytes: int) -> str:
    """The media type of an image Le New Black can take, or ValidationProblem with the reason."""
    if len(content) > max_bytes:
        raise ValidationProblem(key, f"{len(content)} bytes, over the {max_bytes}-byte limit (images.max_bytes)")
    media = image_type(content)
    if media is None:
        start = content[:8].hex(" ") or "nothing"
        raise ValidationProblem(key, f"not a JPEG, PNG or WebP image (the file starts with {start})")
    return media
