/* Confirmation and My tickets: orders from the API, each ticket with its
 * code, a QR code (an SVG drawn server-side from the code) and its PDF. */
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
    return T.el("li", { class: "ticket" + (valid ? "" : " ticket-void"), "data-ticket-code": ticket.code }, [
      img,
      T.el("div", { class: "ticket-body" }, [
        T.el("p", { class: "ticket-seat", text: T.seatLabel(seat) }),
        T.el("p", { class: "small muted", text: interpolate(gettext("Grade %s"), [seat.grade]) + " · " + T.money(seat.price, order.currency) }),
        T.el("p", { class: "ticket-code-line" }, [T.el("span", { class: "small muted", text: gettext("Ticket code") + " " }), T.el("code", { class: "ticket-code", text: ticket.code })]),
      ].concat(pdf ? [T.el("p", {}, [pdf])] : [])),
    ]);
  }

  function orderCard(order) {
    var e = events[order.event];
    var head = T.el("header", { class: "order-head" }, [
      T.el("div", {}, [
        T.el("h2", { class: "order-title", text: e ? e.name : interpolate(gettext("Event #%s"), [order.event]) }),
        T.el("p", { class: "muted small", text: e ? e.venue + " · " + T.dateTime(e.starts_at) : "" }),
      ]),
      T.el("div", { class: "order-meta" }, [
        T.el("span", { class: "badge badge-" + (order.status === "paid" ? "on-sale" : "closed"), text: order.status === "paid" ? gettext("Paid") : order.status === "refunded" ? gettext("Refunded") : order.status }),
        T.el("p", { class: "small muted", text: interpolate(gettext("Order #%s"), [order.id]) + " · " + T.dateTime(order.created_at) }),
        T.el("p", { class: "order-total", text: T.money(order.total, order.currency) }),
      ]),
    ]);
    var list = T.el("ul", { class: "tickets", "aria-label": interpolate(gettext("Tickets of order %s"), [order.id]) });
    (order.tickets || []).forEach(function (t) { list.appendChild(ticketCard(t, order)); });
    return T.el("article", { class: "card order", "data-order-id": String(order.id) }, [head, list]);
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
