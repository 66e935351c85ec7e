"""A SYNTHETIC incident history for the demo city: reports filed and worked through the real workflow.

The demo city ships no incidents. Notebooks and demos that analyse them call
``simulate_incidents``, which files reports with ``spatial.incidents.filing.file_incident``
and moves them with ``spatial.incidents.workflow.transition`` at back-dated moments, so every
row, event, deadline and KPI comes from the platform's own rules. Nothing here is real: each
report says "[synthetic]" in its description and carries the external id
``synthetic-<seed>-<n>``; the same seed is never added twice.

Reports cluster around a few hotspots (a market street, a school gate…) over the city's
buildings; step durations are drawn in working minutes around each category's time limits,
so some handling runs late and a few are sent back (返工).
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Engine, text

from spatial.access.principal import Principal
from spatial.incidents.calendar import WorkingCalendar, default_calendar
from spatial.incidents.categories import list_categories
from spatial.incidents.filing import IncidentReport, file_incident
from spatial.incidents.photos import check_photo
from spatial.incidents.workflow import TransitionRequest, transition

HOTSPOTS = 6
HOTSPOT_SHARE = 0.6
HOTSPOT_NEIGHBOURS = 150  # buildings around each hotspot reports are drawn from
SUPERVISOR = Principal(name="监督中心 值班员 (synthetic)", role="editor", department_code="supervision")
DISPATCHER = Principal(name="指挥中心 调度员 (synthetic)", role="editor", department_code="command")
INSPECTORS = [Principal(name=f"监督员 {i:02d} (synthetic)", role="inspector", department_code="urban")
              for i in range(1, 9)]  # fmt: skip


@dataclass
class Case:
    """One synthetic incident as it moves: its id, department, clock and random stream."""

    id: int
    department: str
    limits: dict[str, int]
    at: dt.datetime
    rng: np.random.Generator


def simulate_incidents(
    engine: Engine, *, count: int = 400, seed: int = 8, days: int = 42, now: dt.datetime | None = None,
    calendar: WorkingCalendar | None = None,
) -> list[dict[str, Any]]:
    """File and work ``count`` synthetic incidents over the last ``days``; incidents per state."""
    calendar = calendar or default_calendar()
    now = now or dt.datetime.now(dt.UTC)
    if not already_simulated(engine, seed):
        rng = np.random.default_rng(seed)
        places = report_places(engine, rng, count)
        categories = _categories(engine)
        starts = sorted(report_times(rng, count, days, now, calendar))
        for n, (when, (lon, lat)) in enumerate(zip(starts, places, strict=True)):
            category = categories[int(rng.integers(len(categories)))]
            work_case(engine, rng, n, seed, category, lon, lat, when, now, calendar)
    return states(engine, seed)


def already_simulated(engine: Engine, seed: int) -> bool:
    """Whether this seed's history is in the database."""
    with engine.connect() as conn:
        found = conn.execute(text("SELECT 1 FROM incidents.incident WHERE external_id LIKE :p LIMIT 1"),
                             {"p": f"synthetic-{seed}-%"}).first()  # fmt: skip
    return found is not None


def states(engine: Engine, seed: int) -> list[dict[str, Any]]:
    """Incidents of this seed per state."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, count(*) FROM incidents.incident WHERE external_id LIKE :p "
                                 "GROUP BY state ORDER BY count(*) DESC"), {"p": f"synthetic-{seed}-%"})  # fmt: skip
        return [{"state": state, "incidents": int(n)} for state, n in rows]


def report_places(engine: Engine, rng: np.random.Generator, count: int) -> list[tuple[float, float]]:
    """Points at buildings: most around a few hotspots, the rest anywhere in the city."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p "
                                 "FROM basemap.building ORDER BY id) AS b")).all()  # fmt: skip
    points = np.array(rows, dtype=float)
    centres = points[rng.choice(len(points), HOTSPOTS, replace=False)]
    chosen = []
    for _ in range(count):
        if rng.random() < HOTSPOT_SHARE:
            centre = centres[int(rng.integers(HOTSPOTS))]
            near = np.argsort(((points - centre) ** 2).sum(axis=1))[:HOTSPOT_NEIGHBOURS]
            chosen.append(points[near[int(rng.integers(len(near)))]])
        else:
            chosen.append(points[int(rng.integers(len(points)))])
    return [(float(x), float(y)) for x, y in chosen]


