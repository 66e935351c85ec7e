/* The one-map page: catalogued layers on a Leaflet map, grouped by department. No CDN.
   A department's people paste their access token once: it is sent to POST /api/v1/session,
   which keeps it in an HttpOnly cookie (api/session.py) that this script cannot read; every
   same-origin request (fetches and tile images alike) then carries it, so the map shows the
   layers they may see. Nothing secret is kept in localStorage or in this script. */
(function () {
  "use strict";

  var lang = (localStorage.getItem("onemap.lang") || "zh");
  var who = null;  /* the signed-in person ({name, role, department_code}) or null */
  var DEFAULT_ON = { admin_divisions: true, roads: true, emergency_facilities: true, aq_stations: true };
  var PAGE_LIMIT = 2000;
  var map = L.map("map", { preferCanvas: true, zoomControl: true });
  var control = null;

  function t(zh, en) { return lang === "zh" ? zh : en; }

  /* the CSRF proof of the session (a readable cookie; the token itself is HttpOnly) */
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)onemap_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* same-origin fetch: the browser adds the session cookie; unsafe methods add the CSRF proof */
  function authFetch(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {});
    var method = (options.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") { headers["X-CSRF-Token"] = csrfToken(); }
    return fetch(url, Object.assign({}, options, { headers: headers, credentials: "same-origin" }));
  }

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
    var style = layer.style || {};
    var color = style.color || "#3366cc";
    var group = L.geoJSON(null, {
      style: function () {
        return { color: color, weight: layer.id === "admin_divisions" ? 2.5 : 1.5,
                 dashArray: layer.id === "admin_divisions" ? "6 4" : null,
                 fill: style.fill !== false, fillOpacity: 0.2 };
      },
      pointToLayer: function (feature, latlng) {
        return L.circleMarker(latlng, { radius: style.radius || 5, color: "#fff", fillColor: color, weight: 1, fillOpacity: 0.9 });
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
      authFetch(url, { signal: pending.signal, headers: { Accept: "application/geo+json" } })
        .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
        .then(function (fc) { group.clearLayers(); group.addData(fc); group.fire("onemap:loaded", { count: fc.features.length }); })
        .catch(function (err) { if (err.name !== "AbortError") { console.warn("layer " + layer.id + ": " + err.message); } });
    }
    group.on("add", refresh);
    map.on("moveend", refresh);
    return group;
  }

  function imageryBase(layer) {
    /* XYZ tiles of the imagery layer (served by /tiles, from its Cloud-Optimized GeoTIFF) */
    var options = { maxZoom: 20, maxNativeZoom: 18, attribution: escapeHtml(t(layer.title_zh, layer.title_en)) };
    if (layer.bbox) { options.bounds = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]); }  // no requests outside (404)
    var url = "/tiles/" + encodeURIComponent(layer.id) + "/{z}/{x}/{y}.png";
    return L.tileLayer(url, options);  /* the session cookie goes with the tile images */
  }

  /* A layer panel: base maps as radio buttons, overlays as check boxes grouped by department. */
  var LayerPanel = L.Control.extend({
    options: { position: "topright" },
    initialize: function (bases, groups) { this.bases = bases; this.groups = groups; },
    onAdd: function (m) {
      var box = L.DomUtil.create("div", "leaflet-control-layers leaflet-control-layers-expanded onemap-panel");
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      var baseList = L.DomUtil.create("div", "onemap-bases", box);
      this.bases.forEach(function (base) {
        var label = L.DomUtil.create("label", "", baseList);
        var input = L.DomUtil.create("input", "", label);
        input.type = "radio"; input.name = "onemap-base"; input.checked = m.hasLayer(base.layer);
        input.dataset.base = base.id;
        label.appendChild(document.createTextNode(" " + base.name));
        L.DomEvent.on(input, "change", function () {
          this.bases.forEach(function (b) { m.removeLayer(b.layer); });
          m.addLayer(base.layer); base.layer.bringToBack && base.layer.bringToBack();
        }, this);
      }, this);
      this.groups.forEach(function (group) {
        var section = L.DomUtil.create("div", "onemap-group", box);
        L.DomUtil.create("div", "leaflet-control-layers-group-name", section).textContent = group.name;
        group.items.forEach(function (item) {
          var label = L.DomUtil.create("label", "", section);
          var input = L.DomUtil.create("input", "", label);
          input.type = "checkbox"; input.checked = m.hasLayer(item.layer);
          input.dataset.layer = item.id;
          label.appendChild(document.createTextNode(" " + item.name));
          L.DomEvent.on(input, "change", function () {
            if (input.checked) { m.addLayer(item.layer); } else { m.removeLayer(item.layer); }
          });
        });
      });
      return box;
    }
  });

  /* the city's initial view: the profile's centre and zoom, else the divisions' extent (GET /api/v1/city) */
  function cityView(city) {
    if (!city) { return null; }
    if (city.center && city.zoom !== null && city.zoom !== undefined) {
      return { center: L.latLng(city.center[1], city.center[0]), zoom: city.zoom };
    }
    if (city.extent) { return { bounds: L.latLngBounds([city.extent[1], city.extent[0]], [city.extent[3], city.extent[2]]) }; }
    if (city.center) { return { center: L.latLng(city.center[1], city.center[0]), zoom: 12 }; }
    return null;
  }

  function build(layers, city) {
    var bases = [];
    var groups = [];
    var byDepartment = {};
    var bounds = null;
    var cityBounds = null;  /* without a city view, the administrative divisions frame the view when present */
    layers.forEach(function (layer) {
      if (layer.bbox && layer.kind !== "imagery") {
        var lb = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]);
        if (layer.id === "admin_divisions") { cityBounds = lb; }
        bounds = bounds ? bounds.extend(lb) : lb;
      }
      var name = t(layer.title_zh, layer.title_en);
      if (layer.kind === "imagery") { bases.push({ id: layer.id, name: name, layer: imageryBase(layer) }); return; }
      if (!layer.links.items) { return; }
      var group = byDepartment[layer.department_code];
      if (!group) {
        group = { name: t(layer.department_name_zh, layer.department_name_en), items: [] };
        byDepartment[layer.department_code] = group;
        groups.push(group);
      }
      var overlay = vectorOverlay(layer);
      group.items.push({ id: layer.id, name: name, layer: overlay });
      if (DEFAULT_ON[layer.id]) { overlay.addTo(map); }
    });
    bases.push({ id: "", name: t("空白底图", "Blank"), layer: L.layerGroup() });
    /* the city's base layer when the catalog lists it; never simply the first imagery (it may lie elsewhere) */
    var wanted = city && city.default_base_layer;
    var base = bases.filter(function (b) { return b.id && b.id === wanted; })[0] || bases[bases.length - 1];
    base.layer.addTo(map);
    window.onemapBase = base.id;
    if (control) { map.removeControl(control); }
    control = new LayerPanel(bases, groups).addTo(map);
    var view = cityView(city);
    if (view && view.bounds) { map.fitBounds(view.bounds); }
    else if (view) { map.setView(view.center, view.zoom); }
    else if (cityBounds || bounds) { map.fitBounds(cityBounds || bounds); }
    else { map.setView([34.26, 108.94], 12); }
  }

  /* the current city (GET /api/v1/city), or null when it cannot be read: the layers then frame the view */
  function loadCity() {
    return authFetch("/api/v1/city", { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; })
      .then(function (city) {
        window.onemapCity = city;
        if (city) { document.getElementById("city").textContent = t(city.name_zh, city.name_en); }
        return city;
      });
  }

  function load() {
    var city = loadCity();
    authFetch("/api/v1/layers", { headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) {
          /* the session's token was revoked or expired: the server cleared the cookie; say so and show what anyone may see */
          return r.json().then(function (body) { who = null; setupAuth(); showWho(t("登录失效：", "Session refused: ") + body.description, true); return load(); });
        }
        return Promise.all([r.json(), city]).then(function (both) {
          window.onemapLayers = both[0].layers;
          build(both[0].layers, both[1]);
        });
      })
      .catch(function (err) { console.error("cannot load the layer catalog: " + err.message); });
  }

  function showWho(text, isError) {
    var box = document.getElementById("who");
    box.textContent = text;
    box.className = isError ? "error" : "";
  }

  /* the token form in the top bar: paste a token to sign in, or sign out */
  function setupAuth() {
    var input = document.getElementById("token");
    var button = document.getElementById("signin");
    input.placeholder = t("访问令牌", "Access token");
    input.hidden = !!who;
    button.textContent = who ? t("退出", "Sign out") : t("登录", "Sign in");
    showWho(who ? t("已登录：", "Signed in: ") + who.name + " (" + who.department_code + " · " + who.role + ")" : "", false);
  }

  function signOut() {
    return authFetch("/api/v1/session", { method: "DELETE" });
  }

  function onSignInClick() {
    var input = document.getElementById("token");
    if (who) { signOut().then(function () { window.location.reload(); }); return; }
    var value = input.value.trim();
    if (!value) { input.focus(); return; }
    authFetch("/api/v1/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ token: value }) })
      .then(function (r) {
        return r.json().then(function (body) {
          input.value = "";
          if (!r.ok) { showWho(t("令牌无效：", "Token refused: ") + body.description, true); return; }
          window.location.reload();
        });
      })
      .catch(function (err) { showWho(err.message, true); });
  }

  /* who the session cookie signs in (the page cannot read the cookie itself) */
  function whoAmI() {
    return authFetch("/api/v1/session", { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          who = r.ok && body.signed_in ? body : null;
          /* 401: the session's token was revoked or expired (the server cleared the cookie) */
          return r.status === 401 ? t("登录失效：", "Session refused: ") + body.description : null;
        });
      })
      .catch(function () { who = null; return null; });
  }

  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.getElementById("lang").textContent = lang === "zh" ? "EN" : "中文";
  document.getElementById("lang").addEventListener("click", function () {
    localStorage.setItem("onemap.lang", lang === "zh" ? "en" : "zh");
    window.location.reload();
  });
  document.getElementById("signin").addEventListener("click", onSignInClick);
  document.getElementById("token").addEventListener("keydown", function (e) { if (e.key === "Enter") { onSignInClick(); } });
  L.control.scale({ imperial: false }).addTo(map);
  window.onemapMap = map;
  localStorage.removeItem("onemap.token");  /* where earlier versions kept the token */
  whoAmI().then(function (refused) { setupAuth(); if (refused) { showWho(refused, true); } load(); });
})();
