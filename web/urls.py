"""Pages of the browser booking flow (the JSON API lives in each app's urls)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from web import views

app_name = "web"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("events/<int:event_id>/", views.event_detail, name="event-detail"),
    path("events/<int:event_id>/queue/", views.event_queue, name="event-queue"),
    path("events/<int:event_id>/seats/", views.event_seats, name="event-seats"),
    path("holds/<int:hold_id>/checkout/", views.hold_checkout, name="hold-checkout"),
    path("orders/<int:order_id>/", views.order_confirmation, name="order-confirmation"),
    path("tickets/", views.my_tickets, name="my-tickets"),
    path("tickets/<str:code>/qr.svg", views.ticket_qr, name="ticket-qr"),
    path("door/", views.door_scanner, name="door-scanner"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/login/", views.LimitedLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
