from django.urls import path

from reservations import api

urlpatterns = [
    path("api/events/", api.EventListApi.as_view(), name="api-events"),
    path("api/events/<int:event_id>/", api.EventDetailApi.as_view(), name="api-event"),
    path("api/events/<int:event_id>/seats/", api.SeatMapApi.as_view(), name="api-seats"),
    path("api/events/<int:event_id>/seats/layout/", api.SeatLayoutApi.as_view(), name="api-seat-layout"),
    path("api/events/<int:event_id>/seats/status/", api.SeatStatusApi.as_view(), name="api-seat-status"),
    path("api/events/<int:event_id>/holds/", api.HoldCreateApi.as_view(), name="api-holds"),
    path("api/holds/<int:hold_id>/", api.HoldDetailApi.as_view(), name="api-hold"),
    path("api/holds/<int:hold_id>/checkout/", api.CheckoutApi.as_view(), name="api-checkout"),
    path("api/orders/", api.OrderListApi.as_view(), name="api-orders"),
    path("api/orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="api-order"),
    path("api/orders/<int:order_id>/cancel/", api.OrderCancelApi.as_view(), name="api-order-cancel"),
    path("api/checkin/", api.CheckInApi.as_view(), name="api-checkin"),
    path("api/tickets/", api.TicketListApi.as_view(), name="api-tickets"),
    path("api/tickets/<int:ticket_id>/pdf/", api.TicketPdfApi.as_view(), name="api-ticket-pdf"),
]
