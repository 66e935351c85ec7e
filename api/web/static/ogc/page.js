/* Shared by the scripts of pygeoapi's pages (api/ogc/templates.py): the page's data block and
   the base map. Data is read as JSON from <script type="application/json" id="ogc-page">, never
   evaluated, and shown through text nodes. */
var OgcPage = (function () {
  "use strict";
  function data() {
    var block = document.getElementById("ogc-page");
    return block ? JSON.parse(block.textContent) : {};
  }
  function baseLayer(map, settings, options) {
    settings = settings || {};
    if (!settings.url) { return null; }
    var layer = new L.TileLayer(settings.url, Object.assign({ maxZoom: 18, attribution: settings.attribution || "" }, options || {}));
    map.addLayer(layer);
    return layer;
  }
  function link(href, text) {
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    var span = document.createElement("span");
    span.appendChild(a);
    return span;
  }
  return { data: data, baseLayer: baseLayer, link: link };
})();
