/* pygeoapi's collection (and STAC) page: the base map, the collection's map links as WMS
   layers, its extent, and Ctrl+drag to read a bbox query parameter (was an inline script). */
(function () {
  "use strict";
  var page = OgcPage.data();
  var map = L.map(document.getElementById("collection-map") ? "collection-map" : "items-map").setView([0, 0], 1);
  OgcPage.baseLayer(map, page.map);
  (page.links || []).forEach(function (link) {
    if (link.rel === "http://www.opengis.net/def/rel/ogc/1.0/map" && link.href) {
      L.tileLayer.wms(link.href, { opacity: 0.7, transparent: true, crs: L.CRS.EPSG4326 }).addTo(map);
    }
  });
  var b = page.bbox;
  if (b && b.length >= 4) {
    var bboxLayer = L.polygon([[b[1], b[0]], [b[3], b[0]], [b[3], b[2]], [b[1], b[2]]]);
    map.addLayer(bboxLayer);
    map.fitBounds(bboxLayer.getBounds(), { maxZoom: 10 });
  }

  var firstCorner, secondCorner, currentBoundingBox, boundingBox;
  var drawing = false;
  map.on("mousedown", function (e) {
    if (e.originalEvent.ctrlKey) {
      if (map.hasLayer(boundingBox)) { map.removeLayer(boundingBox); }
      map.dragging.disable();
      firstCorner = e.latlng;
      drawing = true;
    } else if (map.hasLayer(boundingBox) && !boundingBox.getBounds().contains(e.latlng)) {
      map.removeLayer(boundingBox);
    }
  });
  map.on("mouseup", function (e) {
    if (map.hasLayer(currentBoundingBox)) { map.removeLayer(currentBoundingBox); }
    if (e.originalEvent.ctrlKey && drawing) {
      secondCorner = e.latlng;
      boundingBox = L.rectangle([firstCorner, secondCorner], { color: "#ff7800", weight: 1 });
      boundingBox.addTo(map);
    }
    drawing = false;
    map.dragging.enable();
  });
  map.on("mousemove", function (e) {
    if (!drawing) { return; }
    if (map.hasLayer(currentBoundingBox)) { map.removeLayer(currentBoundingBox); }
    secondCorner = e.latlng;
    currentBoundingBox = L.rectangle([firstCorner, secondCorner], { dashArray: "4 1", weight: 0.4 });
    currentBoundingBox.addTo(map);
  });
  map.on("click", function () {
    if (map.hasLayer(boundingBox)) {
      var text = document.createElement("span");
      text.textContent = "bbox=" + boundingBox.getBounds().toBBoxString();
      L.popup({ maxWidth: "auto" }).setLatLng(boundingBox.getBounds().getCenter()).setContent(text).addTo(map);
    }
  });
})();
