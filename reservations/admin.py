"""Django admin for organizers: venues, events (with their sale window and
queue settings), price grades and seats, and seat-map generation from a spec;
orders, tickets and refunds (refund an order or single tickets), and the
door's live check-in figures per event."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path
from django.utils.translation import gettext, gettext_lazy

from core.errors import ApplicationError, Invalid
from reservations.holds import hold_release
from reservations.models import Confirmation, Event, Hold, Order, Payment, PriceGrade, Refund, Seat, Ticket, Venue
from reservations.orders import confirmation_resend, confirmations_kick
from reservations.refunds import order_refund, tickets_refund
from reservations.seatmaps import seat_map_generate, seat_map_parse
from reservations.selectors import door_events, event_checkin_counts
from reservations.settlement import refund_settle


@admin.register(Venue)
class VenueAdmin(admin.ModelAdmin):
    list_display = ["name", "city"]
    search_fields = ["name", "city"]


class PriceGradeInline(admin.TabularInline):
    model = PriceGrade
    extra = 0
    fields = ["code", "price"]


class EventAdminForm(forms.ModelForm):
    seat_map_spec = forms.CharField(
        required=False,
        label=gettext_lazy("Generate seats"),
        help_text=gettext_lazy(
            "Sections to add in bulk: NAME:ROWSxSEATS:GRADE:PRICE, comma-separated, "
            "e.g. A:10x20:R:150000,B:5x10:S:90000."
        ),
        widget=forms.TextInput(attrs={"size": 80}),
    )

    class Meta:
        model = Event
        fields = "__all__"

    def clean_seat_map_spec(self) -> str:
        spec = self.cleaned_data.get("seat_map_spec", "").strip()
        if spec:
            try:
                seat_map_parse(spec)
            except Invalid as exc:
                raise forms.ValidationError(exc.detail) from None
        return spec


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    form = EventAdminForm
    list_display = [
        "name",
        "venue",
        "sale_opens_at",
        "status",
        "queue_enabled",
        "admission_batch_size",
        "admission_interval_seconds",
        "admission_cap",
        "checked_in",
    ]
    list_filter = ["status", "queue_enabled", "venue"]
    search_fields = ["name", "venue__name"]
    list_select_related = ["venue"]
    inlines = [PriceGradeInline]
    fieldsets = [
        (None, {"fields": ["name", "venue", "starts_at", "currency"]}),
        (
            gettext_lazy("Sale"),
            {
                "fields": [
                    "prequeue_opens_at",
                    "sale_opens_at",
                    "sale_closes_at",
                    "status",
                    "max_tickets_per_user",
                    "hold_seconds",
                    "cancel_until",
                ]
            },
        ),
        (
            gettext_lazy("Waiting queue"),
            {
                "fields": [
                    "queue_enabled",
                    "admission_batch_size",
                    "admission_interval_seconds",
                    "admission_cap",
                    "admission_seconds",
                    "arrival_seconds",
                    "challenge_bits",
                ]
            },
        ),
        (gettext_lazy("Seat map"), {"fields": ["seat_map_spec"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        admitting = Q(tickets__status__in=[Ticket.Status.VALID, Ticket.Status.CHECKED_IN])
        return (
            super()
            .get_queryset(request)
            .annotate(
                tickets_checked_in=Count("tickets", filter=Q(tickets__status=Ticket.Status.CHECKED_IN)),
                tickets_admitting=Count("tickets", filter=admitting),
            )
        )

    @admin.display(description=gettext_lazy("Checked in"))
    def checked_in(self, event: Event) -> str:
        return gettext("%(checked_in)s of %(admitting)s") % {
            "checked_in": event.tickets_checked_in,
            "admitting": event.tickets_admitting,
        }

    def get_urls(self) -> list[URLPattern]:
        door = [
            path("door/", self.admin_site.admin_view(self.door_view), name="reservations_event_door"),
            path(
                "door/figures/", self.admin_site.admin_view(self.door_figures), name="reservations_event_door_figures"
            ),
        ]
        return door + super().get_urls()

    def _door_rows(self, events: list[Event]) -> list[dict[str, Any]]:
        counts = event_checkin_counts(event_ids=[e.id for e in events])
        return [
            {
                "id": e.id,
                "checked_in": counts[e.id].checked_in,
                "admitting": counts[e.id].admitting,
                "last_scan": counts[e.id].last_scan.isoformat() if counts[e.id].last_scan else None,
            }
            for e in events
        ]

    def door_view(self, request: HttpRequest) -> HttpResponse:
        """The door's live figures: checked in of the tickets that admit, per
        event starting from a day ago on; the page refreshes them every few seconds."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        events = door_events()
        rows = {row["id"]: row for row in self._door_rows(events)}
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Door check-in, live"),
            "opts": self.model._meta,
            "rows": [(event, rows[event.id]) for event in events],
        }
        return TemplateResponse(request, "admin/reservations/event/door.html", context)

    def door_figures(self, request: HttpRequest) -> JsonResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse({"events": self._door_rows(door_events())})

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        spec = form.cleaned_data.get("seat_map_spec")
        if spec:
            try:
                made = seat_map_generate(event=form.instance, spec=spec)
            except Invalid as exc:
                self.message_user(
                    request, gettext("No seats generated: %(detail)s") % {"detail": exc.detail}, messages.ERROR
                )
            else:
                self.message_user(request, gettext("Generated %(count)s seats.") % {"count": made}, messages.SUCCESS)


