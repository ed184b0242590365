// Refreshes the live queue table every 10 seconds from its JSON endpoint (no inline script: strict CSP).
(function () {
  "use strict";
  var table = document.querySelector("table.live-queues");
  if (!table) { return; }
  function duration(seconds) {
    var sign = seconds < 0 ? "\u2212" : "";
    var total = Math.abs(seconds);
    var hours = Math.floor(total / 3600);
    var minutes = Math.floor((total % 3600) / 60);
    var secs = total % 60;
    return sign + hours + ":" + String(minutes).padStart(2, "0") + ":" + String(secs).padStart(2, "0");
  }
  function refresh() {
    fetch(table.dataset.liveUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        data.queues.forEach(function (queue) {
          var row = table.querySelector('tr[data-queue="' + queue.id + '"]');
          if (!row) { return; }
          row.className = "urgency-" + queue.urgency;
          row.querySelectorAll("[data-field]").forEach(function (cell) {
            var value = queue[cell.dataset.field];
            if (value === null) { cell.textContent = "\u2014"; }
            else { cell.textContent = cell.dataset.format === "duration" ? duration(value) : String(value); }
          });
        });
      })
      .catch(function () { /* offline for a moment: keep the last figures */ });
  }
  setInterval(refresh, 10000);
})();
