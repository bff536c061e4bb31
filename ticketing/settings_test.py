"""Test settings: the real PostgreSQL and Redis, on their own Redis db number."""

import os

os.environ.setdefault("REDIS_DB", "15")

from ticketing.settings import *  # noqa: F403
from ticketing.settings import DATABASES

# Threads in the concurrency tests each open their own connection; the pool
# would only hide connection leaks there. A live process of a fault test
# about the pools themselves asks for them with DB_POOL=1.
if os.environ.get("DB_POOL") != "1":
    DATABASES["default"].pop("OPTIONS", None)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if "EMAIL_URL" not in os.environ:  # the live processes of the fault tests talk to a real local SMTP server
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = os.environ.get("CHANNEL_PREFIX", "test-asgi")  # noqa: F405
# The suite registers and logs in thousands of users from 127.0.0.1; the
# tests of these limits set their own.
RATE_LIMIT_REGISTER = os.environ.get("RATE_LIMIT_REGISTER", "1000000/h")
RATE_LIMIT_LOGIN = os.environ.get("RATE_LIMIT_LOGIN", "1000000/m")
