"""Big documents: upload answer time, time to searchable and the watcher's memory (issue 17).

    .venv/bin/python -m bench.big_uploads [--sizes 1,5,20] [--out docs/big-upload-benchmarks.md]

Starts a real `briefing serve` (gunicorn, 2 workers, the supervised watcher) over a few Reuters
articles, then uploads one plain-text document of each size through `POST /api/documents`
(Reuters articles concatenated until the size is reached). For each upload it reports:

- answer: request sent → the response (201 when searchable within WRITE_TIMEOUT, else 202);
- searchable: request sent → the first `/api/search?doc_id=…` that finds a passage of it;
- the watcher's peak RSS while it indexed the upload (the watcher process and its parse pool,
  summed from /proc every 50 ms), beside its RSS before the first upload;
- the same for the same text written straight into the folder (the drop latency the upload is
  compared with: what the upload path adds is the difference).

Before issue 17, a 19 MB upload answered after 56.5 s and the watcher grew from 83 to 280 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.drops import KEY, Server, article_text, load_articles, warm_up

MB = 1_000_000
# How often the watcher's memory is sampled: fine enough to catch a peak that lasts a parse.
RSS_SAMPLE_SECONDS = 0.05
# Give up on a document that is not searchable after this long (reported as missing).
SEARCHABLE_TIMEOUT = 300.0


def _rss_kib(pid: int) -> int:
    """Resident set of one process in KiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    """Direct children of a process, from /proc/<pid>/task/*/children."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def _tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def watcher_pid(server_pid: int) -> int:
    """The supervised watcher under `briefing serve`: the process whose command runs index.watcher."""
    for pid in _tree(server_pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"index.watcher" in cmdline:
            return pid
    raise RuntimeError("no watcher process under the server")


class RssSampler:
    """Samples the summed RSS of a process tree in a thread; `peak_mb` after `stop`."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            total = sum(_rss_kib(p) for p in _tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)
            time.sleep(RSS_SAMPLE_SECONDS)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        """Peak summed RSS in MB."""
        return round(self.peak_kib / 1024, 1)


def big_text(articles: list[dict[str, str]], size: int) -> str:
    """Articles joined by blank lines until the text holds at least `size` UTF-8 bytes."""
    parts, total, i = [], 0, 0
    while total < size:
        part = article_text(articles[i % len(articles)])
        parts.append(part)
        total += len(part.encode("utf-8")) + 2
        i += 1
    return "\n\n".join(parts)


def upload_one(server: Server, text: str, name: str) -> dict[str, Any]:
    """Upload one document; seconds to the answer and to searchable, and the answer's status."""
    session = requests.Session()
    body = {"filename": f"uploads/{name}.txt", "text": text}
    started = time.perf_counter()
    resp = session.post(
        f"{server.url}/api/documents",
        json=body,
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=SEARCHABLE_TIMEOUT,
    )
    answered = time.perf_counter() - started
    try:
        doc_id = resp.json().get("doc_id")
    except ValueError:  # not JSON: say what came back instead of the figures
        raise RuntimeError(f"upload answered {resp.status_code}: {resp.text[:300]!r}") from None
    return {
        "status": resp.status_code,
        "answer_s": round(answered, 2),
        "searchable_s": _searchable_after(server, doc_id, started),
        "doc_id": doc_id,
    }


def _searchable_after(server: Server, doc_id: str, started: float) -> float | None:
    """Seconds from `started` until a search finds a passage of `doc_id` (None: timed out)."""
    session = requests.Session()
    while time.perf_counter() - started < SEARCHABLE_TIMEOUT:
        found = session.get(
            f"{server.url}/api/search", params={"doc_id": doc_id, "per_page": 1}, timeout=30
        ).json()
        if found.get("total", 0) > 0:
            return round(time.perf_counter() - started, 2)
        time.sleep(0.05)
    return None


def drop_one(server: Server, text: str, name: str) -> dict[str, Any]:
    """Write one document into the folder (hidden temp file, then rename, as the API does)."""
    target = server.docs / "drops" / f"{name}.txt"
    target.parent.mkdir(exist_ok=True)
    temp = target.parent / f".{name}.tmp"
    temp.write_text(text, encoding="utf-8")
    started = time.perf_counter()
    temp.rename(target)
    return {"searchable_s": _searchable_after(server, f"drops/{name}.txt", started)}


