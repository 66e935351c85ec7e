"""Division levels checked and joined into one table: codes, names, parents, ancestors.

Each level's frame (from ``sources``) becomes rows of ``basemap.admin_division``: its code (from
the code field, or numbered under its parent), its parent (by code prefix or by containment),
its names and population, and its ancestors' codes. The geometric checks (inside the parent,
sibling overlaps, gaps) are in ``division_shapes``. Every problem goes into the report, named by
feature or code and field; the table is returned only when there is no error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from shapely.errors import GEOSException

from layers.city import division_shapes as shapes
from layers.city.fields import has_field, text_values
from layers.city.profile import DivisionLevel, Divisions
from layers.city.report import CityReport

GB2260_DIGITS = {"district": 6, "street": 9, "community": 12}
"""GB/T 2260 code lengths: 6-digit district (区县), 9-digit street (乡镇街道), 12-digit community."""
CODE = re.compile(r"[0-9]{1,12}")
"""ASCII digits only: str.isdigit() would also take '١٠١' or '１０１'."""
WHOLE_FLOAT = re.compile(r"([0-9]+)\.0+")
MAX_CODE_DIGITS = 12
MAX_POPULATION = 2**31 - 1
COLUMNS = [
    "code",
    "level",
    "parent_code",
    "district_code",
    "street_code",
    "name_zh",
    "name_en",
    "population",
]


@dataclass
class Level:
    """One level while it is checked: a row per feature, geometry in lon/lat and in metres.

    ``rows`` holds feature_no, code, parent_code, parent_pos (the parent's row in the level
    above, -1 for none), name_zh, name_en, population, district_code and street_code.
    """

    spec: DivisionLevel
    rows: pd.DataFrame
    lonlat: np.ndarray
    metric: np.ndarray
    crs: CRS
    """The metric CRS of ``metric``."""

    @property
    def section(self) -> str:
        return f"divisions.{self.spec.level}"

    @property
    def word(self) -> str:
        """What the city calls the level ('Borough'), else the platform's word."""
        return self.spec.title.en if self.spec.title else self.spec.level

    def labels(self, positions: np.ndarray | list[int] | pd.Index) -> list[str]:
        """'code 101' for rows with a good code, 'feature 12' for the others."""
        codes = self.rows["code"].to_numpy()
        numbers = self.rows["feature_no"].to_numpy()
        return [
            f"code {codes[i]}" if isinstance(codes[i], str) else f"feature {numbers[i]}"
            for i in positions
        ]


def check_divisions(
    divisions: Divisions, frames: dict[str, gpd.GeoDataFrame], report: CityReport
) -> gpd.GeoDataFrame | None:
    """The admin_division rows of every level, checked; None when the report holds an error."""
    if any(spec.level not in frames for spec in divisions.levels):
        return None
    errors_before = len(report.errors)
    metric = shapes.metric_crs([frames[spec.level] for spec in divisions.levels])
    levels: list[Level] = []
    parent: Level | None = None
    for position, spec in enumerate(divisions.levels):
        level = read_level(spec, frames[spec.level], metric, divisions.scheme, report)
        if level is not None:
            try:
                place_level(level, parent, position == 0, divisions, report)
            except GEOSException as err:
                report.error(level.section, f"the polygons could not be compared: {err}")
            levels.append(level)
        parent = level
    check_codes_across(levels, report)
    if len(report.errors) > errors_before or len(levels) < len(divisions.levels):
        return None
    return division_table(levels)


def read_level(
    spec: DivisionLevel, frame: gpd.GeoDataFrame, metric: CRS, scheme: str, report: CityReport
) -> Level | None:
    """A level's rows from its frame: fields, codes, names and population (None: fields absent)."""
    section = f"divisions.{spec.level}"
    frame = frame.reset_index(drop=True)
    if not fields_present(spec, frame, section, report):
        return None
    rows = pd.DataFrame({"feature_no": frame["feature_no"].to_numpy()})
    rows["code"] = read_codes(spec, frame, scheme, section, report)
    rows["parent_code"] = None
    rows["parent_pos"] = -1
    rows["name_zh"] = names(frame, spec.name_zh)
    rows["name_en"] = names(frame, spec.name_en)
    rows["population"] = read_population(spec, frame, section, report)
    lonlat = frame.geometry.to_numpy()
    level = Level(spec, rows, lonlat, shapes.to_metric(lonlat, metric), metric)
    refuse_empty_geometry(level, report)
    return level


