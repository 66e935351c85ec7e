"""Batch geocoding: a JSON list or a CSV file of addresses in, one best match per address out.

Items are free text (``"兴福路88号"``, ``{"id": 7, "q": "…"}``) or structured fields
(``{"house_number": "333", "street": "W 17th St", "postcode": "10011"}``; in CSV, columns
with those names). An item that cannot be read gets its own error and does not stop the
others; a batch over the size limit is refused whole (PayloadTooLarge → 413).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine

from spatial.errors import InvalidInput, PayloadTooLarge
from spatial.geocoding.match import geocode_parsed
from spatial.geocoding.parse import STRUCTURED_FIELDS, parse, parse_structured
from spatial.geocoding.parsed import ParsedAddress
from spatial.geocoding.result import Match

TEXT_COLUMNS = ("q", "query", "address", "full_address", "地址")


@dataclass(frozen=True)
class BatchItem:
    """One address of a batch: free text or structured fields, with the caller's id."""

    id: Any
    text: str | None = None
    fields: dict[str, str | None] | None = None

    @property
    def query(self) -> str:
        """The address as the caller gave it, for echoing back."""
        return self.text if self.text is not None else json.dumps(self.fields, ensure_ascii=False)


@dataclass(frozen=True)
class BatchResult:
    """The best match of one item (None when nothing matched) or why it could not be read."""

    item: BatchItem
    match: Match | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form: id, query, match (or null) and error (when the item was unreadable)."""
        out: dict[str, Any] = {"id": self.item.id, "query": self.item.query,
                               "match": self.match.as_dict() if self.match else None}  # fmt: skip
        if self.error:
            out["error"] = self.error
        return out


def read_batch(body: bytes, content_type: str, *, max_items: int) -> list[BatchItem]:
    """Items of a JSON or CSV batch; InvalidInput when unreadable, PayloadTooLarge when too big."""
    kind = content_type.split(";")[0].strip().lower()
    text = _decode(body)
    if kind in ("text/csv", "application/csv") or (kind != "application/json" and _looks_csv(text)):
        items = csv_items(text)
    else:
        items = json_items(text)
    if not items:
        raise InvalidInput("the batch is empty: send a JSON list or a CSV file of addresses")
    if len(items) > max_items:
        raise PayloadTooLarge(f"the batch holds {len(items)} addresses; at most {max_items} are accepted")
    return items


def _decode(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the batch is not UTF-8 text") from None


def _looks_csv(text: str) -> bool:
    return not text.lstrip().startswith(("[", "{"))


def json_items(text: str) -> list[BatchItem]:
    """Items of a JSON list (or of {"addresses": [...]})."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidInput(f"the batch is not valid JSON: {err.msg} (line {err.lineno})") from None
    except RecursionError:  # nesting deeper than Python's stack: hostile, never a batch
        raise InvalidInput("the batch is not valid JSON: nested too deeply") from None
    if isinstance(data, dict) and isinstance(data.get("addresses"), list):
        data = data["addresses"]
    if not isinstance(data, list):
        raise InvalidInput('a JSON batch is a list of addresses, or {"addresses": [...]}')
    return [json_item(i, entry) for i, entry in enumerate(data)]


def json_item(index: int, entry: Any) -> BatchItem:
    """One JSON entry: a string, or an object with q/address or structured fields."""
    if isinstance(entry, str):
        return BatchItem(id=index, text=entry)
    if isinstance(entry, dict):
        item_id = entry.get("id", index)
        for column in TEXT_COLUMNS:
            if isinstance(entry.get(column), str):
                return BatchItem(id=item_id, text=entry[column])
        fields = {k: _text(v) for k, v in entry.items() if k in STRUCTURED_FIELDS}
        return BatchItem(id=item_id, fields=fields)
    return BatchItem(id=index, fields={})


def csv_items(text: str) -> list[BatchItem]:
    """Items of a CSV file with a header: a q/address column, or structured columns."""
    try:
        return csv_rows(text)
    except csv.Error as err:  # e.g. a bare carriage return inside a field
        raise InvalidInput(f"the CSV batch is not readable: {err}") from None


def csv_rows(text: str) -> list[BatchItem]:
    """The items of ``csv_items``; csv.Error when the text is not CSV."""
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip().lower() for name in reader.fieldnames or []]
    known = set(TEXT_COLUMNS) | set(STRUCTURED_FIELDS)
    if not known & set(header):
        raise InvalidInput(
            "the CSV batch needs a header with a 'q' (or 'address') column, or structured "
            f"columns ({', '.join(STRUCTURED_FIELDS)}); found {header[:10]}"
        )
    items = []
    for i, raw in enumerate(reader):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items()}
        item_id = row.get("id") or i
        text_column = next((c for c in TEXT_COLUMNS if row.get(c)), None)
        if text_column:
            items.append(BatchItem(id=item_id, text=row[text_column]))
        else:
            items.append(BatchItem(id=item_id, fields={k: row.get(k) for k in STRUCTURED_FIELDS}))
    return items


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def geocode_batch(
    conn_or_engine: Connection | Engine, items: Sequence[BatchItem], *, crs: str | None = None
) -> list[BatchResult]:
    """The best match of every item, computed together; unreadable items carry their error."""
    parsed: list[ParsedAddress] = []
    readable: list[int] = []
    errors: dict[int, str] = {}
    for i, item in enumerate(items):
        try:
            parsed.append(parse(item.text) if item.text is not None else parse_structured(item.fields or {}))
            readable.append(i)
        except InvalidInput as err:
            errors[i] = err.message
    found = geocode_parsed(conn_or_engine, parsed, limit=1, crs=crs) if parsed else []
    best = {i: matches[0] if matches else None for i, matches in zip(readable, found, strict=True)}
    return [BatchResult(item, best.get(i), errors.get(i)) for i, item in enumerate(items)]
