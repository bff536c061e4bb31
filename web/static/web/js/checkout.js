/* Checkout: the hold with its countdown, and the payment. One
 * Idempotency-Key per payment attempt, reused when the same attempt is
 * retried, so a double press or a dropped connection never charges twice. */
(function () {
  "use strict";
  var cfg = T.readJson("checkout-config");
  var $ = function (id) { return document.getElementById(id); };
  var hold = null;
  var ev = null;
  var paying = false;
  var stopTimer = null;

  function message(kind, text) { T.say("checkout-message", kind, text); }
  function payLabel() { return interpolate(gettext("Pay %s"), [T.money(hold.total, hold.currency)]); }
  function seatsUrl(extra) { return cfg.seats_url.replace("{event}", String(hold.event)) + (extra || ""); }

  function backToSeats() {
    sessionStorage.removeItem("hold:" + hold.event);
    message("warn", gettext("Your hold expired before payment, so the seats went back on sale. Taking you back to the seat map…"));
    $("checkout-body").hidden = true;
    window.setTimeout(function () { window.location.assign(seatsUrl("?hold_expired=1")); }, 2500);
  }

  function render() {
    $("checkout-body").hidden = false;
    var list = $("hold-seats");
    list.textContent = "";
    hold.seats.forEach(function (seat) {
      list.appendChild(T.el("li", {}, [
        T.el("span", { text: T.seatLabel(seat) + " · " + seat.grade }),
        T.el("span", { class: "price", text: T.money(seat.price, hold.currency) }),
      ]));
    });
    $("hold-total").textContent = T.money(hold.total, hold.currency);
    $("pay-button").textContent = payLabel();
    $("back-link").href = seatsUrl();
    if (stopTimer) stopTimer();
    stopTimer = T.countdown(hold.expires_at, function (left) {
      $("hold-left").textContent = T.duration(left);
      $("hold-left").classList.toggle("is-urgent", left <= 60);
    }, function () {
      // The server decides: re-read the hold a moment after the clock says it lapsed.
      window.setTimeout(function () { if (!paying) load(); }, 1000);
    });
  }

  function load() {
    return T.api("GET", cfg.hold_api).then(function (r) {
      if (r.status === 404) { message("error", gettext("We could not find this hold. It may belong to another account.")); return; }
      if (!r.ok) { message("error", r.status === 0 ? gettext("We could not reach the server. Retrying…") : T.errorDetail(r)); window.setTimeout(load, 3000); return; }
      hold = r.data;
      if (!ev) {
        T.api("GET", "/api/events/" + hold.event + "/").then(function (e) {
          if (!e.ok) return;
          ev = e.data;
          $("crumb-event").textContent = ev.name;
          $("event-line").textContent = ev.name + " · " + ev.venue + " · " + T.dateTime(ev.starts_at);
        });
      }
      if (hold.status === "active" && new Date(hold.expires_at) > new Date()) render();
      else if (hold.status === "active" || hold.status === "expired") backToSeats();
      else if (hold.status === "checked_out") {
        message("ok", gettext("This hold is already paid. Your tickets are in My tickets."));
        $("checkout-body").hidden = true;
        window.setTimeout(function () { window.location.assign(cfg.tickets_url); }, 2000);
      } else {
        message("info", gettext("These seats were released. Choose seats again on the seat map."));
        $("checkout-body").hidden = true;
        window.setTimeout(function () { window.location.assign(seatsUrl()); }, 2500);
      }
    });
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) return "web-" + hold.id + "-" + crypto.randomUUID();
    return "web-" + hold.id + "-" + Date.now() + "-" + Math.random().toString(36).slice(2);
  }

  function setPaying(on) {
    paying = on;
    $("pay-button").disabled = on;
    $("release-button").disabled = on;
    $("pay-button").textContent = on ? gettext("Processing payment…") : payLabel();
    $("pay-form").setAttribute("aria-busy", on ? "true" : "false");
  }

  function pay(token, key, tries) {
    T.api("POST", hold && "/api/holds/" + hold.id + "/checkout/", { payment_token: token }, { "Idempotency-Key": key }).then(function (r) {
      if (r.ok) {
        sessionStorage.removeItem("hold:" + hold.event);
        message("ok", gettext("Payment approved. Issuing your tickets…"));
        window.location.assign(cfg.order_url.replace("{id}", String(r.data.id)));
        return;
      }
      var code = T.errorCode(r);
      // Same attempt, same key: the server returns the one order, never a second charge.
      if (code === "checkout_in_progress" || (r.status === 0 && tries < 3)) {
        var wait = Number(r.headers.get("Retry-After")) || 1 + tries;
        window.setTimeout(function () { pay(token, key, tries + 1); }, wait * 1000);
        return;
      }
      setPaying(false);
      if (code === "payment_declined") {
        message("error", interpolate(gettext("Your card was declined. You have not been charged and your seats are still held until %s. Try another card."), [T.clockTime(hold.expires_at)]));
      } else if (code === "payment_unavailable") {
        message("error", gettext("The payment service did not answer, so you have not been charged. Your seats are still held; please try again."));
      } else if (code === "hold_expired") {
        backToSeats();
      } else if (code === "already_checked_out") {
        message("ok", gettext("This hold is already paid. Taking you to your tickets…"));
        window.setTimeout(function () { window.location.assign(cfg.tickets_url); }, 1500);
      } else if (code === "not_admitted") {
        message("error", gettext("Your turn to shop has ended before payment. Your seats will be released when the hold expires."));
      } else if (r.status === 0) {
        message("error", gettext("We lost the connection while paying. Press Pay again: you will not be charged twice."));
        retryKey = key;
      } else {
        message("error", T.errorDetail(r));
      }
    });
  }

  var retryKey = null;
  $("pay-form").addEventListener("submit", function (e) {
    e.preventDefault();
    if (paying || !hold) return;
    if (!$("cardholder").value.trim()) {
      message("error", gettext("Please enter the name on the card."));
      $("cardholder").focus();
      return;
    }
    var token = document.querySelector('input[name="payment_token"]:checked').value;
    message("", "");
    setPaying(true);
    var key = retryKey || newKey();
    retryKey = null;
    pay(token, key, 0);
  });

  $("release-button").addEventListener("click", function () {
    if (!hold || paying) return;
    T.api("DELETE", cfg.hold_api).then(function (r) {
      if (r.ok || r.status === 404) {
        sessionStorage.removeItem("hold:" + hold.event);
        window.location.assign(seatsUrl());
      } else {
        message("error", T.errorDetail(r));
      }
    });
  });

  load();
})();
