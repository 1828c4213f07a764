/* The navigation's counts ("what needs me now"), kept fresh by the pages' own HTMX refreshes.
 *
 * Every HTMX refresh answers an `HX-Trigger: {"navCounts": {"rep_new": 3, ...}}` header
 * (feedback.nav.NavCountsMiddleware); htmx fires it as a `navCounts` event, and this writes each
 * number into its badge (<span data-nav-count="rep_new">). No request of its own.
 */
(function () {
  "use strict";
  document.addEventListener("navCounts", function (event) {
    var counts = event.detail || {};
    document.querySelectorAll("[data-nav-count]").forEach(function (badge) {
      var key = badge.getAttribute("data-nav-count");
      if (!Object.prototype.hasOwnProperty.call(counts, key)) {
        return;
      }
      var n = Number(counts[key]) || 0;
      var label = badge.getAttribute("data-label") || "";
      badge.innerHTML = "";
      var before = document.createElement("span");
      before.className = "sr-only";
      before.textContent = ": ";
      var after = document.createElement("span");
      after.className = "sr-only";
      after.textContent = " " + label;
      badge.append(before, String(n), after);
      badge.title = n + " " + label;
      badge.classList.toggle("zero", n === 0);
    });
  });
})();
