// The lobby page asks for the guest's state with a long poll: the server answers as
// soon as a moderator decides or changes the lobby message, or after about 25 s.
// Requests are at least 2 s apart. The message is set as text, never as markup.
(function () {
  "use strict";
  var url = document.body.getAttribute("data-status-url");
  var minGap = 2000;
  var last = 0;
  var box = document.getElementById("lobby-message");
  var text = document.getElementById("lobby-message-text");

  function showMessage(m) {
    if (!box || !text) {
      return;
    }
    m = m || "";
    if (text.textContent !== m) {
      text.textContent = m;
    }
    box.hidden = m === "";
  }

  function later(ms) {
    window.setTimeout(poll, Math.max(ms, minGap - (Date.now() - last)));
  }

  function poll() {
    last = Date.now();
    window.fetch(url + "?wait=25", {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    }).then(function (res) {
      if (res.status >= 500) {
        // The gateway is restarting or busy: ask again a little later.
        later(5000);
        return null;
      }
      if (!res.ok) {
        // No session any more, removed, or declined: the page itself says why.
        window.location.reload();
        return null;
      }
      return res.json();
    }).then(function (s) {
      if (!s) {
        return;
      }
      if (s.state === "admitted" && s.next) {
        window.location.replace(s.next);
      } else if (s.state === "waiting") {
        showMessage(s.message);
        later(0);
      } else {
        window.location.reload();
      }
    }).catch(function () {
      later(5000);
    });
  }

  poll();
})();
