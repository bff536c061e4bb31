"""After the sale: check-in (ticket status ``checked_in``, who and when, the
``scan_ticket`` permission), buyer cancellation (``Event.cancel_until``) and
refunds as outbox rows (``Refund``), and ``reservations/sql/after_sale_v1.sql``
(the per-person count that counts checked-in tickets).

A payment left ``refunding`` by the code before this migration (its refund
was tracked on the payment itself) gets a pending ``Refund`` of the whole
amount, so reconciliation settles it the new way."""

from pathlib import Path

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"


def refunding_payments_to_refunds(apps, schema_editor):
    Payment = apps.get_model("reservations", "Payment")
    Refund = apps.get_model("reservations", "Refund")
    for payment in Payment.objects.filter(status="refunding", order__isnull=False, refunds__isnull=True):
        Refund.objects.create(
            order_id=payment.order_id,
            payment=payment,
            amount=payment.amount,
            currency=payment.currency,
            status="pending",
            reason="organizer",
        )


class Migration(migrations.Migration):

    dependencies = [
        ('reservations', '0007_lean_indexes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Refund',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.PositiveBigIntegerField()),
                ('currency', models.CharField(max_length=3)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('refunded', 'Refunded')], default='pending', max_length=16)),
                ('reason', models.CharField(choices=[('buyer', 'Cancelled by the buyer'), ('organizer', 'Refunded by the organizer')], max_length=16)),
                ('gateway_attempts', models.PositiveIntegerField(default=0, help_text='Failed refund calls so far.')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('error', models.CharField(blank=True, max_length=300)),
                ('refunded_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.AlterModelOptions(
            name='ticket',
            options={'ordering': ['id'], 'permissions': [('scan_ticket', 'Can check tickets in at the door')]},
        ),
        migrations.RemoveConstraint(
            model_name='ticket',
            name='ticket_one_valid_per_seat',
        ),
        migrations.RemoveConstraint(
            model_name='ticket',
            name='ticket_status_valid',
        ),
        migrations.AddField(
            model_name='event',
            name='cancel_until',
            field=models.DateTimeField(blank=True, help_text='Buyers may cancel their orders (seats back on sale, payment refunded) until then (empty: no cancellation by buyers; the organizer can still refund).', null=True),
        ),
        migrations.AddField(
            model_name='ticket',
            name='checked_in_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='ticket',
            name='checked_in_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tickets_scanned', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='ticket',
            name='status',
            field=models.CharField(choices=[('valid', 'Valid'), ('checked_in', 'Checked In'), ('void', 'Void')], default='valid', max_length=16),
        ),
        migrations.AddField(
            model_name='refund',
            name='order',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='reservations.order'),
        ),
        migrations.AddField(
            model_name='refund',
            name='payment',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='refunds', to='reservations.payment'),
        ),
        migrations.AddField(
            model_name='refund',
            name='requested_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='refunds_requested', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='ticket',
            name='refund',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='tickets', to='reservations.refund'),
        ),
        migrations.AddIndex(
            model_name='ticket',
            index=models.Index(fields=['event', 'status'], name='ticket_event_status'),
        ),
        migrations.AddConstraint(
            model_name='ticket',
            constraint=models.UniqueConstraint(condition=models.Q(('status__in', ['valid', 'checked_in'])), fields=('seat',), name='ticket_one_live_per_seat'),
        ),
        migrations.AddConstraint(
            model_name='ticket',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['valid', 'checked_in', 'void'])), name='ticket_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='ticket',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('checked_in_at__isnull', False), ('status', 'checked_in')), models.Q(models.Q(('status', 'checked_in'), _negated=True), ('checked_in_at__isnull', True), ('checked_in_by__isnull', True)), _connector='OR'), name='ticket_checked_in_recorded'),
        ),
        migrations.AddConstraint(
            model_name='ticket',
            constraint=models.CheckConstraint(condition=models.Q(('status', 'void'), ('refund__isnull', True), _connector='OR'), name='ticket_refund_only_void'),
        ),
        migrations.AddIndex(
            model_name='refund',
            index=models.Index(condition=models.Q(('status', 'pending')), fields=['updated_at'], name='refund_pending'),
        ),
        migrations.AddConstraint(
            model_name='refund',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='refund_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='refund',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'refunded'])), name='refund_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='refund',
            constraint=models.CheckConstraint(condition=models.Q(('reason__in', ['buyer', 'organizer'])), name='refund_reason_valid'),
        ),
        migrations.AddConstraint(
            model_name='refund',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('refunded_at__isnull', False), ('status', 'refunded')), models.Q(('refunded_at__isnull', True), ('status', 'pending')), _connector='OR'), name='refund_refunded_at_refunded'),
        ),
        migrations.RunSQL(
            sql=(SQL_DIR / "after_sale_v1.sql").read_text(),
            # Back to version 1's functions, as booking_v1.sql defines them.
            reverse_sql=(SQL_DIR / "booking_v1.sql").read_text(),
        ),
        migrations.RunPython(refunding_payments_to_refunds, migrations.RunPython.noop),
    ]
