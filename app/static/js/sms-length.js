// The SMS length of a message as one types (no inline script: strict CSP): characters, SMS parts and
// encoding, counted as app/campaigns/sms_length.py counts them (that module is the rule; keep the two alike).
// The element [data-sms-length=<field name>] carries the translated pattern with {characters}, {parts} and
// {encoding} to fill in.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENSION = "^{}\\[~]|€\f";
  var LIMITS = { "GSM-7": [160, 153], "UCS-2": [70, 67] };

  function measure(text) {
    var chars = Array.from(text);  // code points, as Python counts characters
    var gsm = chars.every(function (c) { return BASIC.indexOf(c) !== -1 || EXTENSION.indexOf(c) !== -1; });
    var encoding = gsm ? "GSM-7" : "UCS-2";
    var units = chars.map(function (c) {
      if (gsm) { return EXTENSION.indexOf(c) !== -1 ? 2 : 1; }
      return c.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var total = units.reduce(function (a, b) { return a + b; }, 0);
    var parts = total ? 1 : 0;
    if (total > LIMITS[encoding][0]) {
      var used = 0;
      units.forEach(function (size) {
        if (used + size > LIMITS[encoding][1]) { parts += 1; used = 0; }
        used += size;
      });
    }
    return { characters: chars.length, parts: parts, encoding: encoding };
  }

  document.querySelectorAll("[data-sms-length]").forEach(function (output) {
    var field = document.querySelector("textarea[name=" + output.dataset.smsLength + "]");
    if (!field) { return; }
    function show() {
      var length = measure(field.value);
      output.textContent = output.dataset.pattern
        .replace("{characters}", String(length.characters))
        .replace("{parts}", String(length.parts))
        .replace("{encoding}", length.encoding);
    }
    field.addEventListener("input", show);
  });
})();
