// fluxq dashboard: live updates. A page whose <body> has data-refresh="ms" is
// fetched again every that many ms (at least 1000) while visible, and each element
// with data-live and an id is replaced by its new version when it changed. Pages read
// the same without this script; it only saves the reload.
(function () {
  "use strict";
  var body = document.body;
  var every = Math.max(1000, parseInt(body.getAttribute("data-refresh") || "0", 10));
  if (!body.hasAttribute("data-refresh")) return;
  var busy = false;
  function tick() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(location.href, { credentials: "same-origin", headers: { "X-Fluxq-Live": "1" } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var doc = new DOMParser().parseFromString(text, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var fresh = doc.getElementById(el.id);
          if (fresh && fresh.outerHTML !== el.outerHTML) el.replaceWith(document.importNode(fresh, true));
        });
        if (!doc.body.hasAttribute("data-refresh")) { clearInterval(timer); body.removeAttribute("data-refresh"); }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }
  var timer = setInterval(tick, every);
})();
