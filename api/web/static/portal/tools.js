/* The portal's tools: the search box (addresses and places by the geocoder, 15-digit unit-cell
   codes by the unit_grid layer, GB/T 12409 grid codes, "lon,lat" in WGS84/CGCS2000 or GCJ-02),
   the geodesic distance and area measure (portal/geo.js), and the swipe compare of two imagery
   scenes (our own: each side in its own map pane, clipped at the divider). Registered in
   window.PortalTools; onemap.js calls each with the portal (window.Portal) once the map is built. */
(function () {
  "use strict";
  var OM = window.OM, t = OM.t, el = OM.el, G = window.PortalGeo;
  var tools = window.PortalTools = window.PortalTools || [];

  /* ================================================================== search */
  tools.push(function (P) {
    var map = P.map;
    var form = document.getElementById("search"), input = document.getElementById("search-q");
    var list = document.getElementById("search-list"), crs = document.getElementById("search-crs");
    var message = document.getElementById("search-msg");
    var found = L.layerGroup().addTo(map);
    var timer = null, active = -1, items = [];

    function say(text, isError) {
      message.textContent = text || "";
      message.hidden = !text;
      message.className = "pt-search-msg" + (isError ? " error" : "");
    }
    function closeList() { list.hidden = true; list.textContent = ""; items = []; active = -1; input.setAttribute("aria-expanded", "false"); }
    function showList(entries) {
      list.textContent = ""; items = entries; active = -1;
      entries.forEach(function (entry, i) {
        var li = el("li", { role: "option", id: "search-opt-" + i, class: "pt-option", "aria-selected": "false" }, [
          el("span", { text: entry.label }), entry.hint ? el("small", { class: "pt-muted", text: " " + entry.hint }) : null]);
        li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(i); });
        list.appendChild(li);
      });
      list.hidden = !entries.length;
      input.setAttribute("aria-expanded", entries.length ? "true" : "false");
    }
    function highlight(i) {
      active = i;
      Array.prototype.forEach.call(list.children, function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      if (i >= 0) { input.setAttribute("aria-activedescendant", "search-opt-" + i); } else { input.removeAttribute("aria-activedescendant"); }
    }
    function pick(i) { var entry = items[i]; closeList(); if (entry) { entry.go(); } }

    var LEVEL = { road: ["道路", "road"], poi: ["地点", "place"], building: ["楼栋", "building"], unit: ["单元", "unit"],
                  door_plate: ["门牌", "door plate"], district: ["区县", "district"], subdistrict: ["街道", "subdistrict"],
                  community: ["社区", "community"] };
    function featureEntry(f) {
      var lvl = LEVEL[f.properties.level];
      var label = OM.lang === "zh" ? f.properties.label : (f.properties.label_en || f.properties.label);
      return { label: label, hint: lvl ? t(lvl[0], lvl[1]) : f.properties.level,
               go: function () { place([f.geometry.coordinates[0], f.geometry.coordinates[1]], label, "address", 17); } };
    }

    function arrived(marker) {
      if (!map.hasLayer(marker)) { return; }
      marker.openPopup();
      if (window.onemapSearch) { window.onemapSearch.arrived = true; }
    }

    /* a marker where the search led, the map flown there */
    function place(lonlat, label, kind, zoom) {
      found.clearLayers();
      var latlng = L.latLng(lonlat[1], lonlat[0]);
      var marker = L.marker(latlng, { title: label, alt: label, keyboard: true }).addTo(found);
      marker.bindPopup(el("div", { class: "pt-popup" }, [el("strong", { text: label })]), { autoPan: false });
      window.onemapSearch = { kind: kind, lon: lonlat[0], lat: lonlat[1], label: label };
      map.once("moveend", function () { arrived(marker); });
      map.flyTo(latlng, Math.max(map.getZoom(), zoom || 17), { duration: 0.8 });
      say("");
      return marker;
    }
    function outline(geojson, label, kind) {
      found.clearLayers();
      var shape = L.geoJSON(geojson, { style: { color: "#f5a524", weight: 3, fill: true, fillOpacity: 0.1 }, interactive: false }).addTo(found);
      var bounds = shape.getBounds(), centre = bounds.getCenter();
      var marker = L.marker(centre, { title: label, alt: label }).addTo(found)
        .bindPopup(el("div", { class: "pt-popup" }, [el("strong", { text: label })]), { autoPan: false });
      window.onemapSearch = { kind: kind, lon: centre.lng, lat: centre.lat, label: label };
      map.once("moveend", function () { arrived(marker); });
      map.flyToBounds(bounds, { maxZoom: 18, duration: 0.8, padding: [40, 40] });
    }

    function gridLayer() {
      return P.layers.filter(function (l) { return l.id === "unit_grid" || l.kind === "grid"; })[0];
    }

    function search(text) {
      var q = G.readQuery(text);
      closeList();
      if (!q.text && q.kind === "text") { say(t("请输入地址、地名、网格编码或坐标", "Type an address, a place, a grid code or coordinates")); return Promise.resolve(); }
      if (q.kind === "coords") {
        var lonlat = crs.value === "gcj02" ? G.gcj02ToWgs84(q.lon, q.lat) : [q.lon, q.lat];
        var label = lonlat[0].toFixed(6) + ", " + lonlat[1].toFixed(6) + " (WGS84/CGCS2000" +
                    (crs.value === "gcj02" ? t("，由 GCJ-02 换算", ", from GCJ-02") : "") + ")";
        var marker = place(lonlat, label, "coords", 17);
        window.onemapSearch.crs = crs.value;
        if (q.swapped) { say(t("已按“纬度,经度”理解", "Read as lat,lon")); }
        return OM.api("/api/v1/reverse?lon=" + lonlat[0] + "&lat=" + lonlat[1]).then(function (body) {
          var near = body.features && body.features[0];
          var cell = body.location && body.location.cell_code;
          var lines = [el("strong", { text: label })];
          if (near) { lines.push(el("div", { text: t("最近：", "Nearest: ") + near.properties.label })); }
          if (cell) { lines.push(el("div", { text: t("单元网格：", "Unit cell: ") + cell })); }
          marker.setPopupContent(el("div", { class: "pt-popup" }, lines));
        }).catch(function () { /* the marker stands without the address */ });
      }
      if (q.kind === "cell") {
        var layer = gridLayer();
        if (!layer) { say(t("未发布单元网格图层，无法定位网格 ", "No unit-grid layer is published: cannot find cell ") + q.code, true); return Promise.resolve(); }
        return OM.api(layer.links.items + "?f=json&limit=1&sortby=-version_id&code=" + encodeURIComponent(q.code)).then(function (fc) {
          if (!fc.features || !fc.features.length) { say(t("未找到单元网格 ", "No unit cell ") + q.code, true); return; }
          outline(fc.features[0], t("单元网格 ", "Unit cell ") + q.code, "cell");
          say("");
        }).catch(function (err) { say(err.message, true); });
      }
      if (q.kind === "geogrid") {
        var b = q.cell.bounds;
        var ring = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]], [b[0], b[1]]];
        var name = t("地理格网 ", "Grid cell ") + q.cell.code + " (GB/T 12409, " + q.cell.level + ")";
        outline({ type: "Polygon", coordinates: [ring] }, name, "geogrid");
        var cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2;
        return OM.api("/api/v1/grid/code?lon=" + cx + "&lat=" + cy + "&level=" + q.cell.level).then(function (body) {
          var unit = body.unit_cell ? t("；单元网格 ", "; unit cell ") + body.unit_cell.code : "";
          say(name + unit);
        }).catch(function (err) { say(err.message, true); });
      }
      return OM.api("/api/v1/geocode?limit=5&q=" + encodeURIComponent(q.text)).then(function (fc) {
        if (fc.features && fc.features.length) {
          featureEntry(fc.features[0]).go();
          return;
        }
        return OM.api("/api/v1/suggest?limit=8&q=" + encodeURIComponent(q.text)).then(function (s) {
          if (s.features && s.features.length) { featureEntry(s.features[0]).go(); return; }
          say(t("未找到：", "Not found: ") + q.text, true);
        });
      }).catch(function (err) { say(err.message, true); });
    }
    P.search = search;

    input.addEventListener("input", function () {
      clearTimeout(timer);
      var text = input.value.trim();
      if (!text) { closeList(); return; }
      timer = setTimeout(function () {
        var q = G.readQuery(text);
        if (q.kind === "coords") {
          showList([{ label: q.lon + ", " + q.lat, hint: crs.value === "gcj02" ? "GCJ-02" : "WGS84/CGCS2000", go: function () { search(text); } }]);
          return;
        }
        if (q.kind === "cell" || q.kind === "geogrid") {
          showList([{ label: text, hint: q.kind === "cell" ? t("单元网格编码", "unit-cell code") : t("地理格网编码", "grid code"), go: function () { search(text); } }]);
          return;
        }
        OM.api("/api/v1/suggest?limit=8&q=" + encodeURIComponent(text)).then(function (s) {
          if (input.value.trim() !== text) { return; }
          showList((s.features || []).map(featureEntry));
        }).catch(function () { closeList(); });
      }, 250);
    });
    input.addEventListener("keydown", function (e) {
      if (list.hidden) { return; }
      if (e.key === "ArrowDown") { e.preventDefault(); highlight(Math.min(items.length - 1, active + 1)); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight(Math.max(-1, active - 1)); }
      else if (e.key === "Escape") { closeList(); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); pick(active); }
    });
    input.addEventListener("blur", function () { setTimeout(closeList, 150); });
    form.addEventListener("submit", function (e) { e.preventDefault(); clearTimeout(timer); search(input.value); });
  });

  /* ================================================================== tools bar: measure and swipe */
  function metres(m) { return m < 1000 ? m.toFixed(1) + " m" : (m / 1000).toFixed(3) + " km"; }
  function squareMetres(a) {
    if (a < 1e4) { return a.toFixed(1) + " m²"; }
    if (a < 1e6) { return Math.round(a).toLocaleString() + " m² (" + (a / 1e4).toFixed(2) + t(" 公顷", " ha") + ")"; }
    return (a / 1e6).toFixed(3) + " km²";
  }

  tools.push(function (P) {
    var map = P.map;
    var bar = L.control({ position: "topleft" });
    var box = document.getElementById("tool-box");
    bar.onAdd = function () {
      var div = L.DomUtil.create("div", "leaflet-bar pt-toolbar");
      L.DomEvent.disableClickPropagation(div);
      [["measure-line", "测距", "Distance", "测量距离（大地线）", "Measure a distance (geodesic)"],
       ["measure-area", "测面", "Area", "测量面积（椭球面）", "Measure an area (on the ellipsoid)"],
       ["swipe", "卷帘", "Swipe", "卷帘对比两期影像", "Swipe between two imagery scenes"]].forEach(function (d) {
        var b = el("button", { type: "button", class: "pt-tool", "data-tool": d[0], "aria-pressed": "false",
                               title: t(d[3], d[4]), "aria-label": t(d[3], d[4]), text: t(d[1], d[2]) });
        b.addEventListener("click", function () { choose(P.mode === d[0] ? "browse" : d[0]); });
        div.appendChild(b);
      });
      return div;
    };
    bar.addTo(map);

    function choose(mode) {
      stopMeasure(); stopSwipe();
      P.mode = mode;
      document.querySelectorAll(".pt-tool").forEach(function (b) { b.setAttribute("aria-pressed", b.dataset.tool === mode ? "true" : "false"); });
      box.textContent = "";
      box.hidden = mode === "browse";
      if (mode === "measure-line" || mode === "measure-area") { startMeasure(mode); }
      if (mode === "swipe") { startSwipe(); }
    }
    P.choose = choose;
    document.addEventListener("keydown", function (e) { if (e.key === "Escape" && P.mode !== "browse") { choose("browse"); } });

    /* ---------------- measure */
    var sketch = null, points = [], result = null, done = false;
    function startMeasure(mode) {
      points = []; done = false;
      sketch = L.layerGroup().addTo(map);
      map.doubleClickZoom.disable();
      map.getContainer().classList.add("pt-crosshair");
      result = el("div", { class: "pt-result", role: "status", "aria-live": "polite",
                           text: t("在地图上点击添加点，双击或按“完成”结束", "Click the map to add points; double-click or Finish to end") });
      var finish = el("button", { type: "button", class: "om-btn", text: t("完成", "Finish") });
      var clear = el("button", { type: "button", class: "om-btn secondary", text: t("清除", "Clear") });
      var close = el("button", { type: "button", class: "om-btn secondary", text: t("关闭", "Close") });
      finish.addEventListener("click", function () { done = true; draw(); });
      clear.addEventListener("click", function () { points = []; done = false; draw(); });
      close.addEventListener("click", function () { choose("browse"); });
      box.appendChild(el("div", { class: "om-card pt-card" }, [
        el("strong", { text: mode === "measure-line" ? t("测距（大地线，WGS84 椭球）", "Distance (geodesic, WGS84)") : t("测面（WGS84 椭球面）", "Area (on the WGS84 ellipsoid)") }),
        result, el("div", { class: "pt-actions" }, [finish, clear, close])]));
      map.on("click", addPoint);
      map.on("dblclick", finishByDouble);
    }
    function addPoint(e) {
      if (done) { points = []; done = false; }
      points.push([e.latlng.lng, e.latlng.lat]);
      draw();
    }
    function finishByDouble() { done = true; draw(); }
    function draw() {
      if (!sketch) { return; }
      sketch.clearLayers();
      var latlngs = points.map(function (p) { return L.latLng(p[1], p[0]); });
      var area = P.mode === "measure-area";
      if (latlngs.length > 1) {
        (area && latlngs.length > 2 ? L.polygon(latlngs, { color: "#f5a524", weight: 3, fillOpacity: 0.15, interactive: false })
                                    : L.polyline(latlngs, { color: "#f5a524", weight: 3, dashArray: done ? null : "6 4", interactive: false })).addTo(sketch);
      }
      latlngs.forEach(function (ll) { L.circleMarker(ll, { radius: 4, color: "#1b2733", weight: 1, fillColor: "#fff", fillOpacity: 1, interactive: false }).addTo(sketch); });
      var length = G.lengthOf(area && points.length > 2 ? points.concat([points[0]]) : points);
      var sq = area ? G.area(points) : 0;
      window.onemapMeasure = { kind: area ? "area" : "distance", points: points.slice(), metres: length, square_metres: sq, done: done };
      if (!points.length) { result.textContent = t("在地图上点击添加点", "Click the map to add points"); return; }
      result.textContent = area
        ? t("面积 ", "Area ") + squareMetres(sq) + t("，周长 ", ", perimeter ") + metres(length)
        : t("距离 ", "Distance ") + metres(length) + (points.length > 2 ? t("（" + (points.length - 1) + " 段）", " (" + (points.length - 1) + " legs)") : "");
    }
    function stopMeasure() {
      if (!sketch) { return; }
      map.off("click", addPoint); map.off("dblclick", finishByDouble);
      map.removeLayer(sketch); sketch = null;
      map.doubleClickZoom.enable();
      map.getContainer().classList.remove("pt-crosshair");
    }

    /* ---------------- swipe: two scenes, each in its own pane, clipped at the divider */
    var swipe = null;
    ["pt-swipe-left", "pt-swipe-right"].forEach(function (name, i) { map.createPane(name).style.zIndex = String(250 + i); });
    function imagery() { return P.layers.filter(function (l) { return l.kind === "imagery"; }); }
    function startSwipe() {
      var left = el("select", { id: "swipe-left", "aria-label": t("左侧影像", "Left scene") });
      var right = el("select", { id: "swipe-right", "aria-label": t("右侧影像", "Right scene") });
      var note = el("div", { class: "pt-muted pt-swipe-note" });
      var close = el("button", { type: "button", class: "om-btn secondary", text: t("关闭", "Close") });
      close.addEventListener("click", function () { choose("browse"); });
      box.appendChild(el("div", { class: "om-card pt-card" }, [
        el("strong", { text: t("卷帘对比", "Swipe compare") }),
        el("label", { for: "swipe-left", class: "pt-field" }, [t("左", "Left"), left]),
        el("label", { for: "swipe-right", class: "pt-field" }, [t("右", "Right"), right]),
        note, el("div", { class: "pt-actions" }, [close])]));
      var layers = imagery();
      if (!layers.length) { note.textContent = t("没有可对比的影像图层", "No imagery layer to compare"); return; }
      Promise.all(layers.map(function (l) { return P.scenes(l.id); })).then(function (all) {
        if (P.mode !== "swipe" || swipe) { return; }  /* closed (or opened again) meanwhile */
        var options = [];
        layers.forEach(function (l, i) {
          all[i].forEach(function (s) { options.push({ value: l.id + "|" + s.id, label: t(l.title_zh, l.title_en) + " · " + P.sceneLabel(s) }); });
        });
        options.forEach(function (o) {
          left.appendChild(el("option", { value: o.value, text: o.label }));
          right.appendChild(el("option", { value: o.value, text: o.label }));
        });
        left.selectedIndex = 0;
        right.selectedIndex = Math.min(1, options.length - 1);
        if (options.length < 2) { note.textContent = t("此图层只有一期影像：两侧显示同一场景", "Only one scene: both sides show it"); }
        if (!options.length) { return; }
        /* the base map steps aside: where a side's tile is still loading, no other scene shows through */
        swipe = { ratio: 0.5, left: null, right: null, base: P.base && P.base.id ? P.base.layer : null };
        if (swipe.base) { map.removeLayer(swipe.base); }
        var range = el("input", { type: "range", min: "0", max: "1000", value: "500", class: "pt-swipe-range",
                                  "aria-label": t("卷帘位置", "Swipe position") });
        var line = el("div", { class: "pt-swipe-line", "aria-hidden": "true" });
        map.getContainer().appendChild(line);
        map.getContainer().appendChild(range);
        L.DomEvent.disableClickPropagation(range);
        L.DomEvent.on(range, "mousedown touchstart pointerdown", L.DomEvent.stopPropagation);
        swipe.range = range; swipe.line = line;
        range.addEventListener("input", function () { swipe.ratio = Number(range.value) / 1000; clip(); });
        function side(select, pane) {
          var parts = select.value.split("|");
          var layer = layers.filter(function (l) { return l.id === parts[0]; })[0];
          var opts = { pane: pane, maxZoom: 20, maxNativeZoom: 18 };
          if (layer.bbox) { opts.bounds = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]); }
          return L.tileLayer(P.tileUrl(parts[0], parts[1]), opts).addTo(map);
        }
        function apply() {
          if (swipe.left) { map.removeLayer(swipe.left); }
          if (swipe.right) { map.removeLayer(swipe.right); }
          swipe.left = side(left, "pt-swipe-left");
          swipe.right = side(right, "pt-swipe-right");
          window.onemapSwipe = { left: left.value, right: right.value, ratio: swipe.ratio };
          clip();
        }
        left.addEventListener("change", apply);
        right.addEventListener("change", apply);
        map.on("move zoom resize", clip);
        apply();
      });
    }
    function clip() {
      if (!swipe) { return; }
      var size = map.getSize();
      var nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(size);
      var x = nw.x + size.x * swipe.ratio;
      map.getPane("pt-swipe-left").style.clip = "rect(" + [nw.y, x, se.y, nw.x].join("px,") + "px)";
      map.getPane("pt-swipe-right").style.clip = "rect(" + [nw.y, se.x, se.y, x].join("px,") + "px)";
      swipe.line.style.left = Math.round(size.x * swipe.ratio) + "px";
      if (window.onemapSwipe) { window.onemapSwipe.ratio = swipe.ratio; }
    }
    function stopSwipe() {
      if (!swipe) { return; }
      map.off("move zoom resize", clip);
      if (swipe.left) { map.removeLayer(swipe.left); }
      if (swipe.right) { map.removeLayer(swipe.right); }
      swipe.range.remove(); swipe.line.remove();
      if (swipe.base && P.base && P.base.layer === swipe.base) { swipe.base.addTo(map); swipe.base.bringToBack(); }
      ["pt-swipe-left", "pt-swipe-right"].forEach(function (name) { map.getPane(name).style.clip = ""; });
      swipe = null;
      window.onemapSwipe = null;
    }
  });
})();
