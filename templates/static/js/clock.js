/* SLA countdowns: tick the business time left down once a second between server refreshes.
 *
 * The server renders each running clock as
 *   <span data-clock data-business-seconds="1234.5" data-ticking="1"><span class="clock-label">
 * and recomputes it (business hours, holidays, pauses) on every page load and on the HTMX
 * refresh every 30 seconds. This script only subtracts elapsed time while the server said
 * business time is passing now (data-ticking="1"), so it can never drift further than one
 * refresh. Labels follow handoff.clocks ("1h 05m left", "late by 12m"), with seconds added
 * under an hour so a person sees it move. Words in business days ("late by 33 business days")
 * need the calendar: the script leaves them to the server (data-hours="0").
 */
(function () {
  "use strict";

  function span(totalSeconds, withSeconds) {
    var s = Math.abs(Math.round(totalSeconds));
    var minutes = Math.floor(s / 60);
    var hours = Math.floor(minutes / 60);
    var mins = minutes % 60;
    if (hours) {
      return hours + "h " + String(mins).padStart(2, "0") + "m";
    }
    if (withSeconds) {
      return mins + "m " + String(s % 60).padStart(2, "0") + "s";
    }
    return mins + "m";
  }

  function label(seconds) {
    if (seconds >= 0) {
      return span(seconds, seconds < 3600) + " left";
    }
    if (seconds > -60) {
      return "overdue";
    }
    return "late by " + span(seconds, false);
  }

  function tick(clock, elapsed) {
    var left = parseFloat(clock.dataset.businessSeconds);
    if (isNaN(left)) {
      return;
    }
    if (clock.dataset.ticking === "1") {
      left -= elapsed;
      clock.dataset.businessSeconds = left.toFixed(1);
    }
    var text = clock.querySelector(".clock-label");
    if (text && clock.dataset.hours === "1") {
      text.textContent = label(left);
    }
    if (left < 0 && !clock.classList.contains("late")) {
      clock.classList.remove("ok", "at-risk");
      clock.classList.add("late");
    }
  }

  var last = Date.now();
  function tickAll() {
    var now = Date.now();
    var elapsed = (now - last) / 1000;
    last = now;
    document.querySelectorAll("[data-clock]").forEach(function (clock) {
      tick(clock, elapsed);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tickAll();
    window.setInterval(tickAll, 1000);
  });
  // Freshly swapped clocks (HTMX refresh) start from the server's value: nothing to reset, the
  // next tick subtracts only the time since the previous tick.
})();
