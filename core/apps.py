from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Code every app shares (errors, Redis clients, rate limits, the ASGI and
    WebSocket plumbing, the ops endpoints). It imports none of the other apps."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
