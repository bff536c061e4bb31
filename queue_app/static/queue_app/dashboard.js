/* The organizer's live dashboard (Django admin, one event).
 * Polls one JSON read every second (the server shares it between viewers)
 * and draws the figures and small SVG charts; the buttons call the admin's
 * pause / resume / close. Plain ES2019, no build step, nothing from another
 * host; uses the booking pages' helpers (window.T, web/js/common.js). */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_BACKOFF_MS = 5000;
  var SAMPLES = 120; /* the sparklines: two minutes of polls */
  var SVG = "http://www.w3.org/2000/svg";
  var STATUS_WORDS = { scheduled: "Scheduled", on_sale: "On sale", paused: "Paused", sold_out: "Sold out", closed: "Closed" };

  var root = document.getElementById("dashboard");
  if (!root) return;
  var figuresUrl = root.dataset.figuresUrl;
  var currency = root.dataset.currency;
  var minutes = Number(root.dataset.minutes);
  var samples = [];
  var failures = 0;
  var timer = null;
  var numberFmt = new Intl.NumberFormat();

  function pick(data, path) {
    return path.split(".").reduce(function (value, key) { return value == null ? value : value[key]; }, data);
  }

  function show(value, format) {
    if (value == null) return "—";
    if (format === "money") return T.money(value, currency);
    if (format === "text") return String(value);
    return numberFmt.format(value);
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) {
      var title = document.createElementNS(SVG, "title");
      title.textContent = text;
      node.appendChild(title);
    }
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function minuteLabel(iso) {
    return new Date(iso).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }

  /* Per-minute bars; the current (partial) minute is the last bar. */
  function bars(id, values, starts) {
    var chart = document.getElementById(id);
    var width = 300, height = 80;
    var peak = Math.max.apply(null, values);
    var top = Math.max(1, peak);
    var step = width / values.length;
    clear(chart);
    values.forEach(function (value, i) {
      var h = value ? Math.max(1, (value / top) * (height - 2)) : 0;
      chart.appendChild(svg("rect", {
        x: (i * step + step * 0.1).toFixed(2), y: (height - h).toFixed(2),
        width: (step * 0.8).toFixed(2), height: h.toFixed(2), "data-value": value,
      }, minuteLabel(starts[i]) + ": " + numberFmt.format(value)));
    });
    var axis = root.querySelector('[data-axis="' + id + '"]');
    axis.textContent = minuteLabel(starts[0]) + " – " + minuteLabel(starts[starts.length - 1]) + " · peak " + numberFmt.format(peak);
  }

  function sparkline(id, key) {
    var chart = document.getElementById(id);
    var values = samples.map(function (s) { return s[key]; });
    clear(chart);
    if (values.length < 2) return;
    var top = Math.max(1, Math.max.apply(null, values));
    var slots = Math.max(30, values.length); /* the first half minute fills the width too */
    var step = 120 / (slots - 1);
    var offset = (slots - values.length) * step;
    var points = values.map(function (v, i) {
      return (offset + i * step).toFixed(1) + "," + (29 - (v / top) * 28).toFixed(1);
    }).join(" ");
    chart.appendChild(svg("polyline", { points: points, fill: "none" }, "Last two minutes, peak " + numberFmt.format(top)));
  }

  function seatBar(seats) {
    var chart = document.getElementById("seat-bar");
    var total = Math.max(1, seats.total);
    var x = 0;
    clear(chart);
    [["sold", seats.sold], ["held", seats.held], ["available", seats.available]].forEach(function (part) {
      var w = (part[1] / total) * 300;
      chart.appendChild(svg("rect", { x: x.toFixed(2), y: 0, width: w.toFixed(2), height: 14, class: "dash-" + part[0] },
        part[0] + ": " + numberFmt.format(part[1])));
      x += w;
    });
  }

  function rounds(list) {
    var body = document.getElementById("dash-rounds");
    if (!list.length) return;
    clear(body);
    list.forEach(function (r) {
      var cells = [r.round, T.clockTime(r.at), r.admitted, r.lapsed + (r.absent ? " (" + r.absent + " never came)" : ""),
        r.waiting, r.admitted_now, r.batch, r.reason];
      body.appendChild(T.el("tr", {}, cells.map(function (c) { return T.el("td", { text: show(c, "text") }); })));
    });
  }

  function controls(organizerStatus) {
    var box = document.getElementById("dash-controls");
    if (!box) return;
    box.querySelectorAll("button[data-action]").forEach(function (button) {
      var action = button.dataset.action;
      button.disabled = box.dataset.busy === "1" ||
        (action === "pause" && organizerStatus !== "on_sale") ||
        (action === "resume" && organizerStatus === "on_sale") ||
        (action === "close" && organizerStatus === "closed");
    });
  }

  function render(data) {
    root.querySelectorAll("[data-figure]").forEach(function (node) {
      node.textContent = show(pick(data, node.dataset.figure), node.dataset.format);
    });
    var badge = document.getElementById("dash-status");
    badge.dataset.status = data.event.status;
    badge.textContent = STATUS_WORDS[data.event.status] || data.event.status;
    samples.push({ waiting: data.queue.waiting, admitted: data.queue.admitted });
    if (samples.length > SAMPLES) samples.shift();
    sparkline("spark-waiting", "waiting");
    sparkline("spark-admitted", "admitted");
    seatBar(data.seats);
    bars("bars-admitted", data.series.admitted, data.series.minutes);
    bars("bars-checkouts", data.series.checkouts, data.series.minutes);
    bars("bars-failures", data.series.payment_failures, data.series.minutes);
    rounds(data.rounds);
    controls(data.event.organizer_status);
    document.getElementById("dash-updated").textContent = "Live · updated " + T.clockTime(data.at);
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    timer = window.setTimeout(poll, delay);
  }

  function poll() {
    T.api("GET", figuresUrl + "?minutes=" + minutes).then(function (result) {
      var updated = document.getElementById("dash-updated");
      if (result.ok && result.data && result.data.event) {
        failures = 0;
        render(result.data);
        root.classList.remove("dash-stale");
      } else {
        failures += 1;
        root.classList.add("dash-stale");
        /* The admin's login page after a lapsed session is HTML, not JSON. */
        updated.textContent = result.ok || result.status === 403
          ? "Not signed in as staff any more: reload the page."
          : "Reconnecting… (figures may be stale)";
      }
      schedule(failures ? Math.min(MAX_BACKOFF_MS, POLL_MS * Math.pow(2, failures)) : POLL_MS);
    });
  }

  function act(button) {
    if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
    var box = document.getElementById("dash-controls");
    box.dataset.busy = "1";
    controls("");
    T.api("POST", button.dataset.url).then(function (result) {
      box.dataset.busy = "";
      if (result.ok && result.data) {
        var word = { pause: "paused", resume: "resumed", close: "closed" }[button.dataset.action];
        T.say("dash-message", "success", result.data.changed ? "Sale " + word + "." : "The sale was already " + word + ".");
      } else {
        T.say("dash-message", "error", T.errorDetail(result, "That did not work; try again."));
      }
      poll();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("dash-controls");
    if (box) {
      box.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-action]");
        if (button && !button.disabled) act(button);
      });
    }
    document.getElementById("dash-minutes").addEventListener("change", function (event) {
      minutes = Number(event.target.value);
      poll();
    });
    poll();
  });
})();
