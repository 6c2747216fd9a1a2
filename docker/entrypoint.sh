#!/bin/sh
# The image's entrypoint: the first argument names the role, the rest is passed on.
#   api     migrate the database, then gunicorn (GUNICORN_WORKERS x GUNICORN_THREADS, default 3 x 4)
#   ingest  the RTMP ingest and its transcoders
#   hls     the HLS server, counting viewers behind nginx
#   worker  the Celery worker (CELERY_CONCURRENCY, default 2)
#   uploads the upload transcoding worker (queue UPLOAD_QUEUE, UPLOAD_TRANSCODE_CONCURRENCY)
#   beat    the Celery beat scheduler (periodic jobs; run exactly one)
#   manage  a Django management command, e.g. `manage createsuperuser`
# Anything else is run as is.
set -eu

role="${1:-api}"
[ "$#" -gt 0 ] && shift

case "$role" in
    api)
        # Several API replicas: set MIGRATE_ON_START=0 on all but one (docs/operations.md).
        if [ "${MIGRATE_ON_START:-1}" = "1" ]; then
            python manage.py migrate --noinput
        fi
        exec gunicorn api.wsgi:application \
            --bind "0.0.0.0:${GUNICORN_PORT:-8000}" \
            --workers "${GUNICORN_WORKERS:-3}" \
            --worker-class gthread --threads "${GUNICORN_THREADS:-4}" \
            --timeout "${GUNICORN_TIMEOUT:-30}" \
            --graceful-timeout 30 \
            --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-*}" \
            --access-logfile - \
            "$@"
        ;;
    ingest)
        exec python -m rtmp_ingest "$@"
        ;;
    hls)
        exec python -m hls_out "$@"
        ;;
    worker)
        exec celery -A workers worker --loglevel "${LOG_LEVEL:-INFO}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" "$@"
        ;;
    uploads)
        exec celery -A workers worker --loglevel "${LOG_LEVEL:-INFO}" -n "uploads@%h" \
            -Q "${UPLOAD_QUEUE:-uploads}" --concurrency "${UPLOAD_TRANSCODE_CONCURRENCY:-1}" "$@"
        ;;
    beat)
        exec celery -A workers beat --loglevel "${LOG_LEVEL:-INFO}" "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$role" "$@"
        ;;
esac
