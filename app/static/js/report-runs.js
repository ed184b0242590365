// Keeps the status of monthly report runs current while one is queued, building or sending
// (no inline script: strict CSP). Polls the JSON endpoint named in the table's data-poll.
(function () {
  "use strict";
  var table = document.getElementById("report-runs");
  if (!table) { return; }

  function pending() {
    return table.querySelectorAll('td[data-done="false"]').length > 0;
  }

  function update(runs) {
    var finished = false;
    runs.forEach(function (run) {
      var cell = table.querySelector('td[data-run="' + run.id + '"]');
      if (!cell) { return; }
      var label = cell.querySelector(".run-status");
      label.textContent = run.label;
      label.className = "run-status status-" + run.status;
      var bar = cell.querySelector("progress");
      if (run.done) {
        if (bar) { bar.remove(); }
        if (cell.dataset.done === "false") { finished = true; }
      } else if (bar) {
        bar.value = run.progress;
      }
      cell.dataset.done = run.done ? "true" : "false";
    });
    // A run just ended: reload once to show its recipients and sending time.
    if (finished) { window.location.reload(); }
  }

  function poll() {
    if (!pending()) { return; }
    fetch(table.dataset.poll, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { update(data.runs); } })
      .finally(function () { window.setTimeout(poll, 3000); });
  }

  window.setTimeout(poll, 3000);
})();
