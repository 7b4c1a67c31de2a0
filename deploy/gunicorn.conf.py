"""gunicorn settings for Briefing Search (`briefing serve` and the container use this file)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys

bind = f"{os.environ.get('BRIEFING_HOST', '127.0.0.1')}:{os.environ.get('BRIEFING_PORT', '8000')}"
_workers = int(os.environ.get("BRIEFING_WORKERS", "0") or 0)
workers = _workers or min(2 * multiprocessing.cpu_count() + 1, 8)
worker_class = "sync"
timeout = 60
graceful_timeout = 30
keepalive = 5
# Not preloaded: each worker opens its own Whoosh searcher after the fork, so no file handles or
# numpy arrays are shared between processes.
preload_app = False
wsgi_app = "api:create_app()"


def when_ready(server):  # type: ignore[no-untyped-def]
    """Start the one folder watcher (the single index writer) beside the master."""
    if os.environ.get("BRIEFING_WATCH", "true").lower() in {"0", "false", "no", "off"}:
        return
    cmd = [sys.executable, "-m", "index.watcher", "--parent-pid", str(os.getpid())]
    server.log.info("starting watcher: %s", " ".join(cmd))
    server.briefing_watcher = subprocess.Popen(cmd)


def on_exit(server):  # type: ignore[no-untyped-def]
    """Stop the watcher, letting it finish its current commit."""
    proc = getattr(server, "briefing_watcher", None)
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