def report_times(rng: np.random.Generator, count: int, days: int, now: dt.datetime,
                 calendar: WorkingCalendar) -> list[dt.datetime]:  # fmt: skip
    """Report moments over the last ``days``, mostly in working time (inspectors on patrol)."""
    start = now - dt.timedelta(days=days)
    moments = []
    for _ in range(count):
        at = start + dt.timedelta(minutes=float(rng.uniform(0, days * 24 * 60 - 120)))
        moments.append(calendar.add_working(at, 1) if rng.random() < 0.85 else at)
    return [min(m, now - dt.timedelta(minutes=5)) for m in moments]


def work_case(
    engine: Engine, rng: np.random.Generator, n: int, seed: int, category: dict[str, Any],
    lon: float, lat: float, when: dt.datetime, now: dt.datetime, calendar: WorkingCalendar,
) -> None:
    """File one report, then take it as far through the workflow as time allows."""
    reporter = INSPECTORS[n % len(INSPECTORS)]
    report = IncidentReport(
        category_code=category["code"], description=f"[synthetic] {category['name_zh']}",
        lon=lon, lat=lat, source="inspector", external_id=f"synthetic-{seed}-{n}", reported_at=when,
    )  # fmt: skip
    filed = file_incident(engine, report, principal=reporter, now=when)
    case = Case(filed.id, filed.routing.department_code, category["time_limits"], when, rng)
    handler = Principal(name=f"{case.department} 处置员 (synthetic)", role="editor",
                        department_code=case.department)  # fmt: skip
    step = _stepper(engine, case, now, calendar)
    if rng.random() < 0.05:
        step("not_register", SUPERVISOR, "register", reason="不属于城管受理范围 (synthetic)")
        return
    plan: list[tuple[str, Principal, str, dict[str, Any]]] = [
        ("register", SUPERVISOR, "register", {}), ("dispatch", DISPATCHER, "dispatch", {}),
        ("accept", handler, "handle", {"share": 0.1}), ("handled", handler, "handle", {"photo": True}),
    ]  # fmt: skip
    if rng.random() < 0.12:
        plan += [("rework", _verifier(n), "verify", {"reason": "处置不到位 (synthetic)"}),
                 ("handled", handler, "handle", {"photo": True, "share": 0.5})]  # fmt: skip
    plan += [("verify", _verifier(n), "verify", {}), ("close", SUPERVISOR, "close", {})]
    for action, actor, stage, options in plan:
        if not step(action, actor, stage, **options):
            return


def _stepper(engine: Engine, case: Case, now: dt.datetime, calendar: WorkingCalendar) -> Callable[..., bool]:
    """A function taking one action after a drawn delay; False once the delay passes ``now``."""

    def step(action: str, actor: Principal, stage: str, *, share: float = 1.0, photo: bool = False,
             reason: str | None = None) -> bool:  # fmt: skip
        minutes = float(case.rng.lognormal(np.log(0.6 * case.limits.get(stage, 60) * share + 1), 0.7))
        at = calendar.add_working(case.at, minutes)
        if at >= now:
            return False
        request = TransitionRequest(action=action, reason=reason, photos=[_photo()] if photo else [])
        transition(engine, case.id, request, principal=actor, calendar=calendar, now=at)
        case.at = at
        return True

    return step


def _verifier(n: int) -> Principal:
    """An inspector other than the one who reported (and never the handler)."""
    return INSPECTORS[(n + 3) % len(INSPECTORS)]


def _categories(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return list_categories(conn)


@functools.cache
def _photo() -> Any:
    """A tiny real PNG, the 处置反馈 evidence every handled step needs."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (16, 12), (90, 140, 60)).save(out, format="PNG")
    return check_photo(out.getvalue(), "synthetic.png")