@admin.register(PriceGrade)
class PriceGradeAdmin(admin.ModelAdmin):
    list_display = ["event", "code", "price"]
    list_filter = ["event"]
    list_select_related = ["event"]


@admin.register(Seat)
class SeatAdmin(admin.ModelAdmin):
    list_display = ["event", "section", "row", "number", "grade", "status", "held_until"]
    list_filter = ["event", "section", "grade__code", "status"]
    list_select_related = ["event", "grade"]
    search_fields = ["section", "row"]
    raw_id_fields = ["hold"]
    show_full_result_count = False
    list_per_page = 200


@admin.register(Hold)
class HoldAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "user", "status", "expires_at", "total", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["event", "user"]
    search_fields = ["user__username", "user__email", "event__name", "=id"]
    # Nothing of a hold is edited by hand: a release goes through the action, which frees the seats.
    readonly_fields = [
        "event",
        "user",
        "status",
        "expires_at",
        "seat_ids",
        "total",
        "paying_until",
        "created_at",
        "updated_at",
    ]
    actions = ["release_holds"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=gettext_lazy("Release the selected holds (seats back on sale)"))
    def release_holds(self, request: HttpRequest, queryset: Any) -> None:
        released = 0
        for hold_id in queryset.filter(status=Hold.Status.ACTIVE).values_list("id", flat=True):
            try:
                hold_release(hold_id=hold_id, user_id=None, force=True)
            except ApplicationError as exc:
                detail = gettext("Hold %(hold)s: %(detail)s") % {"hold": hold_id, "detail": exc.detail}
                self.message_user(request, detail, messages.WARNING)
            else:
                released += 1
        self.message_user(request, gettext("Released %(count)s hold(s).") % {"count": released}, messages.SUCCESS)


