/* The inspector app's service worker, served at /inspector/sw.js with scope /inspector
   (api/web/inspector.py). It keeps the app shell (page, scripts, styles, Leaflet) and the few
   documents the page needs to start (session, city, layer catalog, categories) so the app opens
   without network: network first, the cached copy when there is none. Map tiles the inspector has
   seen are kept (at most MAX_TILES) and given when offline. Filings are NOT handled here: the page
   keeps them in IndexedDB and sends them itself (POSTs pass through untouched). */
"use strict";

var SHELL_CACHE = "onemap-inspector-shell-v1";
var TILE_CACHE = "onemap-inspector-tiles-v1";
var MAX_TILES = 1500;
var SHELL = [
  "/inspector",
  "/static/faces/common.js",
  "/static/faces/faces.css",
  "/static/inspector/inspector.js",
  "/static/inspector/inspector.css",
  "/static/inspector/locate.svg",
  "/static/inspector/photo.svg",
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/leaflet/leaflet.css",
  "/static/vendor/leaflet/images/marker-icon.png",
  "/static/vendor/leaflet/images/marker-icon-2x.png",
  "/static/vendor/leaflet/images/marker-shadow.png",
  "/static/vendor/leaflet/images/layers.png",
  "/static/vendor/leaflet/images/layers-2x.png",
  "/static/vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
  "/static/favicon.png"
];
var DOCUMENTS = ["/api/v1/session", "/api/v1/city", "/api/v1/layers", "/api/v1/incidents/categories"];
/* a transparent 1×1 PNG: an imagery tile never seen, offline */
var EMPTY_PNG = Uint8Array.from(atob("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg=="),
                                function (c) { return c.charCodeAt(0); });

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(SHELL_CACHE).then(function (cache) { return cache.addAll(SHELL); })
    .then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) { return name.indexOf("onemap-inspector-") === 0 && name !== SHELL_CACHE && name !== TILE_CACHE; })
      .map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function isTile(url) {
  return url.pathname.indexOf("/tiles/") === 0 || /^\/ogc\/collections\/[^/]+\/tiles\//.test(url.pathname);
}

/* network first; a good answer refreshes the cache; without network, the cached copy */
function networkFirst(request, key) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(SHELL_CACHE).then(function (cache) { return cache.put(key, copy); });
    }
    return response;
  }, function (err) {
    return caches.open(SHELL_CACHE).then(function (cache) { return cache.match(key); }).then(function (hit) {
      if (hit) { return hit; }
      throw err;
    });
  });
}

var puts = 0;
function trimTiles(cache) {
  return cache.keys().then(function (keys) {
    return Promise.all(keys.slice(0, Math.max(0, keys.length - MAX_TILES)).map(function (k) { return cache.delete(k); }));
  });
}

/* tiles: the kept copy first (they change rarely), else the network (kept), else an empty tile */
function tile(request, url) {
  return caches.open(TILE_CACHE).then(function (cache) {
    return cache.match(request).then(function (hit) {
      if (hit) { return hit; }
      return fetch(request).then(function (response) {
        if (response.ok) {
          cache.put(request, response.clone()).then(function () { if (++puts % 100 === 0) { return trimTiles(cache); } });
        }
        return response;
      }, function () {
        if (url.pathname.indexOf("/tiles/") === 0) { return new Response(EMPTY_PNG, { headers: { "Content-Type": "image/png" } }); }
        return new Response(null, { status: 204 });
      });
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  if (request.mode === "navigate" && url.pathname === "/inspector") {
    event.respondWith(networkFirst(request, "/inspector"));
  } else if (SHELL.indexOf(url.pathname) >= 0 || DOCUMENTS.indexOf(url.pathname) >= 0) {
    event.respondWith(networkFirst(request, url.pathname));
  } else if (isTile(url)) {
    event.respondWith(tile(request, url));
  }
});
