from django.apps import AppConfig


class QueueAppConfig(AppConfig):
    name = "queue_app"
    verbose_name = "Waiting queue"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from queue_app.receivers import order_paid_admission_end, seats_returned_sale_reopen
        from reservations.signals import order_paid, seats_returned

        order_paid.connect(order_paid_admission_end, dispatch_uid="queue_app.order_paid_admission_end")
        seats_returned.connect(seats_returned_sale_reopen, dispatch_uid="queue_app.seats_returned_sale_reopen")
