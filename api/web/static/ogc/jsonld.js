/* pygeoapi's pages: request the JSON-LD representation of this page and embed it as a data
   block for search engines (was an inline script of _base.html; see api/ogc/templates.py). */
(function () {
  "use strict";
  var xhr = new XMLHttpRequest();
  xhr.open("GET", window.location.protocol + "//" + window.location.host + window.location.pathname + "?f=jsonld");
  xhr.onload = function () {
    if (xhr.status === 200) {
      var block = document.createElement("script");
      block.type = "application/ld+json";
      /* remove the full context path: search engines do not expect it here, pyld requires it */
      block.textContent = xhr.responseText.replace("docs/jsonldcontext.jsonld", "");
      document.head.appendChild(block);
    }
  };
  xhr.send();
})();
