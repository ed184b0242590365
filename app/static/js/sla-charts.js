// Draws the dashboard's trend chart from the JSON in its data-chart attribute (no inline script: strict CSP).
(function () {
  "use strict";
  var canvas = document.getElementById("sla-trend");
  if (!canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(canvas.dataset.chart);
  var datasets = [
    { type: "line", label: data.labelServiceLevel, data: data.serviceLevel, yAxisID: "percent", spanGaps: false,
      borderColor: "#0172ad", backgroundColor: "#0172ad" },
    { type: "bar", label: data.labelOffered, data: data.offered, yAxisID: "count", backgroundColor: "#d1d5db" }
  ];
  // Each service level target in force: a dashed line across the whole period, named in the legend.
  (data.targets || []).forEach(function (target, index) {
    datasets.push({
      type: "line", label: data.targetLabels[index], yAxisID: "percent",
      data: data.labels.map(function () { return target; }),
      borderColor: "#b91c1c", backgroundColor: "#b91c1c", borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0
    });
  });
  new Chart(canvas, {
    data: { labels: data.labels, datasets: datasets },
    options: {
      animation: false,
      scales: {
        percent: { position: "left", min: 0, max: 100, title: { display: true, text: "%" } },
        count: { position: "right", beginAtZero: true, ticks: { precision: 0 }, grid: { drawOnChartArea: false } }
      }
    }
  });
})();

// The staffing curve: scheduled agents per hour, one line per weekday.
(function () {
  "use strict";
  var canvas = document.getElementById("staffing-curve");
  if (!canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(canvas.dataset.chart);
  new Chart(canvas, {
    type: "line",
    data: { labels: data.labels, datasets: data.datasets },
    options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
