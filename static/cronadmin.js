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

// Live pages: #live-watch asks the server every 2 s whether what the page shows changed, and the
// regions showing a changed topic fetch themselves (see jobs/views/live.py).
(function () {
  "use strict";

  // A refresher fetches the page at its current address: filters may have changed it since.
  document.addEventListener("htmx:configRequest", function (event) {
    if (event.detail.elt.hasAttribute("data-live-refresh")) {
      event.detail.path = window.location.pathname + window.location.search;
    }
  });

  // Never redraw a region under the reader's hands: an open menu, a form being filled in.
  function busyWith(region) {
    if (!region) return false;
    const active = document.activeElement;
    if (active && active !== document.body && region.contains(active) &&
        active.matches("input:not([type=checkbox]), textarea, select")) return true;
    return region.querySelector("details[open], dialog[open]") !== null;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    const elt = event.detail.elt;
    const trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    const live = trigger && typeof trigger.type === "string" && trigger.type.startsWith("live-");
    if (!live) return;
    const regions = elt.hasAttribute("data-live-refresh")
      ? (elt.getAttribute("hx-select-oob") || "").split(",").map(function (id) {
          return document.querySelector(id.split(":")[0].trim());
        })
      : [elt];
    if (regions.some(busyWith)) event.preventDefault();
  });

  // Ticked boxes (the jobs list's selection) survive a redraw.
  let ticked = null;
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    const old = event.detail.target;
    ticked = old ? Array.from(old.querySelectorAll("input[type=checkbox][name]:checked"))
      .map(function (box) { return box.name + "=" + box.value; }) : null;
  });
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (!ticked || !ticked.length) return;
    const region = document.getElementById(event.detail.target.id) || event.detail.target;
    region.querySelectorAll("input[type=checkbox][name]").forEach(function (box) {
      if (ticked.indexOf(box.name + "=" + box.value) !== -1) box.checked = true;
    });
    ticked = null;
  });

  // A tab in the background is polled rarely by the browser: ask at once on coming back.
  document.addEventListener("visibilitychange", function () {
    const watch = document.getElementById("live-watch");
    if (document.visibilityState === "visible" && watch && window.htmx) {
      window.htmx.trigger(watch, "live-poll");
    }
  });

  // Countdowns ("in 12 s", "3 minutes ago") keep counting, in the page's language, on the
  // server's clock.
  let words = null;
  let skew = 0;
  function loadWords() {
    const data = document.getElementById("ago-words");
    if (!data) return;
    words = JSON.parse(data.textContent);
    skew = Date.parse(words.now) - Date.now();
  }
  function unit(name, n) {
    const forms = words.units[name];
    return (n === 1 ? forms[0] : forms[1]).replace("{n}", String(n));
  }
  function agoText(seconds) {
    if (seconds >= 0 && seconds < 60) {
      return words.inSeconds.replace("{n}", String(Math.max(1, Math.round(seconds))));
    }
    if (seconds < 0 && seconds > -60) {
      return words.secondsAgo.replace("{n}", String(Math.round(-seconds)));
    }
    const span = Math.abs(seconds);
    let text;
    if (span < 3600) text = unit("minute", Math.floor(span / 60));
    else if (span < 86400) text = unit("hour", Math.floor(span / 3600));
    else if (span < 7 * 86400) text = unit("day", Math.floor(span / 86400));
    else return null;  // weeks and months: the server's words stay true long enough
    return (seconds > 0 ? words.in : words.ago).replace("{t}", text);
  }
  function tick() {
    if (!words) return;
    const now = Date.now() + skew;
    document.querySelectorAll("time[data-ago]").forEach(function (el) {
      const text = agoText((Date.parse(el.getAttribute("datetime")) - now) / 1000);
      if (text !== null && el.textContent !== text) el.textContent = text;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    loadWords();
    window.setInterval(tick, 1000);
  });
})();

// The header's menu at phone width, and copy buttons.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    const button = document.querySelector(".menu-button");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      const open = button.closest(".top").classList.toggle("open");
      button.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });

  // Typing a date in the pause menu means "until a date and time".
  document.addEventListener("input", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== "datetime-local") return;
    const at = box.form && box.form.querySelector('input[type=radio][name=length][value=at]');
    if (at) at.checked = true;
  });

  document.addEventListener("click", function (event) {
    const button = event.target instanceof Element && event.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const done = function () { button.textContent = button.dataset.copied || button.textContent; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent.trim()).then(done);
      return;
    }
    // Plain HTTP: select the text, so one Ctrl+C copies it.
    const range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  });
})();

// A first visit: offer the browser's time zone when it is not the one the pages use.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    const offer = document.getElementById("zone-offer");
    if (!offer || !window.Intl) return;
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (!zone || zone === offer.dataset.current) return;
    offer.querySelectorAll("[data-browser-zone]").forEach(function (el) { el.textContent = zone; });
    offer.querySelector("[data-browser-zone-value]").value = zone;
    offer.hidden = false;
  });
})();
