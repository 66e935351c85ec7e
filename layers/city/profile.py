"""A city profile: which files make a city's base map, and how to read their fields.

A profile is one YAML file (``examples/cities/*.yaml``, README "Your own city"). Only
``divisions`` is required; roads, buildings, POIs, door plates, imagery, the unit grid and the
category catalogue are optional sections. Paths are relative to ``data_dir`` (itself relative to
the profile's folder; the folder itself when absent).

    >>> profile = read_profile(Path("examples/cities/manhattan.yaml"))   # doctest: +SKIP
    >>> [level.level for level in profile.divisions.levels]               # doctest: +SKIP
    ['district', 'street']

Reading a profile checks only its own shape (unknown keys, a field named twice, an unknown CRS
word); whether the files exist and hold what the profile says is ``onemap city check``'s job.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from spatial.crs import parse_crs, web_datum
from spatial.errors import InvalidInput

LEVELS = ("district", "street", "community")
"""The platform's three division levels (区 → 街道 → 社区); a city names its own (Borough…)."""
CITY_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class Strict(BaseModel):
    """Profile sections refuse keys they do not know (a misspelt key is an error, not a no-op)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_crs(value: str | int | None) -> str | None:
    """'EPSG:4490', 4326, 'gcj02', 'bd09' → the text kept; InvalidInput for anything else."""
    if value is None:
        return None
    text_value = str(value).strip()
    if web_datum(text_value) is not None:
        return text_value.lower().replace("-", "")
    parse_crs(text_value)
    return text_value


def crs_field(value: str | int | None) -> str | None:
    """check_crs for a profile key (a ValueError, so the message names the key)."""
    try:
        return check_crs(value)
    except InvalidInput as err:
        raise ValueError(err.message) from None


class Source(Strict):
    """Where features come from: a file (and layer), how to read it, which rows to keep."""

    path: str
    layer: str | None = None
    crs: str | None = None
    """The coordinates' CRS when the file does not say (EPSG code, 'gcj02', 'bd09'), or to
    override what it says (GCJ-02 files claim WGS84)."""
    encoding: str | None = None
    """Text encoding of a Shapefile's attributes or a CSV (GBK, GB18030…), when no .cpg says."""
    where: str | None = None
    """An OGR SQL filter, e.g. ``BoroCode = 1``."""
    lon: str | None = None
    lat: str | None = None
    """CSV coordinate columns (found by name when not given)."""

    _crs = field_validator("crs", mode="before")(classmethod(lambda cls, v: crs_field(v)))


class Names(Strict):
    """Display names of a city or level in Chinese and English."""

    zh: str
    en: str


class ParentRule(Strict):
    """How a division finds its parent: by the leading digits of its code, or by containment."""

    by: Literal["code_prefix", "containment"] = "containment"
    prefix_length: int | None = Field(default=None, ge=1, le=11)
    """How many leading digits are the parent's code (code_prefix); the parent level's code
    length when absent (e.g. 6 of a 9-digit street code)."""


class DivisionLevel(Strict):
    """One level of divisions: its file and which fields hold code and names."""

    level: Literal["district", "street", "community"]
    title: Names | None = None
    """What the city calls this level (Borough / 区); the platform's own word when absent."""
    source: Source
    code: str | None = None
    """The code field; when absent, codes are numbered: the parent's code then a sequence."""
    name_zh: str | None = None
    name_en: str | None = None
    name_template: str | None = None
    """A name for features whose file has none, e.g. ``Community District {code}``."""
    population: str | None = None
    parent: ParentRule = ParentRule()

    @model_validator(mode="after")
    def _named(self) -> DivisionLevel:
        if not (self.name_zh or self.name_en or self.name_template):
            raise ValueError(f"level {self.level}: give name_zh, name_en or name_template")
        return self