def place_level(
    level: Level, parent: Level | None, top: bool, divisions: Divisions, report: CityReport
) -> None:
    """Parents, numbered codes, names and ancestors of a level; its geometry checked."""
    rule = level.spec.parent
    tolerances = divisions.tolerances
    if parent is not None and rule.by == "code_prefix":
        parents_by_prefix(level, parent, report)
    elif parent is not None:
        shapes.parents_by_containment(level, parent, report)
        if divisions.scheme == "gb2260" and level.spec.code:
            check_gb2260_prefixes(level, parent, report)
    if level.spec.code is None:
        number_codes(level, top, divisions.scheme, report)
    check_duplicates(level, report)
    fill_names(level, report)
    fill_ancestors(level, parent)
    if parent is not None:
        shapes.check_inside(level, parent, tolerances.outside_parent_m, report)
        shapes.check_gaps(level, parent, tolerances.gap_m2, report)
    shapes.check_overlaps(level, top, tolerances.overlap_m2, report)


def fields_present(
    spec: DivisionLevel, frame: gpd.GeoDataFrame, section: str, report: CityReport
) -> bool:
    """Whether every field the profile names is in the file (an error for each one that is not)."""
    named = {
        "code": spec.code,
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "population": spec.population,
    }
    absent = {key: name for key, name in named.items() if name and not has_field(frame, name)}
    columns = [str(c) for c in frame.columns if c not in ("geometry", "feature_no")]
    for key, name in absent.items():
        report.error(
            section,
            f"the {key} field {name!r} is not in the file; it has: {', '.join(columns) or 'no fields'}",
            field=name,
        )
    return not absent


def read_codes(
    spec: DivisionLevel, frame: gpd.GeoDataFrame, scheme: str, section: str, report: CityReport
) -> pd.Series:
    """The code field as text ('101' for 101.0), None where missing or refused (errors said)."""
    if spec.code is None:
        return pd.Series([None] * len(frame), dtype=object)
    codes = texts(normal_code(code) for code in field_text(frame, spec.code))
    numbers = frame["feature_no"].to_numpy()
    missing = codes.isna().to_numpy()
    if missing.any():
        report.error(
            section, "no code", features=[f"feature {n}" for n in numbers[missing]], field=spec.code
        )
    bad = np.array([code is not None and not CODE.fullmatch(code) for code in codes], bool)
    if bad.any():
        report.error(
            section,
            f"codes must be 1–{MAX_CODE_DIGITS} digits 0–9",
            features=cited(numbers[bad], codes[bad]),
            field=spec.code,
        )
    wrong = np.zeros(len(codes), bool)
    if scheme == "gb2260":
        digits = GB2260_DIGITS[spec.level]
        wrong = (~bad & ~missing) & (codes.str.len() != digits).to_numpy(bool)
        if wrong.any():
            report.error(
                section,
                f"GB/T 2260 {spec.level} codes have {digits} digits",
                features=cited(numbers[wrong], codes[wrong]),
                field=spec.code,
            )
    return texts(
        None if refused else code for code, refused in zip(codes, bad | wrong, strict=True)
    )


def field_text(frame: gpd.GeoDataFrame, name: str) -> pd.Series:
    """A field's values as text, None where empty (pandas 3 turns text_values' None into NaN)."""
    return texts(text_values(frame, name))


def texts(values: Iterable[str | None]) -> pd.Series:
    """Text cells as an object Series keeping None (pandas 3 makes None NaN in str Series)."""
    return pd.Series([None if pd.isna(v) else v for v in values], dtype=object)


def normal_code(value: str | None) -> str | None:
    """'101.0' (a code read as a number) → '101'; other text as it is."""
    if value is None:
        return None
    whole = WHOLE_FLOAT.fullmatch(value)
    return whole.group(1) if whole else value


def cited(numbers: np.ndarray, values: pd.Series) -> list[str]:
    """Labels like ``feature 3 ('1O1')`` for refused values."""
    return [f"feature {n} ({v!r})" for n, v in zip(numbers, values, strict=True)]


def names(frame: gpd.GeoDataFrame, field: str | None) -> pd.Series:
    """A name field's values (None where empty, or everywhere when no field is named)."""
    if field is None:
        return pd.Series([None] * len(frame), dtype=object)
    return field_text(frame, field)


def read_population(
    spec: DivisionLevel, frame: gpd.GeoDataFrame, section: str, report: CityReport
) -> pd.Series:
    """Population as nullable integers; values that are not whole numbers warned of and left NULL."""
    if spec.population is None:
        return pd.Series([pd.NA] * len(frame), dtype="Int64")
    values = field_text(frame, spec.population)
    counts = [whole_number(text_value) for text_value in values]
    refused = np.array(
        [v is not None and c is None for v, c in zip(values, counts, strict=True)], bool
    )
    if refused.any():
        numbers = frame["feature_no"].to_numpy()
        report.warning(
            section,
            "population is not a whole number from 0 to 2,147,483,647: stored as unknown",
            features=cited(numbers[refused], values[refused]),
            field=spec.population,
        )
    return pd.Series(counts, dtype="Int64")


