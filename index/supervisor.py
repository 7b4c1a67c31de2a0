"""Keep the one folder watcher running: restart it with backoff whenever it dies.

The gunicorn master starts a `WatcherSupervisor` in `when_ready` (deploy/gunicorn.conf.py). A
thread of the master waits on the watcher process; when it exits for any reason other than our
own stop (a crash, an OOM kill, a SIGKILL), the supervisor records the death in the watcher
status file (so `/readyz` answers 503 and `/metrics` reports the sync as failed until the new
watcher has synced) and starts a new watcher after a backoff that doubles with each quick death.
The new watcher's start-up sync indexes whatever the dead one left undone.

Standard library only: the gunicorn master imports it, and every worker inherits what it imports.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import Any

from index.status import write_watcher_status

log = logging.getLogger("index.supervisor")

# First restart after this many seconds, doubling per quick death up to BACKOFF_MAX: a watcher
# that crashes at start-up (bad settings, full disk) must not spin a core restarting.
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
# A watcher that ran this long before dying was healthy: its successor starts from the initial
# backoff again.
STABLE_AFTER = 60.0
# Seconds a stopping watcher gets to finish its current commit before it is killed.
STOP_TIMEOUT = 30.0


def describe_exit(returncode: int) -> str:
    """'killed by SIGKILL', 'exited with code 1', or 'exited' (0: also what Popen reports when
    gunicorn's SIGCHLD handler reaped the watcher first and its real status is lost)."""
    if returncode == 0:
        return "exited"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class WatcherSupervisor:
    """Runs a watcher command, restarting it with exponential backoff until stopped."""

    def __init__(
        self,
        cmd: Sequence[str],
        index_dir: str | os.PathLike[str],
        logger: Any = None,
        backoff_initial: float = BACKOFF_INITIAL,
        backoff_max: float = BACKOFF_MAX,
        stable_after: float = STABLE_AFTER,
    ) -> None:
        self.cmd = list(cmd)
        self.index_dir = index_dir
        self.log = logger or log
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.stable_after = stable_after
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the watcher and the thread that restarts it."""
        self._spawn()
        self._thread = threading.Thread(target=self._supervise, name="watcher-supervisor")
        self._thread.daemon = True
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                return
            self.log.info("starting watcher: %s", " ".join(self.cmd))
            self.proc = subprocess.Popen(self.cmd)

    def _supervise(self) -> None:
        backoff = self.backoff_initial
        while not self._stopping.is_set():
            proc = self.proc
            if proc is None:
                return
            started = time.monotonic()
            returncode = proc.wait()
            if self._stopping.is_set():
                return
            ran = time.monotonic() - started
            if ran >= self.stable_after:
                backoff = self.backoff_initial
            how = describe_exit(returncode)
            self.log.error(
                "watcher (pid %d) %s after %.1fs; restarting in %.1fs", proc.pid, how, ran, backoff
            )
            try:
                # The dead watcher's pid, so readers see no live watcher until the next one writes.
                write_watcher_status(
                    self.index_dir, pid=proc.pid, outcome="error", error=f"watcher {how}"
                )
            except OSError as exc:
                self.log.warning("cannot write watcher status: %s", exc)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, self.backoff_max)
            self.restarts += 1
            self._spawn()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop restarting; SIGTERM the watcher (it finishes its commit), SIGKILL past timeout."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._thread is not None:
            self._thread.join(timeout=5)
