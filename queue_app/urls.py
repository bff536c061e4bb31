from django.urls import path

from queue_app import api

urlpatterns = [
    path("api/events/<int:event_id>/queue/", api.EventQueueApi.as_view(), name="api-event-queue"),
    path(
        "api/events/<int:event_id>/queue/challenge/", api.QueueChallengeApi.as_view(), name="api-event-queue-challenge"
    ),
]
