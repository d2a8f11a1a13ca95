// The gateway sends the guest's name and email percent-encoded (UTF-8); show them
// decoded, as text.
document.querySelectorAll("[data-encoded]").forEach(function (el) {
  try {
    el.textContent = decodeURIComponent(el.getAttribute("data-encoded"));
  } catch (e) {
    el.textContent = el.getAttribute("data-encoded");
  }
});

// The chat form posts the message as text to the room's chat endpoint, which
// the demo's viewers may post to although they may only read elsewhere. The
// demo backend keeps nothing: it answers with the message and the role it
// received, shown here as text.
(function () {
  var form = document.getElementById("chat");
  if (!form) {
    return;
  }
  var lines = document.getElementById("chat-lines");
  var input = document.getElementById("chat-text");
  function add(text, cls) {
    var li = document.createElement("li");
    li.textContent = text;
    if (cls) {
      li.className = cls;
    }
    lines.appendChild(li);
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) {
      return;
    }
    fetch(form.getAttribute("data-action"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      body: text
    }).then(function (res) {
      return res.text().then(function (body) {
        if (!res.ok) {
          add("Not sent (" + res.status + ")", "error");
          return;
        }
        add("You (" + (res.headers.get("X-Demo-Role") || "?") + "): " + body);
        input.value = "";
      });
    }, function () {
      add("Not sent: the gateway did not answer", "error");
    });
  });
})();
