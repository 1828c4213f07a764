/* Polling that waits while the person is using the rows: an element marked
 * data-poll-unless-focused skips its HTMX refresh while focus is inside it (a form being
 * filled in would otherwise be replaced under the cursor). htmx's own trigger filter
 * (`every 30s [expression]`) evaluates a string as code, which the Content-Security-Policy
 * forbids, so the check lives here.
 */
(function () {
  "use strict";
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.elt;
    if (elt && elt.hasAttribute("data-poll-unless-focused") && elt.contains(document.activeElement)) {
      event.preventDefault();
    }
  });
})();
