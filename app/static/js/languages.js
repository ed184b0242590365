// A languages field (app/forms.py::LanguagesField; no inline script: strict CSP). When a name picked from
// the list (or typed exactly as listed) is in the box, it becomes a ticked check box beside the others and
// the box empties, ready for the next language (Enter does the same). Without JavaScript the names typed are added on saving.
(function () {
  "use strict";
  document.querySelectorAll("fieldset[data-languages-field]").forEach(function (fieldset) {
    var name = fieldset.dataset.languagesField;
    var box = fieldset.querySelector("input[list]");
    var list = box && document.getElementById(box.getAttribute("list"));
    var options = fieldset.querySelector(".language-options");
    if (!box || !list || !options) { return; }

    function codeOf(text) {
      var wanted = text.trim().toLowerCase();
      var found = null;
      Array.prototype.forEach.call(list.options, function (option) {
        if (option.value.toLowerCase() === wanted || option.dataset.code === wanted) { found = option; }
      });
      return found;
    }

    function tick(option) {
      var code = option.dataset.code;
      var existing = options.querySelector("input[value='" + CSS.escape(code) + "']");
      if (existing) { existing.checked = true; return; }
      var label = document.createElement("label");
      var input = document.createElement("input");
      input.type = "checkbox";
      input.name = name;
      input.value = code;
      input.checked = true;
      label.appendChild(input);
      label.appendChild(document.createTextNode(" " + option.value));
      options.appendChild(label);
    }

    function take() {
      var option = codeOf(box.value);
      if (!option) { return; }
      tick(option);
      box.value = "";
    }

    box.addEventListener("change", take);
    // Enter adds the language named in the box rather than sending the form; a name not in the list still
    // sends it, and the server says which name it does not know.
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && codeOf(box.value)) { event.preventDefault(); take(); }
    });
    box.addEventListener("input", function (event) {
      // A pick from the list arrives as one insertReplacementText (or no inputType at all in some browsers).
      if (!event.inputType || event.inputType === "insertReplacementText") { take(); }
    });
  });
})();
