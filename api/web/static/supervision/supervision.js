/* The supervision screen (监督大屏): KPIs per department, street, community, grid cell and inspector for a
   period, the open cases on a map coloured by lateness, reported/closed per day, and live refresh from the
   event stream (GET /api/v1/supervision/stream, Server-Sent Events). Data is put in the page as text
   (OM.el / textContent), never as HTML. */
(function () {
  "use strict";
  var OM = window.OM, t = OM.t, el = OM.el;
  var OPEN_STATES = ["reported", "registered", "dispatched", "handling", "returned", "handled", "verified", "suspended"];
  var STATE_NAMES = {
    reported: ["待受理", "reported"], registered: ["已立案", "registered"], dispatched: ["已派遣", "dispatched"],
    handling: ["处置中", "handling"], returned: ["已回退", "returned"], handled: ["待核查", "handled"],
    verified: ["已核查", "verified"], suspended: ["挂账", "suspended"]
  };
  var LIGHTS = [
    { key: "red", zh: "超时", en: "Late", color: "#ff6b5e" },
    { key: "yellow", zh: "预警", en: "Due soon", color: "#f5c542" },
    { key: "green", zh: "正常", en: "In time", color: "#3ccf74" },
    { key: "none", zh: "无时限", en: "No clock", color: "#9aa9ba" }
  ];
  var GROUPINGS = [
    { by: "department", zh: "部门", en: "Departments" },
    { by: "street", zh: "街道", en: "Streets" },
    { by: "community", zh: "社区", en: "Communities" },
    { by: "cell", zh: "网格", en: "Grid cells" },
    { by: "inspector", zh: "监督员", en: "Inspectors" }
  ];
  var COLUMNS = [
    { key: "registered", zh: "立案", en: "Registered", kind: "count" },
    { key: "due", zh: "应结案", en: "Due", kind: "count" },
    { key: "closed", zh: "结案", en: "Closed", kind: "count" },
    { key: "closure_rate", zh: "结案率", en: "Closure", kind: "rate" },
    { key: "on_time_closure_rate", zh: "按期结案率", en: "On time", kind: "rate" },
    { key: "rework_rate", zh: "返工率", en: "Rework", kind: "rate", lowIsGood: true },
    { key: "mean_handling_hours", zh: "平均处置(时)", en: "Handling (h)", kind: "hours", lowIsGood: true }
  ];
  var INSPECTOR_COLUMNS = [  /* 监督员's own work in the period (by inspector only) */
    { key: "filed", zh: "上报", en: "Filed", kind: "count" },
    { key: "verified", zh: "核查", en: "Verified", kind: "count" },
    { key: "rework_ordered", zh: "要求返工", en: "Rework ordered", kind: "count" }
  ];
  function columnsFor(by) { return by === "inspector" ? INSPECTOR_COLUMNS.concat(COLUMNS) : COLUMNS; }
  var MAX_TREND_DAYS = 366;
  var MAX_CASES = 2000, PAGE = 500, DEBOUNCE_MS = 1200, MAX_WAIT_MS = 5000, LIGHT_REFRESH_MS = 5 * 60 * 1000;

  var view = {
    since: null, until: null, by: "department", sort: { key: "on_time_closure_rate", dir: -1 },
    groups: {}, cases: [], names: { department: {}, street: {}, community: {} },
    map: null, caseLayer: null, markers: {}, legend: null, chart: null, refreshes: 0
  };
  var $ = function (id) { return document.getElementById(id); };

  /* ---------- formatting ---------- */
  function pct(value) { return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%"; }
  function hours(value) { return value === null || value === undefined ? "—" : Number(value).toFixed(1); }
  function formatValue(column, value) {
    if (column.kind === "rate") { return pct(value); }
    if (column.kind === "hours") { return hours(value); }
    return value === null || value === undefined ? "—" : String(value);
  }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function isoDate(d) { return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()); }
  function localDay(text) {  /* "2026-12-05" → that local midnight */
    var parts = text.split("-").map(Number);
    return new Date(parts[0], parts[1] - 1, parts[2]);
  }
  function shortTime(iso) {  /* "12-05 14:30": a deadline in a narrow column */
    var d = new Date(iso);
    if (isNaN(d)) { return String(iso); }
    return pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function lightOf(row) { return row.light === "red" || row.light === "yellow" || row.light === "green" ? row.light : "none"; }
  function lightInfo(key) { return LIGHTS.filter(function (l) { return l.key === key; })[0]; }

  /* ---------- the period ---------- */
  function preset(name) {
    var today = new Date(); today.setHours(0, 0, 0, 0);
    var from = new Date(today);
    if (name === "week") { from.setDate(from.getDate() - ((from.getDay() + 6) % 7)); }  /* Monday */
    if (name === "month") { from.setDate(1); }
    return { from: isoDate(from), to: isoDate(today) };
  }

  function markPreset() {
    document.querySelectorAll("[data-preset]").forEach(function (button) {
      var p = preset(button.getAttribute("data-preset"));
      button.setAttribute("aria-pressed", String(p.from === $("from").value && p.to === $("to").value));
    });
  }

  function readPeriod() {
    var from = $("from").value, to = $("to").value;
    if (!/^\d{4}-\d{2}-\d{2}$/.test(from) || !/^\d{4}-\d{2}-\d{2}$/.test(to)) { return null; }
    var since = localDay(from), end = localDay(to);
    end.setDate(end.getDate() + 1);
    if (since >= end) { return null; }
    return { from: from, to: to, since: since, end: end };
  }

  function applyPeriod() {
    var period = readPeriod();
    if (!period) { showMessage(t("请选择有效的时段：开始日期不晚于结束日期。", "Choose a valid period: the start no later than the end."), true); return false; }
    view.period = period;
    writeUrl();
    markPreset();
    hideMessage();
    return true;
  }

  /* the instants a refresh asks for: the period's start, and its end or now if that comes first (the KPIs are
     counted as of `until`: a deadline later today is not yet missed) */
  function fixWindow() {
    var now = new Date();
    view.since = view.period.since.toISOString();
    view.until = (view.period.end < now ? view.period.end : now).toISOString();
    $("main").setAttribute("data-since", view.since);
    $("main").setAttribute("data-until", view.until);
  }

  function writeUrl() {
    var params = new URLSearchParams({ from: view.period.from, to: view.period.to, by: view.by });
    history.replaceState(null, "", "?" + params.toString());
  }

  /* ---------- messages ---------- */
  function showMessage(text, isError) {
    var box = $("message");
    box.textContent = text; box.hidden = false;
    box.className = "om-message" + (isError ? " error" : "");
  }
  function hideMessage() { $("message").hidden = true; }

  /* ---------- names of groups ---------- */
  function learnNames(rows) {
    rows.forEach(function (row) {
      if (row.department && row.department_name_zh) {
        view.names.department[row.department] = t(row.department_name_zh, row.department_name_en || row.department_name_zh);
      }
      if (row.street_code && row.street_name) { view.names.street[row.street_code] = view.names.street[row.street_code] || row.street_name; }
      if (row.community_code && row.community_name) {
        view.names.community[row.community_code] = view.names.community[row.community_code] || row.community_name;
      }
    });
  }

  function loadNames() {
    var layers = OM.api("/api/v1/layers").then(function (body) {
      (body.layers || []).forEach(function (layer) {
        if (layer.department_code && layer.department_name_zh) {
          view.names.department[layer.department_code] = t(layer.department_name_zh, layer.department_name_en);
        }
      });
      return body.layers || [];
    });
    var divisions = layers.then(function (list) {
      if (!list.some(function (l) { return l.id === "admin_divisions"; })) { return null; }
      return OM.api("/ogc/collections/admin_divisions/items?f=json&skipGeometry=true&limit=2000&offset=0").then(function (fc) {
        (fc.features || []).forEach(function (f) {
          var p = f.properties || {}, code = String(f.id);
          var name = t(p.name_zh, p.name_en);
          if (p.level === "street") { view.names.street[code] = name; }
          if (p.level === "community") { view.names.community[code] = name; }
        });
      });
    }).catch(function () { return null; });
    return Promise.all([layers, divisions]).then(function (results) { return results[0]; });
  }

  function groupName(by, key) {
    if (key === null || key === undefined || key === "") { return t("（未归属）", "(none)"); }
    if (by === "cell") {
      var community = view.names.community[String(key).slice(0, 12)];
      return community ? key + " · " + community : String(key);
    }
    var names = view.names[by];
    return (names && names[key]) || String(key);
  }

  /* ---------- KPIs ---------- */
  function kpiUrl(by) {
    var params = new URLSearchParams({ by: by, since: view.since, until: view.until });
    return "/api/v1/supervision/kpis?" + params.toString();
  }

  /* the groups of a KPI answer; by inspector, each inspector's own work (filed, verified, rework_ordered) joins
     their row, whether it comes inside the groups or as a separate "work" list */
  function groupsOf(body) {
    var groups = (body.groups || []).map(function (g) { return Object.assign({}, g); });
    (body.work || []).forEach(function (w) {
      var key = w.inspector !== undefined ? w.inspector : w.key;
      var group = groups.filter(function (g) { return g.key === key; })[0];
      if (!group) { group = { key: key }; groups.push(group); }
      INSPECTOR_COLUMNS.forEach(function (c) { group[c.key] = w[c.key]; });
    });
    return groups;
  }

  function loadKpis() {
    var wanted = ["department"];
    if (view.by !== "department") { wanted.push(view.by); }
    return Promise.all(wanted.map(function (by) {
      return OM.api(kpiUrl(by)).then(function (body) { view.groups[by] = groupsOf(body); });
    })).then(function () { renderTotals(); renderKpiTable(); });
  }

  function sumGroups(groups) {
    var total = { registered: 0, due: 0, closed: 0, closed_on_time: 0, handled: 0, reworked: 0 }, hoursWeight = 0, hoursSum = 0;
    groups.forEach(function (g) {
      Object.keys(total).forEach(function (k) { total[k] += g[k] || 0; });
      if (g.mean_handling_hours !== null && g.mean_handling_hours !== undefined && g.closed) {
        hoursSum += g.mean_handling_hours * g.closed; hoursWeight += g.closed;
      }
    });
    function rate(a, b) { return b ? a / b : null; }
    total.closure_rate = rate(total.closed, total.due);
    total.on_time_closure_rate = rate(total.closed_on_time, total.due);
    total.rework_rate = rate(total.reworked, total.handled);
    total.mean_handling_hours = hoursWeight ? hoursSum / hoursWeight : null;
    return total;
  }

  function card(key, label, value, note, tone) {
    return el("div", { class: "sv-total" + (tone ? " " + tone : ""), "data-total": key }, [
      el("span", { class: "sv-total-label", text: label }),
      el("strong", { class: "sv-total-value", text: value }),
      note ? el("span", { class: "sv-total-note", text: note }) : null
    ]);
  }

  function renderTotals() {
    var total = sumGroups(view.groups.department || []);
    var lights = countLights();
    var box = $("totals");
    box.textContent = "";
    [
      card("registered", t("立案数", "Registered"), String(total.registered), t("应结案 ", "due ") + total.due),
      card("closed", t("结案数", "Closed"), String(total.closed), t("按期 ", "on time ") + total.closed_on_time),
      card("closure_rate", t("结案率", "Closure rate"), pct(total.closure_rate), t("结案/应结案", "closed / due")),
      card("on_time_closure_rate", t("按期结案率", "On-time closure"), pct(total.on_time_closure_rate), t("按期结案/应结案", "on time / due")),
      card("rework_rate", t("返工率", "Rework rate"), pct(total.rework_rate), t("返工/处置", "reworked / handled")),
      card("mean_handling_hours", t("平均处置时长", "Mean handling"), hours(total.mean_handling_hours), t("工作小时", "working hours")),
      card("open", t("在办案件", "Open cases"), String(Math.max(view.matched || 0, view.cases.length)), null),
      card("late", t("超时案件", "Late cases"), String(lights.red), t("预警 ", "due soon ") + lights.yellow, lights.red ? "late" : "")
    ].forEach(function (node) { box.appendChild(node); });
  }

  function renderTabs() {
    var tabs = $("kpi-tabs");
    tabs.textContent = "";
    GROUPINGS.forEach(function (g) {
      var selected = g.by === view.by;
      tabs.appendChild(el("button", {
        type: "button", role: "tab", class: "sv-tab", id: "tab-" + g.by, "data-by": g.by,
        "aria-selected": String(selected), "aria-controls": "kpi-panel", tabindex: selected ? "0" : "-1",
        text: t(g.zh, g.en),
        on: { click: function () { selectTab(g.by); } }
      }));
    });
    $("kpi-panel").setAttribute("aria-labelledby", "tab-" + view.by);
  }

  function selectTab(by) {
    if (by === view.by) { return; }
    view.by = by;
    renderTabs();
    writeUrl();
    var panel = $("kpi-panel");
    panel.setAttribute("aria-busy", "true");
    OM.api(kpiUrl(by)).then(function (body) { view.groups[by] = groupsOf(body); renderKpiTable(); })
      .catch(failed).then(function () { panel.removeAttribute("aria-busy"); });
  }

  function tabKeys(event) {  /* arrow keys move between the tabs */
    if (event.key !== "ArrowRight" && event.key !== "ArrowLeft") { return; }
    var i = GROUPINGS.map(function (g) { return g.by; }).indexOf(view.by);
    i = (i + (event.key === "ArrowRight" ? 1 : GROUPINGS.length - 1)) % GROUPINGS.length;
    selectTab(GROUPINGS[i].by);
    $("tab-" + GROUPINGS[i].by).focus();
  }

  function sorted(groups) {
    var key = view.sort.key, dir = view.sort.dir;
    return groups.slice().sort(function (a, b) {
      var va = a[key], vb = b[key];
      var na = va === null || va === undefined, nb = vb === null || vb === undefined;
      if (na !== nb) { return na ? 1 : -1; }  /* no value: last */
      if (!na && va !== vb) { return (va < vb ? -1 : 1) * dir; }
      return (b.registered || 0) - (a.registered || 0) || String(a.key).localeCompare(String(b.key));
    });
  }

  function headerCell(column) {
    var active = view.sort.key === column.key;
    var th = el("th", { scope: "col", class: column.kind === "count" || column.kind ? "num" : "",
                        "aria-sort": active ? (view.sort.dir < 0 ? "descending" : "ascending") : null });
    th.appendChild(el("button", {
      type: "button", class: "sv-sort", text: t(column.zh, column.en) + (active ? (view.sort.dir < 0 ? " ▼" : " ▲") : ""),
      on: { click: function () {
        view.sort = { key: column.key, dir: active ? -view.sort.dir : (column.lowIsGood ? 1 : -1) };
        renderKpiTable();
      } }
    }));
    return th;
  }

  function valueCell(column, group) {
    var value = group[column.key];
    var td = el("td", { class: "num", "data-field": column.key,
                        "data-value": value === null || value === undefined ? "" : String(value) });
    if (column.kind === "rate" && value !== null && value !== undefined) {
      var bar = el("span", { class: "sv-bar" + (column.lowIsGood ? " low" : "") });
      bar.style.width = Math.max(0, Math.min(100, value * 100)).toFixed(1) + "%";
      td.appendChild(el("span", { class: "sv-bar-track", "aria-hidden": "true" }, [bar]));
    }
    td.appendChild(el("span", { text: formatValue(column, value) }));
    return td;
  }

  function renderKpiTable() {
    var panel = $("kpi-panel");
    var groups = view.groups[view.by];
    panel.textContent = "";
    if (!groups) { return; }
    if (!groups.length) {
      panel.appendChild(el("p", { class: "sv-empty", text: t("本时段无立案案件。", "No registered cases in this period.") }));
      return;
    }
    var head = el("tr", {}, [el("th", { scope: "col", class: "num", text: t("名次", "#") }),
                             el("th", { scope: "col", text: t("名称", "Name") })]);
    var columns = columnsFor(view.by);
    columns.forEach(function (c) { head.appendChild(headerCell(c)); });
    var body = el("tbody");
    sorted(groups).forEach(function (g, i) {
      var key = g.key === null || g.key === undefined ? "" : String(g.key);
      var row = el("tr", { "data-key": key }, [
        el("td", { class: "num sv-rank" + (i < 3 ? " top" : ""), text: String(i + 1) }),
        el("th", { scope: "row", class: "sv-name", title: key,
                   text: g.name_zh ? t(g.name_zh, g.name_en) : (g.name || groupName(view.by, g.key)) })
      ]);
      columns.forEach(function (c) { row.appendChild(valueCell(c, g)); });
      body.appendChild(row);
    });
    var caption = el("caption", { class: "sv-sr", text: t("考核指标：", "KPIs: ") + t.apply(null, [
      GROUPINGS.filter(function (g) { return g.by === view.by; })[0].zh,
      GROUPINGS.filter(function (g) { return g.by === view.by; })[0].en]) });
    panel.appendChild(el("table", { class: "om-table sv-table", id: "kpi-table", "data-by": view.by },
                         [caption, el("thead", {}, [head]), body]));
  }

  /* ---------- open cases ---------- */
  function casesUrl(offset) {
    var params = new URLSearchParams({ state: OPEN_STATES.join(","), limit: String(PAGE), offset: String(offset), sort: "due" });
    return "/api/v1/incidents?" + params.toString();
  }

  function loadCases() {
    var rows = [], matched = 0;
    function page(offset) {
      return OM.api(casesUrl(offset)).then(function (body) {
        var batch = body.incidents || [];
        rows = rows.concat(batch);
        matched = body.numberMatched === undefined ? rows.length : body.numberMatched;
        if (batch.length === PAGE && rows.length < Math.min(matched, MAX_CASES)) { return page(offset + PAGE); }
        return null;
      });
    }
    return page(0).then(function () {
      view.cases = rows; view.matched = matched;
      learnNames(rows);
      renderCases();
      renderTotals();
      renderKpiTable();  /* the rows taught department names */
    });
  }

  function countLights() {
    var counts = { red: 0, yellow: 0, green: 0, none: 0 };
    view.cases.forEach(function (row) { counts[lightOf(row)] += 1; });
    return counts;
  }

  function caseTitle(row) {
    return "#" + row.id + " " + (t(row.category_name_zh, row.category_name_en) || row.category_code || "");
  }

  function placeOf(row) {
    var street = view.names.street[row.street_code] || row.street_name;
    var community = view.names.community[row.community_code] || row.community_name;
    return [street, community].filter(Boolean).join(" · ") || row.address || "";
  }

  function popupOf(row) {
    var light = lightInfo(lightOf(row));
    var state = STATE_NAMES[row.state] ? t(STATE_NAMES[row.state][0], STATE_NAMES[row.state][1]) : row.state;
    return el("div", { class: "sv-popup" }, [
      el("strong", { text: caseTitle(row) }),
      el("div", {}, [el("span", { class: "om-light " + (light.key === "none" ? "" : light.key), text: t(light.zh, light.en) }),
                     " ", state]),
      row.description ? el("p", { text: row.description }) : null,
      el("div", { text: placeOf(row) }),
      el("div", { text: t("责任部门：", "Department: ") + (t(row.department_name_zh, null) || row.department || "—") }),
      row.due_at ? el("div", { text: t("时限：", "Due: ") + OM.formatTime(row.due_at) }) : null,
      el("a", { href: "/console#case=" + encodeURIComponent(row.id), class: "sv-open",
                text: t("在指挥中心打开 →", "Open in the console →") })
    ]);
  }

  function renderCases() {
    if (!view.map) { return; }
    var opened = Object.keys(view.markers).filter(function (id) { return view.markers[id].isPopupOpen(); })[0];
    view.caseLayer.clearLayers();
    view.markers = {};
    view.cases.forEach(function (row) {
      if (typeof row.lon !== "number" || typeof row.lat !== "number") { return; }
      var light = lightInfo(lightOf(row));
      var marker = L.circleMarker([row.lat, row.lon], {
        radius: light.key === "red" ? 8 : 6, color: view.imagery ? "#ffffff" : "#0b1622", weight: view.imagery ? 2 : 1.5,
        fillColor: light.color, fillOpacity: 0.92,
        className: "sv-case sv-case-" + light.key
      });
      marker.bindPopup(function () { return popupOf(row); });
      marker.bindTooltip(el("span", { text: caseTitle(row) + " · " + t(light.zh, light.en) }));  /* a node: never parsed as HTML */
      marker.addTo(view.caseLayer);
      var node = marker.getElement();
      if (node) { node.setAttribute("data-id", String(row.id)); node.setAttribute("data-light", light.key); }
      view.markers[row.id] = marker;
    });
    if (opened && view.markers[opened]) { view.markers[opened].openPopup(); }  /* a refresh keeps the case one reads */
    var counts = countLights();
    $("map-count").textContent = view.matched > view.cases.length
      ? t("显示 ", "showing ") + view.cases.length + " / " + view.matched
      : view.cases.length + t(" 件", " cases");
    renderLegend(counts);
    renderLate();
  }

  function renderLegend(counts) {
    var box = $("legend");
    if (!box) { return; }
    box.textContent = "";
    LIGHTS.forEach(function (l) {
      var dot = el("span", { class: "sv-dot", "aria-hidden": "true" });
      dot.style.background = l.color;
      box.appendChild(el("div", { class: "sv-legend-row", "data-light": l.key },
                         [dot, el("span", { text: t(l.zh, l.en) }), el("strong", { text: String(counts[l.key]) })]));
    });
  }

  function renderLate() {
    var panel = $("late-panel");
    var order = { red: 0, yellow: 1, green: 2, none: 3 };
    var rows = view.cases.filter(function (r) { return lightOf(r) === "red" || lightOf(r) === "yellow"; })
      .sort(function (a, b) {
        return order[lightOf(a)] - order[lightOf(b)] || String(a.due_at || "").localeCompare(String(b.due_at || ""));
      }).slice(0, 100);
    panel.textContent = "";
    if (!rows.length) {
      panel.appendChild(el("p", { class: "sv-empty", text: t("没有超时或预警的在办案件。", "No open case is late or due soon.") }));
      return;
    }
    var body = el("tbody");
    rows.forEach(function (row) {
      var light = lightInfo(lightOf(row));
      body.appendChild(el("tr", { tabindex: "0", "data-id": String(row.id), class: "sv-clickable",
                                  on: { click: function () { focusCase(row); },
                                        keydown: function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); focusCase(row); } } } }, [
        el("td", {}, [el("span", { class: "om-light " + light.key, text: t(light.zh, light.en) })]),
        el("td", { class: "sv-nowrap", text: caseTitle(row) }),
        el("td", { class: "sv-hide-narrow", text: placeOf(row) }),
        el("td", { text: t(row.department_name_zh, null) || row.department || "—" }),
        el("td", { class: "sv-nowrap", title: row.due_at ? OM.formatTime(row.due_at) : null,
                   text: row.due_at ? shortTime(row.due_at) : "—" })
      ]));
    });
    var head = el("tr", {}, [
      el("th", { scope: "col", text: t("时限灯", "Light") }), el("th", { scope: "col", text: t("案件", "Case") }),
      el("th", { scope: "col", class: "sv-hide-narrow", text: t("位置", "Place") }),
      el("th", { scope: "col", text: t("部门", "Department") }), el("th", { scope: "col", text: t("时限", "Due") })
    ]);
    panel.appendChild(el("table", { class: "om-table sv-table", id: "late-table" }, [el("thead", {}, [head]), body]));
  }

  function focusCase(row) {
    var marker = view.markers[row.id];
    if (!marker) { return; }
    view.map.setView(marker.getLatLng(), Math.max(view.map.getZoom(), 15));
    marker.openPopup();
    $("map").scrollIntoView({ block: "nearest" });
  }

  /* ---------- the map ---------- */
  function buildMap(layers, city) {
    var map = L.map("map", { zoomControl: true, attributionControl: true, minZoom: 3, maxZoom: 20, zoomSnap: 0.5 });
    map.attributionControl.setPrefix(false);
    map.createPane("divisions").style.zIndex = "350";
    var imagery = layers.filter(function (l) { return l.kind === "imagery"; });
    var base = city && city.default_base_layer
      ? imagery.filter(function (l) { return l.id === city.default_base_layer; })[0] : imagery[0];
    if (base) {
      var options = { maxZoom: 20, maxNativeZoom: 18, attribution: OM.escapeHtml(t(base.title_zh, base.title_en)) };
      if (base.bbox) { options.bounds = L.latLngBounds([base.bbox[1], base.bbox[0]], [base.bbox[3], base.bbox[2]]); }
      L.tileLayer("/tiles/" + encodeURIComponent(base.id) + "/{z}/{x}/{y}.png", options).addTo(map);
      $("map").classList.add("has-imagery");
      view.imagery = true;
    }
    if (city && city.extent) {
      map.fitBounds([[city.extent[1], city.extent[0]], [city.extent[3], city.extent[2]]], { padding: [8, 8] });
    } else if (city && city.center) {
      map.setView([city.center[1], city.center[0]], city.zoom || 12);
    } else {
      map.setView([34.26, 108.94], 11);
    }
    view.caseLayer = L.layerGroup().addTo(map);
    var Legend = L.Control.extend({
      options: { position: "bottomleft" },
      onAdd: function () {
        var box = L.DomUtil.create("div", "sv-legend");
        box.id = "legend";
        box.setAttribute("aria-label", t("时限灯图例", "Lights legend"));
        return box;
      }
    });
    view.legend = new Legend().addTo(map);
    if (layers.some(function (l) { return l.id === "admin_divisions"; })) {
      OM.api("/ogc/collections/admin_divisions/items?f=json&level=street&limit=500&offset=0").then(function (fc) {
        L.geoJSON(fc, { pane: "divisions", interactive: false,
                        style: { color: base ? "#ffffff" : "#6f8aa6", weight: 1.2, opacity: 0.7, fill: false } }).addTo(map);
      }).catch(function () { return null; });
    }
    view.map = map;
    window.addEventListener("resize", function () { map.invalidateSize(); });
  }

  /* ---------- the trend ---------- */
  function trendUrl() {
    var params = new URLSearchParams({ since: view.since, until: view.until, interval: "day" });
    return "/api/v1/supervision/trend?" + params.toString();
  }

  function trendSeries(body) {  /* {"interval": "day", "days": [{"day", "reported", "closed", "overdue_open"}]} */
    var list = body.buckets || body.days || body.series || body.trend || [];
    return list.map(function (b) {
      var day = String(b.date || b.day || b.start || b.bucket || "").slice(0, 10);
      return { day: day, reported: b.reported || 0, closed: b.closed || 0, overdue: b.overdue_open || 0 };
    });
  }

  function loadTrend() {
    if (view.period.end - view.period.since > MAX_TREND_DAYS * 86400000) {  /* the API draws at most a year */
      if (view.chart) { view.chart.dispose(); view.chart = null; }
      $("trend").textContent = t("趋势图最长显示 366 天：请缩短时段。", "The trend shows at most 366 days: choose a shorter period.");
      return Promise.resolve();
    }
    return OM.api(trendUrl()).then(function (body) { renderTrend(trendSeries(body)); });
  }

  function renderTrend(points) {
    var box = $("trend");
    if (!window.echarts) { box.textContent = t("图表库未加载。", "The chart library is missing."); return; }
    if (!view.chart) {
      box.textContent = "";  /* a note left by an earlier period */
      view.chart = window.echarts.init(box, null, { renderer: "svg" });
      window.addEventListener("resize", function () { view.chart.resize(); });
    }
    var ink = "#dbe6f1", muted = "#a9bccf", grid = "#2b4259";
    box.setAttribute("aria-label", t("每日受理/结案/超时在办：", "Per day, reported/closed/late open: ") + points.map(function (p) {
      return p.day + " " + p.reported + "/" + p.closed + "/" + p.overdue;
    }).join("; "));
    view.chart.setOption({
      animation: false,
      textStyle: { color: ink, fontFamily: "inherit" },
      grid: { left: 40, right: 16, top: 36, bottom: 28 },
      legend: { top: 4, textStyle: { color: ink }, data: [t("受理", "Reported"), t("结案", "Closed"), t("超时在办", "Late open")] },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", data: points.map(function (p) { return p.day.slice(5); }),
               axisLabel: { color: muted }, axisLine: { lineStyle: { color: grid } } },
      yAxis: { type: "value", minInterval: 1, axisLabel: { color: muted }, splitLine: { lineStyle: { color: grid } } },
      series: [
        { name: t("受理", "Reported"), type: "bar", data: points.map(function (p) { return p.reported; }),
          itemStyle: { color: "#4ea1ff" }, barMaxWidth: 22 },
        { name: t("结案", "Closed"), type: "line", data: points.map(function (p) { return p.closed; }),
          itemStyle: { color: "#3ccf74" }, lineStyle: { width: 3 }, symbolSize: 7 },
        { name: t("超时在办", "Late open"), type: "line", data: points.map(function (p) { return p.overdue; }),
          itemStyle: { color: "#ff6b5e" }, lineStyle: { width: 2, type: "dashed" }, symbolSize: 6 }
      ]
    }, true);
  }

  /* ---------- refresh ---------- */
  function failed(err) {
    if (err && err.status === 401) {
      showMessage(t("登录已失效，请重新登录。", "Your session has ended: sign in again."), true);
    } else if (err && err.status === 403) {
      showMessage(t("您的账号无权查看监督数据。", "Your account may not see supervision data."), true);
    } else {
      showMessage(t("加载失败：", "Could not load: ") + (err && err.message ? err.message : String(err)), true);
    }
  }

  function stamp() {
    var now = new Date();
    var node = $("updated");
    node.textContent = OM.formatTime(now.toISOString());
    node.setAttribute("datetime", now.toISOString());
    view.refreshes += 1;
    $("board").setAttribute("data-refreshes", String(view.refreshes));
  }

  var running = null, again = false;
  function refresh() {
    if (running) { again = true; return running; }  /* one refresh at a time; a request during it runs once after */
    var board = $("board");
    board.setAttribute("aria-busy", "true");
    fixWindow();
    running = Promise.all([loadKpis(), loadCases(), loadTrend().catch(function (err) {
      if (view.chart) { view.chart.dispose(); view.chart = null; }
      $("trend").textContent = t("趋势暂不可用：", "Trend unavailable: ") + err.message;
    })]).then(stamp, failed).then(function () {
      board.removeAttribute("aria-busy");
      running = null;
      if (again) { again = false; refresh(); }
    });
    return running;
  }

  var pending = null, firstAsk = 0;
  function refreshSoon() {  /* debounced: a burst of events makes one refresh, at most MAX_WAIT_MS late */
    var now = Date.now();
    if (!pending) { firstAsk = now; }
    clearTimeout(pending);
    var wait = Math.max(0, Math.min(DEBOUNCE_MS, firstAsk + MAX_WAIT_MS - now));
    pending = setTimeout(function () { pending = null; refresh(); }, wait);
  }

  /* ---------- live: Server-Sent Events ---------- */
  function setLive(state) {
    var node = $("live");
    var words = { on: ["实时", "Live"], retry: ["重连中", "Reconnecting"], off: ["未连接", "Offline"] }[state];
    node.className = "sv-live-state " + state;
    node.setAttribute("data-state", state);
    node.textContent = t(words[0], words[1]);
  }

  function connect() {
    if (!window.EventSource) { setLive("off"); return; }
    var source = new EventSource("/api/v1/supervision/stream");
    var wasDown = false;
    source.addEventListener("open", function () {
      if (wasDown) { refreshSoon(); }  /* events may have been missed while away */
      wasDown = false;
      setLive("on");
    });
    source.addEventListener("incident", function () { refreshSoon(); });
    source.addEventListener("end", function () {  /* the server ended it for good: the session is no longer valid */
      source.close();
      setLive("off");
      showMessage(t("登录已失效，实时更新已停止：请重新登录。", "Your session ended and live updates stopped: sign in again."), true);
    });
    source.addEventListener("error", function () {
      wasDown = true;
      if (source.readyState === EventSource.CLOSED) {  /* refused (e.g. too many screens): try again later */
        setLive("off");
        setTimeout(connect, 30000);
      } else {
        setLive("retry");
      }
    });
  }

  /* ---------- start ---------- */
  function signInPrompt() {
    $("period").hidden = true;
    $("board").hidden = true;
    showMessage(t("监督大屏仅供工作人员使用：请在右上方输入监督指挥中心的访问令牌登录。",
                  "The supervision screen is for staff: sign in with your access token (top right)."), false);
  }

  function start(who) {
    if (!who) { signInPrompt(); return; }
    var params = new URLSearchParams(location.search);
    var p = preset("month");
    $("from").value = /^\d{4}-\d{2}-\d{2}$/.test(params.get("from") || "") ? params.get("from") : p.from;
    $("to").value = /^\d{4}-\d{2}-\d{2}$/.test(params.get("to") || "") ? params.get("to") : p.to;
    if (GROUPINGS.some(function (g) { return g.by === params.get("by"); })) { view.by = params.get("by"); }
    $("period").hidden = false;
    $("board").hidden = false;
    applyPeriod();
    renderTabs();
    $("kpi-tabs").addEventListener("keydown", tabKeys);
    document.querySelectorAll("[data-preset]").forEach(function (button) {
      button.addEventListener("click", function () {
        var range = preset(button.getAttribute("data-preset"));
        $("from").value = range.from; $("to").value = range.to;
        if (applyPeriod()) { refresh(); }
      });
    });
    $("from").addEventListener("input", markPreset);
    $("to").addEventListener("input", markPreset);
    $("period").addEventListener("submit", function (e) { e.preventDefault(); if (applyPeriod()) { refresh(); } });
    Promise.all([loadNames(), OM.api("/api/v1/city").catch(function () { return null; })])
      .then(function (results) { buildMap(results[0], results[1]); })
      .catch(function (err) { buildMap([], null); failed(err); })
      .then(function () { return refresh(); })
      .then(function () { connect(); setInterval(refreshSoon, LIGHT_REFRESH_MS); });  /* lights turn with time too */
  }

  OM.translate(document);
  OM.mountLang($("lang"));
  OM.mountAuth($("auth"), start);
})();