class Tolerances(Strict):
    """How far the division checks let geometry be off before they refuse the load."""

    outside_parent_m: float = Field(default=50.0, ge=0)
    """A child may stick out of its parent by this much (digitising differences)."""
    overlap_m2: float = Field(default=10_000.0, ge=0)
    """Siblings may overlap by this area before it is an error."""
    gap_m2: float = Field(default=10_000.0, ge=0)
    """A hole of this size inside the parent not covered by any child is reported (a warning)."""


class Divisions(Strict):
    """District → street → community, one to three levels, in that order."""

    scheme: Literal["gb2260", "digits"] = "digits"
    """gb2260: 6/9/12-digit codes whose prefixes are their parents'; digits: any 1–12 digits."""
    levels: list[DivisionLevel] = Field(min_length=1, max_length=3)
    tolerances: Tolerances = Tolerances()

    @model_validator(mode="after")
    def _ordered(self) -> Divisions:
        names = [level.level for level in self.levels]
        if names != sorted(names, key=LEVELS.index) or len(set(names)) != len(names):
            raise ValueError(
                f"levels must go downwards without repeats ({' → '.join(LEVELS)}), not {names}"
            )
        if self.levels[0].parent.by == "code_prefix":
            raise ValueError(f"the top level ({names[0]}) has no parent to find by code prefix")
        return self


Format = Literal["mapped", "onemap"]
"""How a section's file is read: ``mapped`` (the fields named in the section are mapped onto
the base map's columns) or ``onemap`` (the file already holds the base-map table's own columns,
ids included, as the demo writes them)."""


class OneWay(Strict):
    """Which values of the one-way field mean with or against the line's direction."""

    field: str
    forward: list[str] = ["yes", "true", "1"]
    backward: list[str] = ["-1", "reverse"]


class Roads(Strict):
    """Road centrelines (also the routing network)."""

    source: Source
    format: Format = "mapped"
    name_zh: str | None = None
    name_en: str | None = None
    road_class: str | None = None
    """The class field (OSM ``highway``); classes not in ``speeds`` are left out when ``keep``."""
    keep: list[str] | None = None
    """Only these classes are roads (None: every feature)."""
    speed: str | None = None
    """A speed field in km/h (OSM ``maxspeed``; "25 mph" is understood)."""
    speeds: dict[str, float] = {}
    """Speed by class when the speed field is empty."""
    default_speed_kmh: float = Field(default=30.0, gt=0, le=200)
    oneway: OneWay | None = None
    lanes: str | None = None


class Buildings(Strict):
    """Building footprints; height from a height field, else floors × storey height."""

    source: Source
    format: Format = "mapped"
    use: str | None = None
    floors: str | None = None
    height: str | None = None
    storey_height_m: float = Field(default=3.0, gt=0, le=20)
    default_floors: int = Field(default=1, ge=1, le=200)


class Pois(Strict):
    """Points of interest and place names."""

    source: Source
    format: Format = "mapped"
    name_zh: str | None = None
    name_en: str | None = None
    category: str | None = None
    """The category field, or several tried in order (OSM: amenity, shop, tourism…)."""
    categories: list[str] = []
    named_only: bool = True


class Addresses(Strict):
    """Door plates, through the address loader (its column mapping: house_number=…, street=…)."""

    source: Source
    format: Format = "mapped"
    mapping: dict[str, str] = {}
    name: str = "city"
    """The address source's name (a later load of the same name replaces it)."""


class Scene(Strict):
    """An imagery scene (GeoTIFF/COG) that must lie over the city."""

    path: str
    id: str
    title: Names


class GridSettings(Strict):
    """Build the unit grid from a division level after the load."""

    level: Literal["district", "street", "community"] = "community"
    cell_size_m: float = Field(default=100.0, ge=10, le=10_000)


