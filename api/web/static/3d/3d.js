/* The 3D view (/3d): CesiumJS from npm served by this app, nothing from any other host.
   - no Cesium ion (no token, no Bing/ion imagery, no world terrain): the globe is the plain ellipsoid
     (EllipsoidTerrainProvider) draped with the city's imagery from our /tiles/{layer}/{z}/{x}/{y}.png;
   - buildings: the layer's 3D Tiles (GET /ogc/collections/{id}/3dtiles/tileset.json, found in the
     collection document's links), coloured by an attribute (height, floors, use) with a legend;
   - department overlays: the vector layers of the catalog (OGC API Features items as GeoJSON) clamped
     to the ground;
   - a click shows the feature's attributes with the catalog's field names (GET /api/v1/layers/{id}),
     written as text (never as HTML).
   window.View3D exposes the state for the page test. */
(function () {
  "use strict";
  var t = OM.t, el = OM.el;
  var ITEMS_LIMIT = 1000;   /* features per overlay (the whole layer up to this; the panel says when more exist) */
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  var OTHER = "#b0b0b0";
  var RAMPS = {  /* numeric attributes: classes (lower bound, colour), lightest to darkest */
    height_m: [[0, "#fff5b1"], [10, "#fdd17f"], [20, "#fca55d"], [40, "#f26b43"], [60, "#d7301f"], [100, "#8c0d25"]],
    floors: [[0, "#edf8fb"], [3, "#b3cde3"], [7, "#8c96c6"], [12, "#8856a7"], [20, "#810f7c"]]
  };
  var COLOR_FIELDS = ["height_m", "floors", "use"];

  var V3 = window.View3D = {
    ready: false, error: null, viewer: null, city: null, layers: [], imagery: null, tileset: null, tilesetLayer: null,
    colorBy: "", categories: [], overlays: {}, picked: null
  };

  OM.translate();
  OM.mountLang(document.getElementById("lang"));
  OM.mountAuth(document.getElementById("auth"));

  var message = document.getElementById("message");
  function say(text, isError) {
    message.hidden = !text;
    message.textContent = text || "";
    message.className = "om-message" + (isError ? " error" : "");
  }

  /* ------------------------------------------------------------------ Cesium under this page's CSP */
  /* Cesium.js carries its web workers as one string and starts them from blob: URLs that
     importScripts() another blob:, which script-src 'self' refuses; without that string it starts
     them as module workers from /static/vendor/cesium/Workers/ (this origin, the strict policy). */
  delete globalThis.CESIUM_WORKERS;
  /* its feature test for image-rendering writes a style="" attribute (refused: style-src 'self');
     the browsers we support have `image-rendering: pixelated` */
  Cesium.FeatureDetection.supportsImageRenderingPixelated = function () { return true; };
  Cesium.FeatureDetection.imageRenderingValue = function () { return "pixelated"; };
  /* the logo credit without an inline style (and without "ion": this page uses no ion service) */
  Cesium.CreditDisplay.cesiumCredit = new Cesium.Credit(
    '<a href="https://cesium.com/cesiumjs/" target="_blank" rel="noopener"><img class="v3-cesium-logo" alt="CesiumJS" ' +
    'title="CesiumJS" src="/static/vendor/cesium/Assets/Images/cesium_credit.png"></a>', true);

  /* ------------------------------------------------------------------ the scene, without ion */
  var viewer = new Cesium.Viewer("globe", {
    baseLayer: false,                 /* no default Bing/ion imagery */
    terrainProvider: new Cesium.EllipsoidTerrainProvider(),  /* no ion world terrain */
    baseLayerPicker: false, geocoder: false, homeButton: false, sceneModePicker: false,
    navigationHelpButton: false, animation: false, timeline: false, fullscreenButton: false,
    infoBox: false, selectionIndicator: false, vrButton: false, projectionPicker: false,
    requestRenderMode: true, maximumRenderTimeChange: Infinity
  });
  V3.viewer = viewer;
  var scene = viewer.scene;
  scene.globe.baseColor = Cesium.Color.fromCssColorString("#dde3ea");
  scene.globe.showGroundAtmosphere = false;
  scene.fog.enabled = false;
  function redraw() { scene.requestRender(); }
  /* the buildings are lit by the sun of the scene's clock: hold it at today's local noon of the city
     (not the viewer's hour: at night they would be drawn black), the same picture at any hour */
  function noonAt(lon) {
    var d = new Date();
    var utc = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), 12) - (lon / 15) * 3600e3;
    viewer.clock.shouldAnimate = false;
    viewer.clock.currentTime = Cesium.JulianDate.fromDate(new Date(utc));
  }

  /* ------------------------------------------------------------------ camera */
  function cityCenter() {
    var c = V3.city && V3.city.center;
    if (c) { return c; }
    var e = V3.city && V3.city.extent;
    return e ? [(e[0] + e[2]) / 2, (e[1] + e[3]) / 2] : [108.94, 34.26];
  }
  function extentRadius() {
    var e = V3.city && V3.city.extent;
    if (!e) { return 5000; }
    var a = Cesium.Cartesian3.fromDegrees(e[0], e[1]), b = Cesium.Cartesian3.fromDegrees(e[2], e[3]);
    return Cesium.Cartesian3.distance(a, b) / 2;
  }
  /* look at (lon, lat) from `range` metres, `pitch` degrees below the horizon, heading `heading` degrees */
  function lookAt(lon, lat, range, pitch, heading, seconds) {
    var sphere = new Cesium.BoundingSphere(Cesium.Cartesian3.fromDegrees(lon, lat, 0), 1);
    viewer.camera.flyToBoundingSphere(sphere, {
      offset: new Cesium.HeadingPitchRange(Cesium.Math.toRadians(heading || 0), Cesium.Math.toRadians(pitch), range),
      duration: seconds === undefined ? 1.5 : seconds
    });
  }
  V3.lookAt = lookAt;
  function wholeCity(seconds) { var c = cityCenter(); lookAt(c[0], c[1], extentRadius() * 1.6, -45, 0, seconds); }
  function topView() {
    var c = Cesium.Cartographic.fromCartesian(viewer.camera.positionWC);
    var target = scene.pickPosition && scene.globe.pick(viewer.camera.getPickRay(
      new Cesium.Cartesian2(scene.canvas.clientWidth / 2, scene.canvas.clientHeight / 2)), scene);
    var at = target ? Cesium.Cartographic.fromCartesian(target) : c;
    lookAt(Cesium.Math.toDegrees(at.longitude), Cesium.Math.toDegrees(at.latitude), Math.max(c.height, 500), -90, 0);
  }
  document.getElementById("home").addEventListener("click", function () { wholeCity(); });
  document.getElementById("top").addEventListener("click", topView);

  /* ------------------------------------------------------------------ imagery */
  var imagerySelect = document.getElementById("imagery");
  function setImagery(id) {
    if (V3.imageryLayer) { viewer.imageryLayers.remove(V3.imageryLayer, true); V3.imageryLayer = null; }
    V3.imagery = id || null;
    var layer = V3.layers.filter(function (l) { return l.id === id; })[0];
    if (!layer) { redraw(); return; }
    var options = {
      url: "/tiles/" + encodeURIComponent(layer.id) + "/{z}/{x}/{y}.png",  /* same origin: the session cookie goes along */
      tilingScheme: new Cesium.WebMercatorTilingScheme(),
      maximumLevel: 17,
      credit: new Cesium.Credit(OM.escapeHtml(t(layer.title_zh, layer.title_en)))  /* Credit takes HTML: escaped */
    };
    if (layer.bbox) {
      var bb = layer.bbox;
      options.rectangle = Cesium.Rectangle.fromDegrees(bb[0], bb[1], bb[2], bb[3]);
      /* from the level where the layer is a few pixels wide (coarser tiles are empty: 204) */
      var span = Math.max(bb[2] - bb[0], 1e-6) / 360;
      options.minimumLevel = Math.max(0, Math.min(12, Math.floor(Math.log2(8 / (256 * span)))));
    }
    V3.imageryLayer = viewer.imageryLayers.addImageryProvider(new Cesium.UrlTemplateImageryProvider(options));
    redraw();
  }
  imagerySelect.addEventListener("change", function () { setImagery(imagerySelect.value); });

  /* ------------------------------------------------------------------ attribute names (the catalog's fields) */
  var fieldCache = {};
  function fieldsOf(layerId) {
    if (!fieldCache[layerId]) {
      fieldCache[layerId] = OM.api("/api/v1/layers/" + encodeURIComponent(layerId))
        .then(function (entry) { return entry.fields || []; })
        .catch(function () { return []; });
    }
    return fieldCache[layerId];
  }
  function fieldTitle(field) { return t(field.title_zh || field.name, field.title_en || field.name); }
  /* attributes the 3D model derives itself (not columns of the layer, so not in its catalog entry) */
  var DERIVED = { ground_m: { name: "ground_m", title_zh: "地面高程", title_en: "Ground level", unit: "m" } };
  function findField(fields, name) {
    return fields.filter(function (f) { return f.name === name; })[0] || DERIVED[name] || { name: name };
  }

  /* ------------------------------------------------------------------ buildings: 3D Tiles coloured by an attribute */
  var colorSelect = document.getElementById("color-by");
  var legend = document.getElementById("legend");

  function hex(color) { return "color('" + color + "')"; }
  /* a category value fit to sit in a style expression: letters, digits and a few marks only (no quotes, no ${}) */
  function plainValue(v) { return typeof v === "string" && /^[\p{L}\p{N} _.\-()/]{1,60}$/u.test(v); }

  function numericStyle(name) {
    var ramp = RAMPS[name];
    var conditions = ramp.slice().reverse().map(function (c) { return ["${" + name + "} >= " + c[0], hex(c[1])]; });
    conditions.push(["true", hex(OTHER)]);
    return new Cesium.Cesium3DTileStyle({ color: { conditions: conditions } });
  }
  function categoryStyle(name) {
    var conditions = V3.categories.slice(0, PALETTE.length).map(function (v, i) {
      return ["${" + name + "} === '" + v + "'", hex(PALETTE[i])];
    });
    conditions.push(["true", hex(OTHER)]);
    return new Cesium.Cesium3DTileStyle({ color: { conditions: conditions } });
  }
  function drawLegend(fields) {
    legend.textContent = "";
    var name = V3.colorBy;
    if (!name) { return; }
    var field = findField(fields, name);
    var unit = field.unit ? " " + field.unit : "";
    function item(color, text) {
      var swatch = el("span", { class: "v3-swatch" });
      swatch.style.background = color;
      legend.appendChild(el("li", {}, [swatch, el("span", { text: text })]));
    }
    if (RAMPS[name]) {
      var ramp = RAMPS[name];
      ramp.forEach(function (c, i) {
        var next = ramp[i + 1];
        item(c[1], next ? c[0] + " – " + next[0] + unit : "≥ " + c[0] + unit);
      });
      item(OTHER, t("无数据", "No data"));
    } else {
      V3.categories.slice(0, PALETTE.length).forEach(function (v, i) { item(PALETTE[i], v); });
      item(OTHER, t("其他 / 无数据", "Other / no data"));
    }
  }
  function applyStyle() {
    var ts = V3.tileset;
    if (!ts) { return; }
    var name = V3.colorBy;
    ts.style = !name ? new Cesium.Cesium3DTileStyle({ color: hex("#d9d2c5") })
      : RAMPS[name] ? numericStyle(name) : categoryStyle(name);
    fieldsOf(V3.tilesetLayer).then(drawLegend);
    restorePicked();
    redraw();
  }
  colorSelect.addEventListener("change", function () {
    V3.colorBy = colorSelect.value;
    V3.categories = [];
    if (V3.colorBy && !RAMPS[V3.colorBy]) { scanLoaded(); }
    applyStyle();
  });

  /* the values of a category attribute, collected from the tiles as they arrive (any city's words) */
  function categoriesOf(content) {
    var name = V3.colorBy, added = false;
    for (var i = 0; content && i < content.featuresLength; i++) {
      var v = content.getFeature(i).getProperty(name);
      if (plainValue(v) && V3.categories.indexOf(v) < 0 && V3.categories.length < PALETTE.length) {
        V3.categories.push(v); added = true;
      }
    }
    return added;
  }
  function collectCategories(tile) {
    if (!V3.colorBy || RAMPS[V3.colorBy]) { return; }
    if (categoriesOf(tile.content)) { V3.categories.sort(); applyStyle(); }
  }
  /* ... and from the tiles already loaded when the attribute is chosen */
  function scanLoaded() {
    var added = false, stack = V3.tileset && V3.tileset.root ? [V3.tileset.root] : [];
    while (stack.length) {
      var tile = stack.pop();
      if (tile.contentReady && categoriesOf(tile.content)) { added = true; }
      stack.push.apply(stack, tile.children || []);
    }
    if (added) { V3.categories.sort(); }
  }

  function tilesetUrl(layer) {
    /* the collection document links its 3D Tiles (OGC API – 3D GeoVolumes spirit) */
    return OM.api("/ogc/collections/" + encodeURIComponent(layer.id) + "?f=json").then(function (doc) {
      var link = (doc.links || []).filter(function (l) { return /\/3dtiles\/tileset\.json(\?|$)/.test(l.href || ""); })[0];
      if (!link) { return null; }
      var url = new URL(link.href, window.location.href);
      return url.pathname + url.search;   /* this origin, whatever host name the server put in its links */
    }).catch(function () { return null; });
  }

  function loadBuildings(layer, url) {
    var box = document.getElementById("buildings-on");
    document.getElementById("buildings-title").textContent = t(layer.title_zh, layer.title_en) + t("（三维）", " (3D)");
    return Cesium.Cesium3DTileset.fromUrl(url, { maximumScreenSpaceError: 16 }).then(function (ts) {
      V3.tileset = ts; V3.tilesetLayer = layer.id;
      scene.primitives.add(ts);
      ts.tileLoad.addEventListener(collectCategories);
      ts.allTilesLoaded.addEventListener(redraw);
      box.disabled = false;
      box.addEventListener("change", function () { ts.show = box.checked; restorePicked(); redraw(); });
      return fieldsOf(layer.id).then(function (fields) {
        var names = fields.map(function (f) { return f.name; });
        colorSelect.textContent = "";
        colorSelect.appendChild(el("option", { value: "", text: t("单色", "One colour") }));
        COLOR_FIELDS.filter(function (n) { return names.indexOf(n) >= 0; }).forEach(function (n) {
          colorSelect.appendChild(el("option", { value: n, text: fieldTitle(findField(fields, n)) }));
        });
        colorSelect.disabled = false;
        V3.colorBy = names.indexOf("height_m") >= 0 ? "height_m" : "";
        colorSelect.value = V3.colorBy;
        applyStyle();
      });
    });
  }

  function setupBuildings(layers) {
    var candidates = layers.filter(function (l) {
      return l.kind === "vector" && /POLYGON/i.test(l.geometry_type || "") && l.style && l.style.extrude;
    });
    return Promise.all(candidates.map(function (l) { return tilesetUrl(l).then(function (url) { return [l, url]; }); }))
      .then(function (found) {
        var hit = found.filter(function (p) { return p[1]; })[0];
        if (!hit) {
          document.getElementById("buildings-on").checked = false;
          say(t("本市尚无三维建筑模型（3D Tiles）。", "This city has no 3D building model (3D Tiles) yet."));
          return null;
        }
        return loadBuildings(hit[0], hit[1]).then(function () { return hit[0].id; });
      })
      .catch(function (err) { say(t("三维建筑加载失败：", "3D buildings failed: ") + err.message, true); return null; });
  }

  /* ------------------------------------------------------------------ overlays clamped to the ground */
  var overlayList = document.getElementById("overlays");
  function colorOf(layer) {
    var c = (layer.style && layer.style.color) || "#3366cc";
    try { return Cesium.Color.fromCssColorString(c) || Cesium.Color.ROYALBLUE; } catch (e) { return Cesium.Color.ROYALBLUE; }
  }
  function dress(layer, ds) {
    var color = colorOf(layer), filled = !(layer.style && layer.style.fill === false);
    ds.entities.values.forEach(function (entity) {
      if (entity.billboard) {
        entity.billboard = undefined;
        entity.point = new Cesium.PointGraphics({
          pixelSize: 9, color: color, outlineColor: Cesium.Color.WHITE, outlineWidth: 1.5,
          heightReference: Cesium.HeightReference.CLAMP_TO_GROUND, disableDepthTestDistance: Number.POSITIVE_INFINITY
        });
      } else if (entity.polygon) {
        if (filled) {
          entity.polygon.material = new Cesium.ColorMaterialProperty(color.withAlpha(0.35));
          entity.polygon.outline = false;   /* outlines cannot lie on the ground */
        } else {  /* an outline-only layer (divisions, grid): its rings as lines on the ground */
          var hierarchy = entity.polygon.hierarchy.getValue(Cesium.JulianDate.now());
          var ring = hierarchy.positions.slice();
          ring.push(ring[0]);
          entity.polygon = undefined;
          entity.polyline = new Cesium.PolylineGraphics({ positions: ring, width: 2, material: color, clampToGround: true });
        }
      } else if (entity.polyline) {
        entity.polyline.material = new Cesium.ColorMaterialProperty(color);
        entity.polyline.width = 2.5;
        entity.polyline.clampToGround = true;
      }
    });
  }
  function Overlay(layer) {
    this.layer = layer; this.id = layer.id; this.source = null; this.state = "off"; this.count = 0; this.matched = null;
    var self = this;
    this.box = el("input", { type: "checkbox", id: "ov-" + layer.id, "data-layer": layer.id });
    this.status = el("span", { class: "v3-status" });
    this.box.addEventListener("change", function () { self.toggle(self.box.checked); });
    var swatch = el("span", { class: "v3-swatch" });
    swatch.style.background = (layer.style && layer.style.color) || "#3366cc";
    overlayList.appendChild(el("li", {}, [
      el("label", { class: "v3-check", for: "ov-" + layer.id }, [this.box, swatch, el("span", { text: t(layer.title_zh, layer.title_en) })]),
      this.status
    ]));
  }
  Overlay.prototype.show = function () {
    var s = this.state;
    this.status.textContent = s === "loading" ? t("加载中…", "loading…")
      : s === "error" ? t("失败", "failed")
      : s === "shown" && this.matched !== null && this.matched > this.count ? this.count + " / " + this.matched : "";
    this.status.className = "v3-status" + (s === "error" ? " error" : "");
  };
  Overlay.prototype.toggle = function (on) {
    var self = this;
    if (!on) {
      if (this.source) { this.source.show = false; }
      this.state = "off"; this.show(); redraw(); return Promise.resolve();
    }
    if (this.source) { this.source.show = true; this.state = "shown"; this.show(); redraw(); return Promise.resolve(); }
    this.state = "loading"; this.show();
    var url = "/ogc/collections/" + encodeURIComponent(this.id) + "/items?f=json&limit=" + ITEMS_LIMIT;
    this.pending = OM.api(url, { headers: { Accept: "application/geo+json" } })
      .then(function (fc) {
        self.matched = typeof fc.numberMatched === "number" ? fc.numberMatched : null;
        self.count = (fc.features || []).length;
        return Cesium.GeoJsonDataSource.load(fc, { clampToGround: true });
      })
      .then(function (ds) {
        dress(self.layer, ds);
        ds.name = self.id;
        self.source = ds;
        ds.show = self.box.checked;
        return viewer.dataSources.add(ds);
      })
      .then(function () { self.state = self.box.checked ? "shown" : "off"; self.pending = null; self.show(); redraw(); })
      .catch(function (err) { self.state = "error"; self.error = err.message; self.pending = null; self.show(); });
    return this.pending;
  };
  V3.showOverlay = function (id, on) {
    var o = V3.overlays[id];
    if (!o) { return Promise.reject(new Error("no overlay " + id)); }
    o.box.checked = on !== false;
    return o.toggle(o.box.checked);
  };

  /* ------------------------------------------------------------------ pick: attributes with the catalog's names */
  var pickBox = document.getElementById("pick");
  var pickTitle = document.getElementById("pick-title");
  var pickBody = document.querySelector("#pick-table tbody");
  var highlight = { feature: null, color: null };
  function restorePicked() {
    if (highlight.feature) {
      try { highlight.feature.color = highlight.color; } catch (e) { /* its tile was unloaded */ }
    }
    highlight.feature = null;
  }
  function formatValue(value, field) {
    if (value === null || value === undefined || value === "") { return "—"; }
    if (typeof value === "number" && !Number.isInteger(value)) { value = Math.round(value * 100) / 100; }
    return String(value) + (field.unit ? " " + field.unit : "");
  }
  function showAttributes(layerId, title, props) {
    var layer = V3.layers.filter(function (l) { return l.id === layerId; })[0];
    return fieldsOf(layerId).then(function (fields) {
      var names = fields.map(function (f) { return f.name; }).filter(function (n) { return n in props; });
      Object.keys(props).forEach(function (n) { if (names.indexOf(n) < 0) { names.push(n); } });
      pickTitle.textContent = (layer ? t(layer.title_zh, layer.title_en) : layerId) + (title ? " · " + title : "");
      pickBody.textContent = "";
      names.forEach(function (n) {
        var field = findField(fields, n);
        pickBody.appendChild(el("tr", { "data-field": n }, [
          el("th", { scope: "row", text: fieldTitle(field) }), el("td", { text: formatValue(props[n], field) })
        ]));
      });
      pickBox.hidden = false;
      V3.picked = { layer: layerId, properties: props };
      return V3.picked;
    });
  }
  function hidePick() { pickBox.hidden = true; V3.picked = null; restorePicked(); redraw(); }
  document.getElementById("pick-close").addEventListener("click", hidePick);

  function pickAt(x, y) {
    var picked = scene.pick(new Cesium.Cartesian2(x, y));
    restorePicked();
    if (picked instanceof Cesium.Cesium3DTileFeature) {
      var props = {};
      picked.getPropertyIds().forEach(function (n) { props[n] = picked.getProperty(n); });
      highlight.feature = picked; highlight.color = Cesium.Color.clone(picked.color);
      picked.color = Cesium.Color.YELLOW;
      redraw();
      return showAttributes(V3.tilesetLayer, props.name || props.id, props);
    }
    if (Cesium.defined(picked) && picked.id instanceof Cesium.Entity) {
      var entity = picked.id, source = entity.entityCollection && entity.entityCollection.owner;
      var bag = entity.properties ? entity.properties.getValue(Cesium.JulianDate.now()) : {};
      var layerId = source && source.name;
      return showAttributes(layerId, bag.name || (bag.name_zh ? t(bag.name_zh, bag.name_en) : entity.id), bag);
    }
    hidePick();
    return Promise.resolve(null);
  }
  V3.pickAt = pickAt;
  var handler = new Cesium.ScreenSpaceEventHandler(scene.canvas);
  handler.setInputAction(function (click) { pickAt(click.position.x, click.position.y); }, Cesium.ScreenSpaceEventType.LEFT_CLICK);

  /* ------------------------------------------------------------------ panel (folds on a phone) */
  var toggle = document.getElementById("panel-toggle");
  var panel = document.getElementById("panel");
  if (window.matchMedia("(max-width: 640px)").matches) { panel.classList.add("folded"); toggle.setAttribute("aria-expanded", "false"); }
  toggle.addEventListener("click", function () {
    var folded = panel.classList.toggle("folded");
    toggle.setAttribute("aria-expanded", folded ? "false" : "true");
  });

  /* is everything asked for drawn? (the globe's tiles, the buildings' tiles, the overlays) */
  V3.idle = function () {
    var overlaysDone = Object.keys(V3.overlays).every(function (k) { return !V3.overlays[k].pending; });
    return V3.ready && scene.globe.tilesLoaded && (!V3.tileset || V3.tileset.tilesLoaded) && overlaysDone;
  };

  /* ------------------------------------------------------------------ start */
  Promise.all([OM.api("/api/v1/layers"), OM.api("/api/v1/city").catch(function () { return null; })])
    .then(function (answers) {
      var layers = answers[0].layers || [], city = answers[1];
      V3.layers = layers; V3.city = city;
      var imagery = layers.filter(function (l) { return l.kind === "imagery"; });
      imagerySelect.appendChild(el("option", { value: "", text: t("无影像", "None") }));
      imagery.forEach(function (l) { imagerySelect.appendChild(el("option", { value: l.id, text: t(l.title_zh, l.title_en) })); });
      var base = city && city.default_base_layer && imagery.some(function (l) { return l.id === city.default_base_layer; })
        ? city.default_base_layer : (imagery[0] ? imagery[0].id : "");
      imagerySelect.value = base;
      setImagery(base);
      var c = cityCenter();
      noonAt(c[0]);
      lookAt(c[0], c[1], Math.min(extentRadius(), 3000), -35, 0, 0);
      return setupBuildings(layers).then(function (buildingsId) {
        layers.filter(function (l) { return l.kind === "vector" && l.id !== buildingsId; }).forEach(function (l) {
          V3.overlays[l.id] = new Overlay(l);
        });
      });
    })
    .then(function () { V3.ready = true; document.body.setAttribute("data-ready", "true"); redraw(); })
    .catch(function (err) {
      V3.error = err.message;
      say(t("加载失败：", "Failed to load: ") + err.message, true);
      document.body.setAttribute("data-ready", "true");
    });
})();
