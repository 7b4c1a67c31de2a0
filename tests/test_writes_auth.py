"""Write endpoints and API keys in-process (Flask test client, no watcher: requests index their
own path), plus the watcher's debouncing queue with a fake clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from index.watcher import ChangeQueue

DOC = "Harbour report\n\nLONDON - Officials said the harbour reopened on Monday after repairs.\n"


def _app(tmp_path: Path, **config: Any) -> Flask:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    base = {
        "DOCS_DIR": str(docs),
        "INDEX_DIR": str(tmp_path / "index"),
        "WATCH": False,
        "API_KEYS": "",
        "API_KEY_FILE": "",
        "READ_API_KEYS": "",
        "ALLOW_ANONYMOUS_WRITES": False,
        "MAX_DOCUMENT_BYTES": 10_000,
        "WRITE_TIMEOUT": 5.0,
        "TESTING": True,
    }
    base.update(config)
    app = create_app(base)
    from index.sync import IndexSyncer

    IndexSyncer(docs, tmp_path / "index", workers=1).sync_all()
    return app


def _post(client: FlaskClient, key: str | None = None, **body: Any):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    payload = {"filename": "harbour.txt", "text": DOC, **body}
    return client.post("/api/documents", json=payload, headers=headers)


def test_no_key_configured_means_writes_are_off(tmp_path: Path) -> None:
    """Without configured keys, writes answer 403 whatever is sent."""
    client = _app(tmp_path).test_client()
    for key in (None, "anything"):
        resp = _post(client, key)
        assert resp.status_code == 403
        assert resp.get_json()["code"] == 403
    assert not (tmp_path / "docs" / "harbour.txt").exists()


def test_anonymous_writes_when_allowed(tmp_path: Path) -> None:
    """--allow-anonymous-writes opens writes when no key is configured; the doc is searchable."""
    client = _app(tmp_path, ALLOW_ANONYMOUS_WRITES=True).test_client()
    resp = _post(client)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["status"] == "indexed"
    hits = client.get("/api/search?q=harbour").get_json()["hits"]
    assert {h["doc_id"] for h in hits} == {"harbour.txt"}


def test_key_file_and_key_list(tmp_path: Path) -> None:
    """Keys come from the list and the key file; a configured key is required even if anonymous
    writes are allowed."""
    key_file = tmp_path / "keys"
    key_file.write_text("# operators\nfilekey\n\n")
    client = _app(
        tmp_path, API_KEYS="listkey, other", API_KEY_FILE=str(key_file), ALLOW_ANONYMOUS_WRITES=True
    ).test_client()
    assert _post(client).status_code == 401
    assert _post(client, "wrong").status_code == 403
    assert _post(client, "filekey", filename="a.txt").status_code == 201
    assert _post(client, "listkey", filename="b.txt").status_code == 201


def test_read_keys_guard_reads_but_not_probes(tmp_path: Path) -> None:
    """With read keys set, GETs need a read or write key; /healthz and /readyz stay open."""
    client = _app(tmp_path, READ_API_KEYS="reader", API_KEYS="writer").test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/search?q=x").status_code == 401
    assert client.get("/api/search?q=x", headers={"Authorization": "Bearer no"}).status_code == 403
    for key in ("reader", "writer"):
        resp = client.get("/api/search?q=x", headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200
    # A read key cannot write.
    assert _post(client, "reader").status_code == 403


def test_reads_open_without_read_keys(tmp_path: Path) -> None:
    """No read key configured: reads need nothing."""
    client = _app(tmp_path, API_KEYS="writer").test_client()
    assert client.get("/api/search?q=x").status_code == 200


def test_body_over_the_hard_limit_is_413_in_common_shape(tmp_path: Path) -> None:
    """Werkzeug's MAX_CONTENT_LENGTH refusal comes out in the common error shape."""
    client = _app(tmp_path, API_KEYS="k").test_client()
    huge = "x" * (3 * 10_000 + 70_000)
    resp = _post(client, "k", text=huge)
    assert resp.status_code == 413
    assert set(resp.get_json()) == {"code", "status", "message", "errors"}


def test_put_creates_then_replaces_and_delete_removes(tmp_path: Path) -> None:
    """PUT is an upsert (201 then 200); DELETE removes file and passages (then 404)."""
    client = _app(tmp_path, API_KEYS="k").test_client()
    auth = {"Authorization": "Bearer k"}
    resp = client.put("/api/documents/notes/n.txt", json={"text": DOC}, headers=auth)
    assert resp.status_code == 201, resp.get_json()
    resp = client.put(
        "/api/documents/notes/n.txt",
        json={"text": DOC.lower().replace("harbour", "airport")},
        headers=auth,
    )
    assert resp.status_code == 200
    assert client.get("/api/search?q=airport").get_json()["total"] == 1
    assert client.get("/api/search?q=harbour").get_json()["total"] == 0
    assert client.delete("/api/documents/notes/n.txt", headers=auth).status_code == 200
    assert client.get("/api/search?q=airport").get_json()["total"] == 0
    assert client.delete("/api/documents/notes/n.txt", headers=auth).status_code == 404
    bad = client.put("/api/documents/../x.txt", json={"text": DOC}, headers=auth)
    assert bad.status_code in (400, 404)  # clients and Werkzeug may normalise `..` away first


