/* The one-map portal (/): the catalogued layers on a Leaflet map, grouped by department, with a
   legend per layer, metadata and download links, a message when a layer is not drawn at this
   zoom, a time slider for layers with time, the imagery scene picker, identify with field aliases
   and a URL that keeps the view. Search, measure and the swipe compare: portal/tools.js. Shared
   with the other faces: /static/faces/common.js (window.OM: session cookie, CSRF, api, el, t).
   Nothing is written into the page as HTML: data goes in as text. No CDN. */
(function () {
  "use strict";
  var OM = window.OM, t = OM.t, el = OM.el, Fields = window.PortalFields;
  var PAGE_LIMIT = 5000;  /* features per request; denser views ask to zoom in */
  var DEFAULT_ON = { admin_divisions: true, roads: true, emergency_facilities: true, aq_stations: true };
  var TYPE_RANK = { polygon: 0, outline: 1, line: 2, point: 3 };
  var PHONE = window.matchMedia("(max-width: 640px)");

  var map = L.map("map", { preferCanvas: true, zoomControl: false, attributionControl: true });
  L.control.zoom({ position: "topleft", zoomInTitle: t("放大", "Zoom in"), zoomOutTitle: t("缩小", "Zoom out") }).addTo(map);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
  map.attributionControl.setPrefix(false);

  var P = window.Portal = {
    map: map, overlays: {}, order: [], bases: [], base: null, scene: "", mode: "browse",
    lastItems: {}, time: null, layers: [], city: null
  };
  window.onemapMap = map;

  /* ------------------------------------------------------------------ overlays */
  function Overlay(layer, index) {
    var self = this;
    this.layer = layer;
    this.id = layer.id;
    this.sym = new Fields.Symbology(layer);
    this.kind = this.sym.kind();
    this.pane = "ov-" + index;
    this.z = 400 + TYPE_RANK[this.kind] * 40 + index;
    map.createPane(this.pane).style.zIndex = String(this.z);
    this.state = "off";
    this.matched = null;
    this.returned = 0;
    this.pending = null;
    var dashed = layer.id === "admin_divisions";
    this.group = L.geoJSON(null, {
      pane: this.pane,
      interactive: false,
      style: function (feature) {
        var props = feature.properties;
        if (self.kind === "point") {
          return { color: "#fff", weight: 1, fill: true, fillColor: self.sym.colorOf(props), fillOpacity: 0.9, interactive: false };
        }
        return { color: self.sym.colorOf(props), weight: self.sym.widthOf(props), dashArray: dashed ? "6 4" : null,
                 fill: self.kind === "polygon", fillOpacity: 0.25, interactive: false };
      },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { pane: self.pane, radius: self.sym.radius, color: "#fff", weight: 1,
                                        fillColor: self.sym.colorOf(feature.properties), fillOpacity: 0.9, interactive: false });
      }
    });
    this.group.on("add", function () { if (self.timed()) { setupTime(); } self.refresh(); });
    this.group.on("remove", function () { self.abort(); self.state = "off"; if (self.timed()) { setupTime(); } update(); });
  }
  Overlay.prototype.on = function () { return map.hasLayer(this.group); };
  Overlay.prototype.timed = function () { return !!(this.layer.time_start && this.layer.time_end); };
  Overlay.prototype.abort = function () { if (this.pending) { this.pending.abort(); this.pending = null; } };

  /* how many of the layer's features the view would hold (the catalog's count, spread over its extent and time) */
  Overlay.prototype.estimate = function () {
    var n = this.layer.feature_count || 0, bb = this.layer.bbox;
    if (!bb || n === 0) { return n; }
    var v = map.getBounds();
    var w = Math.max(0, Math.min(v.getEast(), bb[2]) - Math.max(v.getWest(), bb[0]));
    var h = Math.max(0, Math.min(v.getNorth(), bb[3]) - Math.max(v.getSouth(), bb[1]));
    var whole = Math.max((bb[2] - bb[0]) * (bb[3] - bb[1]), 1e-12);
    var share = Math.min(1, (w * h) / whole);
    if (this.timed() && P.time && P.time.active) { share *= P.time.share; }
    return n * share;
  };
  /* the zoom from which the layer is drawn here (each level in shows a quarter of the area) */
  Overlay.prototype.minZoom = function () {
    var e = this.estimate();
    return e <= PAGE_LIMIT ? map.getZoom() : map.getZoom() + Math.ceil(Math.log(e / PAGE_LIMIT) / Math.log(4));
  };
  Overlay.prototype.refresh = function () {
    var self = this;
    if (!this.on()) { return; }
    if (this.estimate() > PAGE_LIMIT) {
      this.abort(); this.group.clearLayers(); this.state = "zoom"; update(); return;
    }
    var b = map.getBounds();
    var bbox = [Math.max(b.getWest(), -180), Math.max(b.getSouth(), -90), Math.min(b.getEast(), 180), Math.min(b.getNorth(), 90)]
      .map(function (v) { return v.toFixed(6); }).join(",");
    var url = this.layer.links.items + "?f=json&limit=" + PAGE_LIMIT + "&bbox=" + bbox;
    if (this.timed() && P.time && P.time.active) { url += "&datetime=" + encodeURIComponent(P.time.datetime); }
    P.lastItems[this.id] = url;
    this.abort();
    this.pending = new AbortController();
    this.state = this.state === "off" || this.state === "zoom" ? "loading" : this.state;
    OM.authFetch(url, { signal: this.pending.signal, headers: { Accept: "application/geo+json" } })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (fc) {
        self.pending = null;
        self.group.clearLayers();
        self.group.addData(fc);
        self.returned = fc.features.length;
        self.matched = typeof fc.numberMatched === "number" ? fc.numberMatched : null;
        self.state = self.matched !== null && self.matched > self.returned ? "partial" : "shown";
        update();
        map.fire("portal:loaded", { layer: self.id, count: self.returned });
      })
      .catch(function (err) {
        if (err.name === "AbortError") { return; }
        self.pending = null; self.state = "error"; self.error = err.message; update();
      });
  };

  /* ------------------------------------------------------------------ base maps and scenes */
  function tileUrl(layerId, scene) {
    return "/tiles/" + encodeURIComponent(layerId) + "/{z}/{x}/{y}.png" + (scene ? "?scene=" + encodeURIComponent(scene) : "");
  }
  P.tileUrl = tileUrl;
  function imageryBase(layer) {
    var options = { maxZoom: 20, maxNativeZoom: 18, attribution: OM.escapeHtml(t(layer.title_zh, layer.title_en)) };
    if (layer.bbox) { options.bounds = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]); }
    return L.tileLayer(tileUrl(layer.id, ""), options);  /* the session cookie goes with the tile images */
  }
  var sceneCache = {};
  P.scenes = function (layerId) {
    if (!sceneCache[layerId]) {
      sceneCache[layerId] = OM.api("/api/v1/imagery/" + encodeURIComponent(layerId) + "/scenes")
        .then(function (body) { return body.scenes || []; })
        .catch(function () { return []; });
    }
    return sceneCache[layerId];
  };
  P.sceneLabel = function (scene) {
    var when = scene.acquired ? String(scene.acquired).slice(0, 10) : t("日期未知", "date unknown");
    return scene.id + " · " + when + (scene.sensor ? " · " + scene.sensor : "");
  };
  function setBase(id, scene) {
    P.bases.forEach(function (b) { map.removeLayer(b.layer); });
    var base = P.bases.filter(function (b) { return b.id === id; })[0] || P.bases[P.bases.length - 1];
    P.base = base;
    P.scene = base.id ? (scene || "") : "";
    if (base.id) { base.layer.setUrl(tileUrl(base.id, P.scene)); }
    base.layer.addTo(map);
    if (base.layer.bringToBack) { base.layer.bringToBack(); }
    window.onemapBase = base.id;
    renderBases();
    saveHash();
  }
  P.setBase = setBase;

  /* ------------------------------------------------------------------ time slider */
  var STEPS = [[45 * 86400e3, 3600e3, "hour"], [3 * 366 * 86400e3, 86400e3, "day"], [Infinity, 30 * 86400e3, "month"]];
  function setupTime() {
    var timed = P.order.filter(function (o) { return o.timed() && o.on(); });
    var box = document.getElementById("time");
    document.body.classList.toggle("pt-timed", timed.length > 0);
    if (!timed.length) { box.hidden = true; if (P.time) { P.time.active = false; } return; }
    var start = Math.min.apply(null, timed.map(function (o) { return Date.parse(o.layer.time_start); }));
    var end = Math.max.apply(null, timed.map(function (o) { return Date.parse(o.layer.time_end); }));
    var span = Math.max(end - start, 1);
    var step = STEPS.filter(function (s) { return span <= s[0]; })[0];
    var count = Math.floor(span / step[1]) + 1;
    var input = document.getElementById("time-range");
    if (!P.time || P.time.start !== start || P.time.end !== end) {
      P.time = { start: start, end: end, step: step[1], unit: step[2], count: count, active: true };
      input.min = "0"; input.max = String(count - 1); input.step = "1"; input.value = String(count - 1);
    }
    P.time.active = true;
    box.hidden = false;
    applyTime(false);
  }
  function applyTime(reload) {
    var input = document.getElementById("time-range");
    var from = P.time.start + Number(input.value) * P.time.step;
    var to = from + P.time.step - 1000;
    P.time.from = from;
    P.time.share = Math.min(1, P.time.step / Math.max(P.time.end - P.time.start + P.time.step, 1));
    P.time.datetime = new Date(from).toISOString().replace(".000Z", "Z") + "/" + new Date(to).toISOString().replace(".000Z", "Z");
    var d = new Date(from);
    var label = P.time.unit === "hour" ? d.toLocaleString(OM.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" })
      : d.toLocaleDateString(OM.lang === "zh" ? "zh-CN" : "en-GB");
    document.getElementById("time-value").textContent = label;
    input.setAttribute("aria-valuetext", label);
    if (reload) { P.order.forEach(function (o) { if (o.timed()) { o.refresh(); } }); saveHash(); }
  }
  var timeTimer = null;
  document.getElementById("time-range").addEventListener("input", function () {
    clearTimeout(timeTimer);
    timeTimer = setTimeout(function () { applyTime(true); }, 200);
  });

  /* ------------------------------------------------------------------ the panel */
  var panel = document.getElementById("panel");
  var toggle = document.getElementById("panel-toggle");
  function openPanel(open) {
    panel.hidden = !open;
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    document.body.classList.toggle("pt-panel-open", open);
  }
  toggle.addEventListener("click", function () { openPanel(panel.hidden); });
  document.getElementById("panel-close").addEventListener("click", function () { openPanel(false); toggle.focus(); });

  function renderBases() { keepingFocus(drawBases); }
  function drawBases() {
    var box = document.getElementById("bases");
    box.textContent = "";
    P.bases.forEach(function (base) {
      var input = el("input", { type: "radio", name: "pt-base", value: base.id, "data-base": base.id, id: "base-" + (base.id || "blank") });
      input.checked = P.base === base;
      input.addEventListener("change", function () { setBase(base.id, ""); });
      box.appendChild(el("label", { class: "pt-row" }, [input, " " + base.name]));
      if (base.id && P.base === base) {
        var select = el("select", { id: "scene", "aria-label": t("影像场景", "Imagery scene") });
        select.appendChild(el("option", { value: "", text: t("全部场景（最新在上）", "All scenes (latest on top)") }));
        var legend = base.layer_entry.style || {};
        var info = el("div", { class: "pt-legend pt-muted", text: (legend.bands ? t("波段 ", "bands ") + legend.bands.join(",") : "") +
                                 (legend.rescale ? t(" · 拉伸 ", " · stretch ") + legend.rescale.join("–") : "") });
        box.appendChild(el("div", { class: "pt-scenes" }, [el("label", { for: "scene", class: "pt-muted", text: t("场景", "Scene") }), select, info]));
        P.scenes(base.id).then(function (scenes) {
          scenes.forEach(function (s) { select.appendChild(el("option", { value: s.id, text: P.sceneLabel(s) })); });
          select.value = P.scene;
          select.dataset.count = String(scenes.length);
        });
        select.addEventListener("change", function () { setBase(base.id, select.value); });
      }
    });
  }

  function links(layer) {
    var box = el("div", { class: "pt-links" });
    box.appendChild(el("a", { href: "/records/collections/catalog/items/" + encodeURIComponent(layer.id), target: "_blank",
                              rel: "noopener", class: "pt-meta", text: t("元数据", "Metadata") }));
    if (layer.links && layer.links.download && layer.kind !== "imagery") {
      box.appendChild(el("span", { class: "pt-muted", text: t("下载：", "Download: ") }));
      [["gpkg", "GPKG"], ["shp", "SHP"], ["csv", "CSV"], ["geojson", "GeoJSON"]].forEach(function (f) {
        box.appendChild(el("a", { href: layer.links.download + "?f=" + f[0], class: "pt-download", "data-format": f[0],
                                  download: "", text: f[1] }));
      });
    }
    return box;
  }

  function legendList(overlay) {
    var list = el("ul", { class: "pt-legend" });
    overlay.sym.legend().slice(0, 12).forEach(function (entry) {
      list.appendChild(el("li", {}, [Fields.swatch(entry), " " + entry.label]));
    });
    return list;
  }

  function stateText(o) {
    if (o.state === "zoom") { return t("放大到 " + o.minZoom() + " 级可见", "visible from zoom " + o.minZoom()); }
    if (o.state === "partial") { return o.returned + " / " + o.matched; }
    if (o.state === "loading") { return t("加载中…", "loading…"); }
    if (o.state === "error") { return t("加载失败", "failed"); }
    return "";
  }

  /* rebuilding a list keeps the keyboard where it was */
  function keepingFocus(render) {
    var focused = document.activeElement && document.activeElement.id;
    render();
    var again = focused && document.getElementById(focused);
    if (again && again !== document.activeElement) { again.focus(); }
  }

  function renderOverlays() { keepingFocus(drawOverlays); }
  function drawOverlays() {
    var box = document.getElementById("overlays");
    box.textContent = "";
    var groups = {}, names = [];
    P.order.forEach(function (o) {
      var code = o.layer.department_code;
      if (!groups[code]) { groups[code] = []; names.push([code, t(o.layer.department_name_zh, o.layer.department_name_en)]); }
      groups[code].push(o);
    });
    names.forEach(function (pair) {
      var section = el("section", { class: "pt-group", "aria-label": pair[1] }, [el("h3", { text: pair[1] })]);
      groups[pair[0]].forEach(function (o) {
        var input = el("input", { type: "checkbox", "data-layer": o.id, id: "ov-" + o.id });
        input.checked = o.on();
        input.addEventListener("change", function () {
          if (input.checked) { o.group.addTo(map); } else { map.removeLayer(o.group); }
          saveHash(); renderOverlays();
        });
        var more = el("button", { type: "button", class: "pt-more", id: "more-" + o.id, "aria-expanded": o.open ? "true" : "false",
                                  "aria-controls": "details-" + o.id, title: t("图例、元数据与下载", "Legend, metadata and downloads"),
                                  "aria-label": t("详情：", "Details: ") + t(o.layer.title_zh, o.layer.title_en), text: "⋯" });
        var details = el("div", { class: "pt-details", id: "details-" + o.id }, [
          o.layer.description ? el("p", { class: "pt-muted", text: o.layer.description }) : null,
          o.timed() ? el("p", { class: "pt-muted", text: t("时间：", "Time: ") + OM.formatTime(o.layer.time_start) + " – " + OM.formatTime(o.layer.time_end) }) : null,
          links(o.layer)
        ]);
        details.hidden = !o.open;
        more.addEventListener("click", function () { o.open = !o.open; renderOverlays(); });
        var row = el("div", { class: "pt-layer", "data-layer": o.id, "data-state": o.state }, [
          el("div", { class: "pt-row" }, [
            input,
            el("label", { for: "ov-" + o.id }, [Fields.swatch(o.sym.legend()[0]), " " + t(o.layer.title_zh, o.layer.title_en)]),
            el("span", { class: "pt-state", text: stateText(o) }), more
          ]),
          o.on() && o.sym.legend().length > 1 ? legendList(o) : null,
          details
        ]);
        section.appendChild(row);
      });
      box.appendChild(section);
    });
  }

  /* ------------------------------------------------------------------ the zoom message */
  function renderNote() {
    var note = document.getElementById("zoom-note");
    note.textContent = "";
    var hidden = P.order.filter(function (o) { return o.on() && o.state === "zoom"; });
    var partial = P.order.filter(function (o) { return o.on() && o.state === "partial"; });
    hidden.forEach(function (o) {
      var z = o.minZoom(), name = t(o.layer.title_zh, o.layer.title_en);
      var button = el("button", { type: "button", class: "om-btn secondary", text: t("放大", "Zoom in") });
      button.addEventListener("click", function () { map.setZoom(Math.min(z, map.getMaxZoom())); });
      note.appendChild(el("div", { class: "pt-note-row", "data-layer": o.id }, [
        el("span", { text: t("「" + name + "」在此比例尺下要素太多，放大到第 " + z + " 级查看", "Zoom in to see " + name + " (from zoom " + z + ")") }), button]));
    });
    partial.forEach(function (o) {
      var name = t(o.layer.title_zh, o.layer.title_en);
      note.appendChild(el("div", { class: "pt-note-row", "data-layer": o.id }, [el("span", {
        text: t("「" + name + "」仅显示 " + o.returned + " / " + o.matched + " 个，放大查看全部",
                name + ": " + o.returned + " of " + o.matched + " shown, zoom in for all") })]));
    });
    note.hidden = !(hidden.length || partial.length);
  }

  var updateQueued = false;
  function update() {
    if (updateQueued) { return; }
    updateQueued = true;
    window.requestAnimationFrame(function () { updateQueued = false; renderOverlays(); renderNote(); });
  }
  P.update = update;

  /* ------------------------------------------------------------------ the URL keeps the view */
  var restoring = true;
  function saveHash() {
    if (restoring || !map._loaded) { return; }
    var c = map.getCenter(), z = map.getZoom();
    var digits = Math.max(4, Math.min(7, Math.round(z / 3) + 1));
    var enc = encodeURIComponent;
    var parts = [z, c.lat.toFixed(digits), c.lng.toFixed(digits),
                 "l=" + P.order.filter(function (o) { return o.on(); }).map(function (o) { return enc(o.id); }).join(","),
                 "b=" + enc(P.base ? P.base.id : "")];
    if (P.scene) { parts.push("s=" + enc(P.scene)); }
    if (P.time && P.time.active) { parts.push("t=" + enc(document.getElementById("time-range").value)); }
    window.history.replaceState(null, "", "#" + parts.join("/"));
  }
  P.saveHash = saveHash;
  function readHash() {
    var parts = window.location.hash.replace(/^#/, "").split("/").map(function (p) {
      try { return decodeURIComponent(p); } catch (e) { return ""; }
    });
    if (parts.length < 3) { return null; }
    var z = parseInt(parts[0], 10), lat = parseFloat(parts[1]), lon = parseFloat(parts[2]);
    if (!isFinite(z) || !isFinite(lat) || !isFinite(lon)) { return null; }
    var out = { zoom: z, center: L.latLng(lat, lon), layers: null, base: null, scene: "", time: null };
    parts.slice(3).forEach(function (p) {
      var key = p.slice(0, 2), value = p.slice(2);
      if (key === "l=") { out.layers = value ? value.split(",") : []; }
      if (key === "b=") { out.base = value; }
      if (key === "s=") { out.scene = value; }
      if (key === "t=") { out.time = value; }
    });
    return out;
  }

  /* ------------------------------------------------------------------ identify */
  var queryables = {};
  function queryablesOf(layer) {
    if (!queryables[layer.id]) {
      queryables[layer.id] = layer.links.collection
        ? OM.api(layer.links.collection + "/queryables?f=json").catch(function () { return null; })
        : Promise.resolve(null);
    }
    return queryables[layer.id];
  }
  function rings(latlngs, out) {
    if (!latlngs.length) { return out; }
    if (latlngs[0] instanceof L.LatLng) { out.push(latlngs); } else { latlngs.forEach(function (x) { rings(x, out); }); }
    return out;
  }
  function segmentDistance(p, a, b) {
    var dx = b.x - a.x, dy = b.y - a.y, len = dx * dx + dy * dy;
    var k = len ? Math.max(0, Math.min(1, ((p.x - a.x) * dx + (p.y - a.y) * dy) / len)) : 0;
    return Math.hypot(p.x - (a.x + k * dx), p.y - (a.y + k * dy));
  }
  function nearLine(point, ring, closed, tolerance) {
    var pts = ring.map(function (ll) { return map.latLngToContainerPoint(ll); });
    if (closed) { pts.push(pts[0]); }
    for (var i = 1; i < pts.length; i += 1) { if (segmentDistance(point, pts[i - 1], pts[i]) <= tolerance) { return true; } }
    return false;
  }
  function inside(latlng, ring) {
    var x = latlng.lng, y = latlng.lat, hit = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i, i += 1) {
      var xi = ring[i].lng, yi = ring[i].lat, xj = ring[j].lng, yj = ring[j].lat;
      if ((yi > y) !== (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) { hit = !hit; }
    }
    return hit;
  }
  function hits(latlng) {
    var point = map.latLngToContainerPoint(latlng), found = [];
    var near = L.latLngBounds(map.containerPointToLatLng(point.subtract([8, 8])), map.containerPointToLatLng(point.add([8, 8])));
    P.order.filter(function (o) { return o.on(); }).sort(function (a, b) { return b.z - a.z; }).forEach(function (o) {
      var layers = o.group.getLayers();
      for (var i = layers.length - 1; i >= 0; i -= 1) {
        if (hitLayer(layers[i], o, latlng, point, near)) { found.push({ overlay: o, feature: layers[i].feature }); break; }
      }
    });
    return found;
  }
  function hitLayer(lyr, o, latlng, point, near) {
    if (lyr instanceof L.CircleMarker) {
      return point.distanceTo(map.latLngToContainerPoint(lyr.getLatLng())) <= lyr.getRadius() + 4;
    }
    if (lyr.getLatLngs) {
      if (!lyr.getBounds().intersects(near)) { return false; }
      var all = rings(lyr.getLatLngs(), []);
      if (lyr instanceof L.Polygon && o.kind === "polygon") {
        /* even-odd over all rings: holes and multipolygons alike */
        return all.filter(function (r) { return inside(latlng, r); }).length % 2 === 1;
      }
      return all.some(function (r) { return nearLine(point, r, lyr instanceof L.Polygon, (lyr.options.weight || 2) / 2 + 4); });
    }
    if (lyr.getLayers) {  /* multipoints and geometry collections */
      return lyr.getLayers().some(function (child) { return hitLayer(child, o, latlng, point, near); });
    }
    return false;
  }
  function showIdentify(latlng, found, index) {
    var hit = found[index], layer = hit.overlay.layer;
    queryablesOf(layer).then(function (q) {
      var rows = Fields.rows(layer, hit.feature.properties, q);
      window.onemapIdentify = { layer: layer.id, id: hit.feature.id, rows: rows };
      var table = el("table", { class: "pt-identify" });
      rows.forEach(function (r) { table.appendChild(el("tr", {}, [el("th", { scope: "row", text: r.label }), el("td", { text: r.value })])); });
      var box = el("div", { class: "pt-popup" }, [el("h4", { text: t(layer.title_zh, layer.title_en) }), table]);
      if (found.length > 1) {
        var others = el("div", { class: "pt-others" }, [el("span", { class: "pt-muted", text: t("此处还有：", "Also here: ") })]);
        found.forEach(function (h, i) {
          if (i === index) { return; }
          var b = el("button", { type: "button", class: "pt-linklike", text: t(h.overlay.layer.title_zh, h.overlay.layer.title_en) });
          b.addEventListener("click", function () { showIdentify(latlng, found, i); });
          others.appendChild(b);
        });
        box.appendChild(others);
      }
      L.popup({ maxWidth: 320, maxHeight: 320, autoPanPadding: [20, 60] }).setLatLng(latlng).setContent(box).openOn(map);
    });
  }
  /* no feature here: the pixel values of the imagery base map (GET /api/v1/imagery/{layer}/point) */
  function identifyPixel(latlng) {
    var base = P.base;
    if (!base || !base.id) { return; }
    var url = "/api/v1/imagery/" + encodeURIComponent(base.id) + "/point?lon=" + latlng.lng.toFixed(7) +
              "&lat=" + latlng.lat.toFixed(7) + (P.scene ? "&scene=" + encodeURIComponent(P.scene) : "");
    OM.api(url).then(function (body) {
      var result = (body.results || [])[0];
      if (!result || !result.values) { return; }
      var props = { scene: result.scene };
      Object.keys(result.values).forEach(function (band) { props[band] = result.values[band]; });
      var rows = Fields.rows(base.layer_entry, props, null);
      window.onemapIdentify = { layer: base.id, id: result.scene, rows: rows };
      var table = el("table", { class: "pt-identify" });
      rows.forEach(function (r) { table.appendChild(el("tr", {}, [el("th", { scope: "row", text: r.label }), el("td", { text: r.value })])); });
      L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(el("div", { class: "pt-popup" }, [
        el("h4", { text: t(base.layer_entry.title_zh, base.layer_entry.title_en) }), table])).openOn(map);
    }).catch(function () { /* outside the imagery: nothing to say */ });
  }
  map.on("click", function (e) {
    if (P.mode !== "browse") { return; }
    var found = hits(e.latlng);
    if (found.length) { showIdentify(e.latlng, found, 0); } else { identifyPixel(e.latlng); }
  });
  P.hits = hits;

  /* ------------------------------------------------------------------ building the map */
  function cityView(city) {
    if (!city) { return null; }
    if (city.center && city.zoom !== null && city.zoom !== undefined) {
      return { center: L.latLng(city.center[1], city.center[0]), zoom: city.zoom };
    }
    if (city.extent) { return { bounds: L.latLngBounds([city.extent[1], city.extent[0]], [city.extent[3], city.extent[2]]) }; }
    if (city.center) { return { center: L.latLng(city.center[1], city.center[0]), zoom: 12 }; }
    return null;
  }

  /* without a base layer named by the city: the first imagery that covers the view's centre */
  function coveringImagery(layers, centre) {
    var hit = layers.filter(function (l) {
      var b = l.bbox;
      return l.kind === "imagery" && b && centre.lng >= b[0] && centre.lng <= b[2] && centre.lat >= b[1] && centre.lat <= b[3];
    })[0];
    return hit ? hit.id : "";
  }

  function build(layers, city) {
    var saved = readHash();
    var bounds = null, cityBounds = null;
    P.layers = layers; P.city = city;
    window.onemapLayers = layers;
    layers.forEach(function (layer) {
      if (layer.bbox && layer.kind !== "imagery") {
        var lb = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]);
        if (layer.id === "admin_divisions") { cityBounds = lb; }
        bounds = bounds ? bounds.extend(lb) : lb;
      }
      if (layer.kind === "imagery") {
        P.bases.push({ id: layer.id, name: t(layer.title_zh, layer.title_en), layer: imageryBase(layer), layer_entry: layer });
        return;
      }
      if (!layer.links || !layer.links.items) { return; }
      var overlay = new Overlay(layer, P.order.length);
      P.overlays[layer.id] = overlay;
      P.order.push(overlay);
    });
    P.bases.push({ id: "", name: t("空白底图", "Blank"), layer: L.layerGroup(), layer_entry: {} });
    /* the view: the URL's, else the city's (its extent, beside the panel on a desktop) */
    var view = cityView(city);
    var pad = !PHONE.matches && !panel.hidden ? { paddingTopRight: [panel.offsetWidth + 16, 0] } : {};
    if (saved) { map.setView(saved.center, saved.zoom); }
    else if (view && view.bounds) { map.fitBounds(view.bounds, pad); }
    else if (view) { map.setView(view.center, view.zoom); }
    else if (cityBounds || bounds) { map.fitBounds(cityBounds || bounds, pad); }
    else { map.setView([34.26, 108.94], 12); }
    /* the city's base layer when the catalog lists it; never simply the first imagery (it may lie elsewhere) */
    var wanted = saved && saved.base !== null ? saved.base : (city && city.default_base_layer) || coveringImagery(layers, map.getCenter());
    setBase(P.bases.some(function (b) { return b.id === wanted; }) ? wanted : "", saved ? saved.scene : "");
    P.order.forEach(function (o) {
      var on = saved && saved.layers ? saved.layers.indexOf(o.id) >= 0 : DEFAULT_ON[o.id];
      if (on) { o.group.addTo(map); }
    });
    setupTime();
    if (saved && saved.time !== null && P.time) {
      document.getElementById("time-range").value = saved.time;
      applyTime(true);
    }
    renderOverlays();
    restoring = false;
    saveHash();
    (window.PortalTools || []).forEach(function (init) { init(P); });
    document.body.dataset.ready = "true";
  }

  map.on("moveend", function () {
    P.order.forEach(function (o) { o.refresh(); });
    saveHash();
  });

  function loadCity() {
    return OM.api("/api/v1/city").catch(function () { return null; }).then(function (city) {
      window.onemapCity = city;
      if (city) { document.getElementById("city").textContent = t(city.name_zh, city.name_en); }
      return city;
    });
  }

  function load() {
    Promise.all([OM.api("/api/v1/layers"), loadCity()])
      .then(function (both) { build(both[0].layers, both[1]); })
      .catch(function (err) {
        var note = document.getElementById("zoom-note");
        note.hidden = false;
        note.textContent = t("无法读取图层目录：", "Cannot read the layer catalog: ") + err.message;
        note.classList.add("error");
      });
  }

  OM.translate(document);
  OM.mountLang(document.getElementById("lang"));
  openPanel(!PHONE.matches);
  OM.mountAuth(document.getElementById("auth")).then(load, load);
  /* on a phone the token field stays folded until "sign in" is tapped (onemap.css) */
  document.getElementById("auth").addEventListener("click", function (e) {
    var token = document.querySelector("#auth .om-token");
    if (!PHONE.matches || !token || token.hidden || !e.target.classList.contains("om-signin") || token.value.trim()) { return; }
    document.body.classList.add("pt-auth-open");
    token.focus();
  });
  document.addEventListener("keydown", function (e) { if (e.key === "Escape") { document.body.classList.remove("pt-auth-open"); } });
})();
