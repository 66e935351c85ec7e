"""Load an address source (door plates) into the address layer from CSV, GeoJSON or GeoPackage.

A column mapping names which column holds what (``house_number=housenumber,street=street,…``),
for Chinese sources (路/号/栋/单元, or one ``address`` column parsed by the geocoder's parser)
and Western ones (number, street, unit, city, postcode). Coordinates may be in any EPSG CRS or
in the Chinese web datums GCJ-02 / BD-09. Rows that cannot be used are reported with their
line and reason and left out (``strict`` refuses the file instead); the source's previous rows
are replaced and the geocoding index rebuilt in one transaction, so a failure leaves the
address layer as it was.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, text

from layers.bulk import copy_frame
from layers.vector_read import file_format, number_list, read_vector_file
from spatial.crs import parse_crs, to_storage_lonlat, web_datum
from spatial.divisions import locate
from spatial.errors import InvalidInput
from spatial.geocoding.chinese import parse_chinese
from spatial.geocoding.index import refresh_index
from spatial.geocoding.text import is_chinese

FIELDS = ("house_number", "street", "building", "unit", "city", "postcode", "province",
          "district", "address", "lon", "lat")  # fmt: skip
ADDRESS_COLUMNS = ("full_zh", "full_en", "province", "city", "district_code", "street_code",
                   "community_code", "road_zh", "road_en", "house_number", "building", "unit",
                   "postcode", "source", "geom")  # fmt: skip
SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_BAD_SHARE = 0.5
Progress = Callable[[int, int], None]


@dataclass
class AddressLoadReport:
    """What a load did: rows read, loaded and left out (with reasons), index sizes."""

    source: str
    rows_read: int
    rows_loaded: int
    replaced: int
    bad_rows: list[tuple[int, str]] = field(default_factory=list)
    index_rows: int = 0

    def summary(self) -> list[str]:
        """Lines for the command line."""
        lines = [
            f"address source '{self.source}': {self.rows_loaded:,} of {self.rows_read:,} rows loaded"
            + (f", replacing {self.replaced:,}" if self.replaced else ""),
            f"geocoding index rebuilt ({self.index_rows:,} searchable rows)",
        ]
        if self.bad_rows:
            lines.append(f"{len(self.bad_rows):,} rows left out:")
            lines += [f"  line {line}: {reason}" for line, reason in self.bad_rows[:20]]
            if len(self.bad_rows) > 20:
                lines.append(f"  … and {len(self.bad_rows) - 20:,} more")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "rows_read": self.rows_read, "rows_loaded": self.rows_loaded,
                "replaced": self.replaced, "index_rows": self.index_rows,
                "bad_rows": [{"line": n, "reason": r} for n, r in self.bad_rows]}  # fmt: skip


def parse_mapping(text_value: str | None) -> dict[str, str]:
    """'house_number=housenumber,street=street' → {field: column}; InvalidInput on unknown fields."""
    mapping: dict[str, str] = {}
    for part in (text_value or "").split(","):
        if not part.strip():
            continue
        target, sep, column = part.partition("=")
        target, column = target.strip().lower(), column.strip()
        if not sep or not column:
            raise InvalidInput(f"--map entry {part.strip()!r} is not FIELD=COLUMN")
        if target not in FIELDS:
            raise InvalidInput(f"--map: unknown field {target!r}; fields are {', '.join(FIELDS)}")
        mapping[target] = column
    return mapping


def load_addresses(
    engine: Engine,
    path: str | Path,
    *,
    mapping: dict[str, str],
    source: str | None = None,
    from_crs: str | None = None,
    layer: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
) -> AddressLoadReport:
    """Read, check and load an address file as source ``source`` (default: the file's name)."""
    prepared = prepare_addresses(
        path, mapping=mapping, source=source, from_crs=from_crs, layer=layer, strict=strict
    )
    with engine.begin() as conn:
        return store_addresses(conn, prepared, progress=progress)


@dataclass
class PreparedAddresses:
    """An address file read and checked, ready to store: its rows and the rows left out."""

    name: str
    rows_read: int
    table: gpd.GeoDataFrame
    bad: list[tuple[int, str]]


def prepare_addresses(
    path: str | Path,
    *,
    mapping: dict[str, str],
    source: str | None = None,
    from_crs: str | None = None,
    layer: str | None = None,
    strict: bool = False,
) -> PreparedAddresses:
    """Read and check an address file (no database): InvalidInput when it cannot be used."""
    path = Path(path)
    name = source_name(source or path.stem)
    frame, file_crs = read_source(path, mapping, layer)
    columns = resolve_columns(frame, mapping)
    lon, lat, coordinate_issues = coordinates(frame, columns, from_crs or file_crs)
    table, bad = address_table(frame, columns, lon, lat, coordinate_issues, name)
    check_bad_rows(path, len(frame), bad, strict)
    return PreparedAddresses(name, len(frame), table, bad)


def store_addresses(
    conn: Connection, prepared: PreparedAddresses, *, progress: Progress | None = None, index: bool = True
) -> AddressLoadReport:
    """Replace the source's door plates with the prepared ones and rebuild the geocoding index
    (unless ``index`` is False: a caller writing more of the base map rebuilds it once, after)."""
    table = prepared.table
    fill_division_codes(conn, table)
    replaced = conn.execute(
        text("DELETE FROM basemap.address WHERE source = :s"), {"s": prepared.name}
    ).rowcount
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None:
            progress(done, len(table))

    columns = ("id", *ADDRESS_COLUMNS) if "id" in table.columns else ADDRESS_COLUMNS
    copy_frame(conn, "basemap", "address", table, columns, on_rows=advance)
    conn.execute(text("ANALYZE basemap.address"))
    searchable = 0
    if index:
        counts = refresh_index(conn)
        searchable = counts.addresses + counts.places
    return AddressLoadReport(
        prepared.name, prepared.rows_read, len(table), replaced, prepared.bad, searchable
    )


def source_name(value: str) -> str:
    """A source name: lowercase letters, digits and _, at most 32 characters."""
    slug = re.sub(r"[^a-z0-9_]+", "_", value.strip().lower()).strip("_")[:32]
    if not SOURCE_NAME.match(slug):
        raise InvalidInput(f"source name {value!r} must start with a letter (a-z, 0-9, _ follow)")
    return slug


def read_source(path: Path, mapping: dict[str, str], layer: str | None) -> tuple[pd.DataFrame, str | None]:
    """The file's rows as text columns (CSV) or a GeoDataFrame, and the file's own CRS."""
    if file_format(path) == "CSV":
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(f"{path.name} is not UTF-8 text (a GBK export?): save it as UTF-8") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise InvalidInput(f"cannot read {path.name}: {str(err).splitlines()[0]}") from None
        if frame.empty:
            raise InvalidInput(f"{path.name} holds no rows: nothing to load")
        if "lon" not in mapping or "lat" not in mapping:
            raise InvalidInput("a CSV needs --map lon=COLUMN,lat=COLUMN for the coordinates")
        return frame, None
    data = read_vector_file(path, source_layer=layer)
    return data.frame, data.crs


def resolve_columns(frame: pd.DataFrame, mapping: dict[str, str]) -> dict[str, str]:
    """The mapping, after checking every named column exists and the address is complete."""
    missing = [column for column in mapping.values() if column not in frame.columns]
    if missing:
        raise InvalidInput(
            f"--map names columns the file does not have: {', '.join(missing)}; "
            f"its columns are {', '.join(map(str, frame.columns[:30]))}"
        )
    if "address" not in mapping and not {"house_number", "street"} <= set(mapping):
        raise InvalidInput("--map needs house_number= and street= (or one address= column to parse)")
    return mapping


def coordinates(
    frame: pd.DataFrame, columns: dict[str, str], crs: str | None
) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
    """Storage lon/lat of every row (NaN where unusable) and the reason per unusable row."""
    issues: dict[int, str] = {}
    if "lon" in columns and "lat" in columns:
        x = pd.to_numeric(frame[columns["lon"]].astype(str).str.strip(), errors="coerce").to_numpy(float)
        y = pd.to_numeric(frame[columns["lat"]].astype(str).str.strip(), errors="coerce").to_numpy(float)
    elif isinstance(frame, gpd.GeoDataFrame):
        geoms = frame.geometry
        points = geoms.notna() & (geoms.geom_type == "Point")
        x = np.where(points, geoms.x.where(points), np.nan).astype(float)
        y = np.where(points, geoms.y.where(points), np.nan).astype(float)
        for i in np.flatnonzero(~points.to_numpy()):
            issues[int(i)] = "no point geometry"
    else:
        raise InvalidInput("no coordinates: map lon= and lat= columns")
    source = crs or "EPSG:4326"
    if web_datum(source) is None:
        parse_crs(source)  # a clear error for an unknown CRS before any row is converted
    lon, lat = to_storage_lonlat(x, y, source)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    for i in np.flatnonzero(~np.isfinite(x) | ~np.isfinite(y)):
        issues.setdefault(int(i), "missing or non-numeric coordinates")
    bad = ~((np.abs(lon) <= 180) & (np.abs(lat) <= 90)) & np.isfinite(lon) & np.isfinite(lat)
    for i in np.flatnonzero(bad):
        issues.setdefault(int(i), f"coordinates out of range ({x[i]:g}, {y[i]:g})")
    return lon, lat, issues


def address_table(
    frame: pd.DataFrame,
    columns: dict[str, str],
    lon: np.ndarray,
    lat: np.ndarray,
    issues: dict[int, str],
    source: str,
) -> tuple[gpd.GeoDataFrame, list[tuple[int, str]]]:
    """The basemap.address rows of the usable source rows, and (line, reason) of the others."""
    records, keep, bad = [], [], []
    line_offset = 2 if not isinstance(frame, gpd.GeoDataFrame) else 1  # CSV: header is line 1
    values = {f: frame[c].astype(str).str.strip().replace({"nan": "", "None": ""}).tolist()
              for f, c in columns.items() if f not in ("lon", "lat")}  # fmt: skip
    for i in range(len(frame)):
        row = {f: values[f][i] for f in values}
        reason = issues.get(i)
        record = None if reason else address_record(row)
        if record is None:
            bad.append((i + line_offset, reason or "no house number or street"))
            continue
        records.append(record | {"source": source})
        keep.append(i)
    table = gpd.GeoDataFrame(
        pd.DataFrame.from_records(records, columns=[c for c in ADDRESS_COLUMNS if c != "geom"]),
        geometry=gpd.points_from_xy(lon[keep], lat[keep]),
        crs="EPSG:4326",
    ).rename_geometry("geom")
    return table, bad


def address_record(row: dict[str, str]) -> dict[str, Any] | None:
    """One address row from mapped values (an ``address`` text is parsed when parts are absent)."""
    number, street = row.get("house_number", ""), row.get("street", "")
    building, unit = row.get("building") or None, row.get("unit") or None
    district = row.get("district", "")
    if (not number or not street) and row.get("address"):
        parsed = parse_chinese(row["address"]) if is_chinese(row["address"]) else None
        if parsed is None or not parsed.has_plate:
            return None
        number, street = parsed.number or "", parsed.road or ""
        building, unit = building or parsed.building, unit or parsed.unit
        district = district or parsed.district or ""
    if not number or not street or not any(ch.isdigit() for ch in number):
        return None
    chinese = is_chinese(street)
    number = number.removesuffix("号")
    city, postcode, province = row.get("city", ""), row.get("postcode") or None, row.get("province", "")
    return {
        "full_zh": chinese_label(province, city, district, street, number, building, unit) if chinese else "",
        "full_en": "" if chinese else western_label(number, street, unit, city, postcode),
        "province": province, "city": city,
        "district_code": None, "street_code": None, "community_code": None,
        "road_zh": street if chinese else "", "road_en": "" if chinese else street,
        "house_number": number[:16], "building": (building or None) and building[:16],
        "unit": (unit or None) and unit[:16], "postcode": postcode and postcode[:16],
    }  # fmt: skip


def chinese_label(
    province: str, city: str, district: str, street: str, number: str, building: str | None,
    unit: str | None,
) -> str:
    """陕西省西安市明德区兴福路88号3栋2单元."""
    label = f"{province}{city}{district}{street}{number}号"
    label += f"{building.removesuffix('栋')}栋" if building else ""
    return label + (f"{unit.removesuffix('单元')}单元" if unit else "")


def western_label(number: str, street: str, unit: str | None, city: str, postcode: str | None) -> str:
    """'333 West 17th Street, Unit 4B, New York 10011'."""
    parts = [f"{number} {street}"]
    if unit:
        parts.append(f"Unit {unit}")
    tail = " ".join(p for p in (city, postcode or "") if p)
    return ", ".join(parts + ([tail] if tail else []))


def fill_division_codes(conn: Connection, table: gpd.GeoDataFrame) -> None:
    """District, street and community codes of every point that has none (None outside the
    divisions); a file in the table's own shape keeps the codes it gives."""
    if table.empty:
        return
    missing = table["district_code"].isna().to_numpy() if "district_code" in table else np.ones(len(table), bool)
    if not missing.any():
        return
    rows = table.loc[missing]
    points = list(zip(rows.geometry.x.tolist(), rows.geometry.y.tolist(), strict=True))
    placements = locate(conn, points)
    for column in ("district_code", "street_code", "community_code"):
        if column not in table:
            table[column] = None
        table[column] = table[column].astype(object)
        table.loc[missing, column] = [getattr(p, column) for p in placements]


def check_bad_rows(path: Path, total: int, bad: list[tuple[int, str]], strict: bool) -> None:
    """Refuse the file when strict and any row is bad, or when most rows are (a wrong mapping?)."""
    if not bad:
        return
    lines = number_list([line for line, _ in bad])
    if strict:
        raise InvalidInput(
            f"{path.name}: {len(bad)} rows cannot be loaded (lines {lines}); nothing was loaded",
            details=[f"line {n}: {r}" for n, r in bad[:20]],
        )
    if len(bad) > MAX_BAD_SHARE * total:
        raise InvalidInput(
            f"{path.name}: {len(bad)} of {total} rows cannot be loaded — is the --map right? "
            "Nothing was loaded",
            details=[f"line {n}: {r}" for n, r in bad[:20]],
        )
