"""gunicorn settings for Briefing Search (`briefing serve`, deploy/entrypoint.sh and the units use this).

Every knob is a BRIEFING_* environment variable declared in search/settings.py and read with its
rules. This file imports no app code beyond small standard-library-only helpers (search.settings,
index.status, index.logformat), on purpose: whatever the master imports, every worker inherits
across fork and a SIGHUP reload could not replace it.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import shutil
import sys
import tempfile
from typing import Any

from gunicorn.glogging import Logger

from index.status import pid_alive
from search.settings import load_settings

# Read once per (re)load of this file: a SIGHUP reload picks up changed variables.
_settings = load_settings()


def _cpus() -> int:
    # The CPUs this process may run on (a container's cpuset), not every CPU of the host.
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return multiprocessing.cpu_count()


# -- server ------------------------------------------------------------------------------------

_host = str(_settings["HOST"])
_port = int(_settings["PORT"])
bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"
# Sync workers: a search is CPU-bound numpy and Whoosh work, so threads would only contend for the
# GIL; one process per request in flight is the honest model. Capped because each worker holds its
# own searcher and facet arrays in memory.
workers = int(_settings["WORKERS"]) or min(2 * _cpus() + 1, 8)
worker_class = "sync"
timeout = int(_settings["TIMEOUT"])
# SIGTERM and SIGHUP: workers stop accepting, finish what they hold, and exit within this.
graceful_timeout = int(_settings["GRACEFUL_TIMEOUT"])
keepalive = 5
# Request-head limits, documented in the README ("Limits"). Past them gunicorn answers itself, in
# HTML, before the app sees the request; the proxy (deploy/nginx/) refuses first, in the JSON
# error shape. The request line: 0 turns gunicorn's check off, and the proxy bounds the line
# (16 KiB). gunicorn's finite maximum, 8,190 bytes, is shorter than a valid search (q may hold 1,000 characters,
# up to 12 KB percent-encoded, plus repeated filters): the app must be the one to refuse a long
# q, with a 422 naming the field. Headers: 100 fields of at most 16 KiB each, as the proxy.
limit_request_line = 0
limit_request_fields = 100
limit_request_field_size = 16384
# Preloading is safe with Whoosh here because create_app opens no index file: each worker opens its
# own searcher lazily, after the fork, so no file handle or mmap is shared. It is off by default
# because a preloaded app is not reloaded by SIGHUP (graceful code reload needs a restart then).
preload_app = bool(_settings["PRELOAD"])
wsgi_app = "api:create_app()"
# gunicorn's control socket lives at one path per user ($HOME/.gunicorn/gunicorn.ctl): two servers
# on one host would fight over it, and the container's home is read-only. Signals do the job.
control_socket_disable = True
# The worker heartbeat file: /dev/shm is memory, so a slow or overlay disk cannot stall workers.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

# -- metrics -----------------------------------------------------------------------------------

# prometheus_client picks multiprocess mode when it is imported, so the directory must be in the
# environment before any worker imports the app. A reload re-reads this file: reuse the directory.
_metrics_dir = (
    str(_settings["METRICS_DIR"])
    or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    or tempfile.mkdtemp(prefix=f"briefing-metrics-{os.getpid()}-")
)
os.makedirs(_metrics_dir, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

# -- logs --------------------------------------------------------------------------------------

loglevel = str(_settings["LOG_LEVEL"]).lower()
_ACCESS_LOG = bool(_settings["ACCESS_LOG"])
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # The same line format as the workers' and the watcher's own logs.
        "line": {"()": "index.logformat.make_formatter", "fmt": str(_settings["LOG_FORMAT"])},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stderr",
        },
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "line",
            "stream": "ext://sys.stdout",
        },
    },
    # Everything goes to stderr through the root logger, the access log alone to stdout: a log
    # shipper can tell them apart, and nothing is written twice.
    "root": {"level": loglevel.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}


class BriefingLogger(Logger):
    """gunicorn's logger, with its access line as structured fields rather than an Apache line."""

    def access(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        """One access record per request, when BRIEFING_ACCESS_LOG is on."""
        # Off by default: the app already logs one line per request with its request id.
        if not _ACCESS_LOG:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        status = str(atoms["s"])
        fields = {
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "query": atoms["q"],
            "protocol": atoms["H"],
            "status": int(status) if status.isdigit() else status,
            "bytes": atoms["B"],
            "duration_ms": round(atoms["D"] / 1000, 1),
            "referer": atoms["f"],
            "user_agent": atoms["a"],
            "request_id": atoms.get("{x-request-id}o", "-"),
        }
        self.access_log.info("%s %s %s", atoms["m"], atoms["U"], status, extra=fields)


logger_class = BriefingLogger


# -- hooks -------------------------------------------------------------------------------------


def on_starting(server):  # type: ignore[no-untyped-def]
    """Clear metric files a previous run left: in a configured directory, or a killed master's."""
    # Stale per-process files would add a dead server's counts to this one's.
    for path in glob.glob(os.path.join(os.environ["PROMETHEUS_MULTIPROC_DIR"], "*.db")):
        os.unlink(path)
    # A master that was SIGKILLed never ran on_exit: remove its temporary directory now.
    for stale in glob.glob(os.path.join(tempfile.gettempdir(), "briefing-metrics-*-*")):
        pid = os.path.basename(stale).split("-")[2]
        if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def when_ready(server):  # type: ignore[no-untyped-def]
    """Start the one folder watcher (the single index writer) beside the master."""
    # WATCH off: no watcher anywhere. START_WATCHER off: one runs elsewhere (unit, other host).
    if not _settings["WATCH"] or not _settings["START_WATCHER"]:
        return
    from index.supervisor import WatcherSupervisor

    cmd = [sys.executable, "-m", "index.watcher", "--parent-pid", str(os.getpid())]
    # Supervised: a watcher that dies (crash, OOM, SIGKILL) is restarted with backoff.
    supervisor = WatcherSupervisor(cmd, str(_settings["INDEX_DIR"]), logger=server.log)
    supervisor.start()
    server.briefing_watcher = supervisor


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Let a streaming export tell the master this worker is alive (search/heartbeat.py)."""
    from search import heartbeat

    heartbeat.install(worker.notify)


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    """Drop a dead worker's live gauges from the multiprocess metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    """Stop the watcher, letting it finish its current commit; remove our metrics directory."""
    supervisor = getattr(server, "briefing_watcher", None)
    if supervisor is not None:
        supervisor.stop()
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    # Only the directory this master made for itself; a configured one belongs to the operator.
    if os.path.basename(metrics_dir).startswith(f"briefing-metrics-{os.getpid()}-"):
        shutil.rmtree(metrics_dir, ignore_errors=True)
