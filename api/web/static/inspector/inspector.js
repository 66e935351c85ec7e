// The inspector page: pick a category, place the incident (geolocation or a map click), add a
// photo, and file it through the same API every client uses (POST /api/v1/incidents).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const map = L.map("map", { zoomControl: true }).setView([34.26, 108.94], 13);
  let marker = null;

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

  function show(html, ok) {
    const box = $("result");
    box.hidden = false;
    box.className = ok ? "" : "error";
    box.innerHTML = html;
  }

  $("report").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = new FormData();
    const token = $("token").value.trim();
    form.append("category_code", $("category").value);
    form.append("description", $("description").value);
    form.append("source", token ? "inspector" : "public");
    if ($("lon").value) { form.append("lon", $("lon").value); form.append("lat", $("lat").value); }
    if ($("photo").files[0]) form.append("photo", $("photo").files[0]);
    if (token) localStorage.setItem("onemap-token", token);
    const headers = token ? { Authorization: "Bearer " + token } : {};
    const res = await fetch("/api/v1/incidents", { method: "POST", body: form, headers });
    const body = await res.json();
    if (!res.ok) { show(`<b>未受理 Not accepted</b><p>${body.description}</p>`, false); return; }
    const dups = body.possible_duplicates.length ? `<p>可能重复 Possible duplicates: ${body.possible_duplicates.map((d) => "#" + d.id).join(", ")}</p>` : "";
    show(`<b>已上报 Filed #${body.id}</b><p>网格 Cell ${body.cell_code || "—"} · 责任单位 ${body.department_code}</p>` +
         `<p>立案时限 Register by ${new Date(body.register_due_at).toLocaleString()}</p>${dups}`, true);
  });

  $("token").value = localStorage.getItem("onemap-token") || "";
  loadCategories();
  showGrid();
})();
