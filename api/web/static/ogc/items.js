/* pygeoapi's items page: the page's features on a map, clustered, each with a link to its own
   page (was an inline script that built the popup from HTML strings). */
(function () {
  "use strict";
  var page = OgcPage.data();
  var map = L.map("items-map").setView([45, -75], 5);
  OgcPage.baseLayer(map, page.map);
  var items = new L.GeoJSON(page.features || [], {
    onEachFeature: function (feature, layer) {
      var url = page.items_path + "/" + encodeURIComponent(feature.id) + "?f=html";
      var label = page.title_field ? (feature.properties || {})[page.title_field] : feature.id;
      layer.bindPopup(OgcPage.link(url, String(label)));
    }
  });
  var markers = L.markerClusterGroup({ disableClusteringAtZoom: 9, chunkedLoading: true, chunkInterval: 500 });
  markers.clearLayers().addLayer(items);
  map.addLayer(markers);
  if (items.getLayers().length) { map.fitBounds(items.getBounds()); }
})();
