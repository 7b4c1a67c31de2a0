"""Watch the documents folder and keep the index in step: debounced batches, one writer.

`python -m index.watcher [--docs DIR] [--index-dir DIR] [--parent-pid PID]` runs the watcher alone;
`briefing serve` starts it once from the gunicorn master and `briefing watch` runs it by hand.

How a change becomes searchable:

1. watchdog (inotify on Linux, recursive) reports a path; temporary and hidden names are dropped.
2. The path waits in a `ChangeQueue` until it is complete: a file someone is still writing (data
   written, no close yet) waits for its close event, or for `stall` seconds of silence when a
   writer keeps it open; without close events (non-Linux) it waits for a `quiet` period. Every
   path must then show the same size and mtime on two looks in a row before it is taken.
3. Ready paths are flushed together once activity pauses (`settle`) or the oldest has waited
   `max_latency`: a burst of a thousand files becomes a handful of commits, one per batch.
4. `IndexSyncer.sync_paths` indexes the batch (moves are the old path gone plus the new one
   present) in one Whoosh commit; readers see it on their next request.

A full `sync_all` runs at start (files dropped while nothing watched) and every `rescan_interval`
seconds (events lost to an overflowing inotify queue or a network filesystem).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from index.errors import IndexingError
from index.logformat import make_formatter
from index.readers import DEFAULT_MAX_BYTES
from index.status import now_iso, pid_alive, write_watcher_status
from index.sync import IndexBusy, IndexSyncer, SyncReport, is_ignored
from search.alerts.db import db_path
from search.alerts.delivery import ensure_deliverer
from search.settings import load_settings

log = logging.getLogger("index.watcher")

# Open, close-without-write and directory-modified events are left out on purpose: the watcher's
# own reads of a file would otherwise report it again, forever.
WATCHED_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]

QUIET = 0.3
SETTLE = 0.1
STALL = 5.0
MAX_LATENCY = 1.0
RESCAN_INTERVAL = 60.0
TICK = 0.05
# How often the status file is rewritten when nothing happens, so a reader can tell we are alive.
HEARTBEAT = 10.0
# Whoosh indexes about 50-100 documents a second here: a burst is committed in slices of this
# many files so the first ones are searchable within seconds instead of when the last is done.
MAX_BATCH_PATHS = 200
# A batch that fails for a reason other than a busy lock is retried this many times, then left
# to the next periodic rescan so one poisoned path cannot stall the queue.
MAX_ATTEMPTS = 3

_UNSEEN = (-2, -2)
_Stat = tuple[int, int]


def _stat(path: Path) -> _Stat:
    try:
        st = path.stat()
    except OSError:
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


@dataclass
class _Pending:
    first_seen: float
    last_event: float
    writing: bool = False
    stat: _Stat = _UNSEEN
    ready_since: float | None = None
    attempts: int = 0


class ChangeQueue:
    """Changed paths waiting to be complete, handed out in batches; safe across threads."""

    def __init__(
        self,
        close_events: bool,
        quiet: float = QUIET,
        settle: float = SETTLE,
        stall: float = STALL,
        max_latency: float = MAX_LATENCY,
        stat: Callable[[Path], _Stat] = _stat,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.close_events = close_events
        self.quiet = quiet
        self.settle = settle
        self.stall = stall
        self.max_latency = max_latency
        self._stat = stat
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[Path, _Pending] = {}
        self._last_event = 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def touch(self, path: Path, writing: bool | None = None, attempts: int = 0) -> None:
        """Note activity on path; writing=True while data is written, False once it is closed."""
        now = self._clock()
        with self._lock:
            item = self._pending.get(path)
            if item is None:
                item = self._pending[path] = _Pending(first_seen=now, last_event=now)
            item.last_event = now
            item.ready_since = None
            item.attempts = max(item.attempts, attempts)
            if writing is not None:
                item.writing = writing
            self._last_event = now

    def take_batch(self) -> list[tuple[Path, int]]:
        """Complete paths (with their failed attempts so far) if it is time to flush, else []."""
        now = self._clock()
        # Without close events, only silence tells that a writer is done.
        wait = self.settle if self.close_events else self.quiet
        with self._lock:
            candidates = [
                (path, item.last_event)
                for path, item in self._pending.items()
                if item.ready_since is None
                and now - item.last_event >= (self.stall if item.writing else wait)
            ]
        # stat outside the lock: the event thread must never wait on the disk.
        looks = [(path, seen, self._stat(path)) for path, seen in candidates]
        with self._lock:
            for path, seen, stat in looks:
                item = self._pending.get(path)
                if item is None or item.last_event != seen:
                    continue
                if stat == item.stat:
                    item.ready_since = now
                else:
                    # Changed since the last look (or first look): look again next tick.
                    item.stat = stat
            ready = [(p, i) for p, i in self._pending.items() if i.ready_since is not None]
            if not ready:
                return []
            oldest = min(i.first_seen for _, i in ready)
            if now - self._last_event < self.settle and now - oldest < self.max_latency:
                return []
            ready.sort(key=lambda pi: pi[1].first_seen)
            batch = ready[:MAX_BATCH_PATHS]
            for path, _ in batch:
                del self._pending[path]
            return [(path, item.attempts) for path, item in batch]


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into ChangeQueue activity; runs on the observer's thread."""

    def __init__(self, docs_dir: Path, queue: ChangeQueue) -> None:
        self.docs_dir = docs_dir
        self.queue = queue

    def _note(self, raw: bytes | str, writing: bool | None) -> None:
        path = Path(os.fsdecode(raw))
        try:
            rel = path.relative_to(self.docs_dir)
        except ValueError:
            return
        if rel.parts and not is_ignored(rel):
            self.queue.touch(path, writing)

    def on_any_event(self, event: FileSystemEvent) -> None:
        """Queue the paths an event concerns, tracking whether a writer still has a file open."""
        if isinstance(event, (FileMovedEvent, DirMovedEvent)):
            # A rename is the usual "this file is done" signal (uploads, editors, rsync).
            if event.src_path:
                self._note(event.src_path, False)
            if event.dest_path:
                self._note(event.dest_path, False)
        elif isinstance(event, FileModifiedEvent):
            self._note(event.src_path, True if self.queue.close_events else None)
        elif isinstance(event, (FileClosedEvent, FileDeletedEvent, DirDeletedEvent)):
            self._note(event.src_path, False)
        elif isinstance(event, FileCreatedEvent) and event.is_synthetic:
            # Synthesised for the contents of a folder moved in: already complete.
            self._note(event.src_path, False)
        elif isinstance(event, DirCreatedEvent):
            # Files written into a new folder before inotify watched it send no events of their
            # own: look inside once. Files already queued keep their state (e.g. still writing).
            folder = os.fsdecode(event.src_path)
            for root, _dirs, files in os.walk(folder):
                for name in files:
                    self._note(os.path.join(root, name), None)
        elif isinstance(event, (FileCreatedEvent, FileAttribEvent)):
            self._note(event.src_path, None)


