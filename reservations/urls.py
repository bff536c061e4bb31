from django.urls import path

from reservations import api

urlpatterns = [
    path("api/events/", api.EventListApi.as_view(), name="api-events"),
    path("api/events/<int:event_id>/", api.EventDetailApi.as_view(), name="api-event"),
]
