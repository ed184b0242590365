// The no-show rate per month, with and without a reminder, from the JSON in data-chart (no inline script: strict CSP).
(function () {
  "use strict";
  var canvas = document.getElementById("no-show-chart");
  if (!canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(canvas.dataset.chart);
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: data.labelReminded, data: data.reminded, backgroundColor: "#0172ad" },
        { label: data.labelNotReminded, data: data.notReminded, backgroundColor: "#d1d5db" }
      ]
    },
    options: {
      animation: false,
      scales: { y: { min: 0, max: 100, title: { display: true, text: "%" } } }
    }
  });
})();
