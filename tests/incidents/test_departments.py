"""GET /api/v1/departments: every department for staff (the console's 派遣 choice), none for anonymous callers."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from layers.catalog import upsert_department
from tests.incidents.conftest import IncidentCity

SCRIPT = "<script>alert(1)</script>"


def departments(city: IncidentCity, role: str | None) -> httpx.Response:
    headers = city.auth(role) if role else {}
    return httpx.get(f"{city.base}/api/v1/departments", headers=headers, timeout=30)


def test_anonymous_callers_are_refused(incident_city: IncidentCity) -> None:
    answer = departments(incident_city, None)
    assert answer.status_code == 401, answer.text
    assert "staff" in answer.json()["description"]


def test_staff_see_every_department_by_code(incident_city: IncidentCity) -> None:
    with incident_city.engine.begin() as conn:  # no incident and no category sends anything there
        upsert_department(conn, "gas_test", f"燃气公司{SCRIPT}", f"Gas {SCRIPT}")
        used = conn.execute(text("SELECT count(*) FROM incidents.incident WHERE department_code = 'gas_test'")).scalar_one()
        in_db = conn.execute(text("SELECT code, name_zh, name_en FROM catalog.department ORDER BY code COLLATE \"C\"")).all()
    assert used == 0
    for role in ("viewer", "water", "inspector"):
        answer = departments(incident_city, role)
        assert answer.status_code == 200, answer.text
        listed = answer.json()["departments"]
        assert [(d["code"], d["name_zh"], d["name_en"]) for d in listed] == [tuple(r) for r in in_db]
        assert [d["code"] for d in listed] == sorted(d["code"] for d in listed)
    gas = next(d for d in listed if d["code"] == "gas_test")
    assert gas == {"code": "gas_test", "name_zh": f"燃气公司{SCRIPT}", "name_en": f"Gas {SCRIPT}"}  # data, as stored
    assert answer.headers["content-type"].startswith("application/json")
