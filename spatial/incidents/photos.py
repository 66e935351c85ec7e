"""Photos of incidents (filing, 处置反馈): proven to be JPEG, PNG or WebP images of sane size."""

from __future__ import annotations

import io
from dataclasses import dataclass

from spatial.errors import InvalidInput, PayloadTooLarge

MAX_PHOTO_BYTES = 8 * 1024 * 1024
MAX_PHOTOS = 5
MAX_PIXELS = 50_000_000
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


@dataclass(frozen=True)
class Photo:
    """A checked photo: its bytes, type and size in pixels."""

    data: bytes
    content_type: str
    width: int
    height: int


def check_photo(data: bytes, name: str = "photo") -> Photo:
    """Decode enough of ``data`` to know it is an image; PayloadTooLarge / InvalidInput if not."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLarge(f"{name} is {len(data) / 1048576:.1f} MiB; photos may be at most "
                              f"{MAX_PHOTO_BYTES // 1048576} MiB")  # fmt: skip
    if not data:
        raise InvalidInput(f"{name} is empty")
    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format, (width, height) = image.format, image.size
            if width * height > MAX_PIXELS:
                raise InvalidInput(f"{name} is {width}×{height} pixels: too large an image")
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, Image.DecompressionBombError):
        raise InvalidInput(f"{name} is not a JPEG, PNG or WebP image") from None
    if image_format not in FORMATS:
        raise InvalidInput(f"{name} is a {image_format} image; send JPEG, PNG or WebP")
    return Photo(data, FORMATS[image_format], width, height)


def check_photos(items: list[tuple[str, bytes]]) -> list[Photo]:
    """Check every (name, bytes) photo of a request; at most MAX_PHOTOS."""
    if len(items) > MAX_PHOTOS:
        raise InvalidInput(f"at most {MAX_PHOTOS} photos per request, not {len(items)}")
    return [check_photo(data, name) for name, data in items]
