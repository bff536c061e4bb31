#!/bin/sh
# The image's entrypoint: every process of a container (uvicorn's workers,
# Celery's pool) writes its metrics to PROMETHEUS_MULTIPROC_DIR, which must
# start empty (files of an earlier run would add to this one's counts).
set -e
if [ -n "$PROMETHEUS_MULTIPROC_DIR" ]; then
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
fi
exec "$@"
