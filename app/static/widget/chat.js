/* Switchboard chat widget: one tag on a clinic's page,
 *   <script src="https://<switchboard>/static/widget/chat.js" data-key="pk_…" async></script>
 * The widget draws itself in a shadow root (the page's styles and ours never meet), sets no cookie, keeps
 * the visitor's token in localStorage under its key (a reload resumes the chat) and speaks the chat API of
 * /chat/v1 (app/chat). Every word it shows comes from the server in the patient's language
 * (/chat/v1/texts); patients', agents' and articles' text is set as textContent, never as markup. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-key][src*='widget/chat.js']");
  if (!script || !window.fetch || !window.EventSource) return;
  var key = script.getAttribute("data-key") || "";
  var base = new URL(".", script.src);
  var api = new URL("../../chat/v1/", base).href;
  var storeKey = "switchboard-chat:" + key;
  // Right-to-left languages while the clinic's configuration (each language's "dir", from CLDR) is not loaded.
  var RTL = ["ar", "fa", "he", "ur", "ps", "dv", "yi", "ckb", "sd", "ug", "syr", "arz", "ary", "arq"];

  var T = {}, config = null, memory = {};
  var lang = (load().lang || navigator.language || "en").split("-")[0].toLowerCase();
  var token = load().token || null;
  var session = null, lastId = 0, readUpTo = 0, pendingKey = null, details = {};
  var stream = null, agentSaid = 0, backoff = 1000, retryTimer = null, typingTimer = null, lastTyping = 0, readTimer = null;
  // Why nobody could take the chat when the patient asked for a person ("closed", "nobody"): the offer to
  // leave a message stays while the assistant has the chat, whatever state update arrives after it (the
  // stream's first state could land after the refusal and hide the offer).
  var shown = {}, ui = {}, unavailableReason = null;

  function load() {
    try { return JSON.parse(localStorage.getItem(storeKey) || "{}") || {}; } catch (e) { return memory; }
  }
  function save(value) {
    memory = value;
    try { localStorage.setItem(storeKey, JSON.stringify(value)); } catch (e) { /* private mode: memory only */ }
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs.text;
      else if (name === "on") Object.keys(attrs.on).forEach(function (e) { node.addEventListener(e, attrs.on[e]); });
      else if (attrs[name] !== null && attrs[name] !== undefined && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }
  function show(node, visible) { node.hidden = !visible; }
  function each(nodes, handle) { Array.prototype.forEach.call(nodes, handle); }
  function post(path, body) { return call("POST", path, body || {}); }

  function call(method, path, body) {
    var headers = { "X-Widget-Key": key };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers.Authorization = "Bearer " + token;
    return fetch(api + path, {
      method: method, headers: headers, credentials: "omit", mode: "cors",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 204) return { status: 204, ok: true, data: {} };
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, ok: response.ok, data: data };
      });
    }, function () { return { status: 0, ok: false, data: {} }; });
  }
  function getJson(path) {
    return fetch(api + path, { credentials: "omit", mode: "cors" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    });
  }

  // --- the frame: launcher and panel --------------------------------------------------------------

  function build() {
    var host = el("div", { id: "switchboard-chat" });
    var root = host.attachShadow({ mode: "open" });
    root.appendChild(el("link", { rel: "stylesheet", href: new URL("chat.css", base).href }));
    ui.launcher = el("button", { type: "button", "class": "launcher", "aria-expanded": "false", on: { click: open } });
    ui.close = el("button", { type: "button", "class": "close", on: { click: close } }, [el("span", { text: "×", "aria-hidden": "true" })]);
    ui.title = el("h2", { id: "sb-title" });
    ui.body = el("div", { "class": "body" });
    ui.panel = el("section", { "class": "panel", role: "dialog", "aria-labelledby": "sb-title", hidden: "" },
      [el("header", {}, [ui.title, ui.close]), ui.body]);
    root.appendChild(ui.launcher);
    root.appendChild(ui.panel);
    document.body.appendChild(host);
  }
  function label() {
    ui.launcher.textContent = T.open;
    ui.close.setAttribute("aria-label", T.close);
    ui.title.textContent = T.title;
  }
  function open() {
    show(ui.panel, true); show(ui.launcher, false);
    ui.launcher.setAttribute("aria-expanded", "true");
    if (!ui.body.firstChild) (token ? resume() : prechat());
    markRead();
  }
  function close() {
    show(ui.panel, false); show(ui.launcher, true);
    ui.launcher.setAttribute("aria-expanded", "false");
  }

  function loadTexts(code) {
    return getJson("texts?lang=" + encodeURIComponent(code)).then(function (texts) { T = texts; label(); });
  }

  // --- before the chat: the pre-chat form ------------------------------------------------------------

  // A patient's phone may lose a request: the form is asked for twice more, after a growing pause, before
  // the panel says something went wrong.
  function prechat(attempt) {
    attempt = attempt || 0;
    return getJson("config?key=" + encodeURIComponent(key) + "&lang=" + encodeURIComponent(lang)).then(function (c) {
      config = c;
      var codes = c.languages.map(function (l) { return l.code; });
      if (codes.indexOf(lang) < 0 && codes.length) lang = codes[0];
      drawPrechat();
    }, function () {
      if (attempt < 2) setTimeout(function () { prechat(attempt + 1); }, 1000 * (attempt + 1));
      else error(ui.body, T.error);
    });
  }

  function field(labelText, input) {
    return el("label", {}, [el("span", { text: labelText }), input]);
  }

  function drawPrechat() {
    ui.body.textContent = "";
    var language = el("select", { name: "language", on: { change: function () {
      lang = language.value;
      details = { name: name.value, email: email.value, phone: phone.value };
      loadTexts(lang).then(function () { prechat(); });
    } } }, config.languages.map(function (l) {
      return el("option", { value: l.code, text: l.name, selected: l.code === lang ? "" : null });
    }));
    var topic = el("select", { name: "topic" }, config.topics.map(function (t) { return el("option", { value: t.code, text: t.label }); }));
    var name = el("input", { name: "name", maxlength: "80", required: "", autocomplete: "name", value: details.name || null });
    var email = el("input", { name: "email", type: "email", maxlength: "254", autocomplete: "email", value: details.email || null });
    var phone = el("input", { name: "phone", type: "tel", maxlength: "32", autocomplete: "tel", value: details.phone || null });
    var consent = el("input", { name: "consent", type: "checkbox", required: "" });
    var notice = el("a", { href: config.privacy_notice_url, target: "_blank", rel: "noopener noreferrer", text: T.privacy_notice });
    var form = el("form", { "class": "prechat", novalidate: "" }, [
      el("p", { text: T.intro }),
      field(T.language, language), field(T.topic, topic), field(T.name, name), field(T.email, email), field(T.phone, phone),
      el("label", { "class": "consent" }, [consent, el("span", {}, [document.createTextNode(T.consent + " "), notice])]),
      el("button", { type: "submit", "class": "primary", text: T.start })
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      details = { name: name.value.trim(), email: email.value.trim(), phone: phone.value.trim() };
      clearErrors(form);
      post("sessions?lang=" + encodeURIComponent(lang), {
        language: language.value, topic: topic.value, name: details.name,
        email: details.email || null, phone: details.phone || null, consent: consent.checked
      }).then(function (r) {
        if (!r.ok) return refused(form, r.data);
        token = r.data.token;
        save({ token: token, lang: language.value });
        chat(r.data.session, r.data.messages);
      });
    });
    ui.body.appendChild(form);
  }

  function clearErrors(form) {
    each(form.querySelectorAll(".error"), function (node) { node.remove(); });
    each(form.querySelectorAll("[aria-invalid]"), function (node) { node.removeAttribute("aria-invalid"); });
  }
  function refused(form, data) {
    var input = data && data.field ? form.querySelector("[name='" + data.field + "']") : null;
    var message = el("p", { "class": "error", role: "alert", text: (data && data.error) || T.error });
    if (input) { input.setAttribute("aria-invalid", "true"); input.closest("label").after(message); } else form.prepend(message);
  }
  function error(parent, text) { parent.appendChild(el("p", { "class": "error", role: "alert", text: text })); }

  // --- the chat -------------------------------------------------------------------------------------

  function resume() {
    return call("GET", "session").then(function (r) {
      if (r.status === 404 || r.status === 401) { forget(); return prechat(); }
      if (!r.ok) return error(ui.body, T.error);
      chat(r.data.session, r.data.messages);
    });
  }

  function chat(s, messages) {
    session = s; unavailableReason = null;
    ui.body.textContent = "";
    shown = {}; lastId = 0;
    ui.list = el("ol", { "class": "messages", "aria-live": "polite" });
    ui.typing = el("p", { "class": "typing", hidden: "", text: T.agent_typing });
    ui.notice = el("p", { "class": "notice", role: "status", hidden: "" });
    ui.status = el("p", { "class": "status", hidden: "", text: T.reconnecting });
    ui.leave = leaveForm();
    ui.transcript = transcriptForm();
    ui.text = el("textarea", { name: "body", rows: "2", maxlength: "2000", "aria-label": T.message, placeholder: T.message, dir: "auto" });
    ui.text.addEventListener("input", typing);
    ui.text.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); ui.composer.requestSubmit(); }
    });
    ui.composer = el("form", { "class": "composer", on: { submit: send } }, [ui.text, el("button", { type: "submit", "class": "primary", text: T.send })]);
    ui.actions = el("div", { "class": "actions" }, [
      ui.transcriptButton = el("button", { type: "button", text: T.transcript, on: { click: function () { show(ui.transcript, ui.transcript.hidden); } } }),
      ui.endButton = el("button", { type: "button", text: T.end, on: { click: function () { post("end").then(update); } } }),
      ui.newButton = el("button", { type: "button", text: T.new_chat, on: { click: restart } })
    ]);
    [ui.list, ui.typing, ui.notice, ui.status, ui.leave, ui.composer, ui.transcript, ui.actions].forEach(function (n) { ui.body.appendChild(n); });
    messages.forEach(add);
    update({ ok: true, data: { session: s } });
    if (s.state !== "ended") connect();
  }

  function restart() {
    forget(); disconnect(); session = null; ui.body.textContent = ""; prechat();
  }
  function forget() { token = null; save({ lang: lang }); }

  function rtl() {
    if (!session) return false;
    var code = session.language.split("-")[0];
    var known = config && config.languages.filter(function (l) { return l.code === code; })[0];
    return known && known.dir ? known.dir === "rtl" : RTL.indexOf(code) >= 0;
  }

  function systemText(m) {
    if (m.code === "agent_joined") return m.agent_name ? T.agent_joined.replace("{name}", m.agent_name) : T.agent_joined_anonymous;
    return T[m.code] || m.body;
  }

  function add(m) {
    if (shown[m.id]) return;
    lastId = Math.max(lastId, m.id);
    var who = m.author === "visitor" ? T.you : m.author === "agent" ? (m.agent_name || T.agent) : T.assistant;
    var item;
    if (m.author === "system") {
      item = el("li", { "class": "system", "data-code": m.code || "" }, [el("p", { text: systemText(m) })]);
    } else {
      item = el("li", { "class": m.author }, [
        el("span", { "class": "who", text: who }),
        el("p", { "class": "text", dir: rtl() ? "rtl" : "auto", text: m.body })
      ]);
      if (m.author === "assistant") assistantParts(item, m);
    }
    shown[m.id] = item;
    item.setAttribute("data-id", m.id);
    // In id order: a message sent while the stream was away may arrive after a later one.
    var later = Array.prototype.find.call(ui.list.children, function (node) { return +node.getAttribute("data-id") > m.id; });
    ui.list.insertBefore(item, later || null);
    ui.list.scrollTop = ui.list.scrollHeight;
    if (m.author === "agent") { show(ui.typing, false); agentSaid = Date.now(); }
    if (m.author !== "visitor") markRead();
    readMark();
  }

  function assistantParts(item, m) {
    (m.articles || []).forEach(function (a) {
      item.appendChild(el("details", { "class": "article" }, [el("summary", { text: a.title }), el("p", { dir: rtl() ? "rtl" : "auto", text: a.body })]));
    });
    item.appendChild(el("div", { "class": "choices" }, [
      (m.articles || []).length ? el("button", { type: "button", "class": "answered", text: T.answered, on: { click: function () { post("answered").then(update); } } }) : null,
      el("button", { type: "button", "class": "person primary", text: T.person, on: { click: handover } })
    ]));
  }

  function handover() {
    post("handover").then(function (r) {
      if (r.status === 409 && r.data.code === "unavailable") return unavailable(r.data.reason);
      update(r);
    });
  }

  function unavailable(reason) {
    unavailableReason = reason;
    offerToLeave(reason);
    ui.leave.querySelector("textarea").focus();
  }
  function offerToLeave(reason) {
    ui.notice.textContent = (reason === "closed" ? T.closed : T.nobody) + " " + T.leave_intro;
    show(ui.notice, true); show(ui.leave, true); show(ui.composer, false);
    each(ui.list.querySelectorAll(".choices"), function (node) { show(node, false); });
  }

  function update(r) {
    if (!r.ok) return error(ui.list, (r.data && r.data.error) || T.error);
    session = r.data.session;
    var state = session.state, ended = state === "ended";
    ui.body.setAttribute("data-state", state);
    show(ui.composer, !ended); show(ui.leave, false);
    show(ui.endButton, !ended); show(ui.newButton, ended);
    each(ui.list.querySelectorAll(".choices"), function (node, i, all) {
      show(node, state === "assistant" && i === all.length - 1);
    });
    var notice = state === "waiting" ? T.waiting : ended ? ({ answered: T.answered_end, left_message: T.left, agent_closed: T.agent_closed }[session.ended_reason] || T.ended) : "";
    ui.notice.textContent = notice;
    show(ui.notice, !!notice);
    if (state === "waiting" && session.unanswered) unavailable("nobody");
    else if (state === "assistant" && unavailableReason) offerToLeave(unavailableReason);
    if (ended) { disconnect(); show(ui.typing, false); }
  }

  function send(event) {
    event.preventDefault();
    var body = ui.text.value.trim();
    if (!body) return;
    pendingKey = pendingKey || (window.crypto && crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now());
    var button = ui.composer.querySelector("button");
    button.disabled = true;
    post("messages", { body: body, client_key: pendingKey }).then(function (r) {
      button.disabled = false;
      // Refused or not delivered: the text stays in the box and the same key goes with the next try, so a
      // message that did arrive is never stored twice.
      if (!r.ok) return error(ui.list, (r.data && r.data.error) || T.error);
      pendingKey = null; ui.text.value = "";
      add(r.data.message);
      (r.data.replies || []).forEach(add);
      update({ ok: true, data: { session: session } });
    });
  }

  function typing() {
    if (!session || session.state !== "active" || Date.now() - lastTyping < 3000) return;
    lastTyping = Date.now();
    post("typing");
  }

  function markRead() {
    if (!session || session.state === "ended" || ui.panel.hidden || !lastId) return;
    clearTimeout(readTimer);
    readTimer = setTimeout(function () { post("read", { up_to: lastId }); }, 300);
  }

  function readMark() {
    if (!ui.list) return;
    var mine = ui.list.querySelectorAll("li.visitor"), last = mine[mine.length - 1];
    each(ui.list.querySelectorAll(".read"), function (node) { node.remove(); });
    if (last && +last.getAttribute("data-id") <= readUpTo) last.appendChild(el("span", { "class": "read", text: T.read }));
  }

  function leaveForm() {
    var body = el("textarea", { name: "body", rows: "3", maxlength: "2000", required: "" });
    var email = el("input", { name: "email", type: "email", maxlength: "254", value: details.email || null });
    var phone = el("input", { name: "phone", type: "tel", maxlength: "32", value: details.phone || null });
    var form = el("form", { "class": "leave", hidden: "", novalidate: "" }, [
      field(T.message, body), field(T.email, email), field(T.phone, phone),
      el("button", { type: "submit", "class": "primary", text: T.leave_send })
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      if (!email.value.trim() && !phone.value.trim()) return refused(form, { field: "email", error: T.leave_needs_contact });
      post("leave-message", { body: body.value.trim(), email: email.value.trim() || null, phone: phone.value.trim() || null })
        .then(function (r) { if (!r.ok) return refused(form, r.data); update(r); });
    });
    return form;
  }

  function transcriptForm() {
    var email = el("input", { name: "email", type: "email", maxlength: "254", value: details.email || null });
    var form = el("form", { "class": "transcript", hidden: "", novalidate: "" }, [
      field(T.transcript_email, email), el("button", { type: "submit", text: T.transcript })
    ]);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      clearErrors(form);
      post("transcript", email.value.trim() ? { email: email.value.trim() } : {}).then(function (r) {
        if (!r.ok) return refused(form, r.data);
        form.textContent = "";
        form.appendChild(el("p", { "class": "done", role: "status", text: T.transcript_sent }));
      });
    });
    return form;
  }

  // --- the stream: messages, state, typing and read receipts as they happen --------------------------

  function connect() {
    disconnect();
    stream = new EventSource(api + "stream?key=" + encodeURIComponent(key) + "&token=" + encodeURIComponent(token) + "&after=" + lastId);
    stream.onopen = function () { backoff = 1000; show(ui.status, false); };
    // Reconnect ourselves, after a growing pause, with the last id we hold: EventSource's own retry would
    // hammer a server that is down, and gives up for good on some answers (a 5xx, a wrong content type).
    // Before reconnecting, the session is read again: a chat that ended meanwhile, or a token the server no
    // longer knows, is not worth a stream.
    stream.onerror = function () {
      disconnect();
      show(ui.status, true);
      retryTimer = setTimeout(function () {
        call("GET", "session").then(function (r) {
          if (r.status === 404) return restart();
          if (r.ok) { r.data.messages.forEach(add); update(r); }
          if (session && session.state !== "ended") connect();
        });
      }, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
    on("message", function (m) { add(m); });
    on("state", function (s) { update({ ok: true, data: { session: s } }); });
    on("typing", function () {
      if (Date.now() - agentSaid < 1500) return;  // the typing that led to the message just shown
      show(ui.typing, true);
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { show(ui.typing, false); }, 4000);
    });
    on("read", function (d) { readUpTo = Math.max(readUpTo, d.up_to || 0); readMark(); });
    on("unavailable", function (d) { unavailable(d.reason); });
  }
  function on(name, handle) {
    stream.addEventListener(name, function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      handle(data);
    });
  }
  function disconnect() {
    clearTimeout(retryTimer);
    if (stream) { stream.close(); stream = null; }
  }

  // --- start: texts first (the launcher has words), then resume a chat in progress -----------------

  function start(attempt) {
    loadTexts(lang).then(function () {
      if (token) open();
      else show(ui.launcher, true);
    }, function () {
      if (attempt < 5) setTimeout(function () { start(attempt + 1); }, 2000 * (attempt + 1));
    });
  }
  function ready() { build(); show(ui.launcher, false); start(0); }
  if (document.body) ready(); else document.addEventListener("DOMContentLoaded", ready);
})();
