// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  // htmx does not swap error responses: say so instead of failing silently.
  document.addEventListener("htmx:responseError", function (event) {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const status = event.detail.xhr.status;
    const message = document.createElement("p");
    message.className = "msg msg-error";
    message.textContent = status === 403
      ? (document.documentElement.lang.startsWith("zh") ? "你的角色不允许此操作。" : "Your role does not allow this.")
      : (document.documentElement.lang.startsWith("zh") ? "请求失败（" + status + "）。" : "The request failed (" + status + ").");
    flash.replaceChildren(message);
  });

  // Keep a live output scrolled to its end, unless the reader scrolled up to read.
  let pinned = true;
  document.addEventListener("scroll", function (event) {
    const el = event.target;
    if (el instanceof Element && el.matches("pre[data-tail]")) {
      pinned = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
    }
  }, true);
  function tail() {
    document.querySelectorAll("pre[data-tail]").forEach(function (el) {
      if (pinned) el.scrollTop = el.scrollHeight;
    });
  }
  document.addEventListener("DOMContentLoaded", tail);
  document.addEventListener("htmx:afterSettle", tail);

  // Enter in a search box that filters part of a form (the chain editor) must not submit it.
  document.addEventListener("keydown", function (event) {
    const box = event.target;
    if (event.key === "Enter" && box instanceof HTMLInputElement && "noSubmit" in box.dataset) {
      event.preventDefault();
    }
  });

  // "Select all" for the bulk actions of the jobs list.
  document.addEventListener("change", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || !box.dataset.selectAll) return;
    const form = box.closest("form");
    form.querySelectorAll('input[name="' + box.dataset.selectAll + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });
})();
