/* Shared helpers of the booking pages: JSON API calls with the session
 * cookie and CSRF token, money and time in the page's language, countdowns.
 * Plain ES2019, no build step. Exposed as window.T. Text goes through
 * Django's JavaScript catalogue (gettext, ngettext, interpolate: /jsi18n/,
 * loaded before this file), the page's language is <html lang>. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  /* fetch() wrapper: never throws; resolves {ok, status, data, headers}.
   * status 0 means the network failed (offline, server down). */
  function api(method, url, body, extraHeaders) {
    var headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, extraHeaders || {});
    return fetch(url, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(
      function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          return { ok: response.ok, status: response.status, data: data, headers: response.headers };
        });
      },
      function () { return { ok: false, status: 0, data: null, headers: new Headers() }; }
    );
  }

  function errorCode(result) { return result && result.data && result.data.error; }
  function errorDetail(result, fallback) {
    return (result && result.data && result.data.detail) || fallback || gettext("Something went wrong. Please try again.");
  }

  var moneyFormats = {};
  /* Integer minor units -> localized currency text (KRW has no minor unit, USD has 2). */
  function money(amount, currency) {
    try {
      if (!moneyFormats[currency]) moneyFormats[currency] = new Intl.NumberFormat(lang, { style: "currency", currency: currency });
      var fmt = moneyFormats[currency];
      var digits = fmt.resolvedOptions().maximumFractionDigits;
      return fmt.format(amount / Math.pow(10, digits));
    } catch (e) {
      return amount + " " + currency;
    }
  }

  var dateTimeFmt = new Intl.DateTimeFormat(lang, {
    weekday: "short", year: "numeric", month: "short", day: "numeric", hour: "numeric", minute: "2-digit", timeZoneName: "short",
  });
  var timeFmt = new Intl.DateTimeFormat(lang, { hour: "numeric", minute: "2-digit", second: "2-digit" });
  function dateTime(iso) { var d = new Date(iso); return isNaN(d) ? iso : dateTimeFmt.format(d); }
  function clockTime(iso) { var d = new Date(iso); return isNaN(d) ? iso : timeFmt.format(d); }

  /* Seconds -> "1:02:03", "4:05" or "0:09". */
  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var ss = (s < 10 ? "0" : "") + s;
    if (h > 0) return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss;
    return m + ":" + ss;
  }

  /* A rough human wait: "about 2 minutes", "less than a minute". */
  function roughWait(seconds) {
    if (seconds == null) return "—";
    if (seconds < 60) return gettext("less than a minute");
    var minutes = Math.round(seconds / 60);
    if (minutes < 60) return interpolate(ngettext("about %s minute", "about %s minutes", minutes), [minutes]);
    var hours = Math.round(minutes / 6) / 10;
    return interpolate(ngettext("about %s hour", "about %s hours", hours), [hours.toLocaleString(lang)]);
  }

  /* Calls render(secondsLeft) every second until the deadline, then onDone().
   * Returns a stop function. */
  function countdown(deadline, render, onDone) {
    var end = deadline instanceof Date ? deadline.getTime() : new Date(deadline).getTime();
    var timer = null;
    function tick() {
      var left = Math.ceil((end - Date.now()) / 1000);
      render(Math.max(0, left));
      if (left <= 0) {
        clearInterval(timer);
        timer = null;
        if (onDone) onDone();
      }
    }
    timer = setInterval(tick, 1000);
    tick();
    return function () { if (timer) clearInterval(timer); timer = null; };
  }

  /* Server-rendered markup carries ISO times and minor units; show them in the viewer's locale. */
  function localize(root) {
    root = root || document;
    root.querySelectorAll("time[data-local]").forEach(function (el) {
      var iso = el.getAttribute("datetime");
      el.textContent = el.dataset.local === "time" ? clockTime(iso) : dateTime(iso);
      el.title = new Date(iso).toString();
    });
    root.querySelectorAll("[data-money]").forEach(function (el) {
      el.textContent = money(Number(el.dataset.money), el.dataset.currency);
    });
    root.querySelectorAll("[data-countdown]").forEach(function (el) {
      if (el.dataset.countdownStarted) return;
      el.dataset.countdownStarted = "1";
      countdown(el.dataset.countdown, function (left) { el.textContent = duration(left); }, function () {
        if (el.dataset.countdownDone === "reload") window.setTimeout(function () { window.location.reload(); }, 1500);
        else el.textContent = gettext("now");
      });
    });
  }

  function readJson(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "class") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  /* Shows a message in a page's live region (role=status/alert in the template). */
  function say(target, kind, text) {
    var box = typeof target === "string" ? document.getElementById(target) : target;
    if (!box) return;
    box.hidden = !text;
    box.className = "notice notice-" + kind;
    box.textContent = text || "";
  }

  function seatLabel(seat) {
    return interpolate(gettext("Section %(section)s, row %(row)s, seat %(number)s"), seat, true);
  }

  window.T = {
    api: api, errorCode: errorCode, errorDetail: errorDetail, money: money, dateTime: dateTime, clockTime: clockTime,
    duration: duration, roughWait: roughWait, countdown: countdown, localize: localize, readJson: readJson, el: el,
    say: say, seatLabel: seatLabel, lang: lang,
  };

  document.addEventListener("DOMContentLoaded", function () { localize(document); });
})();
