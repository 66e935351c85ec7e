/* pygeoapi's job and job-results pages: parameters or results pretty-printed as text (were
   inline scripts writing them as HTML). */
(function () {
  "use strict";
  var page = OgcPage.data();
  function show(id, value) {
    var element = document.getElementById(id);
    if (!element) { return; }
    if (typeof value === "string") {
      try { value = JSON.parse(value); } catch (e) { /* shown as it is */ }
    }
    element.textContent = JSON.stringify(value, undefined, 2);
  }
  if ("parameters" in page) { show("job-parameters", page.parameters); }
  if ("result" in page) { show("results", page.result); }
})();
