"""Live reindexing end to end: a real `briefing serve` (gunicorn, 2 workers, the watcher) over a
temp folder, changed through the folder and over HTTP, observed only through the HTTP API.

Every wait is a bounded poll; nothing sleeps a fixed time to "let the watcher catch up".
"""

from __future__ import annotations

import json
import os
import random
import signal
import string
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.serving import Server

BRIEFING = str(Path(sys.executable).parent / "briefing")
KEY = "testkey"
AUTH = {"Authorization": f"Bearer {KEY}"}
MAX_BYTES = 50_000
DEADLINE = 10.0
POLL = 0.1


def _word() -> str:
    # Letters only: digits and stemming must not split or change the token we look for.
    return "zq" + "".join(random.choices(string.ascii_lowercase, k=10))


def _doc(title: str, *words: str) -> str:
    body = " ".join(words)
    return (
        f"{title}\n\nLONDON - Officials said on Monday that {body} figures were reviewed "
        f"by the ministry, and traders expected further changes in the coming weeks.\n"
    )


def wait_until(check: Callable[[], Any], timeout: float = DEADLINE, what: str = "") -> Any:
    """Poll check() until it returns something truthy; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(POLL)
    pytest.fail(f"timed out after {timeout}s waiting for {what or check}: last={last!r}")


class LiveServer(Server):
    """`briefing serve` with the watcher on, a write key, and helpers to query it."""

    def __init__(self, root: Path, docs: Path, env: dict[str, str] | None = None) -> None:
        env = {
            "BRIEFING_API_KEYS": KEY,
            "BRIEFING_MAX_DOCUMENT_BYTES": str(MAX_BYTES),
            "BRIEFING_WRITE_TIMEOUT": "10",
            **(env or {}),
        }
        super().__init__(docs, root / "index", workers=2, watch=True, env=env)
        self.root = root

    def start(self, timeout: float = 120.0, ready: bool = True) -> LiveServer:
        """Start serving (its initial sync first); wait for /readyz unless told not to."""
        super().start(timeout=timeout, ready=ready)
        return self

    def get(self, path: str, **params: Any) -> requests.Response:  # type: ignore[override]
        """GET an API path with query parameters."""
        return requests.get(f"{self.url}{path}", params=params, timeout=15)

    def doc_ids(self, q: str) -> set[str]:
        """The doc_ids a search finds (first 100 passages)."""
        resp = self.get("/api/search", q=q, per_page=100)
        assert resp.status_code == 200, resp.text
        return {hit["doc_id"] for hit in resp.json()["hits"]}

    def total(self, q: str) -> int:
        """The number of passages a search finds."""
        resp = self.get("/api/search", q=q, per_page=1)
        assert resp.status_code == 200, resp.text
        return int(resp.json()["total"])

    def agreed(self, check: Callable[[], bool], times: int = 4) -> bool:
        """check() holds on several requests in a row, so on both workers, not just one."""
        return all(check() for _ in range(times))

    def watcher_status(self) -> dict[str, Any]:
        """The watcher's status file, {} before it wrote one."""
        try:
            return dict(json.loads((self.index_dir / "watcher-status.json").read_text()))
        except (OSError, ValueError):
            return {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server over a folder holding one document, shared by the tests of this module."""
    root = tmp_path_factory.mktemp("live")
    docs = root / "docs"
    docs.mkdir()
    (docs / "seed.txt").write_text(_doc("Seed report", "seedword"))
    srv = LiveServer(root, docs).start()
    yield srv
    srv.stop()


# -- through the folder ----------------------------------------------------------------------------


def test_create_modify_rename_delete(server: LiveServer) -> None:
    """Each kind of change to a file shows in search on both workers within the deadline."""
    first, second = _word(), _word()
    path = server.docs / "drop.txt"
    path.write_text(_doc("Drop report", first))
    wait_until(lambda: server.agreed(lambda: server.doc_ids(first) == {"drop.txt"}), what="create")

    path.write_text(_doc("Drop report revised", second))
    wait_until(
        lambda: server.agreed(
            lambda: server.doc_ids(second) == {"drop.txt"} and not server.doc_ids(first)
        ),
        what="modify",
    )

    (server.docs / "moved").mkdir()
    path.rename(server.docs / "moved" / "renamed.txt")
    wait_until(
        lambda: server.agreed(lambda: server.doc_ids(second) == {"moved/renamed.txt"}),
        what="rename",
    )
    assert server.get("/api/documents/drop.txt").status_code == 404

    (server.docs / "moved" / "renamed.txt").unlink()
    wait_until(lambda: server.agreed(lambda: not server.doc_ids(second)), what="delete")


def test_folder_rename_and_removal(server: LiveServer) -> None:
    """Renaming a whole subfolder moves its documents; removing it drops them."""
    import shutil

    word = _word()
    (server.docs / "box").mkdir()
    for i in range(3):
        (server.docs / "box" / f"f{i}.txt").write_text(_doc(f"Box {i}", word))
    wait_until(lambda: len(server.doc_ids(word)) == 3, what="folder files")
    (server.docs / "box").rename(server.docs / "crate")
    expected = {f"crate/f{i}.txt" for i in range(3)}
    wait_until(lambda: server.agreed(lambda: server.doc_ids(word) == expected), what="folder move")
    shutil.rmtree(server.docs / "crate")
    wait_until(lambda: server.agreed(lambda: not server.doc_ids(word)), what="folder removal")


def test_ignored_names_are_never_indexed(server: LiveServer) -> None:
    """Hidden, temporary and partial files stay out of the index."""
    hidden, barrier = _word(), _word()
    for name in (".hidden.txt", "draft.tmp", "download.part", "~$locked.txt"):
        (server.docs / name).write_text(_doc("Ignored", hidden))
    # A normal file written afterwards: once it shows, the watcher has seen the others too.
    (server.docs / "barrier.txt").write_text(_doc("Barrier", barrier))
    wait_until(lambda: server.doc_ids(barrier) == {"barrier.txt"}, what="barrier")
    assert server.agreed(lambda: server.total(hidden) == 0)


def test_slow_writer_is_not_indexed_half(server: LiveServer) -> None:
    """A file written in pieces is indexed once, whole, after its writer closes it."""
    head, tail, barrier = _word(), _word(), _word()
    with (server.docs / "slow.txt").open("w") as handle:
        handle.write(_doc("Slow report", head))
        handle.flush()
        os.fsync(handle.fileno())
        # While the writer holds the file open, other drops are indexed but this one is not.
        (server.docs / "slow-barrier.txt").write_text(_doc("Barrier", barrier))
        wait_until(lambda: server.doc_ids(barrier), what="barrier while slow file open")
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            assert server.total(head) == 0, "half-written file was indexed"
            time.sleep(POLL)
        handle.write(f"The second half mentions {tail} as well.\n")
    wait_until(
        lambda: server.agreed(
            lambda: server.doc_ids(tail) == {"slow.txt"} and server.doc_ids(head) == {"slow.txt"}
        ),
        what="slow file once closed",
    )


@pytest.mark.slow
def test_burst_of_200_files_with_searches_running(server: LiveServer) -> None:
    """200 files copied in at once: all searchable, few commits, no failed request meanwhile."""
    word = _word()
    batches_before = server.log().count("index.watcher: batch ")
    failures: list[str] = []
    stop = threading.Event()

    def searching() -> None:
        while not stop.is_set():
            try:
                resp = server.get("/api/search", q="officials ministry", per_page=5)
                if resp.status_code != 200:
                    failures.append(f"{resp.status_code}: {resp.text[:200]}")
            except requests.RequestException as exc:
                failures.append(repr(exc))

    readers = [threading.Thread(target=searching) for _ in range(2)]
    for thread in readers:
        thread.start()
    try:
        (server.docs / "burst").mkdir()
        for i in range(200):
            (server.docs / "burst" / f"b{i:03d}.txt").write_text(_doc(f"Burst {i}", word))
        wait_until(lambda: server.agreed(lambda: server.total(word) == 200), 30, "burst")
    finally:
        stop.set()
        for thread in readers:
            thread.join()
    assert not failures, failures[:5]
    batches = server.log().count("index.watcher: batch ") - batches_before
    assert 1 <= batches <= 20, f"{batches} commits for one burst"


# -- over HTTP -------------------------------------------------------------------------------------


def _post_json(server: LiveServer, body: Any, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return requests.post(f"{server.url}/api/documents", json=body, headers=headers, timeout=30)


def test_upload_needs_a_key(server: LiveServer) -> None:
    """No key: 401; a wrong key: 403; both in the common error shape, and nothing is stored."""
    body = {"filename": "nokey.txt", "text": _doc("No key", _word())}
    missing = _post_json(server, body)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert set(missing.json()) == {"code", "status", "message", "errors"}
    wrong = _post_json(server, body, {"Authorization": "Bearer nope"})
    assert wrong.status_code == 403
    assert wrong.json()["code"] == 403
    assert not (server.docs / "nokey.txt").exists()


def test_upload_json_and_multipart_then_replace_and_delete(server: LiveServer) -> None:
    """POST answers 201 once searchable; PUT replaces; DELETE removes file and passages."""
    word, other, third = _word(), _word(), _word()
    resp = _post_json(server, {"filename": "http/one.txt", "text": _doc("One", word)}, AUTH)
    assert resp.status_code == 201, resp.text
    assert resp.json()["doc_id"] == "http/one.txt"
    assert resp.json()["status"] == "indexed" and resp.json()["passages"] >= 1
    assert (server.docs / "http" / "one.txt").read_text() == _doc("One", word)
    # Searchable on every worker as soon as the request returns.
    assert server.agreed(lambda: server.doc_ids(word) == {"http/one.txt"})

    again = _post_json(server, {"filename": "http/one.txt", "text": _doc("Dup", word)}, AUTH)
    assert again.status_code == 409

    files = {"file": ("two.md", _doc("# Two", other).encode(), "text/markdown")}
    resp = requests.post(f"{server.url}/api/documents", files=files, headers=AUTH, timeout=30)
    assert resp.status_code == 201, resp.text
    assert server.agreed(lambda: server.doc_ids(other) == {"two.md"})

    resp = requests.put(
        f"{server.url}/api/documents/http/one.txt",
        json={"text": _doc("One again", third)},
        headers=AUTH,
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    assert server.agreed(lambda: server.doc_ids(third) == {"http/one.txt"})
    assert server.agreed(lambda: not server.doc_ids(word))

    for doc_id, token in (("http/one.txt", third), ("two.md", other)):
        resp = requests.delete(f"{server.url}/api/documents/{doc_id}", headers=AUTH, timeout=30)
        assert resp.status_code == 200, resp.text
        assert resp.json()["status"] == "deleted"
        assert server.agreed(lambda t=token: not server.doc_ids(t))
    assert not (server.docs / "two.md").exists()
    missing = requests.delete(f"{server.url}/api/documents/two.md", headers=AUTH, timeout=30)
    assert missing.status_code == 404


BAD_NAMES = [
    "../escape.txt",
    "sub/../../escape.txt",
    "/etc/escape.txt",
    "..\\escape.txt",
    "sub\\..\\..\\escape.txt",
    "C:escape.txt",
    "sub//escape.txt",
    "./escape.txt",
    "nul\x00byte.txt",
    ".hidden.txt",
    "upload.tmp",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_filenames_are_400(server: LiveServer, name: str) -> None:
    """Path tricks are refused with 400 and nothing lands anywhere."""
    before = sorted(p.name for p in server.root.rglob("*escape*"))
    resp = _post_json(server, {"filename": name, "text": _doc("Evil", "escape")}, AUTH)
    assert resp.status_code == 400, resp.text
    assert resp.json()["code"] == 400 and resp.json()["message"]
    assert sorted(p.name for p in server.root.rglob("*escape*")) == before


def test_bad_uploads_get_clear_4xx(server: LiveServer) -> None:
    """Unsupported type 415, too large 413, empty 422, binary 415; the folder is unchanged."""
    before = sorted(p.relative_to(server.docs) for p in server.docs.rglob("*"))
    cases = [
        ({"filename": "report.pdf", "text": "some text"}, 415),
        ({"filename": "noext", "text": "some text"}, 415),
        ({"filename": "big.txt", "text": "Title\n\n" + "word " * (MAX_BYTES // 5 + 10)}, 413),
        ({"filename": "empty.txt", "text": ""}, 422),
        ({"filename": "blank.txt", "text": " \n\t\n"}, 422),
        ({"filename": "missing-text.txt"}, 422),
    ]
    for body, code in cases:
        resp = _post_json(server, body, AUTH)
        assert resp.status_code == code, (body.get("filename"), resp.text)
        assert set(resp.json()) == {"code", "status", "message", "errors"}
    binary = {"file": ("blob.txt", bytes(range(256)) * 40, "application/octet-stream")}
    resp = requests.post(f"{server.url}/api/documents", files=binary, headers=AUTH, timeout=30)
    assert resp.status_code == 415, resp.text
    empty = {"file": ("empty.txt", b"", "text/plain")}
    resp = requests.post(f"{server.url}/api/documents", files=empty, headers=AUTH, timeout=30)
    assert resp.status_code == 422, resp.text
    resp = requests.post(
        f"{server.url}/api/documents", data="x", headers={**AUTH, "Content-Type": "text/plain"}
    )
    assert resp.status_code == 415
    after = sorted(p.relative_to(server.docs) for p in server.docs.rglob("*"))
    # Tolerate what other tests of this module drop concurrently: only our names matter.
    ours = {"report.pdf", "noext", "big.txt", "empty.txt", "blank.txt", "blob.txt"}
    assert not {p.name for p in after} & ours
    assert not any(p.name.startswith(".upload-") for p in after), after
    assert set(before) - set(after) <= {p for p in before if not (server.docs / p).exists()}


def test_reindex_reports_a_summary(server: LiveServer) -> None:
    """POST /api/reindex needs a key and returns the `briefing index --json` fields."""
    assert requests.post(f"{server.url}/api/reindex", timeout=30).status_code == 401
    resp = requests.post(f"{server.url}/api/reindex", headers=AUTH, timeout=120)
    assert resp.status_code == 200, resp.text
    data = resp.json()
    assert set(data) == {
        "documents",
        "passages",
        "added",
        "updated",
        "removed",
        "unchanged",
        "skipped",
        "formats",
        "seconds",
    }
    assert data["documents"] >= 1


# -- crashes -------------------------------------------------------------------------------------


def _write_corpus(docs: Path, count: int) -> None:
    rng = random.Random(7)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(4, 9))) for _ in range(2000)]
    for i in range(count):
        body = " ".join(rng.choices(vocab, k=80))
        (docs / f"doc{i:05d}.txt").write_text(f"Generated report {i}\n\nLONDON - {body}.\n")


def _indexed_count(index_dir: Path) -> int:
    from search.store import index_exists, open_index

    if not index_exists(index_dir):
        return 0
    ix = open_index(index_dir)
    with ix.searcher() as searcher:
        return sum(1 for _ in searcher.document_numbers(ordinal=0))


@pytest.mark.slow
def test_sigkill_mid_reindex_recovers(tmp_path: Path) -> None:
    """SIGKILL during a large initial sync, restart: the index opens, answers, and converges."""
    docs = tmp_path / "docs"
    docs.mkdir()
    count = 4500
    _write_corpus(docs, count)
    first = LiveServer(tmp_path, docs).start(ready=False)
    # The sync commits every BATCH_DOCUMENTS (2,000) documents: kill after the first commit.
    wait_until(lambda: _indexed_count(first.index_dir) > 0, 120, "first commit")
    first.kill(signal.SIGKILL)
    at_kill = _indexed_count(first.index_dir)
    assert 0 < at_kill < count, f"kill came too late to test anything: {at_kill}"

    second = LiveServer(tmp_path, docs).start()
    try:
        ready = second.get("/readyz").json()
        assert ready["documents"] == count
        assert second.get("/api/search", q="generated report").status_code == 200
        # A new drop after recovery is picked up as usual.
        word = _word()
        (docs / "after.txt").write_text(_doc("After the crash", word))
        wait_until(lambda: second.doc_ids(word) == {"after.txt"}, what="drop after recovery")
        assert second.get("/readyz").json()["documents"] == count + 1
    finally:
        second.stop()


@pytest.mark.slow
def test_watcher_exits_when_master_is_killed(tmp_path: Path) -> None:
    """SIGKILL to the gunicorn master alone leaves no orphan watcher (the writer)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.txt").write_text(_doc("One", "solitary"))
    srv = LiveServer(tmp_path, docs).start()
    try:
        status = wait_until(srv.watcher_status, what="watcher status file")
        watcher_pid = int(status["pid"])
        assert srv.proc is not None
        os.kill(srv.proc.pid, signal.SIGKILL)  # `briefing serve` exec'd into the master
        srv.proc.wait(timeout=10)

        def watcher_gone() -> bool:
            try:
                os.kill(watcher_pid, 0)
            except ProcessLookupError:
                return True
            # A zombie (exited, not yet reaped) counts as gone.
            stat = Path(f"/proc/{watcher_pid}/stat")
            return stat.exists() and stat.read_text().split(") ")[1].startswith("Z")

        wait_until(watcher_gone, 10, "watcher exit")
    finally:
        srv.kill()


def test_briefing_watch_runs_the_watcher_alone(tmp_path: Path) -> None:
    """`briefing watch` syncs at start, indexes drops, and stops cleanly on SIGTERM."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "before.txt").write_text(_doc("Before", "earlyword"))
    index_dir = tmp_path / "index"
    env = {**os.environ, "BRIEFING_LOG_FORMAT": "text"}
    argv = [BRIEFING, "watch", "--docs", str(docs), "--index-dir", str(index_dir)]
    with (tmp_path / "watch.log").open("wb") as log:
        proc = subprocess.Popen(argv, env=env, stderr=log, start_new_session=True)
    try:
        wait_until(lambda: _indexed_count(index_dir) == 1, 30, "initial sync")
        (docs / "after.txt").write_text(_doc("After", "lateword"))
        wait_until(lambda: _indexed_count(index_dir) == 2, what="drop indexed")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
