/* Confirmation and My tickets: orders from the API, each ticket with its
 * code, a QR code (an SVG drawn server-side from the code) and its PDF,
 * whether it was checked in, and the order's refunds. An order of an event
 * that takes cancellations can be cancelled here until the event's deadline
 * (POST /api/orders/{id}/cancel/): its tickets become void, its seats go
 * back on sale and the payment is refunded. */
(function () {
  "use strict";
  var cfg = T.readJson("orders-config");
  var $ = function (id) { return document.getElementById(id); };
  var events = {};

  function ticketCard(ticket, order) {
    var seat = ticket.seat;
    var valid = ticket.status !== "void";
    var img = valid
      ? T.el("img", {
        class: "qr", src: cfg.qr_url.replace("{code}", encodeURIComponent(ticket.code)), width: "132", height: "132",
        alt: interpolate(gettext("QR code of ticket %s"), [ticket.code]), loading: "lazy",
      })
      : T.el("div", { class: "qr qr-void", text: gettext("Void") });
    var pdf = valid
      ? T.el("a", {
        class: "button button-small button-secondary ticket-pdf", href: cfg.pdf_url.replace("{id}", String(ticket.id)),
        download: "ticket-" + ticket.id + ".pdf", text: gettext("Download PDF"),
        "aria-label": interpolate(gettext("Download the PDF ticket for %s"), [T.seatLabel(seat)]),
      })
      : null;
    var lines = [
      T.el("p", { class: "ticket-seat", text: T.seatLabel(seat) }),
      T.el("p", { class: "small muted", text: interpolate(gettext("Grade %s"), [seat.grade]) + " · " + T.money(seat.price, order.currency) }),
      T.el("p", { class: "ticket-code-line" }, [T.el("span", { class: "small muted", text: gettext("Ticket code") + " " }), T.el("code", { class: "ticket-code", text: ticket.code })]),
    ];
    if (ticket.status === "checked_in") {
      lines.push(T.el("p", { class: "small ticket-used", text: interpolate(gettext("Checked in %s"), [T.dateTime(ticket.checked_in_at)]) }));
    }
    if (pdf) lines.push(T.el("p", {}, [pdf]));
    return T.el("li", { class: "ticket" + (valid ? "" : " ticket-void"), "data-ticket-code": ticket.code, "data-status": ticket.status }, [
      img,
      T.el("div", { class: "ticket-body" }, lines),
    ]);
  }

  function refundLines(order) {
    return (order.refunds || []).map(function (r) {
      var amount = T.money(r.amount, r.currency);
      var text = r.status === "refunded"
        ? interpolate(gettext("Refunded %(amount)s to your card on %(date)s."), { amount: amount, date: T.dateTime(r.refunded_at) }, true)
        : interpolate(gettext("Refund of %(amount)s to your card: on its way."), { amount: amount }, true);
      return T.el("p", { class: "small refund-line refund-" + r.status, text: text });
    });
  }

  /* The cancel button and its two-step confirmation, or why there is none. */
  function cancelBox(order) {
    var e = events[order.event];
    var live = (order.tickets || []).filter(function (t) { return t.status !== "void"; });
    if (!e || order.status !== "paid" || !live.length) return null;
    var used = live.some(function (t) { return t.status === "checked_in"; });
    var until = e.cancel_until ? new Date(e.cancel_until) : null;
    if (!until) return T.el("p", { class: "small muted", text: gettext("This event does not take cancellations.") });
    if (until <= new Date()) return T.el("p", { class: "small muted", text: interpolate(gettext("Cancellation closed on %s."), [T.dateTime(e.cancel_until)]) });
    if (used) return T.el("p", { class: "small muted", text: gettext("A ticket of this order was used at the door, so it can no longer be cancelled.") });
    var refund = live.reduce(function (sum, t) { return sum + t.price; }, 0);
    var box = T.el("div", { class: "cancel-box" });
    var ask = T.el("button", { type: "button", class: "button button-ghost cancel-open", text: gettext("Cancel this order") });
    var note = T.el("p", { class: "small muted", text: interpolate(gettext("You can cancel until %s."), [T.dateTime(e.cancel_until)]) });
    var question = [
      interpolate(gettext("Cancel order #%s?"), [order.id]),
      interpolate(ngettext(
        "Its ticket stops working at once, the seat goes back on sale, and %(amount)s is refunded to your card.",
        "Its tickets stop working at once, the seats go back on sale, and %(amount)s is refunded to your card.",
        live.length), { amount: T.money(refund, order.currency) }, true),
      gettext("This cannot be undone."),
    ].join(" ");
    var confirm = T.el("div", { class: "cancel-confirm notice notice-warn", role: "group", "aria-label": interpolate(gettext("Confirm the cancellation of order %s"), [order.id]) }, [
      T.el("p", { text: question }),
      T.el("button", { type: "button", class: "button button-primary cancel-yes", text: gettext("Yes, cancel the order") }),
      T.el("button", { type: "button", class: "button button-ghost cancel-no", text: gettext("Keep my tickets") }),
    ]);
    confirm.hidden = true;
    var status = T.el("p", { class: "small", role: "status" });
    ask.addEventListener("click", function () { confirm.hidden = false; ask.hidden = true; confirm.querySelector(".cancel-yes").focus(); });
    confirm.querySelector(".cancel-no").addEventListener("click", function () { confirm.hidden = true; ask.hidden = false; ask.focus(); });
    confirm.querySelector(".cancel-yes").addEventListener("click", function (ev) {
      ev.target.disabled = true;
      status.textContent = gettext("Cancelling…");
      T.api("POST", cfg.cancel_url.replace("{id}", String(order.id))).then(function (r) {
        if (r.ok) {
          var card = document.querySelector('[data-order-id="' + order.id + '"]');
          card.replaceWith(orderCard(r.data));
          T.say("orders-message", "ok", interpolate(gettext("Order #%s is cancelled. Its seats are back on sale and your refund is on its way."), [order.id]));
          return;
        }
        ev.target.disabled = false;
        status.textContent = "";
        T.say("orders-message", "error", T.errorDetail(r, gettext("We could not cancel this order. Please try again.")));
      });
    });
    box.appendChild(note);
    box.appendChild(ask);
    box.appendChild(confirm);
    box.appendChild(status);
    return box;
  }

  function orderCard(order) {
    var e = events[order.event];
    var badge = order.status === "paid" ? ["on-sale", gettext("Paid")] : order.status === "refunded" ? ["closed", gettext("Cancelled and refunded")] : ["closed", order.status];
    var head = T.el("header", { class: "order-head" }, [
      T.el("div", {}, [
        T.el("h2", { class: "order-title", text: e ? e.name : interpolate(gettext("Event #%s"), [order.event]) }),
        T.el("p", { class: "muted small", text: e ? e.venue + " · " + T.dateTime(e.starts_at) : "" }),
      ]),
      T.el("div", { class: "order-meta" }, [
        T.el("span", { class: "badge badge-" + badge[0], text: badge[1] }),
        T.el("p", { class: "small muted", text: interpolate(gettext("Order #%s"), [order.id]) + " · " + T.dateTime(order.created_at) }),
        T.el("p", { class: "order-total", text: T.money(order.total, order.currency) }),
      ]),
    ]);
    var list = T.el("ul", { class: "tickets", "aria-label": interpolate(gettext("Tickets of order %s"), [order.id]) });
    (order.tickets || []).forEach(function (t) { list.appendChild(ticketCard(t, order)); });
    var parts = [head, list].concat(refundLines(order));
    var cancel = cfg.single ? null : cancelBox(order);
    if (cancel) parts.push(cancel);
    return T.el("article", { class: "card order", "data-order-id": String(order.id), "data-status": order.status }, parts);
  }

  function show(orders) {
    var box = $("orders");
    box.textContent = "";
    if (!orders.length) {
      box.appendChild(T.el("div", { class: "card empty" }, [
        T.el("p", { text: gettext("You have no tickets yet.") }),
        T.el("a", { class: "button button-primary", href: "/", text: gettext("Find an event") }),
      ]));
      return;
    }
    orders.sort(function (a, b) { return new Date(b.created_at) - new Date(a.created_at); });
    orders.forEach(function (o) { box.appendChild(orderCard(o)); });
  }

  Promise.all([T.api("GET", cfg.orders_api), T.api("GET", "/api/events/")]).then(function (results) {
    var r = results[0];
    if (results[1].ok) results[1].data.forEach(function (e) { events[e.id] = e; });
    if (!r.ok) {
      $("orders").textContent = "";
      T.say("orders-message", "error", r.status === 404 ? gettext("We could not find this order.") : T.errorDetail(r, gettext("We could not load your tickets.")));
      return;
    }
    show(cfg.single ? [r.data] : r.data);
  });
})();
