"""Django admin for organizers: venues, events (with their sale window and
queue settings), price grades and seats, and seat-map generation from a spec."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from queue_app.admin import QueueAdminMixin
from reservations.models import Event, Hold, PriceGrade, Seat, Venue
from reservations.seatmaps import seat_map_generate, seat_map_parse
from ticketing.errors import Invalid


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
class EventAdmin(QueueAdminMixin, admin.ModelAdmin):
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
        ("Sale", {"fields": ["sale_opens_at", "sale_closes_at", "status", "max_tickets_per_user", "hold_seconds"]}),
        (
            "Waiting queue",
            {
                "fields": [
                    "queue_enabled",
                    "admission_batch_size",
                    "admission_interval_seconds",
                    "admission_cap",
                    "admission_seconds",
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
    list_display = ["id", "event", "user", "status", "expires_at", "created_at"]
    list_filter = ["status", "event"]
    list_select_related = ["event", "user"]
    search_fields = ["user__username", "=id"]
    raw_id_fields = ["user"]
