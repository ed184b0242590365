// Canned answers above the reply box (templates/hotline/_answers.html): "Insert into the reply" puts the
// answer's text at the cursor of #reply-body. No inline script (strict CSP); without JavaScript the buttons
// stay hidden and each answer is read and copied from its <details>.
(function () {
  "use strict";
  var reply = document.getElementById("reply-body");
  var buttons = document.querySelectorAll(".insert-answer[data-answer-for]");
  if (!reply || !buttons.length) { return; }

  // Until the agent has placed the cursor in the reply box, an answer goes after what is written there.
  var placed = false;
  reply.addEventListener("focus", function () { placed = true; });

  function insert(text) {
    var start = reply.selectionStart, end = reply.selectionEnd;
    if (!placed || typeof start !== "number") { start = end = reply.value.length; }
    reply.focus();
    reply.setRangeText(text, start, end, "end");
    // Listeners of the reply box (drafts, counters) learn of the change as if typed.
    reply.dispatchEvent(new Event("input", { bubbles: true }));
  }

  buttons.forEach(function (button) {
    var source = document.getElementById(button.dataset.answerFor);
    if (!source) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      insert(source.textContent);
      var details = button.closest("details");
      if (details) { details.open = false; }
    });
  });
})();
