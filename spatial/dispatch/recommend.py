"""The nearest available units of a call's service, ranked by travel time over the road network.

The ranking is ``spatial.network.services.closest`` (the prepared graph, travel FROM each unit
TO the call: one-way streets driven their way). Units the network cannot bring to the call are
listed as unreachable; a call off the network is refused by it (InvalidInput, the distance named).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from spatial.access.principal import Principal
from spatial.dispatch.calls import get_call
from spatial.dispatch.roles import require_staff
from spatial.dispatch.units import list_units
from spatial.errors import DatabaseUnavailable, InvalidInput, OnemapError
from spatial.params import parse_int, parse_number

MAX_K = 20
MAX_SECONDS = 4 * 3600
log = logging.getLogger(__name__)


def _services() -> Any:
    """The network services module (the road-network helper's contract)."""
    try:
        from spatial.network import services  # type: ignore[attr-defined,unused-ignore]
    except ImportError as err:
        raise DatabaseUnavailable("the road-network services are not installed on this server: no ETA") from err
    return services


def recommend(conn: Connection, call_id: int, *, principal: Principal | None, k: int = 3,
              max_seconds: float | None = None, unit_types: tuple[str, ...] = ()) -> dict[str, Any]:  # fmt: skip
    """The ``k`` available units of the call's service with the shortest ETA (staff)."""
    require_staff(principal, "a recommendation")
    k = parse_int(k, name="k", minimum=1, maximum=MAX_K)
    if max_seconds is not None:
        max_seconds = parse_number(max_seconds, name="max_seconds", minimum=1, maximum=MAX_SECONDS)
    call = get_call(conn, call_id)
    units = [u for u in list_units(conn, services=(call["service"],), statuses=("available",))
             if not unit_types or u["unit_type"] in unit_types]  # fmt: skip
    answer: dict[str, Any] = {"call_id": call_id, "service": call["service"], "k": k, "max_seconds": max_seconds,
                              "candidates": len(units), "snap_m": None, "units": [], "unreachable": [],
                              "over_limit": []}  # fmt: skip
    if not units:
        return answer
    services = _services()
    candidates = [services.Candidate(u["id"], u["lon"], u["lat"]) for u in units]
    found = services.closest(conn, (call["lon"], call["lat"]), candidates, k, max_seconds=max_seconds,
                             towards_target=True)  # fmt: skip
    by_id = {u["id"]: u for u in units}
    answer["snap_m"] = found.snap_m
    answer["units"] = [by_id[item.id] | {"eta_seconds": item.seconds, "meters": item.meters, "snap_m": item.snap_m}
                       for item in found.items]  # fmt: skip
    answer["unreachable"] = [{"id": i, "call_sign": by_id[i]["call_sign"]} for i in found.unreachable if i in by_id]
    answer["over_limit"] = [{"id": i, "call_sign": by_id[i]["call_sign"]} for i in found.over_limit if i in by_id]
    return answer


def network_estimates(conn: Connection, target: tuple[float, float],
                      units: Sequence[tuple[int, float, float]]) -> dict[int, tuple[float, float]]:  # fmt: skip
    """{unit id: (seconds, metres)} to ``target`` for the units the network routes; {} when it cannot."""
    try:
        services = _services()
        with conn.begin_nested():  # a failed estimate must not abort the dispatch's transaction
            found = services.closest(conn, target, [services.Candidate(i, x, y) for i, x, y in units],
                                     len(units), towards_target=True)  # fmt: skip
    except (InvalidInput, OnemapError) as err:
        log.info("no network estimate for the dispatch: %s", err)
        return {}
    return {item.id: (item.seconds, item.meters) for item in found.items}
