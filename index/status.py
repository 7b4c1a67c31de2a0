"""The watcher's status file: how the one index writer tells the API (and /metrics) what it did.

The watcher is its own process, possibly on another host than a read replica, so it reports through
a small JSON file beside the index rather than through shared memory:

    <index_dir>/watcher-status.json
    {"last_sync": "2025-01-01T12:00:00+00:00", "outcome": "ok", "queue": 0, "pid": 123,
     "host": "box", "updated": "2025-01-01T12:00:01+00:00"}

`outcome` is "ok" or "error" (with `error`: a one-line message); `queue` is how many changed paths
wait for the next batch. Whoosh ignores files it does not know in the index directory.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from search.processes import pid_alive

STATUS_FILE = "watcher-status.json"
# A watcher on another host is taken for dead when its status is older than this: it rewrites the
# file every 10 s (index/watcher.py HEARTBEAT), so 60 s allows for a stalled disk or a busy GIL.
STALE_AFTER = 60.0


def status_path(index_dir: str | os.PathLike[str]) -> Path:
    """Where the watcher status of this index lives."""
    return Path(index_dir) / STATUS_FILE


def now_iso() -> str:
    """The current UTC time as ISO 8601, the format of every time in the status file."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_watcher_status(index_dir: str | os.PathLike[str], **fields: Any) -> dict[str, Any]:
    """Merge fields into the status file atomically; pid, host and updated are filled in."""
    path = status_path(index_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    status = read_watcher_status(index_dir)
    status.update(fields)
    # The writer of this update, not whichever process wrote the file before it.
    status["pid"] = fields.get("pid", os.getpid())
    status["host"] = fields.get("host", socket.gethostname())
    status["updated"] = now_iso()
    # Write-then-rename: a reader (a /metrics scrape) never sees half a file.
    fd, tmp = tempfile.mkstemp(prefix=".watcher-status-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(status, handle, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return status


def read_watcher_status(index_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The last status the watcher wrote, or {} when there is none or it cannot be read."""
    try:
        data = json.loads(status_path(index_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_time(value: Any) -> float | None:
    """An ISO 8601 time from the status file as a Unix timestamp, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def watcher_problem(status: dict[str, Any], stale_after: float = STALE_AFTER) -> str | None:
    """Why no healthy watcher serves this index (None when one does): no report yet, its
    process is gone, its status is stale, or its last sync failed."""
    if not status:
        return "no watcher has reported on this index yet"
    pid = status.get("pid")
    if status.get("host") == socket.gethostname() and isinstance(pid, int):
        if not pid_alive(pid):
            return f"watcher (pid {pid}) is not running"
    else:
        updated = parse_time(status.get("updated"))
        if updated is None or datetime.now(UTC).timestamp() - updated > stale_after:
            return f"watcher status not updated for over {stale_after:g} s"
    if status.get("outcome") == "error":
        return f"watcher's last sync failed: {status.get('error') or 'unknown error'}"
    return None
