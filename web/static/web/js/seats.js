/* The seat map: drawn once from the layout (GET .../seats/layout/, cached)
 * and the status snapshot (GET .../seats/status/), then re-coloured from
 * the seats that changed, as the page's socket (/ws/events/{id}/seats/)
 * pushes them (or ?since= when it cannot), and every few seconds while the
 * socket is down, so seats others take turn grey without a reload. Selection up to the per-person limit, best-available
 * picker, hold with a countdown, and the admission's time left. */
(function () {
  "use strict";
  var cfg = T.readJson("seats-config");
  var ev = cfg.event;
  var $ = function (id) { return document.getElementById(id); };
  var holdKey = "hold:" + ev.id;
  // Only the changes are read; the socket says when. Without it, ask every 2 s
  // (5 s for stadiums, so thousands of shoppers do not swamp the API).
  var POLL_MS = ev.seats_total > 5000 ? 5000 : 2000;
  var layout = null;     // seat ids in layout order (the status string's order)
  var version = null;    // the status version the map shows
  var socket = null;
  var socketUp = false;
  var pending = false;   // a status read is running: a push meanwhile asks again after it
  var again = false;

  var gradeIndex = {};
  ev.price_tiers.forEach(function (tier, i) { gradeIndex[tier.grade] = i % 8; });

  var seats = {};        // id -> seat (latest from the API)
  var buttons = {};      // id -> button
  var grid = [];         // rows of buttons, top to bottom, for arrow-key moves
  var selected = [];     // seat ids, in click order
  var hold = null;       // the person's active hold on this page, if any
  var stopHoldTimer = null;
  var busy = false;
  var pollTimer = null;

  function message(kind, text) { T.say("seats-message", kind, text); }

  function seatText(seat) {
    return interpolate(gettext("%(seat)s, grade %(grade)s, %(price)s"), {
      seat: T.seatLabel(seat), grade: seat.grade, price: T.money(seat.price, ev.currency),
    }, true);
  }

  function mineIds() { return hold ? hold.seats.map(function (s) { return s.id; }) : []; }

  // Past this many seats the map opens on an overview of its sections and
  // draws one section's seats at a time: a stadium's 50,000 seat buttons at
  // once took Chromium 1.5 s and ran off the panel.
  var LARGE_MAP = 5000;
  var large = ev.seats_total > LARGE_MAP;
  var openSection = null;   // the section drawn, on a large map
  var drawn = false;        // the map (or the overview) is on the page
  var overview = {};        // section name -> its overview button's count element

  /* The sections of a large map, each with its grade, price and free seats (kept live by paint). */
  function drawOverview(list) {
    var map = $("seatmap");
    map.textContent = "";
    buttons = {};
    grid = [];
    widestRow = 0;
    openSection = null;
    overview = {};
    var names = [], info = {};
    list.forEach(function (seat) {
      if (!info[seat.section]) { info[seat.section] = { grade: seat.grade, price: seat.price, total: 0 }; names.push(seat.section); }
      info[seat.section].total += 1;
    });
    map.appendChild(T.el("p", { class: "muted", id: "overview-help", text: gettext("Choose a section to see its seats.") }));
    var ul = T.el("ul", { class: "section-overview", "aria-labelledby": "overview-help" });
    names.forEach(function (name) {
      var count = T.el("span", { class: "section-free" });
      var button = T.el("button", { type: "button", class: "section-button", "data-section": name }, [
        T.el("span", { class: "seat-swatch grade-" + gradeIndex[info[name].grade], "aria-hidden": "true" }),
        T.el("span", { class: "section-name", text: interpolate(gettext("Section %s"), [name]) }),
        T.el("span", { class: "muted", text: info[name].grade + " · " + T.money(info[name].price, ev.currency) }),
        count,
      ]);
      button.addEventListener("click", function () { showSection(name); });
      overview[name] = { count: count, button: button, total: info[name].total };
      ul.appendChild(T.el("li", {}, [button]));
    });
    map.appendChild(ul);
    countFree();
  }

  function countFree() {
    var free = {};
    Object.keys(seats).forEach(function (id) {
      var seat = seats[id];
      if (seat.status === "available") free[seat.section] = (free[seat.section] || 0) + 1;
    });
    Object.keys(overview).forEach(function (name) {
      var n = free[name] || 0, item = overview[name];
      var shown = { free: n.toLocaleString(T.lang), total: item.total.toLocaleString(T.lang) };
      item.count.textContent = interpolate(gettext("%(free)s of %(total)s free"), shown, true);
      item.button.setAttribute("aria-label", interpolate(gettext("Section %(section)s, %(free)s of %(total)s seats free"), { section: name, free: n, total: item.total }, true));
    });
  }

  /* One section of a large map, with a way back to the overview. */
  function showSection(name) {
    var list = layout.map(function (id) { return seats[id]; }).filter(function (seat) { return seat.section === name; });
    draw(list);
    openSection = name;
    var back = T.el("button", { type: "button", class: "button button-secondary", id: "all-sections", text: gettext("← All sections") });
    back.addEventListener("click", function () { drawOverview(layout.map(function (id) { return seats[id]; })); });
    $("seatmap").insertBefore(back, $("seatmap").firstChild);
    paint(list);
    var first = grid.length && grid[0][0];
    if (first) first.focus();
  }

  /* Draw the sections and rows once; later polls only change classes. */
  function draw(list) {
    var map = $("seatmap");
    map.textContent = "";
    buttons = {};
    grid = [];
    widestRow = 0;
    var sections = [], bySection = {};
    list.forEach(function (seat) {
      if (!bySection[seat.section]) { bySection[seat.section] = { name: seat.section, grade: seat.grade, rows: [], byRow: {} }; sections.push(bySection[seat.section]); }
      var sec = bySection[seat.section];
      if (!sec.byRow[seat.row]) { sec.byRow[seat.row] = []; sec.rows.push(seat.row); }
      sec.byRow[seat.row].push(seat);
    });
    sections.forEach(function (sec) {
      var block = T.el("section", { class: "map-section", "aria-label": interpolate(gettext("Section %s"), [sec.name]) });
      block.appendChild(T.el("h3", { class: "map-section-title" }, [
        T.el("span", { class: "seat-swatch grade-" + gradeIndex[sec.grade], "aria-hidden": "true" }),
        interpolate(gettext("Section %s"), [sec.name]) + " · " + sec.grade,
      ]));
      var rows = T.el("div", { class: "map-rows" });
      sec.rows.forEach(function (row) {
        var line = T.el("div", { class: "map-row", role: "group", "aria-label": interpolate(gettext("Section %(section)s, row %(row)s"), { section: sec.name, row: row }, true) });
        line.appendChild(T.el("span", { class: "row-label", "aria-hidden": "true", text: row }));
        var rowSeats = T.el("div", { class: "row-seats" });
        var gridRow = [];
        widestRow = Math.max(widestRow, sec.byRow[row].length);
        sec.byRow[row].sort(function (a, b) { return a.number - b.number; }).forEach(function (seat) {
          var b = T.el("button", { type: "button", class: "seat grade-" + gradeIndex[seat.grade], "data-seat-id": String(seat.id), title: seatText(seat) });
          b.addEventListener("click", function () { toggle(seat.id); });
          b.tabIndex = grid.length === 0 && gridRow.length === 0 ? 0 : -1;
          b.dataset.row = String(grid.length);
          b.dataset.col = String(gridRow.length);
          buttons[seat.id] = b;
          gridRow.push(b);
          rowSeats.appendChild(b);
        });
        grid.push(gridRow);
        line.appendChild(rowSeats);
        rows.appendChild(line);
      });
      block.appendChild(rows);
      map.appendChild(block);
    });
    fitSeats();
  }

  /* One tab stop for the whole map (roving tabindex); arrow keys move between seats, Home/End along a row. */
  $("seatmap").addEventListener("keydown", function (e) {
    var from = e.target.closest && e.target.closest("button.seat");
    if (!from) return;
    var r = Number(from.dataset.row), c = Number(from.dataset.col);
    if (e.key === "ArrowLeft") c -= 1;
    else if (e.key === "ArrowRight") c += 1;
    else if (e.key === "ArrowUp") r -= 1;
    else if (e.key === "ArrowDown") r += 1;
    else if (e.key === "Home") c = 0;
    else if (e.key === "End") c = grid[r].length - 1;
    else return;
    e.preventDefault();
    r = Math.max(0, Math.min(grid.length - 1, r));
    c = Math.max(0, Math.min(grid[r].length - 1, c));
    var to = grid[r][c];
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();
  });

  /* Seats shrink (down to 12 px) so the widest row fits the map box; past that the box scrolls. */
  var widestRow = 0;
  function fitSeats() {
    var map = $("seatmap");
    if (!widestRow) return;
    var room = map.clientWidth - 36; // the row label and its gap
    var size = Math.max(12, Math.min(22, Math.floor(room / (widestRow * (1 + 1 / 5.5)))));
    map.style.setProperty("--seat", size + "px");
  }
  window.addEventListener("resize", fitSeats);

  function paint(list) {
    var mine = mineIds();
    var lost = [];
    list.forEach(function (seat) {
      seats[seat.id] = seat;
      var b = buttons[seat.id];
      if (!b) return;
      var isMine = mine.indexOf(seat.id) >= 0;
      var isSelected = selected.indexOf(seat.id) >= 0;
      var taken = seat.status !== "available" && !isMine;
      if (taken && isSelected) { lost.push(seat); isSelected = false; }
      // Only seats whose look changed touch the DOM: a stadium section is 10,000 buttons.
      var state = seat.status + (isMine ? "m" : "") + (isSelected ? "s" : "") + (hold ? "h" : "");
      if (b.paintedAs === state) return;
      b.paintedAs = state;
      b.classList.toggle("is-taken", taken);
      b.classList.toggle("is-mine", isMine);
      b.classList.toggle("is-selected", isSelected);
      // aria-disabled, not disabled: taken seats stay reachable with the arrow keys and are announced.
      b.setAttribute("aria-disabled", taken || isMine || hold ? "true" : "false");
      b.setAttribute("aria-pressed", isSelected ? "true" : "false");
      b.setAttribute("aria-label", seatText(seat) + ", " + (isMine ? gettext("held for you") : taken ? gettext("taken") : isSelected ? gettext("selected") : gettext("available")));
      b.dataset.status = isMine ? "mine" : seat.status;
    });
    if (lost.length) {
      selected = selected.filter(function (id) { return !lost.some(function (s) { return s.id === id; }); });
      message("warn", interpolate(gettext("Sorry, someone else just took %s. Please choose another seat."), [lost.map(T.seatLabel).join("; ")]));
      renderSelection();
    }
  }

  function renderSelection() {
    var list = $("selected-seats");
    list.textContent = "";
    if (!selected.length) list.appendChild(T.el("li", { class: "muted", text: gettext("No seats chosen yet.") }));
    var total = 0;
    selected.forEach(function (id) {
      var seat = seats[id];
      total += seat.price;
      list.appendChild(T.el("li", {}, [
        T.el("span", { text: T.seatLabel(seat) + " · " + seat.grade }),
        T.el("span", { class: "price", text: T.money(seat.price, ev.currency) }),
      ]));
    });
    $("selected-total").textContent = selected.length ? T.money(total, ev.currency) : "—";
    $("hold-button").disabled = !selected.length || busy;
    $("hold-button").textContent = selected.length
      ? interpolate(ngettext("Hold %s seat", "Hold %s seats", selected.length), [selected.length])
      : gettext("Hold selected seats");
  }

  function toggle(id) {
    if (hold || busy) return;
    var at = selected.indexOf(id);
    if (at >= 0) selected.splice(at, 1);
    else if (seats[id].status !== "available") return;
    else if (selected.length >= ev.max_tickets_per_user) {
      message("warn", interpolate(gettext("You can choose up to %s seats. Tap a chosen seat to remove it first."), [ev.max_tickets_per_user]));
      return;
    } else { selected.push(id); message("", ""); }
    paint(Object.keys(seats).map(function (k) { return seats[k]; }));
    renderSelection();
  }

  var WORDS = { a: "available", h: "held", s: "sold" };

  function statusFailed(r, first) {
    if (T.errorCode(r) === "not_admitted") {
      leaveForQueue(gettext("Your turn to choose seats has ended."));
    } else if (first) {
      $("seatmap").textContent = "";
      message("error", r.status === 0 ? gettext("We could not load the seat map. Check your connection; retrying…") : T.errorDetail(r));
    }
    return r;
  }

  /* The layout once; then the statuses: all of them, or those changed since the version shown. */
  function loadSeats(first) {
    if (!layout) {
      return T.api("GET", cfg.layout_api).then(function (r) {
        if (!r.ok) return statusFailed(r, first);
        layout = r.data.seats.map(function (seat) { seat.status = "available"; seats[seat.id] = seat; return seat.id; });
        return loadSeats(first);
      });
    }
    var url = cfg.status_api + (version === null ? "" : "?since=" + version);
    return T.api("GET", url).then(function (r) {
      if (r.status === 304) return r;
      if (!r.ok) return statusFailed(r, first);
      statusApply(r.data);
      return r;
    });
  }

  /* A status answer (or a pushed frame with the same fields) onto the map. */
  function statusApply(data) {
    version = data.version;
    var list = layout.map(function (id) { return seats[id]; });
    var changed = list;  // what to re-colour: every seat, or only those the answer names
    if (data.statuses !== undefined) {
      layout.forEach(function (id, i) { seats[id].status = WORDS[data.statuses.charAt(i)] || "sold"; });
    } else {
      changed = [];
      data.changes.forEach(function (change) {
        var seat = seats[change[0]];
        if (seat) { seat.status = change[1]; changed.push(seat); }
      });
    }
    var drawnNow = !drawn;
    if (drawnNow) {
      drawn = true;
      if (large) drawOverview(list); else draw(list);
      $("seatmap").setAttribute("aria-busy", "false");
      changed = list;
    }
    paint(changed);
    if (large && openSection === null) countFree();
    if (drawnNow && window.performance && performance.mark) performance.mark("seatmap-drawn");  // real-user timing
  }

  // At most one status read this often: on a stadium with sales every few
  // milliseconds a version is out four times a second, and thousands of
  // pages each reading four times a second would be the old polling again.
  var MIN_GAP_MS = large ? 1000 : 250;
  var lastRead = 0;
  var later = null;

  /* One status read at a time, at most one per MIN_GAP_MS; pushes meanwhile are served by the next. */
  function refresh() {
    if (pending) { again = true; return Promise.resolve(); }
    var wait = lastRead + MIN_GAP_MS - Date.now();
    if (wait > 0) {
      if (!later) later = window.setTimeout(function () { later = null; refresh(); }, wait);
      return Promise.resolve();
    }
    pending = true;
    lastRead = Date.now();
    return loadSeats(layout === null).then(function (r) {
      pending = false;
      if (again) { again = false; refresh(); }
      return r;
    });
  }

  function schedulePoll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(function () {
      if (socketUp) { schedulePoll(); return; }
      refresh().then(schedulePoll);
    }, document.hidden ? POLL_MS * 5 : POLL_MS);
  }

  function listen() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try { socket = new WebSocket(scheme + window.location.host + cfg.seats_ws); } catch (e) { return; }
    socket.onopen = function () { socketUp = true; };
    socket.onmessage = function (e) {
      var msg;
      try { msg = JSON.parse(e.data); } catch (err) { return; }
      if (msg.type !== "seats" || msg.version === version) return;
      // The changes from the version shown: applied as they come. From any other, ask.
      if (msg.changes && layout && drawn && !pending && msg.since === version) statusApply(msg);
      else refresh();
    };
    socket.onclose = function () {
      socketUp = false;
      window.setTimeout(listen, 3000);  // polling covers the gap
    };
  }

  function leaveForQueue(text) {
    clearTimeout(pollTimer);
    if (socket) { socket.onclose = null; socket.close(); }
    message("warn", text + " Taking you back to the waiting line…");
    window.setTimeout(function () { window.location.assign(cfg.queue_url); }, 2500);
  }

  /* ---- holds ---- */

  function showHold(h) {
    hold = h;
    sessionStorage.setItem(holdKey, String(h.id));
    selected = [];
    $("hold-panel").hidden = false;
    $("pick-panel").hidden = true;
    var list = $("hold-seats");
    list.textContent = "";
    h.seats.forEach(function (seat) {
      seats[seat.id] = Object.assign({}, seats[seat.id] || {}, seat);
      list.appendChild(T.el("li", {}, [
        T.el("span", { text: T.seatLabel(seat) + " · " + seat.grade }),
        T.el("span", { class: "price", text: T.money(seat.price, ev.currency) }),
      ]));
    });
    $("hold-total").textContent = T.money(h.total, h.currency);
    $("checkout-link").href = cfg.checkout_url.replace("{id}", String(h.id));
    if (stopHoldTimer) stopHoldTimer();
    stopHoldTimer = T.countdown(h.expires_at, function (left) {
      $("hold-left").textContent = T.duration(left);
      $("hold-left").classList.toggle("is-urgent", left <= 60);
    }, function () { checkHold(h.id, true); });
    paint(Object.keys(seats).map(function (k) { return seats[k]; }));
    renderSelection();
  }

  function clearHold(text, kind) {
    hold = null;
    sessionStorage.removeItem(holdKey);
    if (stopHoldTimer) stopHoldTimer();
    $("hold-panel").hidden = true;
    $("pick-panel").hidden = false;
    if (text) message(kind || "warn", text);
    refresh();
    renderSelection();
  }

  function checkHold(id, lapsed) {
    return T.api("GET", "/api/holds/" + id + "/").then(function (r) {
      if (r.ok && r.data.status === "active" && r.data.event === ev.id) {
        if (lapsed) window.setTimeout(function () { checkHold(id, true); }, 1500);
        else showHold(r.data);
      } else if (r.ok && r.data.status === "expired" || lapsed) {
        clearHold(gettext("Your hold expired and those seats went back on sale. Please choose again."));
      } else {
        sessionStorage.removeItem(holdKey);
      }
    });
  }

  function createHold(body) {
    if (busy) return;
    busy = true;
    renderSelection();
    $("best-button").disabled = true;
    message("info", gettext("Holding your seats…"));
    T.api("POST", cfg.holds_api, body).then(function (r) {
      busy = false;
      $("best-button").disabled = false;
      if (r.ok) {
        message("ok", gettext("Your seats are held. Complete payment before the timer runs out."));
        showHold(r.data);
        return;
      }
      var code = T.errorCode(r);
      if (code === "seat_unavailable") {
        (r.data.seat_ids || []).forEach(function (id) { if (seats[id]) seats[id].status = "held"; });
        selected = selected.filter(function (id) { return (r.data.seat_ids || []).indexOf(id) < 0; });
        paint(Object.keys(seats).map(function (k) { return seats[k]; }));
        message("warn", interpolate(gettext("Someone else got there first: %s. Nothing was held; please choose again."), [(r.data.seat_ids || []).map(function (id) { return seats[id] ? T.seatLabel(seats[id]) : "#" + id; }).join("; ")]));
      } else if (code === "limit_exceeded") {
        message("warn", interpolate(gettext("That would pass the limit of %s tickets per person (seats you hold or already bought count too)."), [r.data.limit]));
      } else if (code === "not_enough_seats") {
        message("warn", gettext("There are not enough seats left in that grade. Try fewer seats or another grade."));
      } else if (code === "not_admitted") {
        leaveForQueue(gettext("Your turn to choose seats has ended."));
      } else if (code === "rate_limited") {
        message("warn", interpolate(gettext("Too many tries in a short time. Please wait %s seconds."), [r.headers.get("Retry-After") || "5"]));
      } else {
        message("error", r.status === 0 ? gettext("We could not reach the server. Nothing was held; please try again.") : T.errorDetail(r));
      }
      renderSelection();
      refresh();
    });
  }

  $("hold-button").addEventListener("click", function () {
    if (selected.length) createHold({ seat_ids: selected.slice() });
  });

  $("best-form").addEventListener("submit", function (e) {
    e.preventDefault();
    createHold({ grade: $("best-grade").value, quantity: Number($("best-quantity").value) });
  });

  $("release-button").addEventListener("click", function () {
    if (!hold) return;
    var id = hold.id;
    T.api("DELETE", "/api/holds/" + id + "/").then(function (r) {
      if (r.ok || r.status === 404) clearHold(gettext("Your seats were released."), "info");
      else message("error", T.errorDetail(r));
    });
  });

  for (var q = 1; q <= ev.max_tickets_per_user; q++) {
    $("best-quantity").appendChild(T.el("option", { value: String(q), text: String(q) }));
  }

  /* ---- admission time left ---- */

  function watchAdmission() {
    if (!ev.queue_enabled) return;
    T.api("GET", cfg.queue_api).then(function (r) {
      if (!r.ok) return;
      if (r.data.state !== "admitted") { leaveForQueue(gettext("Your turn to choose seats has ended.")); return; }
      $("admission-box").hidden = false;
      T.countdown(r.data.admitted_until, function (left) {
        $("admission-left").textContent = T.duration(left);
        $("admission-box").classList.toggle("is-urgent", left <= 60);
      }, function () { window.setTimeout(watchAdmission, 1000); });
    });
  }

  if (cfg.hold_expired) message("warn", gettext("Your hold expired before payment and those seats went back on sale. Please choose again."));
  renderSelection();
  loadSeats(true).then(function () {
    var stored = sessionStorage.getItem(holdKey);
    if (stored) checkHold(stored, false);
    schedulePoll();
    listen();
  });
  watchAdmission();
})();
