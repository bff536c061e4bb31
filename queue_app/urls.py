from django.urls import path

from queue_app import api

urlpatterns = [
    path("api/events/<int:event_id>/queue/", api.EventQueueApi.as_view(), name="api-event-queue"),
    path(
        "api/events/<int:event_id>/queue/challenge/", api.QueueChallengeApi.as_view(), name="api-event-queue-challenge"
    ),
    path("api/events/<int:event_id>/draw/", api.DrawApi.as_view(), name="api-event-draw"),
    path("api/events/<int:event_id>/draw/entries/", api.DrawEntriesApi.as_view(), name="api-event-draw-entries"),
]
