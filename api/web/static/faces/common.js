/* What every face of the one map shares (portal, inspector, console, supervision): language,
   the session (the token lives in an HttpOnly cookie set by POST /api/v1/session, api/session.py;
   this script only reads the CSRF proof), same-origin requests, escaping, the sign-in bar.
   Usage: <script src="/static/faces/common.js"></script>, then window.OM. No framework, no CDN. */
(function () {
  "use strict";
  var lang = localStorage.getItem("onemap.lang") || "zh";

  function t(zh, en) { return lang === "zh" ? zh : (en === undefined || en === null ? zh : en); }

  function setLang(value) { localStorage.setItem("onemap.lang", value); window.location.reload(); }

  /* the CSRF proof of the session (a readable cookie; the token itself is HttpOnly) */
  function csrfToken() {
    var match = document.cookie.match(/(?:^|;\s*)onemap_csrf=([^;]*)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* same-origin fetch: the browser adds the session cookie; unsafe methods add the CSRF proof */
  function authFetch(url, options) {
    options = options || {};
    var headers = Object.assign({}, options.headers || {});
    var method = (options.method || "GET").toUpperCase();
    if (method !== "GET" && method !== "HEAD") { headers["X-CSRF-Token"] = csrfToken(); }
    return fetch(url, Object.assign({}, options, { headers: headers, credentials: "same-origin" }));
  }

  /* JSON in, JSON out; a refusal becomes an Error carrying the server's words (error table: description) */
  function api(url, options) {
    options = Object.assign({ headers: {} }, options || {});
    options.headers = Object.assign({ Accept: "application/json" }, options.headers);
    if (options.json !== undefined) {
      options.body = JSON.stringify(options.json);
      options.headers["Content-Type"] = "application/json";
      delete options.json;
    }
    return authFetch(url, options).then(function (r) {
      return r.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = { description: text }; }
        if (!r.ok) {
          var err = new Error((body && (body.description || body.detail)) || ("HTTP " + r.status));
          err.status = r.status; err.body = body;
          throw err;
        }
        return body;
      });
    });
  }

  function escapeHtml(value) {
    return String(value === null || value === undefined ? "" : value).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  /* element builder: el("td", {class: "x", text: "y"}, children) — text is set as text, never as HTML */
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) { return; }
      if (key === "text") { node.textContent = value; }
      else if (key === "on") { Object.keys(value).forEach(function (ev) { node.addEventListener(ev, value[ev]); }); }
      else { node.setAttribute(key, value === true ? "" : value); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var who = null;

  /* who the session cookie signs in: {signed_in, name, role, department_code, ...} or null;
     refused (revoked/expired token: the server cleared the cookie) gives {refused: description} */
  function whoAmI() {
    return authFetch("/api/v1/session", { headers: { Accept: "application/json" } })
      .then(function (r) {
        return r.json().then(function (body) {
          who = r.ok && body.signed_in ? body : null;
          return r.status === 401 ? { refused: body.description } : who;
        });
      })
      .catch(function () { who = null; return null; });
  }

  function signIn(token) {
    return api("/api/v1/session", { method: "POST", json: { token: token } });
  }

  function signOut() { return authFetch("/api/v1/session", { method: "DELETE" }); }

  /* the top bar's session widget in `box`: who is signed in, a token field and a button; then onChange() */
  function mountAuth(box, onChange) {
    box.textContent = "";
    var label = el("span", { class: "om-who", role: "status" });
    var input = el("input", { type: "password", autocomplete: "off", class: "om-token",
                              "aria-label": t("访问令牌", "Access token"), placeholder: t("访问令牌", "Access token") });
    var button = el("button", { type: "button", class: "om-signin" });
    box.appendChild(label); box.appendChild(input); box.appendChild(button);
    function show(message, isError) {
      input.hidden = !!who;
      button.textContent = who ? t("退出", "Sign out") : t("登录", "Sign in");
      button.title = who ? t("退出登录：", "Sign out: ") + who.name : "";
      button.setAttribute("aria-label", who ? button.title : button.textContent);
      label.className = "om-who" + (isError ? " error" : "");
      label.textContent = message || (who ? who.name + " · " + (who.department_code || "") + " · " + who.role : "");
      label.title = label.textContent;
    }
    function submit() {
      if (who) { signOut().then(function () { window.location.reload(); }); return; }
      var value = input.value.trim();
      if (!value) { input.focus(); return; }
      signIn(value).then(function () { window.location.reload(); })
        .catch(function (err) { input.value = ""; show(t("令牌无效：", "Token refused: ") + err.message, true); });
    }
    button.addEventListener("click", submit);
    input.addEventListener("keydown", function (e) { if (e.key === "Enter") { submit(); } });
    return whoAmI().then(function (state) {
      show(state && state.refused ? t("登录失效：", "Session refused: ") + state.refused : null, !!(state && state.refused));
      if (onChange) { onChange(who); }
      return who;
    });
  }

  /* the language button: shows the other language's name; the choice is kept per browser */
  function mountLang(button) {
    button.textContent = lang === "zh" ? "EN" : "中文";
    button.title = "中文 / English";
    button.addEventListener("click", function () { setLang(lang === "zh" ? "en" : "zh"); });
  }

  /* elements marked data-zh / data-en get the text of the chosen language */
  function translate(root) {
    (root || document).querySelectorAll("[data-zh]").forEach(function (node) {
      var text = t(node.getAttribute("data-zh"), node.getAttribute("data-en"));
      if (node.hasAttribute("data-attr")) { node.setAttribute(node.getAttribute("data-attr"), text); }
      else { node.textContent = text; }
    });
  }

  function formatTime(iso) {
    if (!iso) { return ""; }
    var d = new Date(iso);
    return isNaN(d) ? String(iso) : d.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });
  }

  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  localStorage.removeItem("onemap.token");  /* where earlier versions kept the token */

  window.OM = {
    lang: lang, t: t, setLang: setLang, csrfToken: csrfToken, authFetch: authFetch, api: api,
    escapeHtml: escapeHtml, el: el, whoAmI: whoAmI, who: function () { return who; },
    signIn: signIn, signOut: signOut, mountAuth: mountAuth, mountLang: mountLang,
    translate: translate, formatTime: formatTime
  };
})();
