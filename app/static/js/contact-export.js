// Keeps a per-contact export's page current while its job writes the file, then shows the download link
// (no inline script: strict CSP). Polls the JSON endpoint named in data-poll.
(function () {
  "use strict";
  var box = document.getElementById("contact-export");
  if (!box) { return; }

  function update(data) {
    var label = box.querySelector(".export-status");
    label.textContent = data.label;
    label.className = "export-status status-" + data.status;
    var bar = box.querySelector("progress");
    bar.value = data.progress;
    bar.hidden = data.done;
    var link = box.querySelector(".export-download");
    if (data.download) {
      link.href = data.download;
      link.hidden = false;
    }
    box.dataset.done = data.done ? "true" : "false";
  }

  function poll() {
    if (box.dataset.done === "true") { return; }
    fetch(box.dataset.poll, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { update(data); } })
      .finally(function () { window.setTimeout(poll, 2000); });
  }

  window.setTimeout(poll, 2000);
})();
