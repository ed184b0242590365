// The combined queue: re-reads the per-clinic counts every 15 seconds while the page is visible.
(function () {
  "use strict";
  var table = document.getElementById("pool-clinics");
  if (!table) { return; }
  var url = table.getAttribute("data-summary-url");
  var numbers = new Intl.NumberFormat(document.documentElement.lang || undefined);

  function refresh() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        data.clinics.forEach(function (clinic) {
          var cell = table.querySelector('tr[data-clinic="' + clinic.id + '"] [data-field="waiting"]');
          if (cell) { cell.textContent = numbers.format(clinic.waiting); }
        });
      })
      .catch(function () { /* offline for a moment: the next round tries again */ });
  }

  window.setInterval(refresh, 15000);
})();
