// Overview auto-refresh: every N seconds fetch the live fragment and swap it in place, so the
// page never reloads and the scroll position stays where the instructor left it.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var url = live.getAttribute("data-live-url");
  var seconds = parseInt(live.getAttribute("data-refresh-seconds"), 10) || 15;
  var stamp = document.getElementById("last-refreshed");
  var failure = document.getElementById("refresh-error");

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) {
        // Logged out meanwhile: the fragment URL redirected to the login form. Reload, so
        // the whole page goes to the login instead of a form inside the overview.
        if (response.redirected) { window.location.reload(); throw new Error("logged out"); }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var x = window.scrollX, y = window.scrollY;
        live.innerHTML = html;
        window.scrollTo(x, y);
        var now = new Date();
        stamp.textContent = pad(now.getHours()) + ":" + pad(now.getMinutes()) + ":" + pad(now.getSeconds());
        stamp.setAttribute("datetime", now.toISOString());
        failure.hidden = true;
      })
      .catch(function () { failure.hidden = false; })
      .finally(function () { window.setTimeout(refresh, seconds * 1000); });
  }

  window.setTimeout(refresh, seconds * 1000);
})();
