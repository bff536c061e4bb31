"""Django admin for organizers: venues, events (with their sale window and
queue settings), price grades and seats, and seat-map generation from a spec."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from core.errors import ApplicationError, Invalid
from reservations.holds import hold_release
from reservations.models import Confirmation, Event, Hold, Order, Payment, PriceGrade, Seat, Ticket, Venue
from reservations.orders import confirmation_resend, confirmations_kick, order_refund
from reservations.seatmaps import seat_map_generate, seat_map_parse


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
        label="Generate seats",
        help_text=(
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
    ]
    list_filter = ["status", "queue_enabled", "venue"]
    search_fields = ["name", "venue__name"]
    list_select_related = ["venue"]
    inlines = [PriceGradeInline]
    fieldsets = [
        (None, {"fields": ["name", "venue", "starts_at", "currency"]}),
        (
            "Sale",
            {
                "fields": [
                    "prequeue_opens_at",
                    "sale_opens_at",
                    "sale_closes_at",
                    "status",
                    "max_tickets_per_user",
                    "hold_seconds",
                ]
            },
        ),
        (
            "Waiting queue",
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
        ("Seat map", {"fields": ["seat_map_spec"]}),
    ]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        spec = form.cleaned_data.get("seat_map_spec")
        if spec:
            try:
                made = seat_map_generate(event=form.instance, spec=spec)
            except Invalid as exc:
                self.message_user(request, f"No seats generated: {exc.detail}", messages.ERROR)
            else:
                self.message_user(request, f"Generated {made} seats.", messages.SUCCESS)


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

    @admin.action(description="Release the selected holds (seats back on sale)")
    def release_holds(self, request: HttpRequest, queryset: Any) -> None:
        released = 0
        for hold_id in queryset.filter(status=Hold.Status.ACTIVE).values_list("id", flat=True):
            try:
                hold_release(hold_id=hold_id, user_id=None, force=True)
            except ApplicationError as exc:
                self.message_user(request, f"Hold {hold_id}: {exc.detail}", messages.WARNING)
            else:
                released += 1
        self.message_user(request, f"Released {released} hold(s).", messages.SUCCESS)


class TicketInline(admin.TabularInline):
    model = Ticket
    extra = 0
    can_delete = False
    fields = ["seat", "code", "price", "status"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["id", "event", "user", "status", "total", "currency", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["event", "user"]
    search_fields = ["user__username", "user__email", "event__name", "=id", "tickets__code"]
    readonly_fields = ["event", "user", "hold", "status", "total", "currency", "created_at", "updated_at"]
    inlines = [TicketInline]
    actions = ["refund_orders"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Refund / cancel the selected orders (seats back on sale)")
    def refund_orders(self, request: HttpRequest, queryset: Any) -> None:
        refunded = 0
        for order_id in queryset.filter(status=Order.Status.PAID).values_list("id", flat=True):
            try:
                order_refund(order_id=order_id)
            except ApplicationError as exc:
                self.message_user(request, f"Order {order_id}: {exc.detail}", messages.WARNING)
            else:
                refunded += 1
        self.message_user(request, f"Refunded {refunded} order(s).", messages.SUCCESS)


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

    @admin.action(description="Send the selected confirmations again")
    def resend_confirmations(self, request: HttpRequest, queryset: Any) -> None:
        resent = 0
        for order_id in queryset.values_list("order_id", flat=True):
            if confirmation_resend(order_id=order_id):
                resent += 1
        confirmations_kick()
        self.message_user(request, f"Queued {resent} confirmation(s) again.", messages.SUCCESS)
