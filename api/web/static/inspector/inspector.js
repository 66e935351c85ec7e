// The inspector page: pick a category, place the incident (geolocation or a map click), add a
// photo, and file it through the same API every client uses (POST /api/v1/incidents).
// Inspectors sign in once with their token: POST /api/v1/session keeps it in an HttpOnly
// cookie this script cannot read (api/session.py); reports then go with that cookie and the
// session's CSRF proof (X-CSRF-Token). Without a session a report is filed as the public's.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const map = L.map("map", { zoomControl: true }).setView([34.26, 108.94], 13);
  let marker = null;
  let who = null;  // the signed-in inspector ({name, role, department_code}), or null

  function place(lat, lon, how) {
    $("lat").value = lat.toFixed(7);
    $("lon").value = lon.toFixed(7);
    $("where").textContent = `${lon.toFixed(5)}, ${lat.toFixed(5)} (${how})`;
    if (marker) marker.setLatLng([lat, lon]); else marker = L.marker([lat, lon]).addTo(map);
  }

  map.on("click", (e) => place(e.latlng.lat, e.latlng.lng, "地图 map"));

  $("locate").addEventListener("click", () => {
    if (!navigator.geolocation) { $("where").textContent = "此浏览器无定位 no geolocation"; return; }
    navigator.geolocation.getCurrentPosition(
      (pos) => { place(pos.coords.latitude, pos.coords.longitude, "定位 GPS"); map.setView([pos.coords.latitude, pos.coords.longitude], 17); },
      (err) => { $("where").textContent = "定位失败 " + err.message; },
      { enableHighAccuracy: true, timeout: 10000 });
  });

  // ---- the session (the token itself is in an HttpOnly cookie; only its CSRF proof is readable)
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)onemap_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function setupAuth(message) {
    $("token").hidden = !!who;
    $("signin").textContent = who ? "退出 Sign out" : "登录 Sign in";
    $("who").className = message ? "error" : "";
    $("who").textContent = message || (who ? `已登录 Signed in: ${who.name} (${who.department_code} · ${who.role})`
                                           : "未登录：匿名上报 Not signed in: filed as the public");
  }

  async function whoAmI() {
    const res = await fetch("/api/v1/session", { headers: { Accept: "application/json" } });
    const body = await res.json();
    who = res.ok && body.signed_in ? body : null;
    // 401: the session's token was revoked or expired (the server cleared the cookie)
    setupAuth(res.status === 401 ? "登录失效 Session refused: " + body.description : null);
  }

  async function signInOrOut() {
    if (who) {
      await fetch("/api/v1/session", { method: "DELETE", headers: { "X-CSRF-Token": csrfToken() } });
      who = null;
      setupAuth(null);
      return;
    }
    const token = $("token").value.trim();
    if (!token) { $("token").focus(); return; }
    const res = await fetch("/api/v1/session", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token }),
    });
    const body = await res.json();
    $("token").value = "";
    who = res.ok ? body : null;
    setupAuth(res.ok ? null : "令牌无效 Token refused: " + body.description);
  }

  async function loadCategories() {
    const res = await fetch("/api/v1/incidents/categories");
    const body = await res.json();
    const select = $("category");
    const groups = {};
    for (const c of body.categories) {
      const key = `${c.major_code} ${c.major_name_zh} ${c.major_name_en} (${c.kind === "event" ? "事件" : "部件"})`;
      if (!groups[key]) { groups[key] = document.createElement("optgroup"); groups[key].label = key; select.appendChild(groups[key]); }
      const option = document.createElement("option");
      option.value = c.code;
      option.textContent = `${c.code} ${c.name_zh} ${c.name_en}`;
      groups[key].appendChild(option);
    }
  }

  // the current city's view (GET /api/v1/city); the unit grid, once loaded, narrows it
  async function showCity() {
    try {
      const res = await fetch("/api/v1/city");
      if (!res.ok) return;
      const city = await res.json();
      if (city.center && city.zoom !== null) map.setView([city.center[1], city.center[0]], city.zoom);
      else if (city.extent) map.fitBounds([[city.extent[1], city.extent[0]], [city.extent[3], city.extent[2]]]);
    } catch (err) { console.warn("city: " + err.message); }
  }

  async function showGrid() {
    const res = await fetch("/api/v1/layers");
    const layer = (await res.json()).layers.find((l) => l.id === "unit_grid");
    if (!layer) return;
    if (layer.bbox) map.fitBounds([[layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]]);
    L.vectorGrid.protobuf("/ogc/collections/unit_grid/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt", {
      minZoom: 14, maxNativeZoom: 18,
      vectorTileLayerStyles: { unit_grid: { weight: 1, color: "#3182bd", fill: false } },
    }).addTo(map);
  }

  // the answer as text: nothing from the server is parsed as markup
  function show(title, lines, ok) {
    const box = $("result");
    box.hidden = false;
    box.className = ok ? "" : "error";
    box.replaceChildren();
    const head = document.createElement("b");
    head.textContent = title;
    box.appendChild(head);
    for (const line of lines) {
      const p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    }
  }

  $("report").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData();
    form.append("category_code", $("category").value);
    form.append("description", $("description").value);
    form.append("source", who ? "inspector" : "public");
    if ($("lon").value) { form.append("lon", $("lon").value); form.append("lat", $("lat").value); }
    if ($("photo").files[0]) form.append("photo", $("photo").files[0]);
    const headers = who ? { "X-CSRF-Token": csrfToken() } : {};
    const res = await fetch("/api/v1/incidents", { method: "POST", body: form, headers });
    const body = await res.json();
    if (!res.ok) { show("未受理 Not accepted", [body.description], false); return; }
    const lines = [`网格 Cell ${body.cell_code || "—"} · 责任单位 ${body.department_code}`,
                   `立案时限 Register by ${new Date(body.register_due_at).toLocaleString()}`];
    if (body.possible_duplicates.length) {
      lines.push(`可能重复 Possible duplicates: ${body.possible_duplicates.map((d) => "#" + d.id).join(", ")}`);
    }
    show(`已上报 Filed #${body.id}`, lines, true);
  });

  $("signin").addEventListener("click", signInOrOut);
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); signInOrOut(); } });
  localStorage.removeItem("onemap-token");  // where earlier versions kept the token
  whoAmI().finally(() => { loadCategories(); showCity().then(showGrid); });
})();
