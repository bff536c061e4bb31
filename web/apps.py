from django.apps import AppConfig


class WebConfig(AppConfig):
    """The browser booking flow: server-rendered pages whose JS talks to the JSON API."""

    name = "web"
    verbose_name = "Browser booking flow"
