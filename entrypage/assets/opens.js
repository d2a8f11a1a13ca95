// The not-yet-open page shows the opening time in the guest's own time zone and
// language, and reloads the guest link when that time comes. It counts down
// from the gateway's clock (data-wait-ms), not the guest's: a clock set wrong
// neither reloads early in a loop nor late. Elapsed time is the larger of the
// monotonic clock's and the wall clock's, so a sleeping laptop moves on when it
// wakes; timers are re-armed at least every minute for the same reason.
(function () {
  "use strict";
  var el = document.getElementById("opens-at");
  if (!el) {
    return;
  }
  var at = new Date(el.getAttribute("datetime"));
  try {
    el.textContent = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      weekday: "long", year: "numeric", month: "long", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    }).format(at);
  } catch (e) {
    // An old browser: the page keeps the time in UTC.
  }
  var wait = parseInt(el.getAttribute("data-wait-ms"), 10) || 0;
  var mono = window.performance.now();
  var wall = Date.now();
  var margin = 250; // the gateway rounds; arrive just after the opening

  function left() {
    var elapsed = Math.max(window.performance.now() - mono, Date.now() - wall);
    return wait + margin - elapsed;
  }

  function check() {
    var ms = left();
    if (ms <= 0) {
      window.location.reload();
      return;
    }
    window.setTimeout(check, Math.min(ms, 60000));
  }
  // At least a second between two loads of this page, whatever the counts say.
  window.setTimeout(check, Math.max(1000, Math.min(left(), 60000)));
})();
