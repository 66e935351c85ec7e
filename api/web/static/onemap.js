/* The one-map page: catalogued layers on a Leaflet map, grouped by department. No CDN. */
(function () {
  "use strict";

  var lang = (localStorage.getItem("onemap.lang") || "zh");
  var DEFAULT_ON = { admin_divisions: true, roads: true, emergency_facilities: true };
  var PAGE_LIMIT = 2000;
  var map = L.map("map", { preferCanvas: true, zoomControl: true });
  var control = null;

  function t(zh, en) { return lang === "zh" ? zh : en; }

  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function popupHtml(layer, feature) {
    var rows = ["<b>" + escapeHtml(t(layer.title_zh, layer.title_en)) + "</b>", "<table class='popup-table'>"];
    var props = feature.properties || {};
    Object.keys(props).slice(0, 16).forEach(function (key) {
      if (props[key] === null || props[key] === "") { return; }
      rows.push("<tr><td>" + escapeHtml(key) + "</td><td>" + escapeHtml(props[key]) + "</td></tr>");
    });
    rows.push("</table>");
    return rows.join("");
  }

  function minZoomFor(layer) {
    var n = layer.feature_count || 0;
    if (n > 20000) { return 15; }
    if (n > 5000) { return 13; }
    return 0;
  }

  function vectorOverlay(layer) {
    var color = (layer.style && layer.style.color) || "#3366cc";
    var group = L.geoJSON(null, {
      style: function () { return { color: color, weight: 1.5, fillOpacity: 0.15 }; },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { radius: 5, color: color, weight: 1, fillOpacity: 0.8 });
      },
      onEachFeature: function (feature, lyr) { lyr.bindPopup(function () { return popupHtml(layer, feature); }); }
    });
    var pending = null;
    function refresh() {
      if (!map.hasLayer(group)) { return; }
      if (map.getZoom() < minZoomFor(layer)) { group.clearLayers(); return; }
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      var url = layer.links.items + "?f=json&limit=" + PAGE_LIMIT + "&bbox=" + bbox;
      if (pending) { pending.abort(); }
      pending = new AbortController();
      fetch(url, { signal: pending.signal, headers: { Accept: "application/geo+json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (fc) { group.clearLayers(); group.addData(fc); group.fire("onemap:loaded", { count: fc.features.length }); })
        .catch(function (err) { if (err.name !== "AbortError") { console.warn("layer " + layer.id + ": " + err.message); } });
    }
    group.on("add", refresh);
    map.on("moveend", refresh);
    return group;
  }

  function imageryBase(layer) {
    return L.tileLayer("/tiles/" + encodeURIComponent(layer.id) + "/{z}/{x}/{y}.png", {
      maxZoom: 20, maxNativeZoom: 18, attribution: escapeHtml(t(layer.title_zh, layer.title_en))
    });
  }

  function build(layers) {
    var overlays = {};
    var bases = {};
    bases[t("空白底图", "Blank")] = L.layerGroup();
    var firstBase = null;
    var seenDepartment = {};
    var bounds = null;
    layers.forEach(function (layer) {
      if (layer.bbox) {
        var lb = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]);
        bounds = bounds ? bounds.extend(lb) : lb;
      }
      if (layer.kind === "imagery") {
        var base = imageryBase(layer);
        bases[escapeHtml(t(layer.title_zh, layer.title_en))] = base;
        firstBase = firstBase || base;
        return;
      }
      if (!layer.links.items) { return; }
      var overlay = vectorOverlay(layer);
      var name = escapeHtml(t(layer.title_zh, layer.title_en));
      if (!seenDepartment[layer.department_code]) {
        seenDepartment[layer.department_code] = true;
        name = "<span class='leaflet-control-layers-group-name'>" +
          escapeHtml(t(layer.department_name_zh, layer.department_name_en)) + "</span>" + name;
      }
      overlays[name] = overlay;
      overlay.options.onemapId = layer.id;
      if (DEFAULT_ON[layer.id]) { overlay.addTo(map); }
    });
    if (control) { map.removeControl(control); }
    (firstBase || bases[t("空白底图", "Blank")]).addTo(map);
    control = L.control.layers(bases, overlays, { collapsed: false }).addTo(map);
    if (bounds) { map.fitBounds(bounds); } else { map.setView([34.26, 108.94], 12); }
  }

  function load() {
    fetch("/api/v1/layers", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (body) { window.onemapLayers = body.layers; build(body.layers); })
      .catch(function (err) { console.error("cannot load the layer catalog: " + err.message); });
  }

  document.getElementById("lang").textContent = lang === "zh" ? "EN" : "中文";
  document.getElementById("lang").addEventListener("click", function () {
    localStorage.setItem("onemap.lang", lang === "zh" ? "en" : "zh");
    window.location.reload();
  });
  L.control.scale({ imperial: false }).addTo(map);
  window.onemapMap = map;
  load();
})();
