// The chat on a chat contact's page (no inline script: strict CSP). Everything it needs is on
// article#chat-desk as data- attributes the server rendered (URLs, the CSRF token, translated words):
// - the panel (chat_desk.panel, an HTML fragment) is fetched into #chat-panel-slot, and fetched again
//   whenever the staff stream says this chat has news (`chat` events {contact_id, what}: message, read,
//   left, ended); the desk then marks the chat read up to the newest message shown (data-last-id);
// - `typing` from the patient shows the typing line for 4 seconds;
// - the reply box sends with fetch (JSON, the token in X-CSRFToken): Enter sends, Shift+Enter is a new
//   line; the agent's own typing is announced at most every 3 seconds while they type.
// The stream is GET /t/<slug>/live/stream (server-sent events); EventSource reconnects by itself. Should it
// be unavailable, the panel is re-fetched every 15 seconds instead.
(function () {
  "use strict";
  var desk = document.getElementById("chat-desk");
  if (!desk) { return; }
  var slot = document.getElementById("chat-panel-slot");
  var typingLine = desk.querySelector("[data-chat-typing]");
  var form = document.getElementById("chat-reply-form");
  var box = document.getElementById("chat-reply-body");
  var errorLine = desk.querySelector("[data-chat-error]");
  var contactId = Number(desk.dataset.contactId);
  var TYPING_SHOWN_MS = 4000;
  var TYPING_SENT_EVERY_MS = 3000;
  var FALLBACK_POLL_MS = 15000;
  var typingTimer = null;
  var lastTypingSent = 0;
  var loading = false;
  var again = false;
  var fallback = null;

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": desk.dataset.csrfToken },
      body: JSON.stringify(data || {})
    });
  }

  function markRead() {
    var panel = document.getElementById("chat-panel");
    var last = panel ? Number(panel.dataset.lastId) : 0;
    if (last > 0 && form) { post(desk.dataset.readUrl, { up_to: last }); }
  }

  function scrollToEnd() {
    var list = document.getElementById("chat-transcript");
    if (list) { list.scrollTop = list.scrollHeight; }
  }

  function load() {
    if (loading) { again = true; return; }
    loading = true;
    fetch(desk.dataset.panelUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html !== null) {
          slot.innerHTML = html;  // rendered and escaped by the server
          scrollToEnd();
          if (document.visibilityState === "visible") { markRead(); }
        }
      })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () {
        loading = false;
        if (again) { again = false; load(); }
      });
  }

  function showTyping() {
    typingLine.classList.remove("is-hidden");
    clearTimeout(typingTimer);
    typingTimer = setTimeout(function () { typingLine.classList.add("is-hidden"); }, TYPING_SHOWN_MS);
  }

  function onChat(event) {
    var data;
    try { data = JSON.parse(event.data); } catch (e) { return; }
    if (!data || Number(data.contact_id) !== contactId) { return; }
    if (data.what === "typing") { showTyping(); return; }
    if (data.what === "message") { typingLine.classList.add("is-hidden"); }
    load();
  }

  function listen() {
    if (!window.EventSource) { fallback = setInterval(load, FALLBACK_POLL_MS); return; }
    var stream = new EventSource(desk.dataset.streamUrl);
    stream.addEventListener("chat", onChat);
    stream.addEventListener("open", function () {
      if (fallback) { clearInterval(fallback); fallback = null; }
      load();  // whatever happened while the stream was away
    });
    stream.addEventListener("error", function () {
      if (!fallback) { fallback = setInterval(load, FALLBACK_POLL_MS); }
    });
  }

  function newKey() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function send() {
    var body = box.value;
    if (!body.trim()) { return; }
    var key = form.dataset.pendingKey || newKey();
    form.dataset.pendingKey = key;  // a retry of the same text is stored once
    errorLine.classList.add("is-hidden");
    post(desk.dataset.replyUrl, { body: body, client_key: key })
      .then(function (response) {
        return response.json().then(function (answer) { return { ok: response.ok, answer: answer }; });
      })
      .then(function (result) {
        if (!result.ok) {
          errorLine.textContent = result.answer.error || desk.dataset.failedLabel;
          errorLine.classList.remove("is-hidden");
          return;
        }
        delete form.dataset.pendingKey;
        box.value = "";
        load();
      })
      .catch(function () {
        errorLine.textContent = desk.dataset.failedLabel;
        errorLine.classList.remove("is-hidden");
      });
  }

  if (form) {
    form.addEventListener("submit", function (event) { event.preventDefault(); send(); });
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    box.addEventListener("input", function () {
      delete form.dataset.pendingKey;  // another text: another message
      var now = Date.now();
      if (box.value && now - lastTypingSent > TYPING_SENT_EVERY_MS) {
        lastTypingSent = now;
        post(desk.dataset.typingUrl);
      }
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { markRead(); }
  });
  load();
  listen();
}());