class Plates(Strict):
    """Coded plates on street furniture (路灯贴牌): generated along the named roads every
    ``spacing_m`` metres (the default, also when the section is absent), or read from the
    city's own file (``source`` with the plate code in ``code_field``; GeoJSON, GeoPackage…)."""

    spacing_m: float = Field(default=50.0, ge=5, le=1_000)
    offset_m: float = Field(default=6.0, ge=0, le=50)
    """How far from the road's centreline a generated plate stands."""
    source: Source | None = None
    code_field: str | None = None

    @model_validator(mode="after")
    def _coded(self) -> Plates:
        if (self.source is None) != (self.code_field is None):
            raise ValueError("a plate file needs both source and code_field")
        return self


class View(Strict):
    """The pages' initial view (the divisions' extent when absent)."""

    center: tuple[float, float] | None = None
    zoom: int | None = Field(default=None, ge=0, le=22)
    base_layer: str | None = None


class CityProfile(Strict):
    """A whole profile; ``folder`` (where relative paths start) is set by ``read_profile``."""

    code: str
    name: Names
    crs: str | None = None
    """Default CRS of every source (EPSG code, 'gcj02', 'bd09'); each source may override."""
    data_dir: str | None = None
    divisions: Divisions
    roads: Roads | None = None
    buildings: Buildings | None = None
    pois: Pois | None = None
    addresses: Addresses | None = None
    imagery: list[Scene] = []
    grid: GridSettings | None = None
    plates: Plates | None = None
    """Absent: plates are generated along the roads at the defaults."""
    categories: str | None = None
    """A category catalogue file (incidents' 部件/事件 classes). When absent, a database without
    categories gets the built-in catalogue and one that has them keeps its own."""
    view: View = View()
    folder: Path = Path(".")

    _crs = field_validator("crs", mode="before")(classmethod(lambda cls, v: crs_field(v)))

    @field_validator("code")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not CITY_CODE.match(value):
            raise ValueError(
                "code must be a lowercase slug: a letter, then letters, digits, - or _"
            )
        return value

    def path_of(self, relative: str) -> Path:
        """A source path resolved against ``data_dir`` and the profile's folder."""
        path = Path(relative).expanduser()
        if path.is_absolute():
            return path
        base = self.folder / (self.data_dir or ".")
        return (base / path).resolve()

    def crs_of(self, source: Source) -> str | None:
        """The source's CRS, else the profile's default (None: what the file says)."""
        return source.crs or self.crs

    def sections(self) -> dict[str, Any]:
        """The optional sections present, by name (for reports)."""
        names = ("roads", "buildings", "pois", "addresses", "grid")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


def read_profile(path: str | Path) -> CityProfile:
    """Parse and check a profile file; InvalidInput naming the key for every mistake."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"no such profile: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise InvalidInput(f"{path.name} is not a readable YAML file: {err}") from None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{path.name} must be a YAML mapping (code:, name:, divisions: …)")
    return profile_from_dict(raw, folder=path.resolve().parent, label=path.name)


def profile_from_dict(raw: dict[str, Any], *, folder: Path, label: str = "profile") -> CityProfile:
    """A profile from already-parsed YAML (the demo builds its own)."""
    try:
        return CityProfile.model_validate({**raw, "folder": folder})
    except ValidationError as err:
        raise InvalidInput(f"{label}: " + "; ".join(_problem(e) for e in err.errors())) from None
    except InvalidInput as err:
        raise InvalidInput(f"{label}: {err}") from None


def _problem(error: Any) -> str:
    """'divisions.levels.0.code: Input should be a valid string'; an unknown key says which it
    may have meant ('divisons: unknown key (did you mean divisions?)')."""
    where = ".".join(str(part) for part in error["loc"]) or "(top)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key" + _did_you_mean(str(error["loc"][-1]))
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}"


def _did_you_mean(key: str) -> str:
    """' (did you mean divisions?)' when a profile key is close to ``key``."""
    import difflib

    keys = {name for model in (CityProfile, Divisions, DivisionLevel, Source, Roads, Buildings, Pois,
                               Addresses, Scene, GridSettings, View, ParentRule, Tolerances, OneWay, Plates)
            for name in model.model_fields}  # fmt: skip
    close = difflib.get_close_matches(key, sorted(keys), n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""
