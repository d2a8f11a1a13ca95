// The gateway sends the guest's name and email percent-encoded (UTF-8); show them
// decoded, as text.
document.querySelectorAll("[data-encoded]").forEach(function (el) {
  try {
    el.textContent = decodeURIComponent(el.getAttribute("data-encoded"));
  } catch (e) {
    el.textContent = el.getAttribute("data-encoded");
  }
});
