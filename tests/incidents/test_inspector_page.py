"""The inspector app (/inspector) in headless Chromium on a phone viewport: base map, free zoom, locate me,
category search by 部件/事件 code, photos compressed on the phone, a filing made offline kept in IndexedDB
and sent exactly once when the network returns, my reports, and a 核查 task assigned back and verified.
Screenshots go to tests/artifacts/faces/inspector-*.png (not committed)."""

from __future__ import annotations

import io
from typing import Any

import httpx
from sqlalchemy import text

from spatial.config import PROJECT_ROOT
from spatial.incidents.photos import MAX_PHOTOS
from tests.browser import browser_page
from tests.incidents.conftest import GUIYI, IncidentCity, png_bytes

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts" / "faces"
PHONE = (390, 844)


def stored(city: IncidentCity) -> int:
    with city.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM incidents.incident")).scalar_one())


def call(city: IncidentCity, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {city.tokens[who]}", "Accept": "application/json"}
    return httpx.request(method, city.base + path, headers=headers, timeout=60, **kwargs)


def act(city: IncidentCity, who: str, incident: int, action: str, **fields: Any) -> dict[str, Any]:
    files = {"photo": ("done.png", png_bytes((40, 30)), "image/png")} if action == "handled" else None
    data = {"action": action, **{k: str(v) for k, v in fields.items()}}
    response = call(city, who, "POST", f"/api/v1/incidents/{incident}/transitions", data=data, files=files)
    assert response.status_code == 200, (action, response.text)
    return response.json()


def camera_photo(path: Any) -> int:
    """A 3000×2000 noisy PNG (a camera-sized picture, several MB); its size in bytes."""
    import numpy as np
    from PIL import Image

    pixels = np.random.default_rng(7).integers(0, 255, (2000, 3000, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="PNG")
    return path.stat().st_size


def wait_ready(page: Any) -> None:
    page.wait_for_function("() => window.inspectorReady === true")


def sign_in(page: Any, token: str) -> None:
    page.fill(".om-auth input.om-token", token)
    with page.expect_navigation():  # the sign-in bar reloads the page with the session cookie set
        page.click(".om-auth .om-signin")
    wait_ready(page)


def pick_category(page: Any, query: str, code: str) -> str:
    page.fill("#cat-search", query)
    choice = page.locator(f"#cat-results button.choice[data-code='{code}']")
    choice.wait_for()
    shown = choice.inner_text()
    choice.click()
    page.wait_for_function(f"() => document.getElementById('category').value === '{code}'")
    return shown


def test_inspector_files_online_and_offline_and_verifies(incident_city: IncidentCity, tmp_path) -> None:
    city = incident_city
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    photo = tmp_path / "camera.png"
    photo_bytes = camera_photo(photo)
    before = stored(city)
    with browser_page(viewport=PHONE) as (page, problems):
        page.context.grant_permissions(["geolocation"], origin=city.base)
        page.context.set_geolocation({"longitude": GUIYI[0], "latitude": GUIYI[1], "accuracy": 20})
        page.goto(f"{city.base}/inspector", wait_until="networkidle")
        wait_ready(page)
        # free zoom: the map's range is its own, not the grid layer's (minZoom 15)
        assert page.evaluate("() => document.querySelector('#map').getAttribute('data-base')") == "vector"
        assert page.locator("#locate img[src='/static/inspector/locate.svg']").count() == 1
        assert f"最多 {MAX_PHOTOS} 张" in page.inner_text("#photo-note")

        sign_in(page, city.tokens["inspector"])
        assert "inspector" in page.inner_text(".om-auth .om-who")
        assert city.tokens["inspector"] not in page.evaluate("() => document.cookie + JSON.stringify(localStorage)")
        # locate me: permission granted, the fake position in 归义区 is taken and the map zooms in on it
        page.click("#locate")
        page.wait_for_function("() => document.getElementById('where').textContent.startsWith('108.94')")
        page.wait_for_function("() => document.getElementById('cell').textContent.includes('网格')")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-located.png"))

        # category search by code shows class and code; by name finds several
        shown = pick_category(page, "0101", "0101")
        assert "部件" in shown and "0101" in shown and "上水井盖" in shown
        page.click("#cat-change")
        page.fill("#cat-search", "井盖")
        assert page.locator("#cat-results button.choice").count() >= 3
        pick_category(page, "0101", "0101")
        page.fill("#description", "井盖缺失，行人易跌落")
        page.set_input_files("#photo", str(photo))
        page.wait_for_selector("#thumbs li")
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-form.png"), full_page=True)
        page.click("#submit")
        page.wait_for_function("() => /#\\d+/.test(document.getElementById('result').textContent)")
        result = page.inner_text("#result")
        first = int(result.split("#")[1].split()[0])
        assert "610151" in result and "water" in result, result
        assert stored(city) == before + 1

        # the photo went up compressed: a JPEG whose longest edge is 1600 px, far smaller than the camera's
        record = call(city, "supervisor", "GET", f"/api/v1/incidents/{first}").json()
        assert record["source"] == "inspector" and len(record["photo_ids"]) == 1
        got = call(city, "supervisor", "GET", f"/api/v1/incidents/{first}/photos/{record['photo_ids'][0]}")
        from PIL import Image

        with Image.open(io.BytesIO(got.content)) as image:
            assert (image.format, image.size) == ("JPEG", (1600, 1067))
        assert len(got.content) < photo_bytes / 4

        # the service worker controls the page: it opens without network
        page.wait_for_function("() => navigator.serviceWorker && navigator.serviceWorker.controller !== null")

        # offline: the filing is kept in IndexedDB and shown, nothing reaches the server; online: sent once
        page.context.set_offline(True)
        page.wait_for_selector("#net:not([hidden])")
        shown = pick_category(page, "暴露垃圾", "1102")
        assert "事件" in shown and "1102" in shown
        page.fill("#description", "离线上报：暴露垃圾")
        page.click("#submit")
        page.wait_for_selector("#queued li")
        assert "离线" in page.inner_text("#result") and page.inner_text("#badge-report") == "1"
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-offline.png"))
        keys = [page.get_attribute("#queued li", "data-key")]
        assert stored(city) == before + 1
        page.context.set_offline(False)  # the online event sends it
        page.wait_for_selector("#outbox", state="hidden")
        assert "已补发" in page.inner_text("#result")
        assert stored(city) == before + 2

        # offline again, and the page reloaded without network: the shell comes from the service worker,
        # the outbox from IndexedDB; back online the retry button sends it, once
        page.context.set_offline(True)
        page.wait_for_selector("#net:not([hidden])")
        pick_category(page, "1104", "1104")
        page.fill("#description", "离线重开后补发：道路不洁")
        page.click("#submit")
        page.wait_for_selector("#queued li")
        keys.append(page.get_attribute("#queued li", "data-key"))
        page.reload(wait_until="load")
        wait_ready(page)
        page.wait_for_selector("#queued li")
        assert page.locator("#queued li").count() == 1
        page.wait_for_selector("#net:not([hidden])")  # the failed try tells it has no network
        # reopened offline, it still knows the session, the categories and where the phone is
        assert "inspector" in page.inner_text(".om-auth .om-who")
        page.wait_for_function("() => document.getElementById('where').textContent.startsWith('108.94')")
        page.wait_for_function("() => window.inspectorMap.getZoom() >= 17")  # on the phone's position
        pick_category(page, "1106", "1106")
        page.fill("#description", "离线重开后上报：绿地脏乱")
        page.click("#submit")
        page.wait_for_function("() => document.querySelectorAll('#queued li').length === 2")
        keys.append(page.get_attribute("#queued li:nth-child(2)", "data-key"))
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-offline-reopened.png"))
        assert stored(city) == before + 2
        page.context.set_offline(False)
        page.click("#retry")
        page.wait_for_selector("#outbox", state="hidden")
        page.evaluate("() => window.inspectorOutbox.flush()")  # once more: nothing left to send
        assert stored(city) == before + 4
        with city.engine.connect() as conn:
            copies = conn.execute(text("SELECT external_id, count(*) FROM incidents.incident WHERE external_id = ANY(:k) "
                                       "GROUP BY external_id"), {"k": keys}).all()  # fmt: skip
        assert sorted(copies) == sorted((k, 1) for k in keys)

        # my reports lists both
        page.click("#tab-mine")
        page.wait_for_selector(f"#mine-list li[data-id='{first}']")
        mine = page.inner_text("#mine-list")
        assert all(words in mine for words in ("井盖缺失", "离线上报：暴露垃圾", "离线重开后补发", "离线重开后上报"))
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(400)  # the map's fade-in after fitting the reports
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-mine.png"))

        # the centre assigns the 核查 of the first case back to this inspector; it appears and is verified
        act(city, "supervisor", first, "register")
        act(city, "commander", first, "dispatch", department="water")
        act(city, "water", first, "accept")
        act(city, "water", first, "handled", reason="已更换井盖")
        act(city, "supervisor", first, "assign_verifier", verifier="inspector")
        page.click("#tab-verify")
        page.click("#verify-refresh")
        card = page.locator(f"#verify-list li[data-id='{first}']")
        card.wait_for()
        page.wait_for_selector(f"#verify-list li[data-id='{first}'] .seen img")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(400)
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-verify.png"))
        card.locator("button[data-action=verify]").click()
        page.wait_for_function("() => document.getElementById('verify-message').textContent.includes('#')")
        assert call(city, "supervisor", "GET", f"/api/v1/incidents/{first}").json()["state"] == "verified"
    # while offline, requests fail by design (the page tries, the outbox keeps the filing): only those are allowed
    assert [p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p] == [], problems


def test_inspector_desktop_and_rework_needs_a_reason(incident_city: IncidentCity, tmp_path) -> None:
    city = incident_city
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    evidence = tmp_path / "evidence.png"
    evidence.write_bytes(png_bytes((2400, 1800)))
    filed = call(city, "inspector", "POST", "/api/v1/incidents",
                 json={"category_code": "0101", "lon": GUIYI[0] + 0.002, "lat": GUIYI[1], "source": "inspector",
                       "description": "<b>桥下</b> 井盖"}).json()  # fmt: skip
    for who, action, fields in (("supervisor", "register", {}), ("commander", "dispatch", {"department": "water"}),
                                ("water", "accept", {}), ("water", "handled", {}),
                                ("supervisor", "assign_verifier", {"verifier": "inspector"})):  # fmt: skip
        act(city, who, filed["id"], action, **fields)
    with browser_page(viewport=(1280, 800)) as (page, problems):
        page.goto(f"{city.base}/inspector", wait_until="networkidle")
        wait_ready(page)
        sign_in(page, city.tokens["inspector"])
        # a filing the server refuses (a point far outside the city), made offline: back online it moves
        # to the refused list with the server's words, and is not tried again
        page.context.set_offline(True)
        page.wait_for_selector("#net:not([hidden])")
        page.evaluate("() => window.inspectorMap.fire('click', {latlng: L.latLng(30.0, 100.0)})")
        pick_category(page, "1201", "1201")
        page.click("#submit")
        page.wait_for_selector("#queued li")
        before = stored(city)
        page.context.set_offline(False)
        page.wait_for_selector("#refused li")
        assert "outside the city" in page.inner_text("#refused") and page.is_hidden("#outbox")
        page.evaluate("() => window.inspectorOutbox.flush()")
        assert stored(city) == before
        page.locator("#refused li button").click()
        page.wait_for_selector("#refused-box", state="hidden")

        # the answer to a filing is lost on the way back (the server has it, the phone does not know):
        # the entry stays, and the next try sends it again with its Idempotency-Key: the server answers
        # with the incident it already filed instead of filing a second one
        def lose_answer(route: Any) -> None:
            if route.request.method != "POST":
                route.continue_()
                return
            route.fetch()
            route.abort("connectionreset")

        page.route("**/api/v1/incidents", lose_answer)
        page.evaluate("([lat, lon]) => window.inspectorMap.fire('click', {latlng: L.latLng(lat, lon)})", [GUIYI[1], GUIYI[0]])
        pick_category(page, "1203", "1203")
        page.fill("#description", "回执丢失的上报")
        page.click("#submit")
        page.wait_for_selector("#queued li")
        assert stored(city) == before + 1
        page.unroute("**/api/v1/incidents")
        with page.expect_response(lambda r: r.request.method == "POST" and r.url.endswith("/api/v1/incidents")) as sent:
            page.click("#retry")
        assert sent.value.status == 201 and sent.value.headers.get("idempotent-replayed") == "true"
        page.wait_for_selector("#outbox", state="hidden")
        assert stored(city) == before + 1
        assert "已上报" in page.inner_text("#result")
        page.click("#tab-verify")
        card = page.locator(f"#verify-list li[data-id='{filed['id']}']")
        card.wait_for()
        assert "<b>桥下</b>" in card.inner_text()  # data shown as text, never as markup
        card.locator("button[data-action=rework]").click()
        card.locator(".om-message.error").wait_for()
        card.locator("textarea").fill("井盖未固定")
        card.locator("input[type=file]").set_input_files(str(evidence))  # a photo of what is still wrong
        card.locator(".thumbs:not(.seen) li").wait_for()
        photos_before = len(call(city, "supervisor", "GET", f"/api/v1/incidents/{filed['id']}").json()["photo_ids"])
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(ARTIFACTS / "inspector-desktop.png"))
        card.locator("button[data-action=rework]").click()
        page.wait_for_function("() => document.getElementById('verify-message').textContent.includes('返工')")
        # free zoom: out well below the grid's minZoom (15), the map follows
        start = page.evaluate("() => window.inspectorMap.getZoom()")
        for _ in range(7):
            page.evaluate("() => { window.zoomed = new Promise((done) => window.inspectorMap.once('zoomend', done)); }")
            page.click(".leaflet-control-zoom-out")
            page.evaluate("() => window.zoomed")
        assert page.evaluate("() => window.inspectorMap.getZoom()") == max(3, start - 7) < 14
    record = call(city, "supervisor", "GET", f"/api/v1/incidents/{filed['id']}").json()
    assert record["state"] == "handling" and len(record["photo_ids"]) == photos_before + 1
    last = call(city, "supervisor", "GET", f"/api/v1/incidents/{filed['id']}/photos/{max(record['photo_ids'])}")
    assert last.headers["content-type"] == "image/jpeg"
    # the refused filing's 400 is an answer the page expects; offline failures are by design
    expected = [f"HTTP 400: {city.base}/api/v1/incidents",
                "console error: Failed to load resource: the server responded with a status of 400 (Bad Request)",
                f"request failed: {city.base}/api/v1/incidents (net::ERR_CONNECTION_RESET)",
                "console error: Failed to load resource: net::ERR_CONNECTION_RESET"]
    assert sorted(p for p in problems if "ERR_INTERNET_DISCONNECTED" not in p) == sorted(expected), problems


def test_service_worker_scope_and_photo_limit(incident_city: IncidentCity) -> None:
    worker = httpx.get(f"{incident_city.base}/inspector/sw.js")
    assert worker.status_code == 200 and worker.headers["service-worker-allowed"] == "/inspector"
    assert "javascript" in worker.headers["content-type"]
    page = httpx.get(f"{incident_city.base}/inspector").text
    assert f'data-max-photos="{MAX_PHOTOS}"' in page and "{{" not in page


def test_inspector_opens_on_the_city_imagery(demo_server: str) -> None:
    """With imagery in the catalog (the demo's), the base map is the city's imagery, roads and boundaries over it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with browser_page(viewport=PHONE) as (page, problems):
        tiles: list[int] = []
        page.on("response", lambda r: tiles.append(r.status) if "/tiles/" in r.url and r.url.endswith(".png") else None)
        page.goto(f"{demo_server}/inspector", wait_until="networkidle")
        wait_ready(page)
        assert page.get_attribute("#map", "data-base") == "imagery"
        page.evaluate("() => window.inspectorMap.setZoom(15)")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(400)
        page.screenshot(path=str(ARTIFACTS / "inspector-phone-imagery.png"))
        with page.expect_navigation():  # the language button: English, kept per browser
            page.click("#lang")
        wait_ready(page)
        assert page.inner_text("#tab-mine") == "My reports" and "Up to" in page.inner_text("#photo-note")
        page.fill("#cat-search", "manhole")
        assert page.locator("#cat-results button.choice").count() >= 3
    assert tiles and set(tiles) == {200}, tiles
    assert problems == [], problems
