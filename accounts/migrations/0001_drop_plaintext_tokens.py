"""API tokens moved to django-rest-knox (digests at rest, with an expiry).

DRF's ``authtoken`` app kept every token in plaintext; its table is dropped
so no readable credential stays in the database. Holders of such tokens log
in again (``POST /api/auth/token/``) and get a knox token.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("knox", "0009_extend_authtoken_field")]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token CASCADE", reverse_sql=migrations.RunSQL.noop),
    ]