class Watcher:
    """Keeps one index in step with one documents folder until stopped or orphaned."""

    def __init__(
        self,
        docs_dir: str | os.PathLike[str],
        index_dir: str | os.PathLike[str],
        *,
        parent_pid: int | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        rescan_interval: float = RESCAN_INTERVAL,
        quiet: float = QUIET,
        settle: float = SETTLE,
        stall: float = STALL,
        max_latency: float = MAX_LATENCY,
        workers: int | None = None,
        semantic: bool = False,
    ) -> None:
        self.docs_dir = Path(docs_dir).resolve()
        self.index_dir = Path(index_dir)
        self.parent_pid = parent_pid
        self.rescan_interval = rescan_interval
        self.docs_dir.mkdir(parents=True, exist_ok=True)
        self.syncer = IndexSyncer(
            self.docs_dir, self.index_dir, max_bytes=max_bytes, workers=workers, semantic=semantic
        )
        self.observer: BaseObserver = Observer()
        # Only inotify reports "closed after writing"; elsewhere we fall back to quiet periods.
        close_events = type(self.observer).__name__ == "InotifyObserver"
        self.queue = ChangeQueue(close_events, quiet, settle, stall, max_latency)
        self.batches = 0
        self._stop = threading.Event()
        self._parent_is_ppid = parent_pid is not None and parent_pid == os.getppid()
        self._next_rescan = 0.0
        self._next_heartbeat = 0.0
        self._status_lock = threading.Lock()

    def report_status(self, **fields: object) -> None:
        """Record the last outcome and queue length in the index's watcher-status.json."""
        try:
            # The heartbeat thread writes too: one read-merge-write at a time, or one of two
            # concurrent writes would put back the other's stale outcome.
            with self._status_lock:
                write_watcher_status(self.index_dir, queue=len(self.queue), **fields)
        except OSError as exc:
            # Monitoring must never stop indexing.
            log.warning("cannot write watcher status: %s", exc)
        self._next_heartbeat = time.monotonic() + HEARTBEAT

    def stop(self) -> None:
        """Ask the loop to end after the batch in progress."""
        self._stop.set()

    def parent_alive(self) -> bool:
        """False once the process we serve is gone (a SIGKILLed gunicorn master)."""
        if self.parent_pid is None:
            return True
        if self._parent_is_ppid:
            # Reparented to init (or a subreaper): the parent died, even if its pid was reused.
            return os.getppid() == self.parent_pid
        return pid_alive(self.parent_pid)

    def full_sync(self) -> SyncReport | None:
        """Sync the whole folder; logs and returns None when it fails (the next rescan retries)."""
        try:
            report = self.syncer.sync_all()
        except IndexBusy as exc:
            log.warning("full sync postponed: %s", exc)
            self._next_rescan = time.monotonic() + 5.0
            return None
        except Exception as exc:
            log.exception("full sync failed")
            self._next_rescan = time.monotonic() + min(self.rescan_interval, 10.0)
            self.report_status(outcome="error", error=f"full sync: {exc}"[:300])
            return None
        self._next_rescan = time.monotonic() + self.rescan_interval
        self.report_status(last_sync=now_iso(), outcome="ok", error=None)
        return report

    def process(self, batch: list[tuple[Path, int]]) -> SyncReport | None:
        """Index one batch in one commit; failed paths go back on the queue to be retried."""
        paths = [path for path, _ in batch]
        try:
            report = self.syncer.sync_paths(paths)
        except IndexBusy as exc:
            # Another writer (a manual `briefing index`, POST /api/reindex) holds the lock: the
            # batch waits its turn instead of failing.
            log.warning("index busy, batch of %d requeued: %s", len(paths), exc)
            for path, attempts in batch:
                self.queue.touch(path, False, attempts)
            return None
        except Exception as exc:
            log.exception("batch of %d paths failed", len(paths))
            for path, attempts in batch:
                if attempts + 1 < MAX_ATTEMPTS:
                    self.queue.touch(path, False, attempts + 1)
                else:
                    log.error("giving up on %s until the next rescan", path)
            self.report_status(outcome="error", error=f"batch: {exc}"[:300])
            return None
        self.batches += 1
        self.report_status(last_sync=now_iso(), outcome="ok", error=None)
        for item in report.skipped:
            log.warning("skipped %s: %s", item["path"], item["reason"])
        if report.changed_doc_ids:
            log.info(
                "batch %d: %d paths, %d added, %d updated, %d removed in %.3fs",
                self.batches,
                len(paths),
                report.added,
                report.updated,
                report.removed,
                report.seconds,
            )
        return report

    def _heartbeat(self) -> None:
        """Refresh the status file every HEARTBEAT seconds, even during a long sync, so a reader
        on another host can tell a live watcher from a dead one by the file's age."""
        while not self._stop.wait(HEARTBEAT):
            self.report_status()

    def start(self) -> None:
        """Start watching; events queue up until run_once or run takes them."""
        self.observer.schedule(
            _Handler(self.docs_dir, self.queue),
            str(self.docs_dir),
            recursive=True,
            event_filter=WATCHED_EVENTS,
        )
        self.observer.start()

    def close(self) -> None:
        """Stop the observer thread."""
        self.observer.stop()
        if self.observer.is_alive():
            self.observer.join(timeout=5)

    def run_once(self) -> SyncReport | None:
        """Flush one batch if one is ready, and a full rescan when due."""
        if time.monotonic() >= self._next_rescan:
            self.full_sync()
        batch = self.queue.take_batch()
        if batch:
            return self.process(batch)
        if time.monotonic() >= self._next_heartbeat:
            self.report_status()
        return None

    def run(self) -> None:
        """Watch first, then sync everything once, then process batches until stopped."""
        # The observer starts before the initial sync so a file dropped during it is not missed.
        self.start()
        # Build the taggers now, not on the first drop (which would wait for them).
        from index.tagging import country_tagger, topic_tagger

        country_tagger()
        topic_tagger()
        log.info("watching %s → %s", self.docs_dir, self.index_dir)
        # This process is now the watcher: readers check this pid to know one is alive. The last
        # outcome stays as it was (a predecessor's failure holds until this one has synced).
        self.report_status(pid=os.getpid())
        heartbeat = threading.Thread(target=self._heartbeat, name="watcher-heartbeat", daemon=True)
        heartbeat.start()
        # Alert webhooks left pending by an earlier process (or queued from now on) go out
        # from here, beside indexing, never in its way.
        ensure_deliverer(db_path(self.index_dir))
        try:
            report = self.full_sync()
            if report is not None:
                log.info(
                    "initial sync: %d documents (%d added, %d updated, %d removed) in %.2fs",
                    report.documents,
                    report.added,
                    report.updated,
                    report.removed,
                    report.seconds,
                )
            while not self._stop.is_set():
                if not self.parent_alive():
                    log.warning("parent %s is gone; watcher exits", self.parent_pid)
                    break
                self.run_once()
                self._stop.wait(TICK)
        finally:
            self.close()
            log.info("watcher stopped after %d batches", self.batches)


