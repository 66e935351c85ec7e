"""Photos of incidents (filing, 处置反馈): proven to be JPEG, PNG or WebP images of sane size,
and read back only by those THE policy lets see them (``spatial.access.policy``)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from spatial.access.policy import can_read_incident_photo
from spatial.access.principal import Principal
from spatial.errors import InvalidInput, NotFound, PayloadTooLarge

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


PHOTO_SQL = text(
    "SELECT p.content_type, p.data, p.stage, i.department_code FROM incidents.photo p "
    "JOIN incidents.incident i ON i.id = p.incident_id WHERE p.id = :p AND p.incident_id = :i"
)


def read_photo(conn: Connection, incident_id: int, photo_id: int, principal: Principal | None) -> tuple[str, bytes]:
    """(content type, bytes) of a photo ``principal`` may see; NotFound when missing or hidden
    (the same answer, so ids cannot be probed for photos one may not see)."""
    row = conn.execute(PHOTO_SQL, {"p": photo_id, "i": incident_id}).first()
    if row is None or not can_read_incident_photo(principal, stage=row.stage, incident_department=row.department_code):
        raise NotFound(f"incident {incident_id} has no photo {photo_id}")
    return str(row.content_type), bytes(row.data)


def visible_photo_ids(record: dict[str, Any], principal: Principal | None) -> list[int]:
    """The ids of the incident's photos ``principal`` may see (``record``: ``queries.incident``)."""
    stages = record.get("photo_stages") or []
    return [photo_id for photo_id, stage in zip(record.get("photo_ids") or [], stages, strict=True)
            if can_read_incident_photo(principal, stage=stage, incident_department=record.get("department_code"))]  # fmt: skip
