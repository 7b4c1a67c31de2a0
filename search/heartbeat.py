"""A long response's proof of life to the process that supervises the worker serving it.

gunicorn replaces a sync worker that has not checked in for `timeout` seconds: right for a
stuck request, wrong for an export streaming a million passages. The gunicorn config installs
the worker's own `notify` here (deploy/gunicorn.conf.py, post_worker_init); a streaming response
calls `beat()` as it makes progress. A worker that stops making progress stops beating and is
replaced as before. Standard library only: the gunicorn config imports it.
"""

from __future__ import annotations

from collections.abc import Callable

_notify: Callable[[], None] | None = None


def install(notify: Callable[[], None] | None) -> None:
    """Use notify (gunicorn's Worker.notify) for beats in this process; None: no supervisor."""
    global _notify
    _notify = notify


def beat() -> None:
    """Tell the supervisor this worker is alive and making progress (no-op outside gunicorn)."""
    if _notify is not None:
        _notify()