def whole_number(text_value: str | None) -> int | None:
    """'12,345' → 12345; None for anything that is not a count of people."""
    if text_value is None:
        return None
    digits = text_value.replace(",", "")
    if not (digits.isascii() and digits.isdigit()) or int(digits) > MAX_POPULATION:
        return None
    return int(digits)


def refuse_empty_geometry(level: Level, report: CityReport) -> None:
    """An error for features without any area (nothing to map them on)."""
    empty = ~(shapely.area(level.lonlat) > 0)  # NaN for a missing geometry
    if empty.any():
        numbers = level.rows["feature_no"].to_numpy()[empty]
        report.error(level.section, "no polygon area", features=[f"feature {n}" for n in numbers])


def parents_by_prefix(level: Level, parent: Level, report: CityReport) -> None:
    """Each child's parent: the parent-level code equal to its code's first digits."""
    if level.spec.code is None:
        report.error(
            level.section,
            "without a code field parents cannot be found by code prefix: "
            "give the code field or parent.by: containment",
        )
        return
    length = level.spec.parent.prefix_length or common_length(parent)
    if length is None:
        lengths = sorted(set(parent.rows["code"].dropna().str.len()))
        report.error(
            level.section,
            f"{parent.word} codes have {', '.join(map(str, lengths))} "
            "digits: give parent.prefix_length",
            field=level.spec.code,
        )
        return
    codes = level.rows["code"]
    known: dict[str | None, int] = {}
    for position, code in enumerate(parent.rows["code"]):
        known.setdefault(code, position)
    known.pop(None, None)
    prefixes = [code[:length] if code and len(code) > length else None for code in codes]
    positions = np.array([known.get(prefix, -1) for prefix in prefixes], int)
    level.rows["parent_pos"] = positions
    level.rows["parent_code"] = texts(
        p if at >= 0 else None for p, at in zip(prefixes, positions, strict=True)
    )
    orphans = (codes.notna() & (level.rows["parent_pos"] < 0)).to_numpy(bool)
    if orphans.any():
        report.error(
            level.section,
            f"the first {length} digits of the code are no {parent.word}'s code",
            features=level.labels(np.flatnonzero(orphans)),
            field=level.spec.code,
        )


def common_length(level: Level) -> int | None:
    """The length all of a level's codes share (None when they differ or there are none)."""
    lengths = set(level.rows["code"].dropna().str.len())
    return lengths.pop() if len(lengths) == 1 else None


def check_gb2260_prefixes(level: Level, parent: Level, report: CityReport) -> None:
    """Under GB/T 2260 a code starts with its parent's: an error where the found parent's does not."""
    rows = level.rows
    placed = rows["code"].notna() & rows["parent_code"].notna()
    wrong = placed & ~pd.Series(
        [str(c).startswith(str(p)) for c, p in zip(rows["code"], rows["parent_code"], strict=True)]
    )
    for position in np.flatnonzero(wrong.to_numpy(bool)).tolist():
        report.error(
            level.section,
            f"lies in {parent.word} {rows['parent_code'].iat[position]} "
            "but its code does not start with that code (GB/T 2260)",
            features=level.labels([position]),
            field=level.spec.code,
        )


def number_codes(level: Level, top: bool, scheme: str, report: CityReport) -> None:
    """Codes for a level without a code field: the parent's code, then 1, 2, … by name."""
    rows = level.rows
    placed = rows[top | (rows["parent_pos"] >= 0)]
    parents = placed["parent_code"].fillna("") if not top else pd.Series("", index=placed.index)
    sort_name = placed["name_zh"].fillna(placed["name_en"]).fillna("")
    order = pd.DataFrame({"parent": parents, "name": sort_name, "no": placed["feature_no"]})
    order = order.sort_values(["parent", "name", "no"], kind="stable")
    sequence = order.groupby("parent").cumcount() + 1
    width = sequence_width(
        level, int(sequence.max()) if len(sequence) else 1, top, scheme, order["parent"], report
    )
    if width is None:
        return
    rows.loc[order.index, "code"] = order["parent"] + sequence.astype(str).str.zfill(width)
    first = rows.loc[order.index[0], "code"] if len(order) else "-"
    scheme_words = "numbered" if top else "the parent's code, then numbered"
    report.note(
        level.section,
        f"no code field: codes are {scheme_words} in {width} digits by "
        f"{'' if top else 'parent, '}name and feature number (e.g. {first})",
    )


