"""The request vocabulary: one typed parser per parameter kind, shared by every door.

REST and Open311 routes, the OGC API routes (before pygeoapi sees a request), pygeoapi
providers and processes, the CLI and the notebooks' client all read their shared parameters
here, so a bbox, a datetime, a limit or an id means the same thing, and is refused with the same
words, whichever door it comes by. Each kind is a pydantic model or constrained type; the
``parse_*`` functions turn a raw value (query text, JSON, a path segment) into it and a bad value
into ``InvalidInput`` (400) naming the parameter.

Hostile values are refused here once: NaN and infinities, numbers past what the database or
the kind can hold (``1e400``), non-ASCII digits (``²``, ``١٢``: ``str.isdigit`` accepts them,
``int`` may not), inverted boxes and intervals, and tile coordinates outside their matrix.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from spatial.errors import InvalidInput, NotFound, TileOutOfRange

ASCII_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")
DATE_ONLY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
OPEN_ENDS = ("", "..")
MAX_ID = 2**63 - 1  # PostgreSQL bigint
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` written in place: fit for an OpenAPI request body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return dict(resolve(schema))


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    return str(first.get("msg", "invalid value")).removeprefix("Value error, ")


# ------------------------------------------------------------------------------ numbers
def parse_int(value: Any, *, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer from ASCII digits (or a JSON integer), within [minimum, maximum]."""
    if isinstance(value, bool):
        raise InvalidInput(f"{name} must be an integer, not {value!r}")
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and ASCII_INTEGER.fullmatch(value.strip()):
        value = int(value.strip())
    if not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer written with the digits 0-9, not {_shown(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidInput(f"{name} must lie between {minimum} and {maximum}, not {value}")
    return value


def parse_number(value: Any, *, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """A finite number (no NaN, no infinity, no 1e400), within [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidInput(f"{name} must be a number, not {_shown(value)}")
    try:
        number = float(value.strip()) if isinstance(value, str) and value.strip().isascii() else float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{name} must be a number, not {_shown(value)}") from None
    if not math.isfinite(number) or (isinstance(value, str) and not value.strip().isascii()):
        raise InvalidInput(f"{name} must be a finite number written with ASCII digits, not {_shown(value)}")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InvalidInput(f"{name} must lie between {minimum} and {maximum}, not {value}")
    return number


def parse_limit(value: Any, *, default: int, maximum: int, name: str = "limit") -> int:
    """``limit``: how many items a page or a search returns (1 … maximum); ``default`` when absent."""
    if value is None or value == "":
        return default
    return parse_int(value, name=name, minimum=1, maximum=maximum)


def parse_offset(value: Any, *, name: str = "offset") -> int:
    """``offset``: how many items to skip (0 … a bigint)."""
    if value is None or value == "":
        return 0
    return parse_int(value, name=name, minimum=0, maximum=MAX_ID)


def parse_id(value: Any, *, name: str = "id") -> int:
    """A numeric identifier (incident, photo, token, Open311 request): 1 … a bigint."""
    return parse_int(value, name=name, minimum=1, maximum=MAX_ID)


def parse_path_id(value: Any, *, what: str) -> int:
    """The numeric id in a resource's path: anything else names no resource (NotFound, 404)."""
    try:
        return parse_id(value, name=what)
    except InvalidInput:
        raise NotFound(f"no {what} {_shown(value)}") from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"


# ------------------------------------------------------------------------------ bbox
class LonLatBox(BaseModel):
    """A lon/lat box (CRS84 axis order), minimum first; ``crs`` names the CRS the numbers came in."""

    model_config = ConfigDict(frozen=True)

    minx: FiniteFloat
    miny: FiniteFloat
    maxx: FiniteFloat
    maxy: FiniteFloat

    @model_validator(mode="after")
    def _ordered(self) -> LonLatBox:
        if not (-180 <= self.minx <= 180 and -180 <= self.maxx <= 180 and -90 <= self.miny <= 90
                and -90 <= self.maxy <= 90):  # fmt: skip
            raise ValueError(
                f"{self.as_list()} is outside lon -180..180 / lat -90..90 (coordinates in the wrong "
                "CRS or axis order? give bbox-crs for other systems)"
            )
        if self.minx > self.maxx or self.miny > self.maxy:
            raise ValueError(f"{self.as_list()} has its minimum above its maximum: use minx,miny,maxx,maxy")
        return self

    def as_list(self) -> list[float]:
        return [self.minx, self.miny, self.maxx, self.maxy]

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.minx, self.miny, self.maxx, self.maxy)

    @property
    def is_empty(self) -> bool:
        """Zero width or height."""
        return self.minx == self.maxx or self.miny == self.maxy


def bbox_numbers(value: Any, *, name: str = "bbox") -> list[float]:
    """Four (or six, 3D) finite numbers, minimum first, from 'a,b,c,d' or a JSON list; the 2D four."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Sequence) or isinstance(items, str) or len(items) not in (4, 6):
        raise InvalidInput(f"{name} must be four numbers: minx,miny,maxx,maxy")
    numbers = [parse_number(v, name=name) for v in items]
    if len(numbers) == 6 and numbers[2] > numbers[5]:
        raise InvalidInput(f"{name} {numbers} has its minimum height above its maximum")
    box = [numbers[0], numbers[1], numbers[3], numbers[4]] if len(numbers) == 6 else numbers
    if box[0] > box[2] or box[1] > box[3]:
        raise InvalidInput(f"{name} {box} has its minimum above its maximum: use minx,miny,maxx,maxy")
    return box


def parse_lonlat_bbox(value: Any, *, name: str = "bbox") -> LonLatBox:
    """A lon/lat box from 'minx,miny,maxx,maxy' (or six numbers, 3D) or a JSON list."""
    minx, miny, maxx, maxy = bbox_numbers(value, name=name)
    try:
        return LonLatBox(minx=minx, miny=miny, maxx=maxx, maxy=maxy)
    except ValidationError as err:
        raise InvalidInput(f"{name} {_first_error(err)}") from None


# ------------------------------------------------------------------------------ time
class Interval(BaseModel):
    """A closed time interval in UTC-aware datetimes; None at an end means open (``..``)."""

    model_config = ConfigDict(frozen=True)

    start: dt.datetime | None
    end: dt.datetime | None
    text: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Interval:
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError("the interval ends before it starts")
        return self

    @property
    def is_instant(self) -> bool:
        return self.start is not None and self.start == self.end

    def matches(self, moment: dt.datetime | None) -> bool:
        """Whether ``moment`` falls in the interval."""
        if moment is None:
            return False
        return (self.start is None or moment >= self.start) and (self.end is None or moment <= self.end)


def parse_instant(value: Any, *, name: str = "datetime", naive_is_local: bool = False) -> dt.datetime:
    """An RFC 3339 date-time (or date: its first instant) as an aware datetime.

    A time without an offset is UTC, or with ``naive_is_local`` this machine's local time (the
    command line's reading of what its operator types).
    """
    text = value.strip() if isinstance(value, str) else None
    if not text or not text.isascii():
        raise InvalidInput(f"{name} {_shown(value)} is not an RFC 3339 date-time or date (e.g. 2024-05-01T03:30:00Z)")
    try:
        moment = dt.datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name} {_shown(value)} is not an RFC 3339 date-time or date "
            "(e.g. 2024-05-01T03:30:00Z, 2024-05-01, 2024-01-01/2024-06-30, ../2024-06-30)"
        ) from None
    if moment.tzinfo:
        return moment
    return moment.astimezone() if naive_is_local else moment.replace(tzinfo=dt.UTC)


def parse_interval(value: Any, *, name: str = "datetime", whole_days: bool = True) -> Interval:
    """``datetime=``: an instant, a date (with ``whole_days``: the whole day), or 'start/end' with open ends."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{name} must be an RFC 3339 date-time or an interval start/end")
    text = value.strip()
    if "/" not in text:
        start = parse_instant(text, name=name)
        end = _day_end(start, text) if whole_days else start
        return _interval(start, end, text, name)
    first, last = (part.strip() for part in text.split("/", 1))
    opening = None if first in OPEN_ENDS else parse_instant(first, name=name)
    closing = None if last in OPEN_ENDS else parse_instant(last, name=name)
    if closing is not None and whole_days:
        closing = _day_end(closing, last)
    return _interval(opening, closing, text, name)


def _day_end(moment: dt.datetime, text: str) -> dt.datetime:
    """A bare date as an interval's end includes its whole day."""
    return moment + dt.timedelta(days=1, microseconds=-1) if DATE_ONLY.fullmatch(text) else moment


def _interval(start: dt.datetime | None, end: dt.datetime | None, text: str, name: str) -> Interval:
    try:
        return Interval(start=start, end=end, text=text)
    except ValidationError as err:
        raise InvalidInput(f"{name} {text!r}: {_first_error(err)}") from None


# ------------------------------------------------------------------------------ tiles
class TileAddress(BaseModel):
    """A tile: zoom, column (x) and row (y), inside the matrix of its zoom.

    A quad matrix set has ``columns_at_zero`` × 1 tiles at zoom 0 and doubles both each zoom:
    1 for WebMercatorQuad, 2 for the geographic quads (WorldCRS84Quad, CGCS2000Quad).
    """

    model_config = ConfigDict(frozen=True)

    z: int
    x: int
    y: int
    columns_at_zero: int = 1

    @model_validator(mode="after")
    def _inside(self) -> TileAddress:
        rows = 2**self.z
        columns = self.columns_at_zero * rows
        if not (0 <= self.x < columns and 0 <= self.y < rows):
            raise ValueError(f"tile {self.z}/{self.x}/{self.y} is outside the {columns}×{rows} matrix of zoom {self.z}")
        return self


def parse_tile(z: Any, x: Any, y: Any, *, max_zoom: int = 24, columns_at_zero: int = 1) -> TileAddress:
    """A tile address from path segments; zoom 0 … ``max_zoom``; TileOutOfRange outside the matrix."""
    zoom = parse_int(z, name="tile zoom", minimum=0, maximum=max_zoom)
    column = _matrix_index(x, "tile column", columns_at_zero * 2**zoom, zoom)
    row = _matrix_index(y, "tile row", 2**zoom, zoom)
    return TileAddress(z=zoom, x=column, y=row, columns_at_zero=columns_at_zero)


def _matrix_index(value: Any, name: str, size: int, zoom: int) -> int:
    index = parse_int(value, name=name)
    if not 0 <= index < size:
        raise TileOutOfRange(f"{name} must lie between 0 and {size - 1} at zoom {zoom}, not {index}")
    return index


# ------------------------------------------------------------------------------ lists and words
CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
MAX_LIST_ITEMS = 100
MARKUP_OR_CONTROL = re.compile(r"[<>\x00-\x1f\x7f]")


def parse_choices(value: Any, allowed: Sequence[str], *, name: str) -> tuple[str, ...]:
    """A comma-separated list of values out of ``allowed`` ('a,b' or a list); () when absent.

    An unknown value is refused naming the allowed ones.
    """
    items = _list_items(value, name=name)
    bad = [item for item in items if item not in allowed]
    if bad:
        raise InvalidInput(f"{name} {_shown(bad[0])} unknown: one of {', '.join(allowed)} (comma-separated)")
    return items


def parse_codes(value: Any, *, name: str) -> tuple[str, ...]:
    """A comma-separated list of codes (letters, digits, ``_.-``; 1-64 characters each); () when absent."""
    items = _list_items(value, name=name)
    for item in items:
        if not CODE.fullmatch(item):
            raise InvalidInput(f"{name} {_shown(item)} is not a code (letters, digits, _ . -; at most 64)")
    return items


def parse_words(value: Any, *, name: str = "q", max_length: int = 100) -> str | None:
    """Words to search for: plain text of at most ``max_length`` characters, no markup or control
    characters; None when absent or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text, not {_shown(value)}")
    text = value.strip()
    if len(text) > max_length:
        raise InvalidInput(f"{name} is longer than {max_length} characters")
    if MARKUP_OR_CONTROL.search(text):
        raise InvalidInput(f"{name} is words to look for: no markup (<, >) or control characters")
    return text or None


def _list_items(value: Any, *, name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if isinstance(items, str) or not isinstance(items, Sequence):
        raise InvalidInput(f"{name} must be a comma-separated list, not {_shown(value)}")
    cleaned = tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))
    if len(cleaned) > MAX_LIST_ITEMS:
        raise InvalidInput(f"{name} lists more than {MAX_LIST_ITEMS} values")
    return cleaned