def _configure_logging(settings: dict[str, object]) -> None:
    level = str(settings["LOG_LEVEL"]).upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(str(settings["LOG_FORMAT"])))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: Iterable[str] | None = None) -> int:
    """Entry point of `python -m index.watcher`; settings default to the BRIEFING_* variables."""
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m index.watcher", description=__doc__)
    parser.add_argument("--docs", default=settings["DOCS_DIR"])
    parser.add_argument("--index-dir", default=settings["INDEX_DIR"])
    parser.add_argument("--parent-pid", type=int, default=None, help="Exit when it dies.")
    parser.add_argument(
        "--rescan-interval",
        type=float,
        default=float(settings["RESCAN_INTERVAL"]),
        help="Seconds between full rescans (safety net for missed events).",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    _configure_logging(settings)
    watcher = Watcher(
        args.docs,
        args.index_dir,
        parent_pid=args.parent_pid,
        max_bytes=int(settings["MAX_DOCUMENT_BYTES"]),
        rescan_interval=args.rescan_interval,
        semantic=bool(settings["SEMANTIC"]),
    )

    def _graceful(signum: int, frame: FrameType | None) -> None:
        # Only a flag: the batch being committed finishes, then the loop ends.
        log.info("signal %d: stopping after the current batch", signum)
        watcher.stop()

    signal.signal(signal.SIGTERM, _graceful)
    signal.signal(signal.SIGINT, _graceful)
    try:
        watcher.run()
    except IndexingError:
        log.exception("watcher failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
