/* pygeoapi's Swagger UI page (was an inline script). The base layout, without the standalone
   top bar: that bar's only visible part was the Swagger logo, an SVG carrying an inline <style>
   the strict CSP refuses (the address box is hidden by pygeoapi's own CSS). */
(function () {
  "use strict";
  var page = OgcPage.data();
  window.ui = SwaggerUIBundle({
    url: page.url,
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "BaseLayout"
  });
})();
