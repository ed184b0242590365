// A clinic's place (no inline script: strict CSP). When the country changes, the form asks the server
// (data-places-url, app/tenants/views.py `places.country`) for that country's regions and time zones: the
// region list becomes the country's, and the time zone is set to the suggested one unless the one chosen
// is already a zone of that country. Without JavaScript the form still works: the server checks that the
// region belongs to the country and says so in words.
(function () {
  "use strict";
  var form = document.querySelector("form[data-places-url]");
  if (!form) { return; }
  var country = form.querySelector("select[name=country_code]");
  var region = form.querySelector("select[name=subdivision]");
  var zone = form.querySelector("select[name=time_zone]");
  if (!country || !region || !zone) { return; }

  function showRegions(regions) {
    var whole = region.options[0];  // "Whole country", in the reader's language, rendered by the server
    region.replaceChildren(whole);
    regions.forEach(function (pair) {
      region.appendChild(new Option(pair[1] + " (" + pair[0] + ")", pair[0]));
    });
    region.value = "";
  }

  function suggestZone(zones, suggested) {
    if (zones.indexOf(zone.value) !== -1) { return; }
    if (suggested) { zone.value = suggested; } else if (zones.length) { zone.value = zones[0]; }
  }

  country.addEventListener("change", function () {
    var url = form.dataset.placesUrl.replace("/XX", "/" + encodeURIComponent(country.value));
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        showRegions(data.regions);
        suggestZone(data.time_zones, data.suggested_time_zone);
      })
      .catch(function () { /* offline for a moment: the server checks what is sent */ });
  });
})();
