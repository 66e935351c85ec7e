/* pygeoapi's tiles page: the tile matrix set picker, its metadata link and a map of the tiles
   (were two inline scripts). */
(function () {
  "use strict";
  var page = OgcPage.data();
  var select = document.getElementById("tilingScheme");
  var params = new URL(document.location).searchParams;
  var scheme = params.get("scheme") || select.value;
  var base = page.url + "/collections/" + encodeURIComponent(page.id) + "/tiles/";
  if (scheme) {
    select.value = scheme;
    document.getElementById("metadata_link").href = base + encodeURIComponent(scheme) + "/metadata";
  }
  select.addEventListener("change", function (ev) {
    document.location.search = "scheme=" + encodeURIComponent(ev.target.value);
  });

  var maxZoom = page.maxzoom || 18;
  var map;
  if (scheme !== "WorldCRS84Quad") {
    map = L.map("items-map").setView([45, -75], 10);
    OgcPage.baseLayer(map, page.map, { maxZoom: maxZoom });
  } else {
    map = L.map("items-map", { crs: L.CRS.EPSG4326 }).setView([45, -75], 10);
    OgcPage.baseLayer(map, page.map, { maxZoom: maxZoom, tileSize: L.point(512, 256) });
    var warning = document.createElement("div");
    warning.className = "ogc-warning";
    warning.textContent = page.warning;
    document.getElementById("items-map").insertAdjacentElement("afterend", warning);
  }
  var tilesUrl = null;
  (page.links || []).forEach(function (link) { if (link.rel === "item") { tilesUrl = link.href; } });
  if (tilesUrl) {
    var url = tilesUrl.replace("{dataset}", page.id).replace("{tileMatrixSetId}", scheme)
      .replace("tileMatrix", "z").replace("tileRow", "y").replace("tileCol", "x");
    if (page.tile_type === "raster") {
      map.addLayer(new L.TileLayer(url, { maxZoom: maxZoom }));
    } else if (page.tile_type === "vector") {
      var highlight = null;
      var tiles = L.vectorGrid.protobuf(url, {
        interactive: true, rendererFactory: L.canvas.tile, maxZoom: maxZoom, indexMaxZoom: 5,
        getFeatureId: function (feat) { return feat.properties.id || feat.properties.fid || feat.properties.uri; }
      });
      var clearHighlight = function () {
        if (highlight) { tiles.resetFeatureStyle(highlight); }
        highlight = null;
      };
      tiles.on("click", function (e) {
        clearHighlight();
        highlight = e.layer.properties.id || e.layer.properties.fid || e.layer.properties.uri;
        tiles.setFeatureStyle(highlight, { weight: 2, color: "red", opacity: 1, fillColor: "red", fill: false, radius: 6, fillOpacity: 1 });
        L.DomEvent.stop(e);
      }).addTo(map);
      map.on("click", clearHighlight);
    }
  }
  var b = page.bounds;
  if (b && b.length >= 4) {
    map.fitBounds(L.latLngBounds([[b[1], b[0]], [b[3], b[2]]]), { maxZoom: maxZoom });
  }
})();
