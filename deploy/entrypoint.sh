#!/bin/sh
# Briefing Search entrypoint (the container's, and usable as is on a host): one role per command,
# every setting a BRIEFING_* environment variable.
#
#   serve        sync the index with the folder, then gunicorn + the watcher (default; all in one)
#   api          gunicorn only, no start-up sync and no watcher of its own: never writes the index
#                (a read replica, or the API beside a watcher service)
#   watcher      the folder watcher alone: the single index writer
#   proxy        nginx (deploy/nginx/) on BRIEFING_PORT in front of BRIEFING_UPSTREAM (host:port of
#                the API; compose: api:8000): buffers slow clients, limits reads per client
#   healthcheck  exit 0 when GET /healthz (or the path given) answers 200 on BRIEFING_PORT
#   anything else runs as a command, e.g. `briefing index --json`
set -eu

APP_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
role=${1:-serve}
[ "$#" -gt 0 ] && shift

case "$role" in
serve)
    exec briefing serve "$@"
    ;;
api)
    # The watcher runs elsewhere: uploads land in the folder and wait for it to index them.
    BRIEFING_START_WATCHER=false
    export BRIEFING_START_WATCHER
    cd "$APP_DIR"
    exec python -m gunicorn -c "$APP_DIR/deploy/gunicorn.conf.py" "$@"
    ;;
watcher)
    exec python -m index.watcher "$@"
    ;;
proxy)
    BRIEFING_UPSTREAM=${BRIEFING_UPSTREAM:-127.0.0.1:8000}
    run=/tmp/briefing-nginx
    mkdir -p "$run"
    sed -e "s|@APP_DIR@|$APP_DIR|g" -e "s|@UPSTREAM@|$BRIEFING_UPSTREAM|g" \
        -e "s|@PORT@|${BRIEFING_PORT:-8000}|g" "$APP_DIR/deploy/nginx/container.conf" >"$run/nginx.conf"
    # -e stderr: nginx opens its compiled-in log file before it reads the config otherwise.
    exec nginx -e stderr -p "$run" -c "$run/nginx.conf" "$@"
    ;;
healthcheck)
    exec python "$APP_DIR/deploy/healthcheck.py" "$@"
    ;;
*)
    exec "$role" "$@"
    ;;
esac
