"""The supervised watcher: SIGKILLed mid-burst, it is restarted, nothing is lost, nothing is left.

Real `briefing serve` (gunicorn master, 2 workers, the watcher and its parse pool); observed only
through HTTP and /proc. Before: 0 of 200 dropped files searchable 90 s after the kill, /readyz
200 "ready", briefing_last_sync_success 1, and the parse-pool child orphaned for good.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import requests

from tests.test_live import LiveServer, _doc, _word, wait_until

BURST = 200


def _children(pid: int) -> list[int]:
    """Pids whose parent is pid (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(") ", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _gone(pid: int) -> bool:
    """True once pid no longer runs (absent, or a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(") ", 1)[1].startswith("Z")


def _metric(server: LiveServer, name: str) -> float | None:
    for line in requests.get(server.url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def test_sigkilled_watcher_is_restarted_and_loses_nothing(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "seed.txt").write_text(_doc("Seed", "seedword"))
    # A rescan an hour away: recovery must come from the restart, not from the safety net.
    server = LiveServer(tmp_path, docs, env={"BRIEFING_RESCAN_INTERVAL": "3600"})
    server.start()
    try:
        first = wait_until(lambda: server.watcher_status().get("pid"), what="watcher pid")
        # The pid is reported as the watcher starts, its first sync's outcome after that sync.
        wait_until(
            lambda: _metric(server, "briefing_last_sync_success") == 1.0,
            what="the first sync's success",
        )
        staging = tmp_path / "staging"
        staging.mkdir()
        words = [_word() for _ in range(BURST)]
        for n, word in enumerate(words):
            (staging / f"burst{n:03d}.txt").write_text(_doc(f"Burst {n}", word))
        # Renames are complete drops: the whole burst lands in one big batch (builders on).
        for path in staging.iterdir():
            path.rename(docs / path.name)
        # Kill while the watcher's parse pool is at work on the burst.
        pool = wait_until(lambda: _children(first), timeout=20, what="parse-pool children")
        os.kill(first, signal.SIGKILL)

        # Until the new watcher has synced, the server says it is not ready, and why.
        seen_unready = seen_failed_metric = False
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (seen_unready and seen_failed_metric):
            ready = requests.get(server.url + "/readyz", timeout=10)
            if ready.status_code == 503 and "watcher" in ready.json()["status"]:
                seen_unready = True
            if _metric(server, "briefing_last_sync_success") == 0.0:
                seen_failed_metric = True
            time.sleep(0.05)
        assert seen_unready and seen_failed_metric

        # The dead watcher's helpers died with it.
        wait_until(lambda: all(_gone(pid) for pid in pool), timeout=10, what="pool children gone")

        # Restarted with a new pid; every file of the burst searchable without a reindex.
        second = wait_until(
            lambda: (pid := server.watcher_status().get("pid")) != first and pid,
            timeout=30,
            what="a new watcher",
        )
        assert not _gone(int(second))
        wait_until(
            lambda: (
                all(server.total(w) == 1 for w in words[:: BURST // 20])
                and server.total(words[-1]) == 1
            ),
            timeout=90,
            what="burst searchable",
        )
        docs_total = requests.get(server.url + "/api/documents", timeout=10).json()["total"]
        assert docs_total == BURST + 1
        wait_until(
            lambda: requests.get(server.url + "/readyz", timeout=10).status_code == 200,
            timeout=30,
            what="ready again",
        )
        assert _metric(server, "briefing_last_sync_success") == 1.0
        assert "restarting in" in server.log()
    finally:
        server.stop()


def test_read_replica_readiness_ignores_the_missing_watcher(tmp_path: Path) -> None:
    """With READY_NEEDS_WATCHER off (a read replica), no watcher is no reason to be unready."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.txt").write_text(_doc("One", "solitary"))
    env = {"BRIEFING_START_WATCHER": "false", "BRIEFING_READY_NEEDS_WATCHER": "false"}
    server = LiveServer(tmp_path, docs, env=env)
    server.start()
    try:
        assert requests.get(server.url + "/readyz", timeout=10).status_code == 200
    finally:
        server.stop()


def test_no_watcher_where_one_is_expected_is_not_ready(tmp_path: Path) -> None:
    """WATCH on but no watcher started anywhere: /readyz 503 says so, the metric says 0."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.txt").write_text(_doc("One", "solitary"))
    server = LiveServer(tmp_path, docs, env={"BRIEFING_START_WATCHER": "false"})
    server.start(ready=False)
    try:

        def unready() -> dict | None:
            try:
                response = requests.get(server.url + "/readyz", timeout=5)
            except requests.ConnectionError:
                return None  # not listening yet
            return response.json() if response.status_code == 503 else None

        ready = wait_until(unready, timeout=60, what="503 from /readyz")
        assert "no watcher has reported" in ready["status"]
        assert _metric(server, "briefing_last_sync_success") == 0.0
    finally:
        server.stop()
