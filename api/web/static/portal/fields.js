/* What a layer's fields and values are called, and how a layer is drawn (its symbology and
   legend, from the catalog's style: color, fill, radius, weight, symbol_by/color_by, width_by).
   Field names are shown by their alias, never raw when an alias is known: the catalog entry's
   "fields" ([{name, title_zh, title_en, unit}]: the server's one glossary, layers/field_aliases.py,
   with the layer's own words) win over the OGC queryables' titles; imagery bands have the small
   list below. Exposed as window.PortalFields. */
(function () {
  "use strict";
  var t = window.OM.t;

  /* imagery bands (an imagery layer has no table, so no catalog fields): name: [zh, en, unit] */
  var GLOSSARY = {
    scene: ["场景", "Scene"], blue: ["蓝波段", "Blue"], green: ["绿波段", "Green"], red: ["红波段", "Red"],
    nir: ["近红外波段", "Near infrared"], swir1: ["短波红外 1", "SWIR 1"], swir2: ["短波红外 2", "SWIR 2"], ndvi: ["NDVI", "NDVI"]
  };
  var VALUES = {
    residential: ["住宅", "Residential"], commercial: ["商业", "Commercial"], industrial: ["工业", "Industrial"],
    office: ["办公", "Office"], public: ["公共服务", "Public"], education: ["教育", "Education"],
    hospital: ["医院", "Hospital"], fire_station: ["消防救援站", "Fire station"], shelter: ["应急避难场所", "Shelter"],
    district: ["区", "District"], street: ["街道", "Subdistrict"], community: ["社区", "Community"],
    expressway: ["快速路", "Expressway"], arterial: ["主干路", "Arterial"], secondary: ["次干路", "Secondary"],
    branch: ["支路", "Branch road"], local: ["支路", "Local road"], lane: ["街巷", "Lane"], government: ["政府机关", "Government"],
    school: ["学校", "School"], park: ["公园", "Park"], market: ["市场", "Market"], supermarket: ["超市", "Supermarket"],
    true: ["是", "yes"], false: ["否", "no"]
  };

  /* {name: {label, unit}} for a layer, from its catalog entry and (optional) queryables */
  function aliases(layer, queryables) {
    var out = {};
    Object.keys(GLOSSARY).forEach(function (name) {
      var g = GLOSSARY[name];
      out[name] = { label: t(g[0], g[1]), unit: g[2] || "" };
    });
    var props = (queryables && queryables.properties) || {};
    Object.keys(props).forEach(function (name) {
      var title = props[name].title;
      if (title && title !== name) { out[name] = { label: title, unit: props[name]["x-unit"] || props[name].unit || "" }; }
    });
    (layer.fields || []).forEach(function (f) {
      var label = t(f.title_zh || f.alias, f.title_en || f.alias);
      if (f.name && label) { out[f.name] = { label: label, unit: f.unit || "" }; }
    });
    return out;
  }

  function valueText(value) {
    if (value === null || value === undefined || value === "") { return ""; }
    if (Array.isArray(value)) { return value.map(valueText).join("、"); }
    if (typeof value === "object") { return JSON.stringify(value); }
    if (typeof value === "number") { return Number.isInteger(value) ? String(value) : String(Math.round(value * 1000) / 1000); }
    var text = String(value);
    if (/^\d{4}-\d\d-\d\dT\d\d:\d\d/.test(text)) { return window.OM.formatTime(text); }
    var known = VALUES[text];
    return known ? t(known[0], known[1]) : text;
  }

  /* the rows of an identify answer: [{label, value}] with aliases; raw names only without one */
  function rows(layer, properties, queryables) {
    var names = aliases(layer, queryables);
    var out = [];
    Object.keys(properties || {}).forEach(function (key) {
      var text = valueText(properties[key]);
      if (text === "") { return; }
      var alias = names[key];
      var unit = alias && alias.unit && typeof properties[key] === "number" ? " " + alias.unit : "";
      out.push({ name: key, label: alias ? alias.label : key, value: text + unit, aliased: !!alias });
    });
    return out;
  }

  /* ---- symbology ---- */
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];
  var AQI = [[50, "#00e400", "优", "Good"], [100, "#d8c100", "良", "Moderate"], [150, "#ff7e00", "轻度污染", "Light"],
             [200, "#ff0000", "中度污染", "Moderate pollution"], [300, "#99004c", "重度污染", "Heavy"],
             [Infinity, "#7e0023", "严重污染", "Severe"]];
  var ROAD_WIDTH = { expressway: 5, motorway: 5, trunk: 4.5, arterial: 4, primary: 4, secondary: 3, tertiary: 2.5 };

  /* a layer's drawing rules: colorOf(props), widthOf(props), the legend entries seen so far */
  function Symbology(layer) {
    var style = layer.style || {};
    this.layer = layer;
    this.color = style.color || "#3366cc";
    this.fill = style.fill !== false;
    this.radius = style.radius || 5;
    this.weight = style.weight || (layer.id === "admin_divisions" ? 2.5 : 1.5);
    this.by = style.color_by || style.symbol_by || null;
    this.widthBy = style.width_by || null;
    this.classes = {};   /* value → colour, in the order first seen */
    this.widths = {};    /* value → width */
    this.geometry = String(layer.geometry_type || "").toUpperCase();
  }
  Symbology.prototype.kind = function () {
    var g = this.geometry;
    if (g.indexOf("POINT") >= 0) { return "point"; }
    if (g.indexOf("LINE") >= 0) { return "line"; }
    if (g.indexOf("POLYGON") >= 0) { return this.fill ? "polygon" : "outline"; }
    return "polygon";
  };
  Symbology.prototype.colorOf = function (props) {
    if (!this.by) { return this.color; }
    var value = props ? props[this.by] : null;
    if (this.by === "aqi" && typeof value === "number") {
      for (var i = 0; i < AQI.length; i += 1) { if (value <= AQI[i][0]) { return AQI[i][1]; } }
    }
    var key = value === null || value === undefined ? "" : String(value);
    if (!(key in this.classes)) { this.classes[key] = PALETTE[Object.keys(this.classes).length % PALETTE.length]; }
    return this.classes[key];
  };
  Symbology.prototype.widthOf = function (props) {
    if (!this.widthBy) { return this.weight; }
    var value = props ? String(props[this.widthBy]) : "";
    var w = ROAD_WIDTH[value] || 1.5;
    this.widths[value] = w;
    return w;
  };
  /* legend entries: [{label, color, width, kind}] */
  Symbology.prototype.legend = function () {
    var kind = this.kind(), self = this, out = [];
    if (this.by === "aqi") {
      AQI.forEach(function (c, i) {
        var low = i === 0 ? 0 : AQI[i - 1][0] + 1;
        var range = c[0] === Infinity ? "> 300" : low + "–" + c[0];
        out.push({ label: "AQI " + range + " " + t(c[2], c[3]), color: c[1], kind: kind });
      });
      return out;
    }
    if (this.by) {
      Object.keys(this.classes).sort().forEach(function (value) {
        out.push({ label: valueText(value) || t("（空）", "(none)"), color: self.classes[value], kind: kind });
      });
      if (out.length) { return out; }
    }
    if (this.widthBy && Object.keys(this.widths).length) {
      Object.keys(this.widths).sort(function (a, b) { return self.widths[b] - self.widths[a]; }).forEach(function (value) {
        out.push({ label: valueText(value), color: self.color, width: self.widths[value], kind: kind });
      });
      return out;
    }
    return [{ label: t(this.layer.title_zh, this.layer.title_en), color: this.color, kind: kind, width: this.weight }];
  };

  /* a small legend swatch element */
  function swatch(entry) {
    var box = window.OM.el("span", { class: "pt-swatch pt-swatch-" + entry.kind, "aria-hidden": "true" });
    if (entry.kind === "point") { box.style.background = entry.color; }
    else if (entry.kind === "line") { box.style.borderTopColor = entry.color; box.style.borderTopWidth = Math.max(1, Math.round(entry.width || 2)) + "px"; }
    else if (entry.kind === "outline") { box.style.borderColor = entry.color; }
    else { box.style.borderColor = entry.color; box.style.background = entry.color + "55"; }
    return box;
  }

  window.PortalFields = { aliases: aliases, rows: rows, valueText: valueText, Symbology: Symbology, swatch: swatch };
})();
