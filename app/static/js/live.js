// Live pages (no inline script: strict CSP). Every 10 seconds while the tab is visible, one request:
// - the live queue table (table.live-queues, data-live-url) gets its counts in place;
// - a watched page (.activity-watch: data-activity-url, data-activity-cursor, the cursor it was drawn with)
//   learns whether anything it shows changed and then reveals its banner, whose words and reload link the
//   server rendered; elements marked data-activity-field get the answer's value of that name.
// The workspace and supervisor pages watch the same URL that counts their queues, so it is asked once.
(function () {
  "use strict";
  var INTERVAL = 10000;
  var table = document.querySelector("table.live-queues");
  var watch = document.querySelector(".activity-watch[data-activity-url]");
  if (!table && !watch) { return; }
  var busy = false;

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

  function showQueues(queues) {
    queues.forEach(function (queue) {
      var row = table.querySelector('tr[data-queue="' + queue.id + '"]');
      if (!row) { return; }
      row.className = "urgency-" + queue.urgency;
      row.querySelectorAll("[data-field]").forEach(function (cell) {
        var value = queue[cell.dataset.field];
        if (value === null) { cell.textContent = "\u2014"; }
        else { cell.textContent = cell.dataset.format === "duration" ? duration(value) : String(value); }
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

  function refresh() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(address(), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        if (table && data.queues) { showQueues(data.queues); }
        if (watch) { showActivity(data); }
      })
      .catch(function () { /* offline for a moment, or signed out: keep what is shown */ })
      .then(function () { busy = false; });
  }

  setInterval(refresh, INTERVAL);
  // Back to a hidden tab: catch up at once instead of waiting for the next tick.
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { refresh(); } });
})();
