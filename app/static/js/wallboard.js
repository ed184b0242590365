// The supervisor's wallboard (no inline script: strict CSP). The board (#wallboard-board) is the server's:
// when the stream (data-stream-url, app/reports/wallboard_views.py) says "changed", the page asks for the board
// again (data-board-url, same page number; its HTML comes in JSON) and puts it in place. A burst of news asks
// once (one question at a time, at most one every MIN_GAP ms); while a reassign list is focused the answer waits,
// so nobody's choice is replaced under their hand. While the stream is down (EventSource reconnects by itself)
// the board is asked for every FALLBACK_INTERVAL ms, and once more when the stream is back.
// Times count on by themselves every second: waits and time in state up, time to breach down.
(function () {
  "use strict";
  var FALLBACK_INTERVAL = 30000;
  var MIN_GAP = 1000;
  var root = document.querySelector(".wallboard[data-board-url]");
  if (!root) { return; }
  var busy = false;
  var again = false;
  var waiting = null;
  var last = 0;
  var fallback = null;

  function duration(seconds) {
    var sign = seconds < 0 ? "\u2212" : "";
    var total = Math.abs(seconds);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    return sign + hours + ":" + String(minutes).padStart(2, "0") + ":" + String(secs).padStart(2, "0");
  }

  function board() { return root.querySelector("#wallboard-board"); }

  function address() {
    var url = new URL(root.dataset.boardUrl, window.location.href);
    var current = board();
    var page = current ? current.dataset.page : null;
    if (page && page !== "1") { url.searchParams.set("page", page); }
    return url.toString();
  }

  function choosing() {
    var active = document.activeElement;
    return Boolean(active && root.contains(active) && (active.tagName === "SELECT" || active.tagName === "BUTTON"));
  }

  function refresh() {
    if (document.hidden) { return; }  // a hidden tab catches up when it is shown again
    if (busy || choosing()) { again = true; return; }
    var gap = Date.now() - last;
    if (gap < MIN_GAP) {
      if (waiting === null) { waiting = setTimeout(function () { waiting = null; refresh(); }, MIN_GAP - gap); }
      return;
    }
    busy = true;
    again = false;
    last = Date.now();
    // JSON, as every live page's background request: it is no sign of the person at work (app/web.py).
    fetch(address(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data || typeof data.board !== "string") { return; }
        if (choosing()) { again = true; return; }
        var holder = document.createElement("div");
        holder.innerHTML = data.board;
        var fresh = holder.querySelector("#wallboard-board");
        var current = board();
        if (fresh && current) { current.replaceWith(fresh); }
      })
      .catch(function () { /* offline for a moment, or signed out: keep what is shown */ })
      .then(function () {
        busy = false;
        if (again) { refresh(); }
      });
  }

  function tick() {
    root.querySelectorAll("[data-count][data-seconds]").forEach(function (element) {
      var step = element.dataset.count === "down" ? -1 : 1;
      var value = Number(element.dataset.seconds) + step;
      element.dataset.seconds = String(value);
      element.textContent = duration(value);
    });
  }

  function startFallback() {
    if (fallback === null) { fallback = setInterval(refresh, FALLBACK_INTERVAL); }
  }

  function stopFallback() {
    if (fallback !== null) { clearInterval(fallback); fallback = null; }
  }

  function listen(url) {
    var source = new EventSource(url);
    source.addEventListener("changed", refresh);
    // Open (again): whatever happened before the stream listened is asked for once.
    source.addEventListener("open", function () { stopFallback(); refresh(); });
    source.addEventListener("error", function () {
      startFallback();
      // Refused for good (signed out, no longer a supervisor): EventSource gives up; the slow poll goes on.
      if (source.readyState === EventSource.CLOSED) {
        setTimeout(function () { listen(url); }, FALLBACK_INTERVAL);
      }
    });
  }

  if (root.dataset.streamUrl && window.EventSource) { listen(root.dataset.streamUrl); } else { startFallback(); }
  setInterval(tick, 1000);
  root.addEventListener("focusout", function () { if (again) { setTimeout(refresh, 0); } });
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
