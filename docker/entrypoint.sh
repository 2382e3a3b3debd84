#!/bin/sh
# One image, one role per container, chosen by the command:
#   web                  gunicorn with cronadmin/gunicorn.conf.py (the default)
#   scheduler            manage.py runscheduler (one per host; they share a lease on PostgreSQL)
#   worker ARGS...       a Celery worker, e.g. `worker -Q reports -c 4` (docs/workers.md)
#   migrate              apply database migrations, then exit
#   manage ARGS...       any manage.py command, e.g. `manage createsuperuser`
#   healthcheck          exit 0 when the web answers GET /healthz with 200
# exec hands PID 1 to the server itself, so `docker stop` (SIGTERM) reaches it directly.
set -eu

app_dir=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd)
cd "$app_dir"
export PYTHONPATH="$app_dir${PYTHONPATH:+:$PYTHONPATH}"

role=${1:-web}
[ $# -gt 0 ] && shift

case "$role" in
    web)
        exec python -m gunicorn -c cronadmin/gunicorn.conf.py "$@" ;;
    scheduler)
        exec python manage.py runscheduler "$@" ;;
    worker)
        exec python -m celery -A cronadmin worker --without-gossip --without-mingle "$@" ;;
    migrate)
        exec python manage.py migrate --no-input "$@" ;;
    manage)
        exec python manage.py "$@" ;;
    healthcheck)
        exec python docker/healthcheck.py "$@" ;;
    *)
        echo "unknown role '$role': use web, scheduler, worker, migrate, manage ARGS... or healthcheck" >&2
        exit 64 ;;
esac
