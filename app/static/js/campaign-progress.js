// Refreshes the campaign's progress counters every 5 s while messages are going out.
(function () {
  const section = document.getElementById("progress");
  if (!section || !section.dataset.progressUrl) return;
  async function refresh() {
    try {
      const response = await fetch(section.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      const counts = data.counts;
      counts.replied = counts.confirmed + counts.cancelled + counts.callback + counts.answered;
      section.querySelectorAll("[data-field]").forEach((node) => {
        const key = node.dataset.field;
        if (key === "bar") { node.max = counts.total || 1; node.value = counts.done; }
        else if (key in counts) { node.textContent = counts[key]; }
      });
      // The counters appear, and the "nothing planned yet" note goes, once the first messages are planned.
      section.querySelectorAll("[data-when]").forEach((node) => {
        node.hidden = (node.dataset.when === "planned") !== (counts.total > 0);
      });
    } catch (error) { /* offline for a moment: try again next time */ }
  }
  setInterval(refresh, 5000);
})();