def sequence_width(
    level: Level, largest: int, top: bool, scheme: str, parents: pd.Series, report: CityReport
) -> int | None:
    """Digits of a numbered code's sequence part (None, with an error, when codes would not fit)."""
    needed = len(str(largest))
    parent_digits = int(parents.str.len().max()) if len(parents) else 0
    width = needed
    if scheme == "gb2260":
        width = GB2260_DIGITS[level.spec.level] - (0 if top else parent_digits)
    if needed > width or parent_digits + width > MAX_CODE_DIGITS:
        report.error(
            level.section,
            f"numbering {largest} {level.word}s under one parent needs "
            f"{parent_digits + needed} digits, more than the codes take",
        )
        return None
    return width


def check_duplicates(level: Level, report: CityReport) -> None:
    """An error for each code given to more than one feature of the level."""
    rows = level.rows[level.rows["code"].notna()]
    for code, group in rows.groupby("code", sort=True):
        if len(group) > 1:
            report.error(
                level.section,
                f"duplicate code {code}: given to {len(group)} features",
                features=[f"feature {n}" for n in group["feature_no"]],
                field=level.spec.code,
            )


def check_codes_across(levels: list[Level], report: CityReport) -> None:
    """An error for a code used at two levels (codes are the table's key)."""
    seen: dict[str, tuple[Level, int]] = {}
    for level in levels:
        for code, number in zip(level.rows["code"], level.rows["feature_no"], strict=True):
            if code is None or pd.isna(code):
                continue
            if code in seen and seen[code][0] is not level:
                other, other_number = seen[code]
                report.error(
                    level.section,
                    f"code {code} is also the code of {other.word} feature {other_number}",
                    features=[f"feature {number}"],
                    field=level.spec.code,
                )
            seen.setdefault(code, (level, number))


def fill_names(level: Level, report: CityReport) -> None:
    """Both names on every row: one language stands in for the other, else the template."""
    rows = level.rows
    zh, en = rows["name_zh"], rows["name_en"]
    rows["name_zh"], rows["name_en"] = zh.fillna(en), en.fillna(zh)
    unnamed = rows["name_zh"].isna().to_numpy(bool)
    if not unnamed.any():
        return
    template = level.spec.name_template
    if template is None:
        fields = " / ".join(f for f in (level.spec.name_zh, level.spec.name_en) if f)
        report.warning(
            level.section,
            "no name: stored as ''",
            features=level.labels(np.flatnonzero(unnamed)),
            field=fields,
        )
        named = rows["name_zh"].fillna("")
    else:
        named = rows["name_zh"].where(~unnamed, rows["code"].map(lambda c: templated(template, c)))
        report.note(level.section, f"{int(unnamed.sum())} named from name_template {template!r}")
    rows["name_zh"] = named.fillna("")
    rows["name_en"] = rows["name_en"].where(~unnamed, named).fillna("")


def templated(template: str, code: str | None) -> str:
    """'Community District {code}' with the code put in ('' for a feature without one)."""
    return template.replace("{code}", code) if code else ""


def fill_ancestors(level: Level, parent: Level | None) -> None:
    """district_code and street_code: the own code at the own level, else the parent's."""
    for column in ("district_code", "street_code"):
        own = column.removesuffix("_code") == level.spec.level
        if own:
            level.rows[column] = level.rows["code"]
        elif parent is None:
            level.rows[column] = None
        else:
            inherited = parent.rows[column].to_numpy()
            positions = level.rows["parent_pos"].to_numpy()
            level.rows[column] = [inherited[p] if p >= 0 else None for p in positions]


def division_table(levels: list[Level]) -> gpd.GeoDataFrame:
    """The admin_division rows of all levels, geometry as MultiPolygon in lon/lat."""
    parts = []
    for level in levels:
        rows = level.rows.assign(level=level.spec.level)[COLUMNS]
        parts.append(gpd.GeoDataFrame(rows, geometry=multipolygons(level.lonlat), crs=4326))
    table = pd.concat(parts, ignore_index=True)
    for column in ("code", "parent_code", "district_code", "street_code"):
        table[column] = texts(table[column])
    table["population"] = table["population"].astype("Int64")
    return gpd.GeoDataFrame(table, geometry="geometry", crs=4326)


def multipolygons(geometries: np.ndarray) -> np.ndarray:
    """Each geometry's polygons as one MultiPolygon."""
    parts, owners = shapely.get_parts(geometries, return_index=True)
    polygons = shapely.get_type_id(parts) == shapely.GeometryType.POLYGON
    return shapely.multipolygons(parts[polygons], indices=owners[polygons])
