/* The waiting page: join (idempotent), then live updates over the WebSocket,
 * with reconnect + backoff and plain polling of GET .../queue/ while the
 * socket is down. The socket only notifies; the GET is the truth. A sold-out
 * sale keeps the page listening: seats that come back (a cancellation) say
 * "resumed", and the page goes back to the line (or joins it). On an event
 * with a pre-queue the page first shows the entry and the countdown to the
 * draw, then the drawn place. */
(function () {
  "use strict";
  var cfg = T.readJson("queue-config");
  var eventId = cfg.event.id;
  var $ = function (id) { return document.getElementById(id); };
  var startKey = "queue-start-position:" + eventId;

  var socket = null;
  var attempts = 0;
  var reconnectTimer = null;
  var pollTimer = null;
  var finished = false; // admitted, closed, expired: stop all live work
  var soldOut = false; // sold out: keep listening in case seats come back
  var paused = cfg.event.status === "paused";
  var lastState = null;
  var drawCountdown = null; // stops the pre-queue's countdown

  function setConn(kind, text) {
    $("conn").className = "conn conn-" + kind;
    $("conn-text").textContent = text;
  }

  function message(kind, text) { T.say("queue-message", kind, text); }

  function stopLive() {
    finished = true;
    clearTimeout(reconnectTimer);
    clearInterval(pollTimer);
    pollTimer = null;
    if (socket) { try { socket.close(1000); } catch (e) { /* already closed */ } }
  }

  function goToSeats() {
    if (finished && lastState === "admitted") return;
    stopLive();
    leavePrequeue();
    lastState = "admitted";
    localStorage.removeItem(startKey);
    $("queue-live").hidden = false;
    $("position").textContent = "0";
    setProgress(100);
    message("ok", gettext("It's your turn! Taking you to the seat map…"));
    setConn("ok", gettext("Admitted"));
    window.setTimeout(function () { window.location.assign(cfg.seats_url); }, 600);
  }

  function setProgress(percent) {
    percent = Math.max(0, Math.min(100, Math.round(percent)));
    $("progress-bar").style.width = percent + "%";
    $("progress").setAttribute("aria-valuenow", String(percent));
    $("progress").setAttribute("aria-valuetext", interpolate(gettext("%(percent)s of the way to the front"), { percent: percent + "%" }, true));
  }

  /* The pre-queue: an entry for the draw at the opening, no place yet. */
  function showPrequeue(p) {
    if (finished) return;
    lastState = "pre_queue";
    $("queue-pre").hidden = false;
    $("queue-live").hidden = true;
    $("queue-opens").hidden = true;
    $("rejoin-box").hidden = true;
    $("queue-intro").hidden = true;
    $("queue-title").textContent = interpolate(gettext("You are in the pre-queue for %(name)s"), { name: cfg.event.name }, true);
    $("leave-button").textContent = gettext("Leave the pre-queue");
    $("pre-total").textContent = Number(p.waiting_total || 0).toLocaleString(T.lang);
    if (p.entry) $("pre-entry").textContent = p.entry;
    if (drawCountdown) return;
    var at = $("pre-opens-at");
    at.setAttribute("datetime", p.opens_at);
    at.textContent = T.dateTime(p.opens_at);
    drawCountdown = T.countdown(p.opens_at, function (left) { $("pre-countdown").textContent = T.duration(left); }, function () {
      $("pre-countdown").textContent = gettext("now");
      message("", gettext("The sale is open: the draw is placing everyone in the pre-queue…"));
      // The socket brings the drawn place; a read a moment later covers a socket that is down.
      window.setTimeout(poll, 1500 + Math.random() * 1500);
    });
    T.api("GET", cfg.draw_api).then(function (r) {
      if (!r.ok || !r.data.commitment) return;
      $("pre-commitment").textContent = r.data.commitment;
      $("pre-commitment-line").hidden = false;
    });
  }

  function leavePrequeue() {
    if (drawCountdown) drawCountdown();
    drawCountdown = null;
    $("queue-pre").hidden = true;
    $("leave-button").textContent = gettext("Leave the line");
  }

  function showPosition(p) {
    if (finished) return;
    if (soldOut) reopened();
    if (lastState === "pre_queue") message("ok", gettext("The draw is made: here is your place in line."));
    leavePrequeue();
    lastState = "waiting";
    $("queue-live").hidden = false;
    $("queue-opens").hidden = true;
    $("rejoin-box").hidden = true;
    $("queue-intro").hidden = false;
    $("queue-title").textContent = interpolate(gettext("You are in line for %s"), [cfg.event.name]);
    var position = Number(p.position);
    $("position").textContent = position.toLocaleString(T.lang);
    $("waiting-total").textContent = Number(p.waiting_total || 0).toLocaleString(T.lang);
    $("eta").textContent = paused ? gettext("paused") : T.roughWait(p.eta_seconds);
    $("likely-sold-out").hidden = !p.likely_sold_out;
    if (p.entry) {
      $("drawn-entry").textContent = p.entry;
      $("drawn-line").hidden = false;
    }
    // The bar measures progress from the place first seen on this device,
    // so a reload keeps it where it was.
    var start = Number(localStorage.getItem(startKey) || 0);
    if (!start || position > start) { start = position; localStorage.setItem(startKey, String(start)); }
    // A sliver from the start shows the bar is live; it fills as the people ahead get in.
    setProgress(start <= 1 ? 95 : 3 + ((start - position) / (start - 1)) * 92);
  }

  function showEnded(kind) {
    stopLive();
    leavePrequeue();
    lastState = kind;
    localStorage.removeItem(startKey);
    $("queue-live").hidden = true;
    $("queue-opens").hidden = true;
    setConn("off", gettext("Not waiting"));
    $("leave-button").hidden = true;
    $("queue-title").textContent = interpolate(gettext("Waiting line for %s"), [cfg.event.name]);
    $("queue-intro").hidden = true;
    if (kind === "closed") message("muted", gettext("The sale has closed."));
    else if (kind === "expired") {
      message("warn", gettext("Your turn to choose seats has ended. You can join the line again at the back."));
      $("rejoin-box").hidden = false;
    }
    else if (kind === "not_arrived") {
      message("warn", gettext("It was your turn, but the seat map was not opened in time, so your turn went to the next person in line. You can join the line again at the back."));
      $("rejoin-box").hidden = false;
    }
    else if (kind === "lost") {
      message("warn", gettext("We lost your place in line after a fault on our side. We are sorry: please join the line again."));
      $("rejoin-box").hidden = false;
    }
  }

  /* Every seat is sold. The page stays connected: if an order is cancelled
   * and seats come back, the line moves again and whoever kept their place
   * keeps it. */
  function showSoldOut() {
    if (finished) return;
    soldOut = true;
    lastState = "sold_out";
    $("queue-live").hidden = true;
    $("queue-opens").hidden = true;
    $("queue-title").textContent = interpolate(gettext("Waiting line for %s"), [cfg.event.name]);
    $("queue-intro").hidden = true;
    message("error", gettext("Sold out. Every seat has been sold. Keep this page open: if seats come back (a buyer cancels), it tells you at once and you keep your place in line."));
    if (socket && socket.readyState === 1) setConn("ok", gettext("Listening for returned seats"));
    connect();
  }

  /* The sale is on again after it sold out: back to the line. */
  function reopened() {
    if (!soldOut) return;
    soldOut = false;
    $("queue-intro").hidden = false;
    message("ok", gettext("Seats came back on sale! The line is moving again."));
    window.setTimeout(function () { if (!soldOut && !finished && lastState === "waiting") message("", ""); }, 6000);
  }

  /* Another tab or window of this person opened the line (one socket per person per event). */
  function showElsewhere() {
    stopLive();
    setConn("off", gettext("Open in another tab"));
    message("warn", gettext("This waiting line is open in another tab or window, which keeps your place. This tab has stopped updating; reload it to follow the line here instead."));
  }

  function showPaused(isPaused) {
    paused = isPaused;
    if (isPaused) $("eta").textContent = gettext("paused");
    if (isPaused) message("warn", gettext("The organizer has paused the sale. You keep your place in line; it moves again when the sale resumes."));
    else message("ok", gettext("The sale has resumed."));
    if (!isPaused) window.setTimeout(function () { if (!paused) message("", ""); }, 4000);
  }

  function applyState(s) {
    if (!s) return;
    if (s.state === "waiting") showPosition(s);
    else if (s.state === "pre_queue") showPrequeue(s);
    else if (s.state === "admitted") goToSeats();
    else if (s.state === "sold_out") showSoldOut();
    else if (s.state === "closed") showEnded("closed");
    else if (s.state === "expired") showEnded("expired");
    else if (s.state === "not_in_queue") { reopened(); join(); }
  }

  /* The join challenge: a single-use puzzle solved in a Web Worker (pow-worker.js), progress shown. */
  function solveChallenge() {
    $("challenge-box").hidden = false;
    setConn("wait", gettext("Checking…"));
    return T.api("POST", cfg.challenge_api).then(function (r) {
      if (!r.ok) return null;
      return new Promise(function (resolve) {
        var worker = new Worker(cfg.pow_worker);
        worker.onmessage = function (e) {
          if (e.data.nonce !== undefined || e.data.error) {
            worker.terminate();
            $("challenge-progress").value = 100;
            $("challenge-box").hidden = true;
            resolve(e.data.error ? null : { challenge: r.data.challenge, nonce: e.data.nonce });
            return;
          }
          // On average 2^difficulty tries; the bar nears the end without passing it.
          $("challenge-progress").value = Math.round(100 * (1 - Math.exp(-e.data.tried / e.data.expected)));
        };
        worker.postMessage({ challenge: r.data.challenge, difficulty: r.data.difficulty });
      });
    });
  }

  function join(proof, retried) {
    message("", "");
    setConn("wait", gettext("Joining the line…"));
    return T.api("POST", cfg.api, proof || undefined).then(function (r) {
      if (r.ok) {
        applyState(r.data);
        if (!finished) connect();
        return;
      }
      var code = T.errorCode(r);
      if (r.status === 401) { window.location.assign(cfg.login_url); return; }
      // A first join asks for the challenge; a failed answer (expired meanwhile) gets one more try.
      if (code === "challenge_required" || (code === "challenge_failed" && !retried)) {
        return solveChallenge().then(function (answer) {
          if (answer) return join(answer, code === "challenge_failed");
          message("error", gettext("The check could not be completed in this browser. Please reload the page."));
        });
      }
      if (code === "sale_not_open") { waitForOpening(r.data.opens_at); return; }
      if (code === "sold_out") { showSoldOut(); return; }
      if (code === "sale_closed") { showEnded("closed"); return; }
      var retry = Number(r.headers.get("Retry-After")) || Math.min(30, Math.pow(2, attempts++));
      message(r.status === 0 ? "warn" : "error",
        (r.status === 0 ? gettext("We could not reach the server.") : T.errorDetail(r)) + " " +
        interpolate(gettext("Trying again in %s s…"), [Math.ceil(retry)]));
      setConn("off", gettext("Offline"));
      window.setTimeout(function () { join(proof, retried); }, retry * 1000);
    });
  }

  function waitForOpening(opensAt) {
    setConn("wait", gettext("Waiting for the sale to open"));
    $("queue-opens").hidden = false;
    $("queue-live").hidden = true;
    var at = $("opens-at");
    at.setAttribute("datetime", opensAt);
    at.textContent = T.dateTime(opensAt);
    T.countdown(opensAt, function (left) { $("opens-countdown").textContent = T.duration(left); }, function () {
      // Spread the rush over a second so every tab does not hit the server at the same instant.
      window.setTimeout(join, 200 + Math.random() * 800);
    });
  }

  function poll() {
    T.api("GET", cfg.api).then(function (r) {
      if (finished) return;
      if (r.ok) applyState(r.data);
    });
  }

  function startPolling() {
    if (!pollTimer && !finished) pollTimer = setInterval(poll, 3000);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect() {
    if (finished || (socket && socket.readyState <= 1)) return;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    try {
      socket = new WebSocket(scheme + window.location.host + cfg.ws);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    setConn("wait", attempts ? gettext("Reconnecting…") : gettext("Connecting…"));
    socket.onopen = function () {
      attempts = 0;
      stopPolling();
      setConn("ok", soldOut ? gettext("Listening for returned seats") : gettext("Live"));
      // Race-free start: the socket is up, now read the real state once.
      poll();
    };
    socket.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "position") showPosition(msg);
      else if (msg.type === "pre_queue") showPrequeue(msg);
      else if (msg.type === "admitted") goToSeats();
      else if (msg.type === "expired") showEnded(msg.reason === "not_arrived" ? "not_arrived" : "expired");
      else if (msg.type === "not_in_queue") showEnded("lost");
      else if (msg.type === "sold_out") showSoldOut();
      else if (msg.type === "closed") showEnded("closed");
      else if (msg.type === "paused") showPaused(true);
      else if (msg.type === "resumed" && soldOut) poll(); // seats came back: read the state (the line, or join it)
      else if (msg.type === "resumed") showPaused(false);
    };
    socket.onclose = function (ev) {
      socket = null;
      if (finished) return;
      if (ev.code === 4401) { window.location.assign(cfg.login_url); return; }
      if (ev.code === 4409) { showElsewhere(); return; }
      scheduleReconnect();
    };
  }

  function scheduleReconnect() {
    if (finished) return;
    startPolling();
    // Exponential backoff with jitter: 1, 2, 4 ... 30 s, so a server restart is not stampeded.
    var delay = Math.min(30000, 1000 * Math.pow(2, attempts)) * (0.5 + Math.random() / 2);
    attempts += 1;
    setConn("wait", gettext("Reconnecting… (updates every few seconds meanwhile)"));
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(connect, delay);
  }

  $("leave-button").addEventListener("click", function () {
    var ask = lastState === "pre_queue"
      ? gettext("Leave the pre-queue? Your entry leaves the draw; you can enter again until the sale opens.")
      : gettext("Leave the line? If you come back you start again at the back.");
    if (!window.confirm(ask)) return;
    T.api("DELETE", cfg.api).then(function () {
      stopLive();
      localStorage.removeItem(startKey);
      window.location.assign(cfg.event_url);
    });
  });
  $("rejoin-button").addEventListener("click", function () {
    finished = false;
    $("leave-button").hidden = false;
    join();
  });

  // Keep the socket alive through proxies that drop idle connections.
  setInterval(function () {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ type: "ping" }));
  }, 20000);

  /* Read the state first: someone whose turn has just ended (or who bought
   * and comes back) chooses to join again at the back; everyone else joins,
   * which never moves a person already in line. */
  function start() {
    T.api("GET", cfg.api).then(function (r) {
      if (r.ok && r.data.state === "expired") showEnded("expired");
      else if (r.ok && (r.data.state === "waiting" || r.data.state === "admitted" || r.data.state === "pre_queue")) {
        applyState(r.data);
        connect();
      } else join();
    });
  }

  if (paused) showPaused(true);
  if (cfg.event.status === "sold_out") showSoldOut();
  else if (cfg.event.status === "closed") showEnded("closed");
  else start();
})();
