"""Hypothesis properties: the address parser, the grid codes, and the workflow state machine.

The state machine runs against the real ``transition()`` on PostgreSQL: random actions by random
offices on one incident; whatever the sequence, the incident is in a known state, refusals change
nothing, and the version, the event chain and the stage clock agree with the state.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import text

from spatial.errors import Conflict, Forbidden, InvalidInput, OnemapError
from spatial.geocoding import parse
from spatial.grid.codes import CELL_CODE_DIGITS, GEO_LEVELS, cell_code, geo_grid_code

QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------ address parser
PROVINCES = st.sampled_from(["陕西省", "四川省", "广东省", ""])
CITIES = st.sampled_from(["西安市", "成都市", "广州市", ""])
DISTRICTS = st.sampled_from(["雁塔区", "长安区", "碑林区", ""])
ROAD_NAMES = st.text(alphabet="兴福文苑明德长乐东西南北中新华", min_size=1, max_size=4)
ROAD_TYPES = st.sampled_from(["路", "街", "大道", "巷"])
DIGITS_ZH = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """Chinese numerals for 1..99 (八十八, 十二, 七)."""
    tens, units = divmod(n, 10)
    if tens == 0:
        return DIGITS_ZH[units]
    return (DIGITS_ZH[tens] if tens > 1 else "") + "十" + (DIGITS_ZH[units] if units else "")


@QUICK
@given(st.text(max_size=300))
def test_parser_never_fails_on_any_text(raw: str) -> None:
    """Any text: a parsed address, or InvalidInput with a message; nothing else."""
    try:
        parsed = parse(raw)
    except InvalidInput as err:
        assert err.message
        return
    assert parsed.lang in ("zh", "en")
    assert all(isinstance(v, str) for v in parsed.as_dict().values())
    assert parsed.number_int is None or parsed.number_int >= 0


@QUICK
@given(PROVINCES, CITIES, DISTRICTS, ROAD_NAMES, ROAD_TYPES, st.integers(1, 9999), st.booleans(),
       st.none() | st.integers(1, 30))  # fmt: skip
def test_chinese_addresses_keep_road_and_number(province, city, district, road, kind, number, in_chinese, building) -> None:
    """A composed 省市区 + road + 号 (+ 栋) address: the road and the door number come back."""
    written = chinese_number(number) if in_chinese and number < 100 else str(number)
    address = f"{province}{city}{district}{road}{kind}{written}号" + (f"{building}栋" if building else "")
    parsed = parse(address)
    assert parsed.number_int == number, (address, parsed.as_dict())
    assert parsed.road is not None and parsed.road.endswith(f"{road}{kind}"), (address, parsed.as_dict())
    if building:
        assert parsed.building == str(building), (address, parsed.as_dict())
    if district:
        assert parsed.district == district or district in (parsed.context or ""), (address, parsed.as_dict())


@QUICK
@given(st.integers(1, 99999), st.sampled_from(["Main St", "W 17th St", "Broadway", "Elm Avenue"]),
       st.sampled_from(["New York, NY 10011", "Springfield, IL 62701", ""]))  # fmt: skip
def test_western_addresses_keep_number_and_street(number: int, street: str, rest: str) -> None:
    parsed = parse(f"{number} {street}" + (f", {rest}" if rest else ""))
    assert parsed.number_int == number
    assert parsed.road and parsed.road.split()[-1][:2] == street.lower().split()[-1][:2]


# ---------------------------------------------------------------------------------- grid codes
LEVELS = list(GEO_LEVELS)
LONS = st.floats(-180, 180, allow_nan=False)
LATS = st.floats(-90, 90, allow_nan=False)


@QUICK
@given(LONS, LATS, st.sampled_from(LEVELS))
def test_geo_grid_cell_contains_its_point(lon: float, lat: float, level: str) -> None:
    cell = geo_grid_code(lon, lat, level)
    x0, y0, x1, y1 = cell.bounds
    side = GEO_LEVELS[level][0] / 3600
    assert math.isclose(x1 - x0, side, rel_tol=1e-9) and math.isclose(y1 - y0, side, rel_tol=1e-9)
    assert x0 - 1e-9 <= lon <= x1 + 1e-9 and y0 - 1e-9 <= lat <= y1 + 1e-9
    assert cell.code.isdigit() and len(cell.code) == 6 + 2 * LEVELS.index(level)
    assert cell.code[0] == str(1 if lat >= 0 and lon >= 0 else 2 if lat >= 0 else 3 if lon < 0 else 4)


@QUICK
@given(LONS, LATS)
def test_geo_grid_codes_nest(lon: float, lat: float) -> None:
    """Each finer level's code extends the coarser one's, and its cell lies inside it."""
    cells = [geo_grid_code(lon, lat, level) for level in LEVELS]
    for coarse, fine in zip(cells, cells[1:], strict=False):
        assert fine.code.startswith(coarse.code)
        assert coarse.bounds[0] - 1e-9 <= fine.bounds[0] and fine.bounds[2] <= coarse.bounds[2] + 1e-9


@QUICK
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True),
       st.text(max_size=5))  # fmt: skip
def test_geo_grid_refuses_what_it_cannot_code(lon: float, lat: float, level: str) -> None:
    ok = -180 <= lon <= 180 and -90 <= lat <= 90 and level in GEO_LEVELS
    try:
        geo_grid_code(lon, lat, level)
    except InvalidInput:
        assert not ok
    else:
        assert ok


@QUICK
@given(st.text(alphabet="0123456789", min_size=1, max_size=16), st.integers(-5, 10**13))
def test_cell_codes_are_area_plus_sequence(area: str, sequence: int) -> None:
    width = CELL_CODE_DIGITS - len(area)
    fits = width >= 1 and 1 <= sequence < 10**width
    try:
        code = cell_code(area, sequence)
    except InvalidInput:
        assert not fits
        return
    assert fits and len(code) == CELL_CODE_DIGITS and code.startswith(area) and int(code[len(area):]) == sequence


# --------------------------------------------------------------------------- workflow machine
def workflow_machine(engine):  # type: ignore[no-untyped-def]
    """A RuleBasedStateMachine driving ``transition`` on one fresh incident per run."""
    from spatial.access.principal import Principal
    from spatial.incidents.filing import IncidentReport, file_incident
    from spatial.incidents.models import STATES
    from spatial.incidents.photos import check_photo
    from spatial.incidents.workflow import ACTIONS, TERMINAL, TransitionRequest, transition
    from tests.incidents.conftest import png_bytes
    from tests.reliability.conftest import CENTRE

    photo = check_photo(png_bytes())
    actors = {
        "supervisor": Principal("sup", "editor", "supervision"), "commander": Principal("cmd", "editor", "command"),
        "inspector": Principal("insp1", "inspector", "supervision"), "inspector2": Principal("insp2", "inspector", "urban"),
        "viewer": Principal("view", "viewer", "urban"), "stranger": Principal("str", "editor", "gardens"),
    }  # fmt: skip

    class Workflow(RuleBasedStateMachine):
        @initialize()
        def file(self) -> None:
            filed = file_incident(engine, IncidentReport("1102", lon=CENTRE[0], lat=CENTRE[1]), principal=None)
            self.id, self.other = filed.id, file_incident(engine, IncidentReport("1102", lon=CENTRE[0], lat=CENTRE[1] + 1e-3), principal=None).id
            self.department = filed.routing.department_code

        def row(self) -> dict:
            with engine.connect() as conn:
                return dict(conn.execute(text("SELECT * FROM incidents.incident WHERE id = :i"), {"i": self.id}).mappings().one())

        @rule(action=st.sampled_from(sorted(ACTIONS)), who=st.sampled_from([*actors, "handler"]),
              reason=st.sampled_from([None, "", "原因"]), with_photo=st.booleans(),
              minutes=st.sampled_from([None, 0, 60, 10**6]))  # fmt: skip
        def act(self, action: str, who: str, reason, with_photo: bool, minutes) -> None:
            before = self.row()
            principal = actors.get(who) or Principal("hdl", "editor", before["department_code"])
            request = TransitionRequest(action=action, reason=reason, photos=[photo] if with_photo else [],
                                        extension_minutes=minutes, merge_into=self.other)  # fmt: skip
            try:
                result = transition(engine, self.id, request, principal=principal)
            except (Conflict, Forbidden, InvalidInput):
                after = self.row()
                assert (after["state"], after["version"]) == (before["state"], before["version"]), "a refusal changed it"
                return
            spec = ACTIONS[action]
            assert before["state"] in spec.sources
            expected = before["suspended_from"] if action == "resume" else spec.target or before["state"]
            assert result.state == expected and result.version == before["version"] + 1

        @invariant()
        def consistent(self) -> None:
            if not hasattr(self, "id"):
                return
            row = self.row()
            with engine.connect() as conn:
                chain = conn.execute(text("SELECT from_state, to_state FROM incidents.incident_event "
                                          "WHERE incident_id = :i ORDER BY id"), {"i": self.id}).all()  # fmt: skip
            assert row["state"] in STATES
            assert row["version"] == len(chain) and chain[-1].to_state == row["state"]
            assert all(b.from_state == a.to_state for a, b in zip(chain, chain[1:], strict=False))
            assert (row["suspended_from"] is not None) == (row["state"] == "suspended")
            if row["state"] in TERMINAL or row["state"] == "suspended":
                assert row["stage_due_at"] is None
            else:
                assert row["stage_due_at"] is not None
            assert row["state"] != "closed" or row["closed_at"] is not None

    return Workflow


@pytest.mark.slow
def test_no_sequence_of_transitions_reaches_an_invalid_state(reliable_city) -> None:
    machine = workflow_machine(reliable_city.engine)
    machine.TestCase.settings = settings(max_examples=25, stateful_step_count=25, deadline=None,
                                         suppress_health_check=list(HealthCheck))  # fmt: skip
    machine.TestCase().runTest()


def test_a_refused_action_is_a_domain_error() -> None:
    """Unknown actions are InvalidInput before any database work."""
    from spatial.incidents.workflow import TransitionRequest, transition

    with pytest.raises(OnemapError):
        transition(None, 1, TransitionRequest(action="teleport"), principal=None)  # type: ignore[arg-type]
