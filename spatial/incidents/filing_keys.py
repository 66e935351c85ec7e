"""Filing once: the same ``Idempotency-Key`` from the same caller gives the same incident.

The inspector's phone keeps a report in its outbox until it has seen the 201. When the answer is
lost on the way (the network drops after the commit), the phone sends the report again; without
a key that is a second incident for the same pothole, and a second case in the console.

So a report may carry a key made once for it (a UUID). ``file_once`` takes the key for the caller
in the filing's own transaction (``incidents.filing_key``, primary key caller + key) before it
files, and stores the answer with it; the commit makes the incident and the key visible
together. The same key again:

- with the same report (its fingerprint: every field and each photo's bytes): the first answer,
  marked replayed; nothing is filed;
- with another report: 409, nothing is filed (a key is made for one report);
- while the first is still being filed: it waits for that transaction, then gets its answer (or,
  if the first was refused and rolled back, files as if it were the first).

Keys are kept ``KEEP_DAYS`` (90) days: ``forget_old_keys`` runs with the daily partition upkeep
(``onemap incidents partitions create``); a phone offline longer than that files anew.

Keys belong to their caller (the principal's name; anonymous callers share one space, where a
UUID is as good as a secret). A filing without a key is not affected and keeps its one-statement
path (``spatial.incidents.filing``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, text

from spatial.access.principal import Principal
from spatial.errors import Conflict, InvalidInput
from spatial.extent import ExtentRule
from spatial.incidents.calendar import WorkingCalendar, default_calendar
from spatial.incidents.filing import IncidentReport, check_report, file_on

KEEP_DAYS = 90
KEY = re.compile(r"[A-Za-z0-9._:-]{8,200}")
FIELDS = ("category_code", "description", "lon", "lat", "address", "source", "reporter_name", "reporter_contact",
          "reported_at", "external_id")  # fmt: skip
CLAIM = text("INSERT INTO incidents.filing_key (caller, key, fingerprint) VALUES (:caller, :key, :fingerprint) "
             "ON CONFLICT DO NOTHING RETURNING key")  # fmt: skip
EARLIER = text("SELECT fingerprint, answer FROM incidents.filing_key WHERE caller = :caller AND key = :key")
RECORD = text("UPDATE incidents.filing_key SET incident_id = :incident, answer = CAST(:answer AS jsonb) "
              "WHERE caller = :caller AND key = :key")  # fmt: skip


def parse_key(value: str | None) -> str | None:
    """The ``Idempotency-Key`` header: absent, or 8–200 letters, digits and ``. _ : -`` (400 otherwise)."""
    if value is None:
        return None
    if not KEY.fullmatch(value):
        raise InvalidInput("Idempotency-Key must be 8 to 200 letters, digits or . _ : - (a UUID made once per report)")
    return value


def fingerprint(report: IncidentReport) -> str:
    """sha256 of the report as sent: its fields and each photo's bytes, in order."""
    fields = {name: getattr(report, name) for name in FIELDS}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False).encode())
    for photo in report.photos:
        digest.update(hashlib.sha256(photo.data).digest())
    return digest.hexdigest()


def file_once(
    engine: Engine, report: IncidentReport, key: str, *, principal: Principal | None,
    extent: ExtentRule | None = None, calendar: WorkingCalendar | None = None, now: dt.datetime | None = None,
) -> tuple[dict[str, Any], bool]:  # fmt: skip
    """(the answer, whether it is a replay): file ``report`` unless ``key`` already filed it."""
    now = now or dt.datetime.now(dt.UTC)
    check_report(report, principal, now)
    who = {"caller": principal.name if principal is not None else "", "key": key}
    with engine.begin() as conn:
        earlier = claim(conn, who, fingerprint(report))
        if earlier is not None:
            return earlier, True
        filed = file_on(conn, report, principal, extent or ExtentRule(), calendar or default_calendar(), now)
        answer = orjson.dumps(filed.as_dict())
        conn.execute(RECORD, {**who, "incident": filed.id, "answer": answer.decode()})
    return orjson.loads(answer), False


def forget_old_keys(engine: Engine, days: int = KEEP_DAYS) -> int:
    """Forget the keys older than ``days`` days; how many."""
    if days < 1:
        raise InvalidInput(f"keys are kept at least 1 day, not {days}")
    with engine.begin() as conn:
        gone = conn.execute(text("DELETE FROM incidents.filing_key WHERE created_at < now() - make_interval(days => :d)"),
                            {"d": days})  # fmt: skip
    return int(gone.rowcount or 0)


def claim(conn: Connection, who: dict[str, str], print_: str) -> dict[str, Any] | None:
    """Take the key in this transaction (None), or the answer it was given (Conflict for another report).
    A filing in flight with the same key holds it: this waits for that transaction to end."""
    if conn.execute(CLAIM, {**who, "fingerprint": print_}).first() is not None:
        return None
    row = conn.execute(EARLIER, who).one()
    if row.fingerprint != print_:
        raise Conflict(f"Idempotency-Key {who['key']!r} was used for another report: make a new key for each report")
    return dict(row.answer)
