# The production-like image: one image for web (ASGI), Celery worker and beat.
# docker compose up runs all three against PostgreSQL and Redis containers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/ticketing-metrics

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files (the admin's) are collected at build time; WhiteNoise serves
# them. Placeholder URLs keep settings from starting the embedded servers;
# no metrics directory exists yet (the entrypoint makes it at run time).
# The translation catalogues are compiled here too, in pure Python (no GNU gettext in the image).
RUN DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    env -u PROMETHEUS_MULTIPROC_DIR python manage.py translations_compile \
 && DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    env -u PROMETHEUS_MULTIPROC_DIR python manage.py collectstatic --noinput --verbosity 0 \
 && useradd --create-home --uid 1000 app \
 && chown -R app /app

USER app
EXPOSE 8000
# Empties PROMETHEUS_MULTIPROC_DIR, then runs the command: /metrics sums the container's processes.
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["sh", "-c", "python manage.py migrate --noinput && exec uvicorn ticketing.asgi:application --host 0.0.0.0 --port 8000 --workers 2 --ws-per-message-deflate false --no-proxy-headers"]