class TicketInline(admin.TabularInline):
    model = Ticket
    extra = 0
    can_delete = False
    fields = ["seat", "code", "price", "status", "checked_in_at", "checked_in_by", "refund"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["amount", "currency", "status", "reason", "requested_by", "gateway_attempts", "error", "refunded_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _returned_message(admin_: admin.ModelAdmin, request: HttpRequest, returned: list[Any]) -> None:
    """One message for a batch of refunds: how many tickets of how many
    orders, and which refunds the gateway has not taken yet."""
    tickets = sum(len(r.ticket_ids) for r in returned)
    pending = list(
        Refund.objects.filter(
            id__in=[r.refund_id for r in returned if r.refund_id], status=Refund.Status.PENDING
        ).values_list("id", flat=True)
    )
    done = gettext("Refunded %(tickets)s ticket(s) of %(orders)s order(s); seats back on sale.")
    admin_.message_user(request, done % {"tickets": tickets, "orders": len(returned)}, messages.SUCCESS)
    if pending:
        owed = gettext("The payment gateway has not taken refund(s) %(ids)s yet: they are retried automatically.")
        admin_.message_user(request, owed % {"ids": ", ".join(map(str, pending))}, messages.WARNING)


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "user", "status", "total", "currency", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["event", "user"]
    search_fields = ["user__username", "user__email", "event__name", "=id", "tickets__code"]
    readonly_fields = ["event", "user", "hold", "status", "total", "currency", "created_at", "updated_at"]
    inlines = [TicketInline, RefundInline]
    actions = ["refund_orders"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=gettext_lazy("Refund / cancel the selected orders (seats back on sale)"))
    def refund_orders(self, request: HttpRequest, queryset: Any) -> None:
        returned = []
        for order_id in queryset.filter(status=Order.Status.PAID).values_list("id", flat=True):
            try:
                returned.append(order_refund(order_id=order_id, by_user_id=request.user.pk))
            except ApplicationError as exc:
                detail = gettext("Order %(order)s: %(detail)s") % {"order": order_id, "detail": exc.detail}
                self.message_user(request, detail, messages.WARNING)
        _returned_message(self, request, returned)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    """Tickets: found by code, buyer or event; refunded one by one (the rest of the order stays valid)."""

    list_display = ["id", "event", "seat", "user", "order", "status", "checked_in_at", "checked_in_by", "price"]
    list_filter = ["status", "event"]
    list_select_related = ["event", "seat", "user", "checked_in_by"]
    search_fields = ["=code", "user__username", "user__email", "=order__id"]
    readonly_fields = [f.name for f in Ticket._meta.fields]
    actions = ["refund_tickets"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Refund the selected tickets (seats back on sale)"))
    def refund_tickets(self, request: HttpRequest, queryset: Any) -> None:
        ids = list(queryset.filter(status=Ticket.Status.VALID).values_list("id", flat=True))
        skipped = queryset.filter(status=Ticket.Status.CHECKED_IN).count()
        try:
            returned = tickets_refund(ticket_ids=ids, by_user_id=request.user.pk)
        except ApplicationError as exc:
            self.message_user(request, exc.detail, messages.WARNING)
            return
        if skipped:
            not_refunded = gettext("%(count)s ticket(s) already checked in were not refunded.") % {"count": skipped}
            self.message_user(request, not_refunded, messages.WARNING)
        _returned_message(self, request, returned)


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    """Refunds owed and made; one the gateway has not taken yet can be tried again at once."""

    list_display = ["id", "order", "amount", "currency", "status", "reason", "gateway_attempts", "error", "created_at"]
    list_filter = ["status", "reason"]
    list_select_related = ["order"]
    search_fields = ["=order__id", "order__user__username"]
    readonly_fields = [f.name for f in Refund._meta.fields]
    actions = ["retry_refunds"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description=gettext_lazy("Try the selected refunds again now"))
    def retry_refunds(self, request: HttpRequest, queryset: Any) -> None:
        ids = list(queryset.filter(status=Refund.Status.PENDING).values_list("id", flat=True))
        done = sum(refund_settle(refund_id=refund_id) for refund_id in ids)
        level = messages.SUCCESS if done == len(ids) else messages.WARNING
        took = gettext("The gateway took %(done)s of %(total)s refund(s).") % {"done": done, "total": len(ids)}
        self.message_user(request, took, level)


@admin.register(Payment)
class PaymentAdmin(admin.ModelAdmin):
    list_display = ["id", "hold", "user", "status", "amount", "currency", "charge_id", "gateway_attempts", "created_at"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["user__username", "idempotency_key", "charge_id", "=hold__id"]
    readonly_fields = [f.name for f in Payment._meta.fields]


@admin.register(Confirmation)
class ConfirmationAdmin(admin.ModelAdmin):
    """The confirmation outbox: failed messages are found by the status filter and sent again by an action."""

    list_display = ["order", "status", "to", "attempts", "last_error", "sent_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["to", "=order__id"]
    readonly_fields = [f.name for f in Confirmation._meta.fields]
    actions = ["resend_confirmations"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=gettext_lazy("Send the selected confirmations again"))
    def resend_confirmations(self, request: HttpRequest, queryset: Any) -> None:
        resent = 0
        for order_id in queryset.values_list("order_id", flat=True):
            if confirmation_resend(order_id=order_id):
                resent += 1
        confirmations_kick()
        self.message_user(
            request, gettext("Queued %(count)s confirmation(s) again.") % {"count": resent}, messages.SUCCESS
        )
