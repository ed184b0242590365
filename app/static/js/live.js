// Live pages (no inline script: strict CSP), pushed by the clinic's event stream (data-stream-url, served by
// app/hotline/live_views.py) instead of polled:
// - the live queue table (table.live-queues, data-live-url) gets its counts in place;
// - a watched page (.activity-watch: data-activity-url, data-activity-cursor, the cursor it was drawn with)
//   learns whether anything it shows changed and then reveals its banner, whose words and reload link the
//   server rendered; elements marked data-activity-field get the answer's value of that name.
// An event only says what changed (a contact's or a queue's id); the page then asks its own URL once, as it
// did when it polled, so the comparison of cursors stays the server's. A contact's page (data-contact-id)
// asks only about its own contact; a list asks about any. While the stream is down (EventSource reconnects
// by itself) the page asks every 60 seconds instead, and once more when the stream is back.
// Times in the queue table count on by themselves every second; a time to breach that passes its warning
// mark (data-warn-at) or zero asks the server again (the breached count and the urgency are its to say).
// The workspace and supervisor pages watch the same URL that counts their queues, so it is asked once.
(function () {
  "use strict";
  var FALLBACK_INTERVAL = 60000;
  var table = document.querySelector("table.live-queues");
  var watch = document.querySelector(".activity-watch[data-activity-url]");
  if (!table && !watch) { return; }
  var busy = false;
  var again = false;
  var fallback = null;

  function duration(seconds) {
    var sign = seconds < 0 ? "\u2212" : "";
    var total = Math.abs(seconds);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    return sign + hours + ":" + String(minutes).padStart(2, "0") + ":" + String(secs).padStart(2, "0");
  }

  function address() {
    if (!watch) { return table.dataset.liveUrl; }
    var url = new URL(watch.dataset.activityUrl, window.location.href);
    url.searchParams.set("after", watch.dataset.activityCursor);
    return url.toString();
  }

  function showDuration(cell, value) {
    if (value === null || value === undefined) {
      delete cell.dataset.seconds;
      cell.textContent = "\u2014";
    } else {
      cell.dataset.seconds = String(value);
      cell.textContent = duration(value);
    }
  }

  function showQueues(queues) {
    queues.forEach(function (queue) {
      var row = table.querySelector('tr[data-queue="' + queue.id + '"]');
      if (!row) { return; }
      row.className = "urgency-" + queue.urgency;
      row.querySelectorAll("[data-field]").forEach(function (cell) {
        var value = queue[cell.dataset.field];
        if (cell.dataset.format === "duration") { showDuration(cell, value); }
        else if (value === null) { cell.textContent = "\u2014"; }
        else { cell.textContent = String(value); }
      });
    });
  }

  function showActivity(data) {
    document.querySelectorAll("[data-activity-field]").forEach(function (element) {
      var value = data[element.dataset.activityField];
      if (value === undefined) { return; }
      element.textContent = value === null ? (element.dataset.empty || "") : String(value);
    });
    if (data.changed) {
      var banner = watch.querySelector("[data-activity-banner]");
      if (banner) { banner.classList.remove("is-hidden"); }
    }
  }

  // One question at a time; news that arrives meanwhile asks once more when the answer is in.
  function refresh() {
    if (document.hidden) { return; }  // a hidden tab catches up when it is shown again
    if (busy) { again = true; return; }
    busy = true;
    again = false;
    fetch(address(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (table && data.queues) { showQueues(data.queues); }
        if (watch) { showActivity(data); }
      })
      .catch(function () { /* offline for a moment, or signed out: keep what is shown */ })
      .then(function () {
        busy = false;
        if (again) { refresh(); }
      });
  }

  // The times count on between answers: waits grow, times to breach shrink.
  function tick() {
    if (!table) { return; }
    var crossed = false;
    table.querySelectorAll('[data-format="duration"][data-seconds]').forEach(function (cell) {
      var value = Number(cell.dataset.seconds);
      if (cell.dataset.field !== "seconds_to_first_breach") { showDuration(cell, value + 1); return; }
      var warnAt = Number(cell.dataset.warnAt || 0);
      if ((value >= warnAt && value - 1 < warnAt) || (value > 0 && value - 1 <= 0)) { crossed = true; }
      showDuration(cell, value - 1);
    });
    if (crossed) { refresh(); }
  }

  function concerns(data) {
    var contactId = watch && watch.dataset.contactId;
    if (!contactId) { return true; }
    return String(data.id) === contactId;
  }

  function startFallback() {
    if (fallback === null) { fallback = setInterval(refresh, FALLBACK_INTERVAL); }
  }

  function stopFallback() {
    if (fallback !== null) { clearInterval(fallback); fallback = null; }
  }

  function listen(url) {
    var source = new EventSource(url);
    function heard(event) {
      var data;
      try { data = JSON.parse(event.data); } catch (error) { return; }
      if (concerns(data)) { refresh(); }
    }
    // `chat` events (typing, messages of a chat) are the chat panel's (js/chat-desk.js): no cursor shows them.
    source.addEventListener("contact", heard);
    if (table || !(watch && watch.dataset.contactId)) { source.addEventListener("queue", heard); }
    // Open (again): whatever happened while the stream was away is asked for once.
    source.addEventListener("open", function () { stopFallback(); refresh(); });
    source.addEventListener("error", function () {
      startFallback();
      // Refused for good (signed out, no longer a member): EventSource gives up; the slow poll goes on.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(function () { listen(url); }, FALLBACK_INTERVAL);
      }
    });
  }

  var streamUrl = (watch && watch.dataset.streamUrl) || (table && table.dataset.streamUrl);
  if (streamUrl && window.EventSource) { listen(streamUrl); } else { startFallback(); }
  if (table) { setInterval(tick, 1000); }
  // Back to a hidden tab: catch up at once.
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
