// The nav's state menu (templates/base.html): without this script the agent picks a state and presses the
// button; with it, picking a state sends the form at once and the button is hidden. No inline script (CSP).
(function () {
  "use strict";
  var form = document.querySelector("[data-agent-state]");
  if (!form) { return; }
  var select = form.querySelector("select");
  var button = form.querySelector("button");
  if (!select || !button) { return; }
  button.classList.add("is-hidden");
  select.addEventListener("change", function () { form.submit(); });
})();