def test_no_body_text_is_422_and_nothing_is_stored(tmp_path: Path) -> None:
    """A document the pipeline cannot index is refused before it reaches the folder."""
    client = _app(tmp_path, API_KEYS="k").test_client()
    resp = _post(client, "k", filename="title-only.txt", text="Just a title\n")
    assert resp.status_code in (201, 422)
    if resp.status_code == 422:
        assert not (tmp_path / "docs" / "title-only.txt").exists()
    assert not list((tmp_path / "docs").glob(".upload-*"))


# -- the watcher's queue ---------------------------------------------------------------------------


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _queue(close_events: bool = True) -> tuple[ChangeQueue, FakeClock, dict[Path, tuple[int, int]]]:
    clock = FakeClock()
    stats: dict[Path, tuple[int, int]] = {}
    queue = ChangeQueue(
        close_events,
        quiet=0.3,
        settle=0.1,
        stall=5.0,
        max_latency=1.0,
        stat=lambda p: stats.get(p, (-1, -1)),
        clock=clock,
    )
    return queue, clock, stats


def _drain(queue: ChangeQueue, clock: FakeClock, step: float = 0.05, limit: float = 10.0):  # type: ignore[no-untyped-def]
    end = clock.now + limit
    while clock.now < end:
        batch = queue.take_batch()
        if batch:
            return [p for p, _ in batch]
        clock.now += step
    return []


def test_queue_waits_for_the_writer_to_close() -> None:
    """A file with data written and no close stays queued until closed (or stalled)."""
    queue, clock, stats = _queue()
    path = Path("/d/a.txt")
    stats[path] = (10, 1)
    queue.touch(path, writing=True)
    clock.now += 2.0
    assert queue.take_batch() == []
    queue.touch(path, writing=False)
    assert _drain(queue, clock) == [path]


def test_queue_stall_timeout_indexes_a_file_left_open() -> None:
    """A writer silent for `stall` seconds with the file still open: index what is there."""
    queue, clock, stats = _queue()
    path = Path("/d/a.txt")
    stats[path] = (10, 1)
    queue.touch(path, writing=True)
    assert _drain(queue, clock, limit=4.9) == []
    assert _drain(queue, clock) == [path]


def test_queue_needs_a_stable_size() -> None:
    """A path whose size keeps changing is not taken, even without events."""
    queue, clock, stats = _queue()
    path = Path("/d/a.txt")
    queue.touch(path, writing=False)
    for size in range(20):
        stats[path] = (size, size)
        clock.now += 0.2
        assert queue.take_batch() == []
    clock.now += 0.05
    assert queue.take_batch() == [(path, 0)]


def test_queue_batches_a_burst_but_bounds_latency() -> None:
    """Files arriving continuously are flushed at least every max_latency, in few batches."""
    queue, clock, stats = _queue()
    batches: list[list[Path]] = []
    for i in range(300):
        path = Path(f"/d/f{i}.txt")
        stats[path] = (1, 1)
        queue.touch(path, writing=False)
        clock.now += 0.01
        batch = queue.take_batch()
        if batch:
            batches.append([p for p, _ in batch])
    while len(queue):
        clock.now += 0.05
        batch = queue.take_batch()
        if batch:
            batches.append([p for p, _ in batch])
    assert sum(len(b) for b in batches) == 300
    assert 2 <= len(batches) <= 5


def test_queue_without_close_events_uses_the_quiet_period() -> None:
    """Where the OS reports no close (non-Linux), a path waits for `quiet` seconds of silence."""
    queue, clock, stats = _queue(close_events=False)
    path = Path("/d/a.txt")
    stats[path] = (5, 5)
    queue.touch(path, writing=None)
    clock.now += 0.2
    assert queue.take_batch() == []
    assert _drain(queue, clock) == [path]


@pytest.mark.parametrize("attempts", [0, 2])
def test_queue_carries_attempts(attempts: int) -> None:
    """Requeued paths keep their failure count so a poisoned batch is eventually dropped."""
    queue, clock, stats = _queue()
    path = Path("/d/a.txt")
    stats[path] = (1, 1)
    queue.touch(path, writing=False, attempts=attempts)
    clock.now += 0.2
    queue.take_batch()
    clock.now += 0.2
    assert queue.take_batch() == [(path, attempts)]
