/* pygeoapi's item page: the feature on a map (was an inline script). */
(function () {
  "use strict";
  var page = OgcPage.data();
  var map = L.map("items-map").setView([45, -75], 10);
  OgcPage.baseLayer(map, page.map);
  if (page.feature && page.feature.geometry) {
    var item = new L.GeoJSON(page.feature);
    map.addLayer(item);
    map.fitBounds(item.getBounds(), { maxZoom: 15 });
  }
})();
