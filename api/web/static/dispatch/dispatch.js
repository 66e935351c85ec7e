/* The dispatcher's page (/dispatch): take a call (address, coordinates, grid code, location code), see it on the
   map, the nearest available units by road ETA, dispatch them, follow the unit board (polled every 10 s).
   Keyboard: / the location box, Enter takes the call, j/k or ↑/↓ move through open calls, 1-9 tick a
   recommended unit, D dispatches the ticked ones. Data goes into the DOM as text only (OM.el). */
(function () {
  "use strict";
  var t = OM.t, el = OM.el;
  var API = "/api/v1/dispatch";
  var POLL_MS = 10000;
  var TYPES = {
    "119": [["fire", "火灾", "Fire"], ["rescue", "抢险救援", "Rescue"], ["hazmat", "危化品泄漏", "Hazardous materials"]],
    "120": [["medical", "急病", "Medical"], ["injury", "创伤", "Injury"], ["traffic", "交通事故", "Traffic accident"]],
    "110": [["crime", "刑事案件", "Crime"], ["traffic", "交通事故", "Traffic accident"], ["dispute", "纠纷", "Dispute"]]
  };
  var STATUS = {
    available: ["可用", "Available"], en_route: ["出动", "En route"], on_scene: ["到场", "On scene"],
    returning: ["返回", "Returning"], out_of_service: ["停用", "Out of service"]
  };
  var UNIT_TYPE = { engine: ["水罐消防车", "Engine"], ladder: ["云梯车", "Ladder"], rescue: ["抢险救援车", "Rescue"],
                    tanker: ["供水车", "Tanker"], ambulance: ["救护车", "Ambulance"], police: ["警车", "Police car"] };
  var NEXT = { en_route: ["on_scene", "returning"], on_scene: ["returning"], returning: ["available"] };
  var COLOURS = { available: "#1e7a3c", en_route: "#b42318", on_scene: "#7a1a12", returning: "#8a5a00", out_of_service: "#6b7785" };
  var view = { who: null, units: [], calls: [], selected: null, advice: [], filter: "", map: null, unitLayer: null,
               callLayer: null, adviceLayer: null, callPoint: null, timer: null };

  function $(id) { return document.getElementById(id); }
  function label(pair) { return pair ? t(pair[0], pair[1]) : ""; }
  function isDispatcher() {
    var w = view.who;
    return !!w && (w.role === "admin" || (w.role === "editor" && w.department_code === "command"));
  }
  function say(text, isError) {
    var box = $("message");
    box.hidden = !text;
    box.textContent = text || "";
    box.className = "om-message" + (isError ? " error" : "");
  }
  function eta(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    var s = Math.round(seconds), m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  /* ---------- intake ---------- */
  function fillTypes() {
    var service = document.querySelector("input[name=service]:checked").value;
    var select = $("call-type");
    select.textContent = "";
    TYPES[service].forEach(function (type) { select.appendChild(el("option", { value: type[0], text: t(type[1], type[2]) })); });
  }
  function placeholder() {
    var by = $("located-by").value;
    $("datum-field").hidden = by !== "coordinates";
    $("where").placeholder = {
      address: t("如：兴福东路18号", "e.g. 18 Xingfu East Road"),
      coordinates: t("经度,纬度 如 108.94,34.26", "lon,lat e.g. 108.94,34.26"),
      grid_cell: t("15位单元网格码或经纬网格码", "15-digit unit cell or geographic grid code"),
      location_code: t("路灯牌编码或 Plus Code", "lamp-post plate or plus code")
    }[by];
  }
  function takeCall(event) {
    event.preventDefault();
    if (!isDispatcher()) { say(t("只有指挥中心调度员可以接警", "Only command-centre dispatchers take calls"), true); return; }
    var by = $("located-by").value;
    var body = { service: document.querySelector("input[name=service]:checked").value, call_type: $("call-type").value,
                 priority: Number($("priority").value), located_by: by, text: $("where").value.trim() };
    if (by === "coordinates") { body.datum = $("datum").value; }
    $("take").disabled = true;
    OM.api(API + "/calls", { method: "POST", json: body }).then(function (call) {
      say(t("已接警 #", "Call #") + call.id + t("：", ": ") + (call.place || call.given_text));
      $("where").value = "";
      return refresh().then(function () { return selectCall(call.id); });
    }).catch(function (err) {
      say(t("无法定位：", "Could not locate: ") + err.message, true);
    }).then(function () { $("take").disabled = !isDispatcher(); });
  }

  /* ---------- calls ---------- */
  function renderCalls() {
    var list = $("calls");
    list.textContent = "";
    $("calls-count").textContent = "(" + view.calls.length + ")";
    if (!view.calls.length) { list.appendChild(el("li", { class: "dp-empty", text: t("暂无在办警情", "No open calls") })); }
    view.calls.forEach(function (call) {
      var item = el("li", { role: "option", "data-id": String(call.id), "aria-selected": String(call.id === view.selected),
                            on: { click: function () { selectCall(call.id); } } }, [
        el("span", { class: "dp-service s" + call.service, text: call.service }),
        el("span", { text: "#" + call.id + " " + typeName(call) + " · P" + call.priority }),
        el("small", { text: (call.place || call.given_text) + " · " + OM.formatTime(call.received_at) +
                            " · " + t("出动 ", "units ") + call.active_units })
      ]);
      list.appendChild(item);
    });
  }
  function typeName(call) {
    var found = (TYPES[call.service] || []).filter(function (type) { return type[0] === call.call_type; })[0];
    return found ? t(found[1], found[2]) : call.call_type;
  }
  function moveSelection(step) {
    if (!view.calls.length) { return; }
    var index = view.calls.map(function (c) { return c.id; }).indexOf(view.selected);
    var next = view.calls[Math.max(0, Math.min(view.calls.length - 1, index + step))];
    if (next) { selectCall(next.id); }
  }
  function selectCall(id) {
    view.selected = id;
    renderCalls();
    return OM.api(API + "/calls/" + id).then(function (call) {
      showCall(call);
      if (call.status !== "open") { view.advice = []; renderAdvice(); return null; }
      return recommend(call);
    }).catch(function (err) { say(err.message, true); });
  }
  function showCall(call) {
    var box = $("call-detail");
    box.textContent = "";
    box.appendChild(el("p", {}, [el("span", { class: "dp-service s" + call.service, text: call.service }),
      " #" + call.id + " " + typeName(call) + " · P" + call.priority]));
    var place = call.place && call.place !== call.given_text ? call.place + " (" + call.given_text + ")" : call.given_text;
    box.appendChild(el("p", { text: t("位置：", "Where: ") + place }));
    box.appendChild(el("p", { text: t("网格：", "Cell: ") + (call.cell_code || "—") + " · " +
                                    Number(call.lon).toFixed(5) + ", " + Number(call.lat).toFixed(5) }));
    var sent = call.assignments.filter(function (a) { return !a.cleared_at; }).map(function (a) { return a.call_sign; });
    if (sent.length) { box.appendChild(el("p", { text: t("已派：", "Sent: ") + sent.join(", ") })); }
    view.callLayer.clearLayers();
    L.circleMarker([call.lat, call.lon], { radius: 10, color: "#ffffff", weight: 3, fillColor: "#b42318", fillOpacity: 1 })
      .bindTooltip(OM.escapeHtml("#" + call.id + " " + typeName(call)), { permanent: true, direction: "top" })
      .addTo(view.callLayer);
    view.callPoint = [call.lat, call.lon];
    view.map.setView(view.callPoint, Math.max(view.map.getZoom(), 14));
    var open = call.status === "open" && isDispatcher();
    $("close-call").disabled = !open;
    $("cancel-call").disabled = !open;
  }
  function recommend(call) {
    $("advice").textContent = "";
    $("advice").appendChild(el("li", { class: "dp-empty", text: t("计算路网到达时间…", "Computing road ETAs…") }));
    return OM.api(API + "/calls/" + call.id + "/recommend?k=5").then(function (answer) {
      view.advice = answer.units;
      renderAdvice(answer);
    }).catch(function (err) {
      view.advice = [];
      renderAdvice();
      say(t("无法推荐：", "No recommendation: ") + err.message, true);
    });
  }
  function renderAdvice(answer) {
    var list = $("advice");
    list.textContent = "";
    if (!view.advice.length) {
      list.appendChild(el("li", { class: "dp-empty", text: answer ? t("没有可用车辆", "No available unit")
                                                                  : t("选择一个在办警情", "Select an open call") }));
    }
    view.advice.forEach(function (unit, i) {
      var box = el("input", { type: "checkbox", value: String(unit.id), id: "pick-" + unit.id, checked: i === 0,
                              disabled: !isDispatcher(), on: { change: updateSend } });
      list.appendChild(el("li", {}, [
        el("label", { for: "pick-" + unit.id }, [box, el("span", { class: "dp-key", text: String(i + 1) }),
          el("span", { class: "dp-unit-name", title: unit.station || "",
                       text: unit.call_sign + " · " + label(UNIT_TYPE[unit.unit_type]) + " · " + (unit.station || "") }),
          el("span", { class: "dp-eta", text: eta(unit.eta_seconds) + " · " + (unit.meters / 1000).toFixed(1) + " km" })])
      ]));
    });
    view.adviceLayer.clearLayers();
    view.advice.forEach(function (unit, i) {
      L.marker([unit.lat, unit.lon], { icon: L.divIcon({ className: "dp-pin", html: String(i + 1), iconSize: [22, 22] }),
                                       keyboard: false, title: unit.call_sign }).addTo(view.adviceLayer);
    });
    if (view.advice.length && view.callPoint) {  /* the call and the nearest units in view */
      var bounds = L.latLngBounds([view.callPoint]);
      view.advice.slice(0, 3).forEach(function (unit) { bounds.extend([unit.lat, unit.lon]); });
      view.map.fitBounds(bounds, { padding: [40, 40], maxZoom: 16 });
    }
    if (answer && answer.unreachable && answer.unreachable.length) {
      list.appendChild(el("li", { class: "dp-empty", text: t("路网不可达：", "Unreachable: ") +
        answer.unreachable.map(function (u) { return u.call_sign; }).join(", ") }));
    }
    updateSend();
  }
  function picked() {
    return Array.prototype.map.call(document.querySelectorAll("#advice input:checked"), function (box) { return Number(box.value); });
  }
  function updateSend() { $("send").disabled = !isDispatcher() || !picked().length; }
  function send() {
    var units = picked();
    if (!units.length || view.selected === null) { return; }
    $("send").disabled = true;
    OM.api(API + "/calls/" + view.selected + "/dispatch", { method: "POST", json: { units: units } }).then(function (call) {
      say(t("已派车：", "Dispatched: ") + call.assignments.filter(function (a) { return !a.cleared_at; })
        .map(function (a) { return a.call_sign; }).join(", "));
      return refresh().then(function () { return selectCall(call.id); });
    }).catch(function (err) {
      say((err.status === 409 ? t("车辆状态已变化：", "Units changed meanwhile: ") : "") + err.message, true);
      return selectCall(view.selected);
    });
  }
  function closeCall(outcome) {
    if (view.selected === null) { return; }
    OM.api(API + "/calls/" + view.selected + "/close", { method: "POST", json: { outcome: outcome } }).then(function (call) {
      say(t("警情 #", "Call #") + call.id + (outcome === "cancelled" ? t(" 已撤销", " cancelled") : t(" 已结束", " closed")));
      view.selected = null;
      view.callLayer.clearLayers();
      $("call-detail").textContent = "";
      view.advice = []; renderAdvice();
      $("close-call").disabled = true; $("cancel-call").disabled = true;
      return refresh();
    }).catch(function (err) { say(err.message, true); });
  }

  /* ---------- unit board ---------- */
  function mayReport(unit) {
    var w = view.who;
    if (!w) { return false; }
    return w.role === "admin" || (w.role === "editor" && (w.department_code === unit.department_code || w.department_code === "command"));
  }
  function report(unit, status) {
    OM.api(API + "/units/" + unit.id + "/status", { method: "POST", json: { status: status } }).then(function () {
      say(unit.call_sign + " → " + label(STATUS[status]));
      return refresh();
    }).catch(function (err) { say(err.message, true); return refresh(); });
  }
  function renderBoard() {
    var body = document.querySelector("#board tbody");
    body.textContent = "";
    view.units.filter(function (u) { return !view.filter || u.service === view.filter; }).forEach(function (unit) {
      var buttons = (mayReport(unit) ? NEXT[unit.status] || [] : []).map(function (status) {
        return el("button", { type: "button", class: "dp-report", text: label(STATUS[status]),
                              "aria-label": unit.call_sign + " " + label(STATUS[status]),
                              on: { click: function () { report(unit, status); } } });
      });
      body.appendChild(el("tr", {}, [
        el("td", { text: unit.call_sign }),
        el("td", { text: label(UNIT_TYPE[unit.unit_type]) }),
        el("td", { text: t(unit.department_name_zh, unit.department_name_en) }),
        el("td", {}, [el("span", { class: "dp-status " + unit.status, text: label(STATUS[unit.status]) })]),
        el("td", { text: unit.call_id ? "#" + unit.call_id : "" }),
        el("td", {}, buttons)
      ]));
    });
    view.unitLayer.clearLayers();
    view.units.forEach(function (unit) {
      L.circleMarker([unit.lat, unit.lon], { radius: 5, color: "#ffffff", weight: 1, fillColor: COLOURS[unit.status] || "#333",
                                             fillOpacity: 0.95 })
        .bindTooltip(OM.escapeHtml(unit.call_sign + " · " + label(STATUS[unit.status])))
        .addTo(view.unitLayer);
    });
  }
  var BUSY_FIRST = { on_scene: 0, en_route: 1, returning: 2, available: 3, out_of_service: 4 };
  var SERVICE_ORDER = { "119": 0, "120": 1, "110": 2 };
  function boardOrder(a, b) {
    return (BUSY_FIRST[a.status] - BUSY_FIRST[b.status]) || (SERVICE_ORDER[a.service] - SERVICE_ORDER[b.service]) ||
      (a.call_sign < b.call_sign ? -1 : a.call_sign > b.call_sign ? 1 : 0);
  }
  function showKpis() {  /* today's share of calls meeting the response standard, per service */
    var midnight = new Date(); midnight.setHours(0, 0, 0, 0);
    return OM.api(API + "/kpis?by=service&since=" + encodeURIComponent(midnight.toISOString())).then(function (answer) {
      var box = $("kpis");
      box.textContent = t("今日达标率 ", "Standard met today ");
      answer.groups.forEach(function (group, i) {
        var share = group.share_met === null ? "—" : Math.round(group.share_met * 100) + "%";
        box.appendChild(document.createTextNode((i ? " · " : "") + group.key + " "));
        box.appendChild(el("b", { text: share }));
        box.appendChild(document.createTextNode(" (" + group.met + "/" + group.evaluated + ")"));
      });
      if (!answer.groups.length) { box.appendChild(document.createTextNode(t("（今日暂无警情）", "(no calls today)"))); }
    }).catch(function () { return null; });
  }
  function refresh() {
    showKpis();
    return Promise.all([OM.api(API + "/units"), OM.api(API + "/calls?status=open&limit=100")]).then(function (answers) {
      view.units = answers[0].units.sort(boardOrder);
      view.calls = answers[1].calls;
      renderBoard();
      renderCalls();
      $("updated").textContent = OM.formatTime(new Date().toISOString());
    }).catch(function (err) { say(err.message, true); });
  }

  /* ---------- map ---------- */
  function buildMap(layers, city) {
    var map = L.map("map", { minZoom: 3, maxZoom: 20, zoomSnap: 0.5 });
    map.attributionControl.setPrefix(false);
    var imagery = (layers || []).filter(function (l) { return l.kind === "imagery"; });
    var base = city && city.default_base_layer
      ? imagery.filter(function (l) { return l.id === city.default_base_layer; })[0] : imagery[0];
    if (base) {
      var options = { maxZoom: 20, maxNativeZoom: 18, attribution: OM.escapeHtml(t(base.title_zh, base.title_en)) };
      if (base.bbox) { options.bounds = L.latLngBounds([base.bbox[1], base.bbox[0]], [base.bbox[3], base.bbox[2]]); }
      L.tileLayer("/tiles/" + encodeURIComponent(base.id) + "/{z}/{x}/{y}.png", options).addTo(map);
    }
    if (city && city.extent) {
      map.fitBounds([[city.extent[1], city.extent[0]], [city.extent[3], city.extent[2]]], { padding: [8, 8] });
    } else {
      map.setView([34.26, 108.94], 12);
    }
    view.unitLayer = L.layerGroup().addTo(map);
    view.callLayer = L.layerGroup().addTo(map);
    view.adviceLayer = L.layerGroup().addTo(map);
    view.map = map;
    window.addEventListener("resize", function () { map.invalidateSize(); });
  }

  /* ---------- keyboard ---------- */
  function typing(target) { return /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName) && target.type !== "checkbox"; }
  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var key = event.key;
    if (key === "/") { event.preventDefault(); $("where").focus(); }
    else if (key === "j" || key === "ArrowDown") { if (event.target.closest && event.target.closest("#calls, body")) { event.preventDefault(); moveSelection(1); } }
    else if (key === "k" || key === "ArrowUp") { if (event.target.closest && event.target.closest("#calls, body")) { event.preventDefault(); moveSelection(-1); } }
    else if (/^[1-9]$/.test(key)) {
      var box = document.querySelectorAll("#advice input[type=checkbox]")[Number(key) - 1];
      if (box && !box.disabled) { box.checked = !box.checked; updateSend(); }
    } else if (key === "d" || key === "D") { if (!$("send").disabled) { send(); } }
  }

  function start(who) {
    view.who = who;
    var allowed = isDispatcher();
    Array.prototype.forEach.call($("intake").elements, function (field) { field.disabled = !allowed; });
    if (!who) {
      say(t("请登录（指挥中心调度员令牌）后接警调度", "Sign in (a command-centre dispatcher's token) to take calls"));
      return;
    }
    if (!allowed) { say(t("只读：接警与派车限指挥中心调度员", "Read only: calls and dispatch are for command-centre dispatchers")); }
    refresh();
    view.timer = window.setInterval(function () { if (!document.hidden) { refresh(); } }, POLL_MS);
  }

  OM.translate(document);
  OM.mountLang($("lang"));
  var nav = document.querySelector(".om-nav");
  window.addEventListener("load", function () { nav.scrollLeft = nav.scrollWidth; });  /* phone: show this face's link */
  document.querySelectorAll("input[name=service]").forEach(function (radio) { radio.addEventListener("change", fillTypes); });
  $("located-by").addEventListener("change", placeholder);
  $("intake").addEventListener("submit", takeCall);
  $("send").addEventListener("click", send);
  $("close-call").addEventListener("click", function () { closeCall("resolved"); });
  $("cancel-call").addEventListener("click", function () { closeCall("cancelled"); });
  document.querySelectorAll(".dp-chip").forEach(function (chip) {
    chip.addEventListener("click", function () {
      view.filter = chip.getAttribute("data-service");
      document.querySelectorAll(".dp-chip").forEach(function (c) { c.setAttribute("aria-pressed", String(c === chip)); });
      renderBoard();
    });
  });
  document.addEventListener("keydown", onKey);
  fillTypes();
  placeholder();
  Promise.all([OM.api("/api/v1/layers").then(function (b) { return b.layers || []; }).catch(function () { return []; }),
               OM.api("/api/v1/city").catch(function () { return null; })]).then(function (answers) {
    buildMap(answers[0], answers[1]);
    renderAdvice();
    OM.mountAuth($("auth"), start);
  });
})();