def run(sizes_mb: list[float]) -> dict[str, Any]:
    """Serve, upload each size once, and collect the figures."""
    articles = load_articles(4000)
    root = Path(tempfile.mkdtemp(prefix="briefing-big-"))
    server = Server(root, workers=2)
    server.docs.mkdir()
    for i, art in enumerate(articles[:50]):
        (server.docs / f"base-{i:03d}.txt").write_text(article_text(art), encoding="utf-8")
    rows = []
    try:
        server.start()
        warm_up(server, articles[:50])
        assert server.proc is not None
        watcher = watcher_pid(server.proc.pid)
        idle_mb = round(sum(_rss_kib(p) for p in _tree(watcher)) / 1024, 1)
        for size in sizes_mb:
            text = big_text(articles[50:], int(size * MB))
            with RssSampler(watcher) as sampler:
                row = upload_one(server, text, f"big-{size:g}mb")
                time.sleep(1.0)  # the parse pool may still hold the text for a moment
            with RssSampler(watcher) as drop_sampler:
                dropped = drop_one(server, text, f"dropped-{size:g}mb")
                time.sleep(1.0)
            rows.append(
                {
                    "size_mb": size,
                    "bytes": len(text.encode("utf-8")),
                    **row,
                    "watcher_peak_mb": sampler.peak_mb,
                    "dropped_searchable_s": dropped["searchable_s"],
                    "dropped_watcher_peak_mb": drop_sampler.peak_mb,
                }
            )
        idle_after_mb = round(
            sum(_rss_kib(p) for p in _tree(watcher_pid(server.proc.pid))) / 1024, 1
        )
    except Exception:
        print(server.log_path.read_text(errors="replace")[-4000:], file=sys.stderr)
        raise
    finally:
        server.stop()
    return {
        "cores": os.cpu_count(),
        "watcher_idle_mb": idle_mb,
        "watcher_idle_after_mb": idle_after_mb,
        "uploads": rows,
    }


def markdown(result: dict[str, Any], command: str) -> str:
    """The figures as the markdown page docs/big-upload-benchmarks.md."""
    lines = [
        "# Big uploads: answer, searchable, watcher memory",
        "",
        f"`{command}`: real `briefing serve` (2 workers, supervised watcher), one plain-text upload "
        "of each size through `POST /api/documents`. Watcher RSS sums the watcher and its parse "
        f"pool. Watcher before the uploads: {result['watcher_idle_mb']} MB; after: "
        f"{result['watcher_idle_after_mb']} MB.",
        "",
        "| size | bytes | upload: status | answer s | searchable s | watcher peak MB "
        "| same text dropped in the folder: searchable s | watcher peak MB |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["uploads"]:
        lines.append(
            f"| {row['size_mb']:g} MB | {row['bytes']:,} | {row['status']} | {row['answer_s']} "
            f"| {row['searchable_s']} | {row['watcher_peak_mb']} | {row['dropped_searchable_s']} "
            f"| {row['dropped_watcher_peak_mb']} |"
        )
    lines += [
        "",
        "Before issue 17: a 19 MB upload answered after 56.5 s; the watcher grew from 83 to 280 MB.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print JSON and write the markdown page."""
    parser = argparse.ArgumentParser(prog="python -m bench.big_uploads", description=__doc__)
    parser.add_argument("--sizes", default="1,5,20", help="Upload sizes in MB, comma-separated.")
    parser.add_argument("--out", type=Path, default=None, help="Write the markdown page here.")
    args = parser.parse_args(argv)
    sizes = [float(s) for s in args.sizes.split(",") if s]
    result = run(sizes)
    print(json.dumps(result, indent=2))
    command = "python -m bench.big_uploads " + " ".join(argv if argv is not None else sys.argv[1:])
    page = markdown(result, command.strip())
    if args.out:
        args.out.write_text(page, encoding="utf-8")
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
