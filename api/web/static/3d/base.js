/* Where CesiumJS finds its workers, assets and widgets: served by this app (make web copies them
   from npm), so the 3D view makes no request to any other host. Read by Cesium.js when it loads. */
window.CESIUM_BASE_URL = "/static/vendor/cesium/";
