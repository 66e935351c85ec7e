/* pygeoapi's item and job lists: the page-size picker (was an inline script). */
(function () {
  "use strict";
  var select = document.getElementById("limits");
  if (!select) { return; }
  var defaultValue = select.getElementsByTagName("option")[0].value;
  var params = new URL(document.location).searchParams;
  select.value = params.get("limit") || defaultValue;
  select.addEventListener("change", function (ev) {
    document.location.search = "limit=" + encodeURIComponent(ev.target.value);
  });
})();
