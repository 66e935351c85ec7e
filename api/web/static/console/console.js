/* The command-centre console (/console): the 监督指挥中心's work place.
   Queues by stage (GET /api/v1/incidents?state=…), a case's detail (record, map, photos, event
   chain) and the workflow actions the signed-in role holds (spatial/incidents/roles.py) as
   buttons with a shortcut key each; the server stays the judge (403, 409). Data is put into the
   page as text (OM.el / textContent), never as HTML. Keyboard: j/k or ↑/↓ move, Enter opens,
   1–6 switch queue, / search, the letter shown on a button acts, Esc cancels a form. */
(function () {
  "use strict";
  var OM = window.OM, t = OM.t, el = OM.el;
  function $(id) { return document.getElementById(id); }

  var QUEUES = [
    { id: "register", states: ["reported"], zh: "待受理", en: "To accept" },
    { id: "dispatch", states: ["registered", "returned"], zh: "待派遣", en: "To dispatch" },
    { id: "handle", states: ["dispatched", "handling"], zh: "处置中", en: "Handling" },
    { id: "verify", states: ["handled"], zh: "待核查", en: "To verify" },
    { id: "close", states: ["verified"], zh: "待结案", en: "To close" },
    { id: "suspended", states: ["suspended"], zh: "挂账", en: "Suspended" }
  ];
  var STATES = {
    reported: ["待受理", "Reported"], registered: ["已立案", "Registered"], not_registered: ["不予立案", "Not registered"],
    dispatched: ["已派遣", "Dispatched"], handling: ["处置中", "Handling"], returned: ["已回退", "Returned"],
    handled: ["已处置", "Handled"], verified: ["已核查", "Verified"], closed: ["已结案", "Closed"],
    suspended: ["挂账", "Suspended"], merged: ["已合并", "Merged"]
  };
  var LIGHTS = { red: ["超时", "Overdue"], yellow: ["将到期", "Due soon"], green: ["正常", "On time"] };
  var KINDS = { component: ["部件", "Component"], event: ["事件", "Event"] };
  var SOURCES = { inspector: ["监督员", "Inspector"], hotline: ["热线", "Hotline"], public: ["公众", "Public"], video: ["视频", "Video"] };

  /* what each office may do, from which states (spatial/incidents/workflow.py ACTIONS) */
  var ACTIONS = [
    { action: "register", office: "supervision", states: ["reported"], key: "r", zh: "立案", en: "Register" },
    { action: "not_register", office: "supervision", states: ["reported"], key: "n", zh: "不予立案", en: "Not register", reason: true, danger: true },
    { action: "merge", office: "supervision", states: ["reported", "registered"], key: "m", zh: "合并", en: "Merge", merge: true, quiet: true },
    { action: "dispatch", office: "command", states: ["registered", "returned"], key: "d", zh: "派遣", en: "Dispatch", department: true },
    { action: "accept", office: "handler", states: ["dispatched"], key: "g", zh: "接单", en: "Accept" },
    { action: "return", office: "handler", states: ["dispatched", "handling"], key: "b", zh: "回退", en: "Return", reason: true, danger: true },
    { action: "handled", office: "handler", states: ["handling"], key: "h", zh: "处置反馈", en: "Report handled", photo: true, note: true },
    { action: "request_extension", office: "handler", states: ["dispatched", "handling"], key: "e", zh: "申请延期", en: "Request extension", minutes: true, reason: true, noPending: true },
    { action: "approve_extension", office: "command", states: ["dispatched", "handling"], key: "a", zh: "批准延期", en: "Approve extension", pending: true },
    { action: "deny_extension", office: "command", states: ["dispatched", "handling"], key: "x", zh: "驳回延期", en: "Deny extension", pending: true, reason: true, danger: true },
    { action: "assign_verifier", office: "supervision", states: ["handled"], key: "v", zh: "核查派单", en: "Request verification", verifier: true },
    { action: "verify", office: "inspector", states: ["handled"], key: "p", zh: "核查通过", en: "Verified" },
    { action: "rework", office: "inspector", states: ["handled"], key: "w", zh: "返工", en: "Rework", reason: true, danger: true },
    { action: "close", office: "supervision", states: ["verified"], key: "c", zh: "结案", en: "Close" },
    { action: "suspend", office: "command", states: ["registered", "dispatched", "handling", "returned"], key: "s", zh: "挂账", en: "Suspend", reason: true, quiet: true },
    { action: "resume", office: "command", states: ["suspended"], key: "u", zh: "恢复", en: "Resume" }
  ];
  var ACTION_NAMES = { report: ["上报", "Reported"] };
  ACTIONS.forEach(function (a) { ACTION_NAMES[a.action] = [a.zh, a.en]; });

  var who = null;
  var view = { queue: "register", rows: [], cursor: 0, counts: {}, filters: {}, asked: 0, busy: false };
  var current = null;      /* the open case: its record (GET /api/v1/incidents/{id}) */
  var currentRow = null;   /* its list row, when it came from the queue (department name, light) */
  var departments = {};    /* code → name, from what the pages can read */
  var departmentsRead = null;  /* GET /api/v1/departments, asked once at the start; null until it answers */
  var streets = {};        /* code → name, from the rows */
  var communities = {};    /* code → {name, street}, from the rows */
  var categories = [];
  var caseMap = null, caseLayers = null, baseLayer = undefined;
  var refreshTimer = null;

  function label(pair, fallback) { return pair ? t(pair[0], pair[1]) : (fallback || ""); }
  function stateName(code) { return label(STATES[code], code); }
  function departmentName(code) {
    return code ? (departments[code] && departments[code] !== code ? departments[code] + " (" + code + ")" : code) : "";
  }

  /* ------------------------------------------------------------------ who may do what */
  function mayAct(office, record) {
    if (!who) { return false; }
    if (who.role === "admin") { return true; }
    if (office === "inspector") { return who.role === "inspector"; }
    if (who.role !== "editor") { return false; }
    var wanted = { supervision: "supervision", command: "command", handler: record.department_code }[office];
    return !!wanted && who.department_code === wanted;
  }

  function actionsFor(record) {
    return ACTIONS.filter(function (a) {
      if (a.states.indexOf(record.state) < 0 || !mayAct(a.office, record)) { return false; }
      if (a.pending && !record.extension_request) { return false; }
      if (a.noPending && record.extension_request) { return false; }
      if (a.office === "inspector") {
        if (record.handled_by && record.handled_by === who.name) { return false; }  /* 核查 by another person */
        if (record.verifier && who.role !== "admin" && record.verifier !== who.name) { return false; }
      }
      return true;
    });
  }

  function holdsAnyOffice() {
    return !!who && (who.role === "admin" || who.role === "inspector" || who.role === "editor");
  }

  /* ------------------------------------------------------------------ queue */
  function listUrl(states, limit) {
    var params = new URLSearchParams();
    params.set("state", states.join(","));
    Object.keys(view.filters).forEach(function (key) { if (view.filters[key]) { params.set(key, view.filters[key]); } });
    params.set("sort", "due");
    params.set("limit", String(limit));
    return "/api/v1/incidents?" + params.toString();
  }

  function queueOf(id) { return QUEUES.filter(function (q) { return q.id === id; })[0]; }

  function loadQueue(keepId) {
    var queue = queueOf(view.queue);
    var asked = ++view.asked;  /* only the latest answer is shown (a queue switch or refresh overtakes) */
    if (!view.rows.length) { $("queue-status").textContent = t("加载中…", "Loading…"); }
    return OM.api(listUrl(queue.states, 200)).then(function (body) {
      view.counts[queue.id] = body.numberMatched;
      if (asked !== view.asked) { renderTabs(); return; }
      /* the cursor stays on its case, and the keyboard focus with it, when the rows are redrawn */
      var cursorRow = view.rows[view.cursor];
      var hadFocus = $("rows").contains(document.activeElement);
      view.rows = body.incidents || [];
      learn(view.rows);
      var at = indexOfId(keepId || (cursorRow && cursorRow.id));
      view.cursor = at >= 0 ? at : Math.min(view.cursor, Math.max(view.rows.length - 1, 0));
      renderRows();
      renderTabs();
      if (hadFocus && $("rows").children[view.cursor]) { $("rows").children[view.cursor].focus(); }
      var shown = view.rows.length, total = body.numberMatched;
      $("queue-status").textContent = shown === 0 ? t("此队列没有案件", "No cases in this queue")
        : (total > shown ? t("显示 " + shown + " / " + total + " 件", shown + " of " + total + " cases")
                         : t("共 " + shown + " 件", shown === 1 ? "1 case" : shown + " cases"));
    }).catch(function (err) {
      if (asked !== view.asked) { return; }
      view.rows = [];
      renderRows();
      $("queue-status").textContent = t("无法读取案件列表：", "Cannot read the cases: ") + err.message;
    });
  }

  function loadCounts() {
    QUEUES.forEach(function (queue) {
      if (queue.id === view.queue) { return; }
      OM.api(listUrl(queue.states, 1)).then(function (body) {
        view.counts[queue.id] = body.numberMatched;
        renderTabs();
      }).catch(function () { /* the queue itself says why when opened */ });
    });
  }

  function refresh(keepId) {
    loadCounts();
    return loadQueue(keepId);
  }

  function indexOfId(id) {
    for (var i = 0; i < view.rows.length; i++) { if (view.rows[i].id === id) { return i; } }
    return -1;
  }

  /* names of streets, communities and departments met in the rows, for the choices */
  function learn(rows) {
    var changed = false;
    rows.forEach(function (row) {
      if (row.department && row.department_name_zh && (!departments[row.department] || departments[row.department] === row.department)) {
        departments[row.department] = row.department_name_zh; changed = true;
      }
      if (row.street_code && !streets[row.street_code]) { streets[row.street_code] = row.street_name || row.street_code; changed = true; }
      if (row.community_code && !communities[row.community_code]) {
        communities[row.community_code] = { name: row.community_name || row.community_code, street: row.street_code };
        changed = true;
      }
    });
    if (changed) { fillFilterChoices(); }
  }

  function renderTabs() {
    var box = $("tabs");
    var focused = box.contains(document.activeElement) ? document.activeElement.getAttribute("data-queue") : null;
    box.textContent = "";
    QUEUES.forEach(function (queue, i) {
      var count = view.counts[queue.id];
      var selected = queue.id === view.queue;
      var tab = el("button", {
        type: "button", role: "tab", id: "tab-" + queue.id, class: "cc-tab", "data-queue": queue.id,
        "aria-selected": selected ? "true" : "false", "aria-controls": "queue", tabindex: selected ? "0" : "-1",
        title: t("快捷键 ", "Key ") + (i + 1),
        on: { click: function () { selectQueue(queue.id); } }
      }, [
        el("kbd", { text: String(i + 1), "aria-hidden": "true" }),
        el("span", { text: t(queue.zh, queue.en) }),
        el("span", { class: "cc-count", text: count === undefined || count === null ? "" : String(count) })
      ]);
      box.appendChild(tab);
      if (focused === queue.id) { tab.focus(); }
    });
  }

  function selectQueue(id) {
    if (view.queue === id) { return; }
    view.queue = id;
    view.cursor = 0;
    renderTabs();
    loadQueue();
  }

  function lightBadge(light) {
    if (!light || !LIGHTS[light]) { return el("span", { class: "cc-nolight", text: "—", "aria-label": t("无时限", "no limit") }); }
    return el("span", { class: "om-light " + light, text: label(LIGHTS[light]) });
  }

  function renderRows() {
    var body = $("rows");
    body.textContent = "";
    view.rows.forEach(function (row, i) {
      var place = [row.street_name, row.community_name].filter(Boolean).join(" / ");
      var tr = el("tr", {
        "data-id": String(row.id), tabindex: i === view.cursor ? "0" : "-1",
        "aria-selected": i === view.cursor ? "true" : "false",
        class: current && current.id === row.id ? "cc-open" : null,
        on: {
          click: function () { moveTo(i); openCase(row.id, row).then(showCase); },
          focus: function () { if (view.cursor !== i) { moveTo(i, true); } }
        }
      }, [
        el("td", {}, [lightBadge(row.light)]),
        el("td", { class: "cc-id", text: "#" + row.id }),
        cell("", t(row.category_name_zh, row.category_name_en) || row.category_code),
        cell("cc-col-desc", row.description || ""),
        cell("cc-col-place", place),
        cell("", row.department_name_zh || row.department || ""),
        el("td", { class: "cc-col-due" + (row.light === "red" ? " cc-late" : ""), text: shortTime(row.due_at),
                   title: OM.formatTime(row.due_at) || null })
      ]);
      body.appendChild(tr);
    });
  }

  /* a deadline in a queue row: month, day, hour and minute */
  function shortTime(iso) {
    var d = iso ? new Date(iso) : null;
    if (!d || isNaN(d)) { return iso || ""; }
    return d.toLocaleString(OM.lang === "zh" ? "zh-CN" : "en-GB",
                            { month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hour12: false });
  }

  /* a cell cut short by its width keeps the whole text as its tooltip */
  function cell(className, text) { return el("td", { class: className || null, text: text, title: text || null }); }

  function moveTo(i, fromFocus) {
    if (!view.rows.length) { return; }
    view.cursor = Math.max(0, Math.min(view.rows.length - 1, i));
    var trs = $("rows").children;
    for (var k = 0; k < trs.length; k++) {
      trs[k].setAttribute("tabindex", k === view.cursor ? "0" : "-1");
      trs[k].setAttribute("aria-selected", k === view.cursor ? "true" : "false");
    }
    if (!fromFocus && trs[view.cursor]) { trs[view.cursor].focus(); }
  }

  /* ------------------------------------------------------------------ filters */
  function option(value, text, selected) {
    return el("option", { value: value, selected: selected ? "selected" : null, text: text });
  }

  function fillSelect(select, entries, allText) {
    var keep = select.value;
    select.textContent = "";
    select.appendChild(option("", allText));
    entries.forEach(function (entry) { select.appendChild(option(entry[0], entry[1], entry[0] === keep)); });
    if (keep && !entries.some(function (e) { return e[0] === keep; })) { select.appendChild(option(keep, keep, true)); }
  }

  function sortedPairs(map, name) {
    return Object.keys(map).map(function (code) { return [code, name(map[code], code)]; })
      .sort(function (a, b) { return a[0] < b[0] ? -1 : 1; });
  }

  function fillFilterChoices() {
    var all = t("全部", "All");
    fillSelect($("f-street"), sortedPairs(streets, function (name) { return name; }), all);
    var street = $("f-street").value;
    var inStreet = {};
    Object.keys(communities).forEach(function (code) {
      if (!street || communities[code].street === street) { inStreet[code] = communities[code]; }
    });
    fillSelect($("f-community"), sortedPairs(inStreet, function (c) { return c.name; }), all);
    fillSelect($("f-department"), sortedPairs(departments, function (name, code) { return name === code ? code : name; }), all);
  }

  function fillCategories() {
    var select = $("f-category");
    select.textContent = "";
    select.appendChild(option("", t("全部", "All")));
    var groups = {};
    categories.forEach(function (c) {
      var key = c.major_code;
      if (!groups[key]) {
        groups[key] = el("optgroup", { label: label(KINDS[c.kind]) + " · " + t(c.major_name_zh, c.major_name_en) });
        select.appendChild(groups[key]);
      }
      groups[key].appendChild(option(c.code, c.code + " " + t(c.name_zh, c.name_en)));
    });
  }

  function fillLights() {
    var select = $("f-light");
    select.textContent = "";
    select.appendChild(option("", t("全部", "All")));
    ["red", "yellow", "green"].forEach(function (light) { select.appendChild(option(light, label(LIGHTS[light]))); });
  }

  function readFilters() {
    view.filters = {
      street: $("f-street").value, community: $("f-community").value, department: $("f-department").value,
      category: $("f-category").value, light: $("f-light").value, q: $("f-q").value.trim().replace(/^#/, "")
    };
    var active = Object.keys(view.filters).filter(function (k) { return view.filters[k]; }).length;
    $("filter-count").textContent = active ? String(active) : "";
  }

  function setupFilters() {
    ["f-street", "f-community", "f-department", "f-category", "f-light"].forEach(function (id) {
      $(id).addEventListener("change", function () {
        if (id === "f-street") { $("f-community").value = ""; fillFilterChoices(); }
        readFilters(); view.cursor = 0; refresh();
      });
    });
    var typing = null;
    $("f-q").addEventListener("input", function () {
      clearTimeout(typing);
      typing = setTimeout(function () { readFilters(); view.cursor = 0; refresh(); }, 350);
    });
    $("filters").addEventListener("submit", function (e) { e.preventDefault(); readFilters(); refresh(); });
    $("refresh").addEventListener("click", function () { refresh(current && current.id); if (current) { openCase(current.id); } });
  }

  /* ------------------------------------------------------------------ the case */
  var opening = null;

  function openCase(id, row) {
    opening = id;
    if (row) { currentRow = row; }
    else if (!currentRow || currentRow.id !== id) { currentRow = view.rows[indexOfId(id)] || null; }
    return Promise.all([
      OM.api("/api/v1/incidents/" + encodeURIComponent(id)),
      OM.api("/api/v1/incidents/" + encodeURIComponent(id) + "/events").catch(function () { return { events: [] }; })
    ]).then(function (answers) {
      if (opening !== id) { return current; }  /* another case was opened meanwhile */
      current = answers[0];
      if (window.history.replaceState) { window.history.replaceState(null, "", "#case=" + current.id); }
      if (current.department_code && !departments[current.department_code] && currentRow && currentRow.department_name_zh) {
        departments[current.department_code] = currentRow.department_name_zh;
      }
      renderCase(answers[1].events || []);
      markOpenRow();
      return current;
    }).catch(function (err) {
      showCaseMessage(t("无法打开案件 #" + id + "：", "Cannot open case #" + id + ": ") + err.message, true);
    });
  }

  /* on a phone the case lies below the queue: bring it into view when the user opens one */
  function showCase() {
    if (current && window.matchMedia("(max-width: 900px)").matches) { $("case").scrollIntoView({ block: "start" }); }
  }

  function markOpenRow() {
    var trs = $("rows").children;
    for (var k = 0; k < trs.length; k++) {
      trs[k].classList.toggle("cc-open", !!current && trs[k].getAttribute("data-id") === String(current.id));
    }
  }

  function showCaseMessage(text, isError) {
    var box = $("case-message");
    box.hidden = !text;
    box.textContent = text || "";
    box.className = "om-message" + (isError ? " error" : "");
  }

  function fact(list, dt, dd) {
    if (dd === null || dd === undefined || dd === "") { return; }
    list.appendChild(el("dt", { text: dt }));
    list.appendChild(typeof dd === "string" ? el("dd", { text: dd }) : el("dd", {}, [dd]));
  }

  function renderCase(events) {
    var r = current;
    $("case").hidden = false;
    $("case-empty").hidden = true;
    showCaseMessage(null);
    $("case-title").textContent = "#" + r.id + " " + t(r.category_zh, r.category_en) + " · " + stateName(r.state);
    var light = $("case-light");
    light.textContent = "";
    if (currentRow && currentRow.id === r.id && currentRow.light) { light.appendChild(lightBadge(currentRow.light)); }
    closeForm();
    renderActions();
    var facts = $("case-facts");
    facts.textContent = "";
    fact(facts, t("描述", "Description"), r.description || "—");
    fact(facts, t("类别", "Category"), r.category_code + " " + t(r.category_zh, r.category_en) +
         (r.category_kind ? " (" + label(KINDS[r.category_kind], r.category_kind) + ")" : ""));
    fact(facts, t("地址", "Address"), r.address);
    var place = [];
    if (currentRow && currentRow.id === r.id) {
      place = [currentRow.street_name, currentRow.community_name].filter(Boolean);
    }
    fact(facts, t("街道 / 社区 / 网格", "Street / community / cell"),
         place.concat([r.cell_code ? t("网格 ", "cell ") + r.cell_code : null]).filter(Boolean).join(" / ") ||
         [r.street_code, r.community_code, r.cell_code].filter(Boolean).join(" / "));
    fact(facts, r.state === "reported" || r.state === "registered" || r.state === "returned"
         ? t("建议部门", "Routed department") : t("处置部门", "Department"), departmentName(r.department_code));
    fact(facts, t("来源", "Source"), label(SOURCES[r.source], r.source) + (r.reported_by ? " · " + r.reported_by : (r.reporter_name ? " · " + r.reporter_name : "")));
    fact(facts, t("上报时间", "Reported"), OM.formatTime(r.reported_at));
    fact(facts, t("本阶段期限", "Stage due"), OM.formatTime(r.stage_due_at));
    fact(facts, t("核查人", "Verifier"), r.verifier);
    if (r.extension_request) {
      var ext = r.extension_request;
      fact(facts, t("延期申请", "Extension request"),
           t(ext.minutes + " 工作分钟", ext.minutes + " working minutes") + (ext.reason ? " · " + ext.reason : ""));
    }
    if (r.suspended_from) { fact(facts, t("挂账前状态", "Before suspension"), stateName(r.suspended_from)); }
    if (r.merged_into) { fact(facts, t("合并至", "Merged into"), "#" + r.merged_into); }
    fact(facts, t("版本", "Version"), String(r.version));
    renderMap(r);
    renderPhotos(r);
    renderEvents(events);
  }

  function renderActions() {
    var box = $("actions");
    box.textContent = "";
    var allowed = actionsFor(current);
    if (!allowed.length) {
      box.appendChild(el("p", { class: "cc-none", text: holdsAnyOffice()
        ? t("您的岗位在此阶段没有可执行的操作。", "Your office has no action at this stage.")
        : t("只读：您的角色不能处理案件。", "Read only: your role does not handle cases.") }));
      return;
    }
    allowed.forEach(function (a) {
      box.appendChild(el("button", {
        type: "button", class: "om-btn cc-action" + (a.danger || a.quiet ? " secondary" : ""), "data-action": a.action,
        "aria-keyshortcuts": a.key.toUpperCase(), title: t("快捷键 ", "Key ") + a.key.toUpperCase(),
        on: { click: function () { startAction(a); } }
      }, [el("span", { text: t(a.zh, a.en) }), el("kbd", { text: a.key.toUpperCase(), "aria-hidden": "true" })]));
    });
  }

  function needsForm(a) { return a.reason || a.department || a.verifier || a.photo || a.minutes || a.merge; }

  function startAction(a) {
    showCaseMessage(null);
    if (!needsForm(a)) { send(a, {}); return; }
    openForm(a);
  }

  function field(labelText, control, hint) {
    return el("label", { class: "cc-field" }, [el("span", { text: labelText }), control,
      hint ? el("small", { text: hint }) : null]);
  }

  /* every department (GET /api/v1/departments) beside those met in the rows; a name already learnt is kept */
  function readDepartments() {
    departmentsRead = OM.api("/api/v1/departments").then(function (body) {
      (body.departments || []).forEach(function (d) {
        if (d.code && (!departments[d.code] || departments[d.code] === d.code)) { departments[d.code] = d.name_zh || d.code; }
      });
      departmentsRead = null;
      fillFilterChoices();
    }).catch(function () { departmentsRead = null; /* 派遣 offers the departments met so far */ });
  }

  /* the 派遣 choice; a form opened before the list answered is filled again when it does */
  function departmentChoice(proposed) {
    var select = el("select", { name: "department", id: "form-department", required: true });
    fillDepartmentChoice(select, proposed);
    if (departmentsRead) {
      departmentsRead.then(function () {
        var chosen = select.value;
        fillDepartmentChoice(select, proposed);
        select.value = chosen;
      });
    }
    return select;
  }

  function fillDepartmentChoice(select, proposed) {
    var codes = {};
    Object.keys(departments).forEach(function (c) { codes[c] = true; });
    categories.forEach(function (c) { codes[c.department_code] = true; });
    Object.keys(streets).forEach(function (s) { codes["street_" + s] = true; });
    delete codes.supervision; delete codes.command;
    if (proposed) { codes[proposed] = true; }
    select.textContent = "";
    var list = Object.keys(codes).sort();
    if (proposed) { list = [proposed].concat(list.filter(function (c) { return c !== proposed; })); }
    list.forEach(function (code) {
      var name = departments[code] || (code.indexOf("street_") === 0 && streets[code.slice(7)]
        ? streets[code.slice(7)] + t("（街道办）", " (street office)") : "");
      var text = (name ? name + " · " : "") + code + (code === proposed ? t("（建议）", " (proposed)") : "");
      select.appendChild(option(code, text, code === proposed));
    });
  }

  /* the inspectors 核查 may go to (GET /api/v1/incidents/inspectors), filled in when it answers */
  function verifierChoice() {
    var select = el("select", { name: "verifier", id: "form-verifier", required: true });
    var proposed = current.verifier || (current.source === "inspector" ? current.reported_by : "");
    if (proposed === current.handled_by) { proposed = ""; }
    select.appendChild(option("", t("加载中…", "Loading…")));
    var record = current;
    OM.api("/api/v1/incidents/inspectors").then(function (body) {
      if (current !== record) { return; }
      var names = (body.inspectors || []).filter(function (i) { return i.name !== record.handled_by; });
      select.textContent = "";
      if (!names.length) { select.appendChild(option("", t("没有可用的监督员", "No inspector available"))); return; }
      var known = names.some(function (i) { return i.name === proposed; });
      names.forEach(function (i) {
        var text = i.name + (i.department ? " · " + i.department : "") +
          (i.name === proposed ? (record.verifier ? t("（当前）", " (current)") : t("（上报人）", " (reporter)")) : "");
        select.appendChild(option(i.name, text, known ? i.name === proposed : false));
      });
    }).catch(function (err) {
      select.textContent = "";
      select.appendChild(option("", t("无法读取监督员：", "Cannot read the inspectors: ") + err.message));
    });
    return select;
  }

  function openForm(a) {
    var form = $("action-form");
    form.textContent = "";
    form.hidden = false;
    form.setAttribute("data-action", a.action);
    form.appendChild(el("h3", { text: t(a.zh, a.en) + " · #" + current.id }));
    if (a.department) {
      form.appendChild(field(t("派往部门", "Send to department"), departmentChoice(current.department_code),
        t("建议部门由网格和类别决定", "The proposed department comes from the grid cell and category")));
    }
    if (a.verifier) {
      form.appendChild(field(t("核查监督员", "Inspector to verify"), verifierChoice(),
        t("不能是处置反馈人", "Not the person who recorded the handling")));
    }
    if (a.merge) {
      form.appendChild(field(t("合并到案件编号", "Duplicate of case no."),
        el("input", { name: "merge_into", id: "form-merge", type: "number", min: "1", required: true, inputmode: "numeric" })));
    }
    if (a.minutes) {
      form.appendChild(field(t("延期（工作分钟）", "Extension (working minutes)"),
        el("input", { name: "extension_minutes", id: "form-minutes", type: "number", min: "1", max: "4800", value: "480", required: true })));
    }
    if (a.photo) {
      form.appendChild(field(t("处置后照片", "Photo of the result"),
        el("input", { name: "photo", id: "form-photo", type: "file", accept: "image/*", multiple: true, required: true })));
    }
    if (a.reason || a.note) {
      form.appendChild(field(a.reason ? t("理由（必填）", "Reason (required)") : t("说明", "Note"),
        el("textarea", { name: "reason", id: "form-reason", rows: "2", required: a.reason ? true : null, maxlength: "2000" })));
    }
    var buttons = el("div", { class: "cc-form-buttons" }, [
      el("button", { type: "submit", class: "om-btn" + (a.danger ? " danger" : ""), id: "form-submit" },
         [el("span", { text: t("确认" + a.zh, "Confirm: " + a.en) }), el("kbd", { text: a.reason || a.note ? "Ctrl+Enter" : "Enter", "aria-hidden": "true" })]),
      el("button", { type: "button", class: "om-btn secondary", id: "form-cancel", on: { click: closeForm } },
         [el("span", { text: t("取消", "Cancel") }), el("kbd", { text: "Esc", "aria-hidden": "true" })])
    ]);
    form.appendChild(buttons);
    form.onsubmit = function (e) { e.preventDefault(); submitForm(a, form); };
    var first = form.querySelector("select, input, textarea");
    if (first) { first.focus(); }
  }

  function submitForm(a, form) {
    var values = {};
    var problem = null;
    form.querySelectorAll("select, input:not([type=file]), textarea").forEach(function (input) {
      var value = input.value.trim();
      if (input.required && !value && !problem) { problem = input; }
      if (value) { values[input.name] = input.type === "number" ? Number(value) : value; }
    });
    var files = form.querySelector("input[type=file]");
    if (files && !files.files.length && !problem) { problem = files; }
    if (problem) {
      showCaseMessage(t("请填写：", "Please fill in: ") + problem.closest("label").firstChild.textContent, true);
      problem.focus();
      return;
    }
    send(a, values, files ? files.files : null);
  }

  function closeForm() {
    var form = $("action-form");
    if (form.hidden) { return; }
    form.hidden = true;
    form.textContent = "";
    var button = $("actions").querySelector("button");
    var row = $("rows").children[view.cursor];
    (row || button || $("case")).focus();
  }

  function send(a, values, files) {
    var id = current.id;
    var body = Object.assign({ action: a.action, expected_version: current.version }, values);
    var request;
    if (files && files.length) {
      var data = new FormData();
      Object.keys(body).forEach(function (key) { data.append(key, String(body[key])); });
      Array.prototype.forEach.call(files, function (file) { data.append("photo", file, file.name); });
      request = OM.authFetch("/api/v1/incidents/" + encodeURIComponent(id) + "/transitions",
                             { method: "POST", body: data, headers: { Accept: "application/json" } })
        .then(function (r) {
          return r.json().catch(function () { return {}; }).then(function (answer) {
            if (!r.ok) { var err = new Error(answer.description || ("HTTP " + r.status)); err.status = r.status; throw err; }
            return answer;
          });
        });
    } else {
      request = OM.api("/api/v1/incidents/" + encodeURIComponent(id) + "/transitions", { method: "POST", json: body });
    }
    setBusy(true);
    return request.then(function (result) {
      var done = t("已" + a.zh + "：案件 #" + id + " 现为「" + stateName(result.state) + "」",
                   a.en + ": case #" + id + " is now " + stateName(result.state));
      return Promise.all([refresh(), openCase(id)]).then(function () { showCaseMessage(done, false); });
    }).catch(function (err) {
      if (err.status === 409) {
        var moved = t("冲突：案件 #" + id + " 已被他人处理，已重新加载。", "Conflict: case #" + id + " was moved by someone else; reloaded. ");
        return Promise.all([refresh(id), openCase(id)]).then(function () { showCaseMessage(moved + " " + err.message, true); });
      }
      showCaseMessage(t(a.zh + "失败：", a.en + " refused: ") + err.message, true);
    }).then(function () { setBusy(false); });
  }

  function setBusy(busy) {
    view.busy = busy;
    $("case").setAttribute("aria-busy", busy ? "true" : "false");
    $("actions").querySelectorAll("button").forEach(function (b) { b.disabled = busy; });
  }

  /* ------------------------------------------------------------------ map, photos, events */
  function pickBase() {
    if (baseLayer !== undefined) { return Promise.resolve(baseLayer); }
    return Promise.all([
      OM.api("/api/v1/layers").catch(function () { return { layers: [] }; }),
      OM.api("/api/v1/city").catch(function () { return null; })
    ]).then(function (answers) {
      var imagery = (answers[0].layers || []).filter(function (l) { return l.kind === "imagery"; });
      var wanted = answers[1] && answers[1].default_base_layer;
      var layer = imagery.filter(function (l) { return l.id === wanted; })[0] || imagery[0] || null;
      baseLayer = null;
      if (layer) {
        var options = { maxZoom: 20, maxNativeZoom: 18, attribution: OM.escapeHtml(t(layer.title_zh, layer.title_en)) };
        if (layer.bbox) { options.bounds = L.latLngBounds([layer.bbox[1], layer.bbox[0]], [layer.bbox[3], layer.bbox[2]]); }
        baseLayer = L.tileLayer("/tiles/" + encodeURIComponent(layer.id) + "/{z}/{x}/{y}.png", options);
      }
      return baseLayer;
    });
  }

  function renderMap(r) {
    if (typeof L === "undefined" || r.lon === null || r.lon === undefined) { $("case-map").hidden = true; return; }
    $("case-map").hidden = false;
    $("case-map").setAttribute("aria-label", t("案件位置 ", "Case location ") + r.lon.toFixed(5) + ", " + r.lat.toFixed(5));
    if (!caseMap) {
      caseMap = L.map("case-map", { zoomControl: true, attributionControl: true, keyboard: false });
      caseLayers = L.layerGroup().addTo(caseMap);
      pickBase().then(function (base) { if (base) { base.addTo(caseMap); base.bringToBack(); } });
    }
    caseLayers.clearLayers();
    var here = L.latLng(r.lat, r.lon);
    L.circleMarker(here, { radius: 9, color: "#ffffff", weight: 3, fillColor: "#b42318", fillOpacity: 1 })
      .bindTooltip("#" + r.id, { permanent: false }).addTo(caseLayers);
    caseMap.setView(here, 17);
    setTimeout(function () { caseMap.invalidateSize(); }, 0);
    cellOutline(r);
  }

  /* the unit cell around the case, for orientation when there is no imagery */
  function cellOutline(r) {
    var d = 0.0008;
    var url = "/ogc/collections/unit_grid/items?f=json&limit=20&offset=0&bbox=" +
      [r.lon - d, r.lat - d, r.lon + d, r.lat + d].map(function (v) { return v.toFixed(6); }).join(",");
    OM.authFetch(url, { headers: { Accept: "application/geo+json" } })
      .then(function (res) { return res.ok ? res.json() : null; })
      .then(function (fc) {
        if (!fc || !current || current.id !== r.id) { return; }
        L.geoJSON(fc, {
          style: function (f) {
            var mine = f.properties && f.properties.code === r.cell_code;
            return { color: mine ? "#1d5fa8" : "#5b6b7c", weight: mine ? 3 : 1, fill: mine, fillOpacity: 0.08 };
          }
        }).addTo(caseLayers);
      }).catch(function () { /* context only */ });
  }

  function renderPhotos(r) {
    var box = $("case-photos");
    box.textContent = "";
    var ids = r.photo_ids || [];
    if (!ids.length) { return; }
    ids.forEach(function (pid, i) {
      var src = "/api/v1/incidents/" + encodeURIComponent(r.id) + "/photos/" + encodeURIComponent(pid);
      box.appendChild(el("a", { href: src, target: "_blank", rel: "noopener" }, [
        el("img", { src: src, alt: t("案件 #" + r.id + " 照片 " + (i + 1), "Case #" + r.id + " photo " + (i + 1)), loading: "lazy" })
      ]));
    });
  }

  function renderEvents(events) {
    var list = $("case-events");
    list.textContent = "";
    events.forEach(function (e) {
      var head = [OM.formatTime(e.at), label(ACTION_NAMES[e.action], e.action)];
      var move = e.from_state && e.to_state && e.from_state !== e.to_state
        ? stateName(e.from_state) + " → " + stateName(e.to_state) : "";
      var office = [e.actor_department, e.actor_role].filter(Boolean).join(" · ");
      var actor = (e.actor || "") + (office ? " (" + office + ")" : "");
      var lines = [el("div", { class: "cc-ev-head" }, [el("strong", { text: head[1] }), el("span", { text: " " + move }),
                    el("time", { datetime: e.at, text: head[0] })])];
      var bits = [];
      if (actor) { bits.push(t("操作人：", "By: ") + actor); }
      if (e.department_code && (e.action === "dispatch" || e.action === "report")) { bits.push(t("部门：", "Department: ") + departmentName(e.department_code)); }
      if (e.detail && e.detail.verifier) { bits.push(t("核查人：", "Verifier: ") + e.detail.verifier); }
      if (e.due_at) { bits.push(t("期限：", "Due: ") + OM.formatTime(e.due_at)); }
      if (bits.length) { lines.push(el("div", { class: "cc-ev-meta", text: bits.join("  ·  ") })); }
      if (e.reason) { lines.push(el("div", { class: "cc-ev-reason", text: t("理由：", "Reason: ") + e.reason })); }
      list.appendChild(el("li", {}, lines));
    });
  }

  /* ------------------------------------------------------------------ keyboard */
  function typingIn(target) {
    var tag = target && target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable);
  }

  function onKey(e) {
    var form = $("action-form");
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && !form.hidden && form.contains(e.target)) {
      e.preventDefault(); form.requestSubmit(); return;  /* Ctrl+Enter sends from the reason's text box */
    }
    if (e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "Escape") { closeForm(); return; }
    if (e.key === "Enter" && !form.hidden && form.contains(e.target) && e.target.tagName === "SELECT") {
      e.preventDefault(); form.requestSubmit(); return;
    }
    if (typingIn(e.target) || !who || $("queues-pane").hidden) { return; }
    var key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    var inQueue = $("rows").contains(e.target) || e.target === document.body || $("tabs").contains(e.target);
    if (key === "j" || (key === "ArrowDown" && inQueue)) { e.preventDefault(); moveTo(view.cursor + 1); return; }
    if (key === "k" || (key === "ArrowUp" && inQueue)) { e.preventDefault(); moveTo(view.cursor - 1); return; }
    if (key === "Enter" && $("rows").contains(e.target)) {
      e.preventDefault();
      var row = view.rows[view.cursor];
      if (row) { openCase(row.id, row).then(showCase); }
      return;
    }
    if (key === "/") { e.preventDefault(); $("filter-box").open = true; $("f-q").focus(); return; }
    if (/^[1-6]$/.test(key)) { e.preventDefault(); selectQueue(QUEUES[Number(key) - 1].id); return; }
    if ((key === "ArrowLeft" || key === "ArrowRight") && $("tabs").contains(e.target)) {
      var at = QUEUES.map(function (q) { return q.id; }).indexOf(view.queue) + (key === "ArrowLeft" ? -1 : 1);
      at = (at + QUEUES.length) % QUEUES.length;
      selectQueue(QUEUES[at].id);
      $("tab-" + QUEUES[at].id).focus();
      return;
    }
    if (!current || !form.hidden) { return; }
    var a = actionsFor(current).filter(function (x) { return x.key === key; })[0];
    if (a) { e.preventDefault(); startAction(a); }
  }

  /* ------------------------------------------------------------------ live (server-sent events) */
  var refreshSoon = null;

  /* GET /api/v1/supervision/stream: each new event refreshes the queues; the open case is
     reloaded when someone else moved it (not while one's own action or form is under way) */
  function listen() {
    if (!window.EventSource) { return false; }
    var source = new EventSource("/api/v1/supervision/stream");
    source.addEventListener("open", function () { showLive(true); });
    source.addEventListener("error", function () { showLive(false); });  /* EventSource reconnects by itself */
    source.addEventListener("end", function () { source.close(); showLive(false); poll(); });
    source.addEventListener("incident", function (e) {
      var data = null;
      try { data = JSON.parse(e.data); } catch (err) { return; }
      clearTimeout(refreshSoon);
      refreshSoon = setTimeout(function () { refresh(current && current.id); }, 300);
      if (current && data && data.incident_id === current.id) { caseMoved(data); }
    });
    window.addEventListener("beforeunload", function () { source.close(); });
    return true;
  }

  function showLive(on) {
    var badge = $("live");
    badge.className = "cc-live" + (on ? " on" : "");
    badge.textContent = on ? t("● 实时", "● Live") : t("○ 未实时", "○ Not live");
    badge.title = on ? t("案件变化即时显示", "Changes appear as they happen")
                     : t("实时连接中断，正在重连（每分钟刷新）", "Live link down, reconnecting (refreshed every minute)");
    if (!on) { poll(); } else if (refreshTimer) { clearInterval(refreshTimer); refreshTimer = null; }
  }

  function caseMoved(data) {
    if (view.busy) { return; }  /* our own action: it reloads the case itself */
    var known = current;
    OM.api("/api/v1/incidents/" + encodeURIComponent(known.id)).then(function (record) {
      if (current !== known || record.version === known.version) { return; }
      var what = label(ACTION_NAMES[data.action], data.action);
      if (!$("action-form").hidden) {
        showCaseMessage(t("注意：案件 #" + known.id + " 刚被他人" + what + "，提交将会冲突。",
                          "Note: case #" + known.id + " was just changed by someone else (" + what + "); submitting will conflict."), true);
        return;
      }
      openCase(known.id).then(function () {
        showCaseMessage(t("案件 #" + known.id + " 已被他人更新：" + what, "Case #" + known.id + " was updated by someone else: " + what), false);
      });
    }).catch(function () { /* the next refresh says it */ });
  }

  /* without the live link: the queues are read again every minute */
  function poll() {
    if (refreshTimer) { return; }
    refreshTimer = setInterval(function () {
      if (document.visibilityState === "visible" && $("action-form").hidden) { refresh(current && current.id); }
    }, 60000);
  }

  /* where each office starts: 受理 → 待受理, 派遣 → 待派遣, a handling department → its cases in 处置中,
     an inspector → 待核查 */
  function openingQueue() {
    var office = who.role === "inspector" ? "inspector" : (who.role === "editor" ? who.department_code : null);
    if (office === "command") { view.queue = "dispatch"; }
    else if (office === "inspector") { view.queue = "verify"; }
    else if (office && office !== "supervision") {
      view.queue = "handle";
      departments[office] = departments[office] || office;
      fillFilterChoices();
      $("f-department").value = office;
      readFilters();
    }
  }

  /* ------------------------------------------------------------------ start */
  function start(signedIn) {
    who = signedIn;
    OM.translate(document);
    $("filters").setAttribute("aria-label", t("筛选", "Filters"));
    $("tabs").setAttribute("aria-label", t("案件队列", "Case queues"));
    $("actions").setAttribute("aria-label", t("操作", "Actions"));
    $("f-q").setAttribute("placeholder", t("编号或关键词", "No. or words"));
    if (!who) {
      $("signin-note").hidden = false;
      $("signin-note").textContent = t("请在右上角输入访问令牌登录：指挥中心只对工作人员开放。",
                                       "Sign in with your access token (top right): the console is for staff.");
      return;
    }
    $("queues-pane").hidden = false;
    $("case-empty").hidden = false;
    $("cc-who").textContent = t("已登录：", "Signed in: ") + who.name + " (" + (who.department_code || "") + " · " + who.role + ")";
    $("filter-box").open = window.matchMedia("(min-width: 641px)").matches;  /* folded on a phone */
    fillLights();
    openingQueue();
    fillFilterChoices();
    renderTabs();
    setupFilters();
    document.addEventListener("keydown", onKey);
    readDepartments();
    OM.api("/api/v1/incidents/categories").then(function (body) {
      categories = body.categories || [];
      fillCategories();
    }).catch(function () { /* the category filter stays at 全部 */ });
    /* choices for streets, communities and departments from the open cases */
    OM.api("/api/v1/incidents?" + new URLSearchParams({
      state: ["reported", "registered", "returned", "dispatched", "handling", "handled", "verified", "suspended"].join(","),
      limit: "500"
    }).toString()).then(function (body) { learn(body.incidents || []); }).catch(function () { /* filters offer what the queues show */ });
    refresh().then(function () {
      var first = $("rows").children[0];
      if (first) { first.focus(); }
      var linked = /^#case=(\d+)$/.exec(window.location.hash);  /* /console#case=12: a link from another face */
      if (linked) { openCase(Number(linked[1])); }
    });
    if (!listen()) { poll(); }
  }

  OM.mountLang($("lang"));
  OM.mountAuth($("auth"), start);
  window.addEventListener("beforeunload", function () { clearInterval(refreshTimer); });
})();
