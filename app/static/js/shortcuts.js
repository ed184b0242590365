// Keyboard shortcuts of the agent's desk (no inline script: strict CSP). The page declares them in its
// help list (templates/hotline/_desk.html): an element data-shortcut="<key>" binds the key to the element
// its data-shortcut-target (a CSS selector) names. A form gets its first field focused, a field is
// focused, anything else (a button) is clicked. "?" shows or hides the list, Escape hides it.
// No key does anything while the person types in a field, with Ctrl, Alt or Meta held, or when what it
// works on is not on the page (that entry is then left out of the list). The script holds no words.
(function () {
  "use strict";
  var panel = document.querySelector("[data-shortcut-help]");
  var toggles = document.querySelectorAll("[data-shortcut-help-toggle]");
  var FIELDS = "input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])";

  function typing(element) {
    if (!element || !element.tagName) { return false; }
    var tag = element.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || element.isContentEditable;
  }

  function targetOf(binding) {
    var selector = binding.dataset.shortcutTarget;
    if (!selector) { return binding; }
    try { return document.querySelector(selector); } catch (error) { return null; }
  }

  function act(target) {
    if (target.tagName.toLowerCase() === "form") {
      target = target.querySelector(FIELDS);
      if (!target) { return false; }
    }
    if (target.disabled) { return false; }
    if (typing(target)) {
      target.scrollIntoView({ block: "center" });
      target.focus();
    } else {
      target.click();
    }
    return true;
  }

  function setPanel(open) {
    if (!panel) { return; }
    panel.classList.toggle("is-hidden", !open);
    toggles.forEach(function (toggle) { toggle.setAttribute("aria-expanded", open ? "true" : "false"); });
  }

  function panelOpen() { return panel && !panel.classList.contains("is-hidden"); }

  if (panel) {
    panel.querySelectorAll("[data-shortcut-entry]").forEach(function (entry) {
      var binding = entry.querySelector("[data-shortcut]");
      if (binding && !targetOf(binding)) { entry.classList.add("is-hidden"); }
    });
  }
  toggles.forEach(function (toggle) {
    toggle.addEventListener("click", function () { setPanel(!panelOpen()); });
  });

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey || event.isComposing) { return; }
    if (typing(event.target)) { return; }
    if (event.key === "?") {
      setPanel(!panelOpen());
      event.preventDefault();
      return;
    }
    if (event.key === "Escape" && panelOpen()) {
      setPanel(false);
      return;
    }
    if (event.shiftKey || typeof event.key !== "string") { return; }
    var key = event.key.toLowerCase();  // Caps Lock gives "N" without Shift
    if (!/^[a-z]$/.test(key)) { return; }
    var bindings = document.querySelectorAll('[data-shortcut="' + key + '"]');
    for (var i = 0; i < bindings.length; i += 1) {
      var target = targetOf(bindings[i]);
      if (target && act(target)) {
        event.preventDefault();
        return;
      }
    }
  });
})();
