/* The inspector app (/inspector), phone first: place the incident on the city's base map (imagery,
   or the vector base of divisions, roads and buildings), find its category by 部件/事件 code or name,
   add up to N photos compressed on the phone, and file it through POST /api/v1/incidents.
   Every filing goes first to an outbox in IndexedDB and leaves it only in the same step that records
   the server's 201: none is lost when the network is away, none is filed twice (each carries the key
   made for it when it was queued as its Idempotency-Key: an attempt whose answer never came is sent
   again, and the server answers with the incident it already filed). A 4xx moves it to the refused list
   with the server's words; a 5xx or no network keeps it queued. The service worker (/inspector/sw.js)
   keeps the app shell so the page opens offline. Also: "my reports" and the 核查 tasks assigned to the
   inspector (verify / rework). Session, CSRF, escaping: window.OM (/static/faces/common.js). */
(function () {
  "use strict";
  var OM = window.OM, t = OM.t, el = OM.el;
  var $ = function (id) { return document.getElementById(id); };
  var MAX_PHOTOS = Number(document.body.getAttribute("data-max-photos")) || 5;
  var MAX_PHOTO_BYTES = Number(document.body.getAttribute("data-max-photo-bytes")) || 8 * 1048576;
  var MAX_EDGE = 1600;            /* the longest edge of a photo after compression, in pixels */
  var JPEG_QUALITY = 0.82;
  var KIND = { component: ["部件", "Component"], event: ["事件", "Event"] };
  var STATE = {
    reported: ["已上报", "Reported"], registered: ["已立案", "Registered"], not_registered: ["不予立案", "Not registered"],
    merged: ["已合并", "Merged"], dispatched: ["已派遣", "Dispatched"], handling: ["处置中", "Being handled"],
    returned: ["已回退", "Returned"], handled: ["已处置", "Handled"], verified: ["已核查", "Verified"],
    closed: ["已结案", "Closed"], suspended: ["挂账", "Suspended"]
  };
  var LIGHT = { red: ["超时", "Late"], yellow: ["将超时", "Due soon"], green: ["正常", "On time"] };

  var who = null;               /* the signed-in principal (OM.mountAuth), or null: filed as the public's */
  var categories = [];
  var byCode = {};
  var photos = [];              /* [{blob, url, width, height}] compressed, in the order taken */
  var point = null;             /* {lon, lat} of the incident */
  var reachable = true;         /* false after a request found no network, until one gets an answer */
  var backoff = 0, retryTimer = null;

  function label(pair) { return pair ? t(pair[0], pair[1]) : ""; }
  function categoryName(c) { return c ? t(c.name_zh, c.name_en) : ""; }
  function show(box, text, isError) {
    box.hidden = !text;
    box.className = "om-message" + (isError ? " error" : "");
    box.textContent = text || "";
  }

  /* ------------------------------------------------------------------ the map */
  /* the map's own zoom range: Leaflet would otherwise take the layers' (the grid's minZoom became the map's) */
  var map = L.map("map", { minZoom: 3, maxZoom: 20, zoomControl: true }).setView([34.26, 108.94], 12);
  var marker = null;
  var here = null;              /* the phone's position and accuracy */
  var caseMarkers = L.layerGroup().addTo(map);

  function place(lat, lon) {
    point = { lon: lon, lat: lat };
    $("where").textContent = lon.toFixed(6) + ", " + lat.toFixed(6);
    if (marker) { marker.setLatLng([lat, lon]); }
    else {
      marker = L.marker([lat, lon], { draggable: true, keyboard: true, title: t("案件位置", "Incident location") }).addTo(map);
      marker.on("dragend", function () { var p = marker.getLatLng(); place(p.lat, p.lng); });
    }
    showCell(lon, lat);
  }

  /* the unit cell (单元网格) the point falls in: GET /api/v1/grid/code (public) */
  var cellAsk = 0;
  function showCell(lon, lat) {
    var ask = ++cellAsk;
    $("cell").textContent = "";
    if (!online()) { return; }
    OM.api("/api/v1/grid/code?lon=" + lon.toFixed(7) + "&lat=" + lat.toFixed(7))
      .then(function (body) {
        if (ask !== cellAsk) { return; }
        $("cell").textContent = body.unit_cell ? t("网格 ", "Cell ") + body.unit_cell.code : t("不在单元网格内", "outside the unit grid");
      })
      .catch(function (err) { if (ask === cellAsk) { $("cell").textContent = ""; console.warn("grid code: " + err.message); } });
  }

  map.on("click", function (e) { place(e.latlng.lat, e.latlng.lng); });

  function locate(quiet) {
    if (!navigator.geolocation) { if (!quiet) { $("where").textContent = t("此浏览器不能定位", "No geolocation here"); } return; }
    locateButton.classList.add("busy");
    navigator.geolocation.getCurrentPosition(function (pos) {
      locateButton.classList.remove("busy");
      var lat = pos.coords.latitude, lon = pos.coords.longitude;
      if (here) { map.removeLayer(here); }
      here = L.layerGroup([
        L.circle([lat, lon], { radius: Math.min(pos.coords.accuracy || 0, 500), weight: 1, color: "#1d5fa8", fillOpacity: 0.1, interactive: false }),
        L.circleMarker([lat, lon], { radius: 7, weight: 3, color: "#fff", fillColor: "#1d5fa8", fillOpacity: 1, interactive: false })
      ]).addTo(map);
      place(lat, lon);
      map.setView([lat, lon], Math.max(map.getZoom(), 17));
    }, function (err) {
      locateButton.classList.remove("busy");
      if (!quiet) { $("where").textContent = t("定位失败：", "Cannot locate: ") + err.message; }
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 });
  }

  /* "locate me": a map button with a real icon (an SVG file, not a glyph the phone may lack) */
  var locateButton = null;
  var LocateControl = L.Control.extend({
    options: { position: "topleft" },
    onAdd: function () {
      var box = L.DomUtil.create("div", "leaflet-bar om-locate");
      locateButton = L.DomUtil.create("button", "", box);
      locateButton.type = "button";
      locateButton.id = "locate";
      locateButton.title = t("定位到我的位置", "Locate me");
      locateButton.setAttribute("aria-label", locateButton.title);
      var icon = L.DomUtil.create("img", "", locateButton);
      icon.src = "/static/inspector/locate.svg"; icon.alt = ""; icon.width = 22; icon.height = 22;
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.on(locateButton, "click", function () { locate(false); });
      return box;
    }
  });
  new LocateControl().addTo(map);

  function vectorTiles(id, style, options) {
    var styles = {};
    styles[id] = style;
    return L.vectorGrid.protobuf("/ogc/collections/" + encodeURIComponent(id) + "/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt",
      Object.assign({ rendererFactory: L.canvas.tile, vectorTileLayerStyles: styles, interactive: false,
                      maxNativeZoom: 18, maxZoom: 20 }, options));
  }

  var ROADS = { arterial: [5, "#f3bd55"], secondary: [3.5, "#f9dc8e"], branch: [2, "#ffffff"], lane: [1.2, "#ffffff"] };
  var BOUNDARY = { district: [2.2, "#6f5f9e", null], street: [1.5, "#8677b3", "6 4"], community: [1, "#a79dca", "3 3"] };

  /* the vector base from the catalog's vector tiles: the districts as land, buildings from z15, roads,
     and the division boundaries above the roads (a second layer, so no fill covers a boundary) */
  function vectorBase(ids, imagery) {
    var parts = [];
    if (ids.admin_divisions && !imagery) {
      parts.push(vectorTiles("admin_divisions", function (p) {
        return p.level === "district" ? { stroke: false, fill: true, fillColor: "#ece6d9", fillOpacity: 1 } : [];
      }, { zIndex: 2 }));
    }
    if (ids.buildings && !imagery) {
      parts.push(vectorTiles("buildings", { weight: 0.6, color: "#b9a78e", fill: true, fillColor: "#dbcfbd", fillOpacity: 1 },
                             { zIndex: 3, minZoom: 15 }));
    }
    if (ids.roads) {
      parts.push(vectorTiles("roads", function (p, zoom) {
        var road = ROADS[String(p.road_class)] || ROADS.branch;
        if (zoom < 13 && (p.road_class === "lane" || p.road_class === "branch")) { return []; }
        return { weight: Math.max(0.8, road[0] * (zoom >= 16 ? 1.6 : zoom >= 14 ? 1 : 0.6)), color: road[1],
                 opacity: imagery ? 0.75 : 1 };
      }, { zIndex: 4 }));
    }
    if (ids.admin_divisions) {
      parts.push(vectorTiles("admin_divisions", function (p) {
        var line = BOUNDARY[p.level] || BOUNDARY.community;
        return { weight: line[0], color: imagery ? "#ffffff" : line[1], dashArray: line[2], fill: false, opacity: 0.9 };
      }, { zIndex: 6 }));
    }
    return L.layerGroup(parts);
  }

  function imageryBase(layer) {
    var options = { maxZoom: 20, maxNativeZoom: 18, zIndex: 1, attribution: OM.escapeHtml(t(layer.title_zh, layer.title_en)) };
    if (layer.bbox) { options.bounds = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]); }
    return L.tileLayer("/tiles/" + encodeURIComponent(layer.id) + "/{z}/{x}/{y}.png", options);
  }

  function buildBase(layers, city) {
    var ids = {};
    var grid = null;
    layers.forEach(function (layer) {
      ids[layer.id] = layer;
      if (layer.kind === "grid" && !grid) { grid = layer; }
    });
    var bases = {};
    var imagery = city && city.default_base_layer && ids[city.default_base_layer];
    var vector = vectorBase(ids, false);
    if (imagery) {
      var photo = L.layerGroup([imageryBase(imagery), vectorBase(ids, true)]);
      bases[t("影像", "Imagery")] = photo;
      bases[t("矢量", "Vector")] = vector;
      photo.addTo(map);
    } else {
      bases[t("矢量底图", "Vector base")] = vector;
      vector.addTo(map);
    }
    var overlays = {};
    if (grid) {
      var cells = vectorTiles(grid.id, { weight: 0.8, color: "#3182bd", fill: false, opacity: 0.6 }, { zIndex: 5, minZoom: 15 });
      overlays[t("单元网格（15级起）", "Unit grid (from z15)")] = cells;
      cells.addTo(map);
    }
    L.control.layers(bases, overlays, { position: "topright" }).addTo(map);
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    document.getElementById("map").setAttribute("data-base", imagery ? "imagery" : "vector");
  }

  /* the city's opening view, without animation: Leaflet drops a setView made while a zoom animates
     (locate me right after opening would be lost) */
  function frame(city) {
    if (point) { return; }
    if (city && city.center && city.zoom !== null && city.zoom !== undefined) {
      map.setView([city.center[1], city.center[0]], city.zoom, { animate: false });
    } else if (city && city.extent) {
      map.fitBounds([[city.extent[1], city.extent[0]], [city.extent[3], city.extent[2]]], { animate: false });
    }
  }

  function loadBase() {
    return Promise.all([OM.api("/api/v1/city").catch(function () { return null; }),
                        OM.api("/api/v1/layers").catch(function () { return { layers: [] }; })])
      .then(function (both) { frame(both[0]); buildBase(both[1].layers || [], both[0]); });
  }

  /* ------------------------------------------------------------------ categories: search by code or name */
  function loadCategories() {
    return OM.api("/api/v1/incidents/categories").then(function (body) {
      categories = (body.categories || []).filter(function (c) { return c.active !== false; });
      categories.forEach(function (c) { byCode[c.code] = c; });
    }).catch(function (err) { show($("result"), t("类别目录无法读取：", "Cannot read the categories: ") + err.message, true); });
  }

  function rank(c, q) {
    var code = c.code.toLowerCase();
    if (code === q) { return 0; }
    if (code.indexOf(q) === 0) { return 1; }
    if (c.major_code === q) { return 2; }
    var names = [c.name_zh, (c.name_en || "").toLowerCase()];
    if (names.some(function (n) { return n && n.indexOf(q) >= 0; })) { return 3; }
    var majors = [c.major_name_zh, (c.major_name_en || "").toLowerCase()];
    if (majors.some(function (n) { return n && n.indexOf(q) >= 0; })) { return 4; }
    return -1;
  }

  function search() {
    var q = $("cat-search").value.trim().toLowerCase();
    var list = $("cat-results");
    list.textContent = "";
    if (!q) { return; }
    var found = categories.map(function (c) { return { c: c, r: rank(c, q) }; })
      .filter(function (x) { return x.r >= 0; })
      .sort(function (a, b) { return a.r - b.r || a.c.code.localeCompare(b.c.code); })
      .slice(0, 25);
    if (!found.length) { list.appendChild(el("li", { class: "none", text: t("没有匹配的类别", "No category matches") })); return; }
    found.forEach(function (x) {
      var c = x.c;
      list.appendChild(el("li", {}, [el("button", { type: "button", class: "choice", "data-code": c.code, on: { click: function () { pick(c.code); } } }, [
        el("span", { class: "kind " + c.kind, text: label(KIND[c.kind]) }),
        el("b", { class: "code", text: c.code }),
        el("span", { class: "name", text: categoryName(c) }),
        el("small", { text: c.major_code + " " + t(c.major_name_zh, c.major_name_en) })
      ])]));
    });
  }

  function describe(c) {
    return label(KIND[c.kind]) + " · " + c.code + " " + categoryName(c) + " · " + c.major_code + " " + t(c.major_name_zh, c.major_name_en);
  }

  function pick(code) {
    var c = byCode[code];
    $("category").value = c ? c.code : "";
    $("cat-picked").hidden = !c;
    $("cat-picked-text").textContent = c ? describe(c) : "";
    $("cat-search").hidden = !!c;
    $("cat-results").textContent = "";
    if (c) { $("description").focus(); }
  }

  $("cat-search").addEventListener("input", search);
  $("cat-search").addEventListener("keydown", function (e) {
    if (e.key !== "Enter") { return; }
    e.preventDefault();
    var first = $("cat-results").querySelector("button.choice");
    if (first) { pick(first.getAttribute("data-code")); }
  });
  $("cat-change").addEventListener("click", function () {
    pick(null); $("cat-search").hidden = false; $("cat-search").focus(); search();
  });

  /* ------------------------------------------------------------------ photos: compressed on the phone */
  function decode(file) {
    if (window.createImageBitmap) {
      return createImageBitmap(file, { imageOrientation: "from-image" }).catch(function () { return decodeWithImage(file); });
    }
    return decodeWithImage(file);
  }

  function decodeWithImage(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new Error(t("不是可读的图片", "not a readable image"))); };
      img.src = url;
    });
  }

  function toJpeg(canvas, quality) {
    return new Promise(function (resolve) { canvas.toBlob(resolve, "image/jpeg", quality); });
  }

  /* canvas → JPEG, longest edge at most MAX_EDGE; re-encoding also drops the file's EXIF (its GPS included) */
  function compress(file) {
    return decode(file).then(function (image) {
      var width = image.naturalWidth || image.width, height = image.naturalHeight || image.height;
      var scale = Math.min(1, MAX_EDGE / Math.max(width, height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      var ctx = canvas.getContext("2d");
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
      if (image.close) { image.close(); }
      return toJpeg(canvas, JPEG_QUALITY).then(function (blob) {
        return blob && blob.size > MAX_PHOTO_BYTES ? toJpeg(canvas, 0.6) : blob;
      }).then(function (blob) {
        if (!blob) { throw new Error(t("无法压缩", "cannot compress")); }
        return { blob: blob, width: canvas.width, height: canvas.height };
      });
    });
  }

  function photoNote() {
    $("photo-count").textContent = "(" + photos.length + "/" + MAX_PHOTOS + ")";
    $("photo").disabled = photos.length >= MAX_PHOTOS;
    $("photo-note").textContent = t("最多 " + MAX_PHOTOS + " 张；在手机上压缩为 JPEG（最长边 " + MAX_EDGE + " 像素）后上传",
                                    "Up to " + MAX_PHOTOS + " photos, compressed on the phone to JPEG (longest edge " + MAX_EDGE + " px)");
  }

  function renderThumbs(list, items, onRemove) {
    list.textContent = "";
    items.forEach(function (p, i) {
      if (!p.url) { p.url = URL.createObjectURL(p.blob); }
      list.appendChild(el("li", {}, [
        el("img", { src: p.url, alt: t("照片 ", "Photo ") + (i + 1), title: p.width + "×" + p.height + " · " + Math.round(p.blob.size / 1024) + " KB" }),
        el("button", { type: "button", class: "remove", "aria-label": t("删除照片 ", "Remove photo ") + (i + 1), text: "×",
                       on: { click: function () { onRemove(i); } } })
      ]));
    });
  }

  function showPhotos() {
    renderThumbs($("thumbs"), photos, function (i) { URL.revokeObjectURL(photos[i].url); photos.splice(i, 1); showPhotos(); });
    photoNote();
  }

  function addPhotos(input, into, done) {
    var files = Array.prototype.slice.call(input.files || []);
    input.value = "";
    var room = MAX_PHOTOS - into.length;
    if (files.length > room) { show($("result"), t("最多 " + MAX_PHOTOS + " 张照片，多余的未加入", "At most " + MAX_PHOTOS + " photos; the rest were left out"), true); }
    return files.slice(0, Math.max(0, room)).reduce(function (chain, file) {
      return chain.then(function () {
        return compress(file).then(function (p) { into.push(p); done(); })
          .catch(function (err) { show($("result"), (file.name || "") + ": " + err.message, true); });
      });
    }, Promise.resolve());
  }

  $("photo").addEventListener("change", function () { addPhotos($("photo"), photos, showPhotos); });

  /* ------------------------------------------------------------------ the outbox (IndexedDB) */
  var dbPromise = null;
  function db() {
    if (!dbPromise) {
      dbPromise = new Promise(function (resolve, reject) {
        var open = indexedDB.open("onemap-inspector", 1);
        open.onupgradeneeded = function () {
          var d = open.result;
          ["outbox", "refused", "sent"].forEach(function (name) {
            if (!d.objectStoreNames.contains(name)) { d.createObjectStore(name, { keyPath: "key" }); }
          });
        };
        open.onsuccess = function () { resolve(open.result); };
        open.onerror = function () { reject(open.error); };
      });
    }
    return dbPromise;
  }

  /* one transaction over `stores`; work(tx) queues its requests; resolves when the transaction commits */
  function tx(stores, mode, work) {
    return db().then(function (d) {
      return new Promise(function (resolve, reject) {
        var transaction = d.transaction(stores, mode);
        var result = work(transaction);
        transaction.oncomplete = function () { resolve(result && result.result !== undefined ? result.result : result); };
        transaction.onerror = function () { reject(transaction.error); };
        transaction.onabort = function () { reject(transaction.error || new Error("aborted")); };
      });
    });
  }

  function all(store) {
    return tx([store], "readonly", function (x) { return x.objectStore(store).getAll(); })
      .then(function (rows) { return (rows || []).sort(function (a, b) { return a.created - b.created; }); });
  }

  function putEntry(store, entry) { return tx([store], "readwrite", function (x) { x.objectStore(store).put(entry); }); }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function formOf(entry) {
    var form = new FormData();
    form.append("category_code", entry.category_code);
    form.append("description", entry.description);
    form.append("source", entry.source);
    form.append("lon", String(entry.lon));
    form.append("lat", String(entry.lat));
    form.append("reported_at", entry.reported_at);
    form.append("external_id", entry.key);  /* the client's key of the filing, kept with the incident */
    entry.photos.forEach(function (blob, i) { form.append("photo", blob, "photo-" + (i + 1) + ".jpg"); });
    return form;
  }

  function markSent(entry, body) {
    var sent = { key: entry.key, id: body.id, category_code: entry.category_code, reported_at: entry.reported_at,
                 lon: entry.lon, lat: entry.lat, description: entry.description, created: entry.created, sent_at: Date.now(),
                 cell_code: body.cell_code || null, department_code: body.department_code || body.department || null };
    return tx(["outbox", "sent"], "readwrite", function (x) {
      x.objectStore("outbox").delete(entry.key);
      x.objectStore("sent").put(sent);
    }).then(function () { return sent; });
  }

  function refuse(entry, message, status) {
    var refused = Object.assign({}, entry, { status: "refused", http_status: status, message: message, refused_at: Date.now() });
    return tx(["outbox", "refused"], "readwrite", function (x) {
      x.objectStore("outbox").delete(entry.key);
      x.objectStore("refused").put(refused);
    });
  }

  var KEEP_QUEUED = { 401: 1, 403: 1, 408: 1, 425: 1, 429: 1 };  /* a session to renew or a server to wait for */

  /* send one outbox entry: "sent", "refused", "retry" (kept queued), or "offline" (stop this round) */
  function sendOne(entry) {
    entry.status = "sending";
    entry.attempts = (entry.attempts || 0) + 1;
    return putEntry("outbox", entry).then(function () {
      /* sent again after a lost answer, the same key gets the incident already filed, not a second one */
      return OM.authFetch("/api/v1/incidents", { method: "POST", body: formOf(entry),
        headers: { Accept: "application/json", "Idempotency-Key": entry.key } });
    }).then(function (res) {
      setReachable(true);
      return res.text().then(function (text) {
        var body = {};
        try { body = text ? JSON.parse(text) : {}; } catch (e) { body = { description: text }; }
        if (res.status === 201) { return markSent(entry, body).then(function (sent) { announce(sent, entry, body); return "sent"; }); }
        var message = body.description || body.detail || ("HTTP " + res.status);
        if (res.status >= 400 && res.status < 500 && !KEEP_QUEUED[res.status]) {
          return refuse(entry, message, res.status).then(function () { return "refused"; });
        }
        entry.status = "queued";
        entry.message = message;
        return putEntry("outbox", entry).then(function () { return "retry"; });
      });
    }, function (err) {
      /* no answer: the request may or may not have arrived; the next try sends it again with its key */
      entry.message = t("网络不可用：", "No network: ") + err.message;
      setReachable(false);
      return putEntry("outbox", entry).then(function () { return "offline"; });
    });
  }

  var flushing = null;
  var flushAgain = false;

  /* send the outbox, oldest first, one at a time; one sender per browser (Web Locks) and per page */
  function flush() {
    if (flushing) { flushAgain = true; return flushing; }
    var run = function () { return flushOutbox(); };
    var started = navigator.locks && navigator.locks.request ? navigator.locks.request("onemap-inspector-outbox", run) : run();
    flushing = Promise.resolve(started).catch(function (err) { console.warn("outbox: " + err.message); })
      .then(function () {
        flushing = null;
        if (flushAgain) { flushAgain = false; return flush(); }
        return renderOutbox();
      });
    return flushing;
  }

  function flushOutbox() {
    if (!navigator.onLine) { return renderOutbox(); }
    return all("outbox").then(function (entries) {
      return entries.reduce(function (chain, entry) {
        return chain.then(function (stop) {
          if (stop) { return true; }
          if (entry.filed_by && (!who || who.name !== entry.filed_by)) {
            /* filed by another inspector on this phone: it waits for them, it is never sent as someone else's */
            entry.message = t("由 " + entry.filed_by + " 上报：请以其身份登录后发送", "Filed by " + entry.filed_by + ": sign in as them to send it");
            return putEntry("outbox", entry).then(function () { return false; });
          }
          return sendOne(entry).then(function (outcome) { return outcome === "offline"; });
        });
      }, Promise.resolve(false));
    }).then(renderOutbox);
  }

  function announce(sent, entry, body) {
    var c = byCode[sent.category_code];
    var lines = [t("已上报 #", "Filed #") + sent.id + (c ? " · " + sent.category_code + " " + categoryName(c) : "")];
    if (body && body.cell_code) { lines.push(t("网格 ", "Cell ") + body.cell_code + " · " + t("责任单位 ", "Department ") + (body.department_code || "")); }
    if (body && body.register_due_at) { lines.push(t("立案时限 ", "Register by ") + OM.formatTime(body.register_due_at)); }
    if (body && body.possible_duplicates && body.possible_duplicates.length) {
      lines.push(t("可能重复：", "Possible duplicates: ") + body.possible_duplicates.map(function (d) { return "#" + d.id; }).join(", "));
    }
    if (entry.queued_offline) { lines.push(t("（离线时保存，已补发）", "(kept while offline, now sent)")); }
    show($("result"), lines.join("\n"), false);
    $("result").scrollIntoView({ block: "nearest" });
  }

  function entrySummary(entry) {
    var c = byCode[entry.category_code];
    return entry.category_code + " " + (c ? categoryName(c) : "") + " · " + OM.formatTime(entry.reported_at) +
      (entry.photos && entry.photos.length ? " · " + t("照片 ", "photos ") + entry.photos.length : "");
  }

  function renderOutbox() {
    return Promise.all([all("outbox"), all("refused")]).then(function (both) {
      var queued = both[0], refused = both[1];
      $("outbox").hidden = !queued.length;
      $("outbox-count").textContent = "(" + queued.length + ")";
      $("badge-report").hidden = !queued.length;
      $("badge-report").textContent = String(queued.length);
      var list = $("queued");
      list.textContent = "";
      queued.forEach(function (entry) {
        var state = entry.status === "sending" ? t("发送中/待确认", "sending / to confirm") : t("待发送", "queued");
        list.appendChild(el("li", { class: "queued", "data-key": entry.key }, [
          el("span", { class: "om-light yellow", text: state }), " ", el("span", { text: entrySummary(entry) }),
          entry.message ? el("small", { class: "why", text: entry.message }) : null
        ]));
      });
      $("refused-box").hidden = !refused.length;
      var rlist = $("refused");
      rlist.textContent = "";
      refused.forEach(function (entry) {
        rlist.appendChild(el("li", { class: "refused", "data-key": entry.key }, [
          el("span", { class: "om-light red", text: t("被退回", "refused") }), " ", el("span", { text: entrySummary(entry) }),
          el("small", { class: "why", text: (entry.http_status ? entry.http_status + " · " : "") + entry.message }),
          el("button", { type: "button", class: "om-btn secondary small", text: t("删除", "Discard"), on: { click: function () {
            tx(["refused"], "readwrite", function (x) { x.objectStore("refused").delete(entry.key); }).then(renderOutbox);
          } } })
        ]));
      });
      return { queued: queued.length, refused: refused.length };
    });
  }

  $("retry").addEventListener("click", function () {
    if (!navigator.onLine) { showNet(); return; }
    reachable = true;
    showNet();
    flush();
  });

  /* ------------------------------------------------------------------ filing */
  function resetForm() {
    photos.forEach(function (p) { URL.revokeObjectURL(p.url); });
    photos = [];
    showPhotos();
    $("description").value = "";
    pick(null);
    $("cat-search").value = "";
  }

  $("report").addEventListener("submit", function (event) {
    event.preventDefault();
    var code = $("category").value;
    if (!code) { show($("result"), t("请先选择类别（输入编码或名称）", "Choose a category first (type a code or a name)"), true); $("cat-search").focus(); return; }
    if (!point) { show($("result"), t("请在地图上点选位置或定位", "Place the incident on the map or locate yourself"), true); return; }
    var offline = !online();
    var entry = {
      key: newKey(), created: Date.now(), reported_at: new Date().toISOString(), category_code: code,
      description: $("description").value.trim(), lon: Number(point.lon.toFixed(7)), lat: Number(point.lat.toFixed(7)),
      /* inspectors (and admins) file as inspectors; anyone else's report is the public's */
      source: who && (who.role === "inspector" || who.role === "admin") ? "inspector" : "public",
      photos: photos.map(function (p) { return p.blob; }), status: "queued", attempts: 0, message: "",
      filed_by: who ? who.name : null,
      queued_offline: offline
    };
    $("submit").disabled = true;
    putEntry("outbox", entry).then(function () {
      resetForm();
      if (offline) {
        show($("result"), t("离线：已保存在本机，联网后自动发送", "Offline: kept on this phone, sent when the network returns"), false);
        return renderOutbox().then(function () { $("outbox").scrollIntoView({ block: "nearest" }); });
      }
      show($("result"), t("正在发送…", "Sending…"), false);
      return flush();
    }).catch(function (err) {
      show($("result"), t("无法保存到本机：", "Cannot keep it on this phone: ") + err.message, true);
    }).then(function () { $("submit").disabled = false; });
  });

  /* ------------------------------------------------------------------ network state */
  /* navigator.onLine may say "online" with no way to the server (a captive portal, a dead cell):
     a failed send also counts as offline until the next answer, and the outbox is retried with backoff */
  function online() { return navigator.onLine && reachable; }

  function showNet() {
    var box = $("net");
    box.hidden = online();
    box.className = "om-message offline";
    box.textContent = navigator.onLine
      ? t("连不上服务器：上报保存在本机，恢复后自动发送", "Cannot reach the server: reports are kept on this phone and sent when it answers")
      : t("离线：上报保存在本机，联网后自动发送", "Offline: reports are kept on this phone and sent when the network returns");
  }

  function setReachable(value) {
    var was = reachable;
    reachable = value;
    if (was !== value) { showNet(); }
    if (value) { backoff = 0; clearTimeout(retryTimer); return; }
    scheduleRetry();  /* again after each failed try, each time later */
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    backoff = Math.min(backoff ? backoff * 2 : 5000, 60000);
    retryTimer = setTimeout(function () { if (navigator.onLine) { flush(); } else { scheduleRetry(); } }, backoff);
  }

  window.addEventListener("online", function () { reachable = true; showNet(); flush(); });
  window.addEventListener("offline", showNet);

  /* ------------------------------------------------------------------ my reports */
  function caseRow(row, extra) {
    var c = byCode[row.category_code];
    var name = row.category_name_zh ? t(row.category_name_zh, row.category_name_en) : categoryName(c);
    var where = [row.street_name, row.community_name, row.address].filter(Boolean).join(" · ");
    var item = el("li", { class: "case", "data-id": row.id }, [
      el("div", { class: "line" }, [
        el("b", { text: "#" + row.id }), " ",
        el("span", { class: "state " + row.state, text: label(STATE[row.state]) || row.state }), " ",
        row.light ? el("span", { class: "om-light " + row.light, text: label(LIGHT[row.light]) }) : null
      ]),
      el("div", { text: (row.category_code || "") + " " + (name || "") + (row.kind ? " · " + label(KIND[row.kind]) : "") }),
      where ? el("div", { class: "muted", text: where }) : null,
      row.description ? el("div", { class: "muted desc", text: row.description }) : null,
      el("small", { class: "muted", text: OM.formatTime(row.reported_at) + (row.due_at ? " · " + t("时限 ", "due ") + OM.formatTime(row.due_at) : "") })
    ].concat(extra || []));
    if (row.lon !== undefined && row.lon !== null) {
      item.addEventListener("click", function (e) {
        if (e.target.closest("button, textarea, input, label")) { return; }
        map.setView([row.lat, row.lon], Math.max(map.getZoom(), 17));
      });
    }
    return item;
  }

  function showCases(rows) {
    caseMarkers.clearLayers();
    rows.forEach(function (row) {
      if (row.lon === undefined || row.lon === null) { return; }
      /* coloured by the time-limit light (the phone's own position is the blue dot) */
      L.circleMarker([row.lat, row.lon], { radius: 10, weight: 3, color: "#fff", fillOpacity: 0.95,
        fillColor: row.light === "red" ? "#b42318" : row.light === "yellow" ? "#d69e00" : row.light === "green" ? "#1e7a3c" : "#6b4fa0" })
        .bindTooltip("#" + row.id + " " + (row.category_code || "")).addTo(caseMarkers);
    });
    var layers = caseMarkers.getLayers();
    if (layers.length) { map.fitBounds(L.featureGroup(layers).getBounds().pad(0.3), { maxZoom: 16 }); }
  }

  var mineAsk = 0;
  function loadMine() {
    var list = $("mine-list");
    var ask = ++mineAsk;
    return Promise.all([all("outbox"), all("refused"), all("sent")]).then(function (local) {
      if (ask !== mineAsk) { return; }
      list.textContent = "";
      local[0].concat(local[1]).forEach(function (entry) {
        var refused = entry.status === "refused";
        list.appendChild(el("li", { class: "case local " + (refused ? "refused" : "queued") }, [
          el("span", { class: "om-light " + (refused ? "red" : "yellow"), text: refused ? t("被退回", "refused") : t("待发送", "queued") }),
          " ", el("span", { text: entrySummary(entry) }), refused ? el("small", { class: "why", text: entry.message }) : null
        ]));
      });
      if (!online()) {
        show($("mine-message"), t("离线：显示本机记录", "Offline: what this phone knows"), false);
        local[2].sort(function (a, b) { return b.created - a.created; }).forEach(function (s) {
          list.appendChild(caseRow({ id: s.id, state: "reported", category_code: s.category_code, reported_at: s.reported_at,
                                     lon: s.lon, lat: s.lat, description: s.description }));
        });
        return;
      }
      return OM.api("/api/v1/incidents?mine=reported&sort=-reported&limit=100").then(function (body) {
        if (ask !== mineAsk) { return; }
        var rows = body.incidents || [];
        show($("mine-message"), rows.length ? "" : t("还没有上报", "No reports yet"), false);
        rows.forEach(function (row) { list.appendChild(caseRow(row)); });
        showCases(rows);
      }).catch(function (err) {
        show($("mine-message"), (err.status === 401 ? t("请先登录。", "Sign in first. ") : "") + err.message, true);
      });
    });
  }

  $("mine-refresh").addEventListener("click", loadMine);

  /* ------------------------------------------------------------------ verification (核查) tasks */
  function transitionForm(action, row, reason, taken) {
    var form = new FormData();
    form.append("action", action);
    if (reason) { form.append("reason", reason); }
    if (row.version) { form.append("version", String(row.version)); }
    taken.forEach(function (p, i) { form.append("photo", p.blob, action + "-" + (i + 1) + ".jpg"); });
    return form;
  }

  function act(action, row, reason, taken, box) {
    if (!online()) { show(box, t("离线时不能核查，请联网后再试", "Verification needs the network"), true); return; }
    if (action === "rework" && !reason) { show(box, t("返工需要填写原因", "Rework needs a reason"), true); return; }
    box.hidden = true;
    OM.api("/api/v1/incidents/" + row.id + "/transitions", { method: "POST", body: transitionForm(action, row, reason, taken) })
      .then(function () {
        show($("verify-message"), (action === "verify" ? t("已核查通过 #", "Verified #") : t("已要求返工 #", "Sent back for rework #")) + row.id, false);
        return loadVerify(true);
      })
      .catch(function (err) { show(box, err.message, true); if (err.status === 409) { loadVerify(true); } });
  }

  function handlingPhotos(row, into) {
    OM.api("/api/v1/incidents/" + row.id).then(function (record) {
      (record.photo_ids || []).slice(-6).forEach(function (pid) {
        into.appendChild(el("li", {}, [el("img", { src: "/api/v1/incidents/" + row.id + "/photos/" + pid, alt: t("照片 #", "Photo #") + pid, loading: "lazy" })]));
      });
    }).catch(function (err) { console.warn("incident " + row.id + ": " + err.message); });
  }

  function taskCard(row) {
    var taken = [];
    var box = el("div", { class: "om-message", role: "status", hidden: true });
    var reason = el("textarea", { rows: 2, id: "reason-" + row.id, maxlength: 4000, on: { input: function () { box.hidden = true; } } });
    var input = el("input", { type: "file", accept: "image/*", multiple: true, id: "vphoto-" + row.id, class: "visually-hidden" });
    var thumbs = el("ul", { class: "thumbs" });
    function redraw() { renderThumbs(thumbs, taken, function (i) { URL.revokeObjectURL(taken[i].url); taken.splice(i, 1); redraw(); }); }
    input.addEventListener("change", function () { addPhotos(input, taken, redraw); });
    var seen = el("ul", { class: "thumbs seen" });
    handlingPhotos(row, seen);
    return caseRow(row, [
      seen,
      el("label", { for: "reason-" + row.id, text: t("核查意见（返工必填）", "Remarks (needed for rework)") }), reason,
      el("label", { for: "vphoto-" + row.id, class: "om-btn secondary small photo-btn" }, [
        el("img", { src: "/static/inspector/photo.svg", alt: "", width: 18, height: 18 }), t(" 核查照片", " Photo")]),
      input, thumbs,
      el("div", { class: "actions" }, [
        el("button", { type: "button", class: "om-btn verify", "data-action": "verify", text: t("核查通过", "Verified"),
                       on: { click: function () { act("verify", row, reason.value.trim(), taken, box); } } }),
        el("button", { type: "button", class: "om-btn danger rework", "data-action": "rework", text: t("返工", "Rework"),
                       on: { click: function () { act("rework", row, reason.value.trim(), taken, box); } } })
      ]),
      box
    ]);
  }

  function showTaskCount(count) {
    $("badge-verify").hidden = !count;
    $("badge-verify").textContent = String(count);
  }

  /* how many 核查 tasks wait (the tab's badge), without drawing them */
  function countTasks() {
    if (!who || !online()) { return; }
    OM.api("/api/v1/incidents?mine=verify&limit=1").then(function (body) { showTaskCount(body.numberMatched || 0); })
      .catch(function (err) { console.warn("verification tasks: " + err.message); });
  }

  var verifyAsk = 0;
  function loadVerify(keepMessage) {
    var list = $("verify-list");
    var ask = ++verifyAsk;  /* only the latest answer is drawn (a task being written in must not be redrawn by an older one) */
    if (!keepMessage) { show($("verify-message"), "", false); }
    if (!online()) { show($("verify-message"), t("离线：联网后显示核查任务", "Offline: tasks show when the network returns"), false); return Promise.resolve(); }
    if (!who) { list.textContent = ""; show($("verify-message"), t("请先登录（监督员令牌）", "Sign in first (inspector token)"), true); return Promise.resolve(); }
    return OM.api("/api/v1/incidents?mine=verify&sort=due&limit=100").then(function (body) {
      if (ask !== verifyAsk) { return; }
      var rows = body.incidents || [];
      list.textContent = "";
      showTaskCount(body.numberMatched || rows.length);
      if (!rows.length && !keepMessage) { show($("verify-message"), t("没有待核查的案件", "No verification tasks"), false); }
      rows.forEach(function (row) { list.appendChild(taskCard(row)); });
      showCases(rows);
    }).catch(function (err) { show($("verify-message"), err.message, true); });
  }

  $("verify-refresh").addEventListener("click", function () { loadVerify(false); });

  /* ------------------------------------------------------------------ tabs */
  var views = { report: null, mine: loadMine, verify: loadVerify };
  function openView(name) {
    document.querySelectorAll("#tabs [role=tab]").forEach(function (tab) {
      var on = tab.getAttribute("data-view") === name;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      $("view-" + tab.getAttribute("data-view")).hidden = !on;
    });
    document.body.setAttribute("data-view", name);
    if (name === "report") { caseMarkers.clearLayers(); }
    if (marker) { if (name === "report") { marker.addTo(map); } else { map.removeLayer(marker); } }  /* the pin is the form's */
    if (views[name]) { views[name](); }
    setTimeout(function () { map.invalidateSize(); }, 0);
  }
  document.querySelectorAll("#tabs [role=tab]").forEach(function (tab) {
    tab.addEventListener("click", function () { openView(tab.getAttribute("data-view")); });
    tab.addEventListener("keydown", function (e) {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") { return; }
      var tabs = Array.prototype.slice.call(document.querySelectorAll("#tabs [role=tab]"));
      var next = tabs[(tabs.indexOf(tab) + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.focus(); openView(next.getAttribute("data-view"));
    });
  });

  /* ------------------------------------------------------------------ start */
  OM.translate(document);
  OM.mountLang($("lang"));
  photoNote();
  showNet();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/inspector/sw.js", { scope: "/inspector" })
      .catch(function (err) { console.warn("service worker: " + err.message); });
  }
  var started = Promise.all([
    OM.mountAuth($("auth"), function (principal) { who = principal; }),
    loadCategories(),
    loadBase()
  ]);
  started.then(function () {
    window.inspectorReady = true;
    if (navigator.permissions && navigator.geolocation) {
      navigator.permissions.query({ name: "geolocation" }).then(function (status) {
        if (status.state === "granted" && !point) { locate(true); }
      }).catch(function () { /* no permission query: wait for the button */ });
    }
    flush();
    countTasks();
  });
  setInterval(function () { if (online()) { flush(); } }, 60000);

  /* for tests and the curious: the outbox as the page sees it */
  window.inspectorOutbox = { flush: flush, all: all };
  window.inspectorMap = map;
})();
