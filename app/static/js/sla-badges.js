// Counts SLA badges down once a second between reloads (no inline script: strict CSP).
// Wall-clock seconds: the server's figure is business time and is exact again on the next reload.
(function () {
  "use strict";
  var badges = document.querySelectorAll(".sla-badge[data-sla-seconds]");
  if (!badges.length) { return; }
  function duration(seconds) {
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var secs = seconds % 60;
    return hours + ":" + String(minutes).padStart(2, "0") + ":" + String(secs).padStart(2, "0");
  }
  function tick() {
    badges.forEach(function (badge) {
      var left = parseInt(badge.dataset.slaSeconds, 10) - 1;
      if (isNaN(left)) { return; }
      badge.dataset.slaSeconds = String(left);
      if (left < 0) {
        badge.classList.remove("sla-ok", "sla-warning");
        badge.classList.add("sla-breached");
        badge.textContent = badge.dataset.overdueText.replace("{time}", duration(-left));
      } else {
        badge.textContent = badge.dataset.dueText.replace("{time}", duration(left));
      }
    });
  }
  setInterval(tick, 1000);
})();
