"""Drop-to-searchable latency of a live `briefing serve`, with searches running meanwhile.

    .venv/bin/python -m bench.drops [--files 1000] [--singles 20]

Starts a real server (gunicorn, 2 workers, the folder watcher) over a temp folder seeded with
Reuters articles, then measures, everything through the HTTP API:

- singles: one article written into the folder at a time; latency = file closed → the first
  search that finds it (`/api/search?doc_id=…`, polled every 10 ms);
- uploads: `POST /api/documents`; latency = request sent → 201 (the endpoint answers once the
  document is searchable);
- burst: `--files` articles written as fast as possible into a subfolder; the i-th file's latency
  = its close → the first `/readyz` whose document count includes i+1 burst files (the watcher
  commits in drop order, so the count says which files are in);
- searches: two threads searching all along; every error is counted (it must stay 0).

Prints a JSON summary, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

ARTICLES = Path("/work/shared/corpora/reuters21578/articles.jsonl")
KEY = "bench-key"
QUERIES = [
    "oil prices",
    "wheat exports",
    "interest rates",
    "bank",
    "coffee brazil",
    "trade deficit",
    "gold",
    "opec output",
    "dollar yen",
    "sugar",
]
POLL = 0.01


def load_articles(limit: int) -> list[dict[str, str]]:
    """The first `limit` articles with a real body (short wire briefs have no passage)."""
    out: list[dict[str, str]] = []
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            art = json.loads(line)
            if len(art.get("body") or "") >= 300 and art.get("title"):
                out.append(art)
                if len(out) >= limit:
                    break
    return out


def article_text(art: dict[str, str]) -> str:
    """Title line, blank line, then dateline and body: how a briefing file looks."""
    return f"{art['title']}\n\n{art.get('dateline') or ''} {art['body']}\n"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank, 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summary(values_s: list[float]) -> dict[str, float | int]:
    """n, p50, p95 and max in milliseconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1) if ms else 0.0,
        "p95_ms": round(pct(ms, 95), 1),
        "max_ms": round(max(ms), 1) if ms else 0.0,
    }


class Server:
    """A `briefing serve` subprocess in its own process group."""

    def __init__(self, root: Path, workers: int) -> None:
        self.root = root
        self.docs = root / "docs"
        self.index_dir = root / "index"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = root / "serve.log"
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start and wait for /readyz (at most two minutes)."""
        env = {**os.environ, "BRIEFING_API_KEYS": KEY, "BRIEFING_LOG_FORMAT": "text"}
        argv = [str(Path(sys.executable).parent / "briefing"), "serve", "--port", str(self.port)]
        argv += ["--workers", str(self.workers), "--docs", str(self.docs)]
        argv += ["--index-dir", str(self.index_dir)]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError("server not ready after 120 s")

    def stop(self) -> None:
        """SIGTERM the group, SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def documents(self, session: requests.Session) -> int:
        """How many documents the answering worker's searcher holds."""
        return int(session.get(f"{self.url}/readyz", timeout=10).json()["documents"])

    def commits(self) -> int:
        """Watcher batches (one commit each) logged so far."""
        return self.log_path.read_text(errors="replace").count("index.watcher: batch ")


class Searchers:
    """Threads searching continuously, counting answers, errors and latency."""

    def __init__(self, url: str, threads: int = 2) -> None:
        self.url = url
        self.stop_event = threading.Event()
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        while not self.stop_event.is_set():
            started = time.perf_counter()
            try:
                resp = session.get(
                    f"{self.url}/api/search", params={"q": rng.choice(QUERIES)}, timeout=30
                )
                if resp.status_code != 200:
                    self.errors.append(f"{resp.status_code} {resp.text[:200]}")
                    continue
            except requests.RequestException as exc:
                self.errors.append(repr(exc))
                continue
            self.latencies.append(time.perf_counter() - started)

    def __enter__(self) -> Searchers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()


def wait_for(check: Any, timeout: float) -> float | None:
    """Poll check() every POLL seconds; the time it first held, or None on timeout."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if check():
            return time.perf_counter()
        time.sleep(POLL)
    return None


def warm_up(server: Server, articles: list[dict[str, str]]) -> None:
    """Wait for the watcher's first status, then one drop and two uploads (not timed): the
    figures below are steady state, not the first request of a freshly booted worker."""
    status = server.index_dir / "watcher-status.json"
    wait_for(status.exists, 60)
    bench_singles(server, articles[:1], prefix="warm")
    bench_uploads(server, articles[1:3], prefix="warm")


def bench_singles(
    server: Server, articles: list[dict[str, str]], prefix: str = "single"
) -> list[float]:
    """Drop files one at a time; latency from close to the first search that finds each."""
    session = requests.Session()
    out: list[float] = []
    for i, art in enumerate(articles):
        doc_id = f"{prefix}-{i:03d}.txt"
        (server.docs / doc_id).write_text(article_text(art), encoding="utf-8")
        closed = time.perf_counter()

        def found(doc_id: str = doc_id) -> bool:
            resp = session.get(
                f"{server.url}/api/search", params={"doc_id": doc_id, "per_page": 1}, timeout=10
            )
            return resp.status_code == 200 and resp.json()["total"] > 0

        seen = wait_for(found, 10)
        if seen is not None:
            out.append(seen - closed)
    return out


def bench_uploads(
    server: Server, articles: list[dict[str, str]], prefix: str = "up"
) -> tuple[list[float], int]:
    """POST each article; latency to a 201 (searchable), and how many were not 201."""
    session = requests.Session()
    out: list[float] = []
    bad = 0
    for i, art in enumerate(articles):
        body = {"filename": f"uploads/{prefix}-{i:03d}.txt", "text": article_text(art)}
        started = time.perf_counter()
        resp = session.post(
            f"{server.url}/api/documents",
            json=body,
            headers={"Authorization": f"Bearer {KEY}"},
            timeout=60,
        )
        if resp.status_code == 201:
            out.append(time.perf_counter() - started)
        else:
            bad += 1
    return out, bad


def bench_burst(server: Server, articles: list[dict[str, str]]) -> dict[str, Any]:
    """Write every article at once; per-file latency from the HTTP document count."""
    session = requests.Session()
    base = server.documents(session)
    commits_before = server.commits()
    burst = server.docs / "burst"
    burst.mkdir()
    closed: list[float] = []
    started = time.perf_counter()
    for i, art in enumerate(articles):
        (burst / f"r{i:05d}.txt").write_text(article_text(art), encoding="utf-8")
        closed.append(time.perf_counter())
    written = time.perf_counter() - started
    visible: list[float] = []  # visible[k]: when the (k+1)-th burst file became searchable
    stalled_since = time.perf_counter()
    while len(visible) < len(articles):
        now = time.perf_counter()
        count = server.documents(session) - base
        while len(visible) < min(count, len(articles)):
            visible.append(now)
            stalled_since = now
        if now - stalled_since > 15:
            break  # files skipped or lost: report what arrived
        time.sleep(POLL)
    latencies = [visible[k] - closed[k] for k in range(len(visible))]
    return {
        "latencies": latencies,
        "written_s": round(written, 2),
        "all_searchable_s": round(visible[-1] - started, 2) if visible else None,
        "missing": len(articles) - len(visible),
        "commits": server.commits() - commits_before,
    }


def markdown(result: dict[str, Any]) -> str:
    """The summary as a markdown table."""
    rows = [
        ("single file dropped in the folder", result["singles"]),
        ("single upload (POST → 201)", result["uploads"]),
        (f"burst of {result['burst']['n']} files", result["burst"]),
    ]
    lines = [
        "| drop | n | p50 | p95 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, data in rows:
        lines.append(
            f"| {label} | {data['n']} | {data['p50_ms']:.0f} ms | {data['p95_ms']:.0f} ms "
            f"| {data['max_ms']:.0f} ms |"
        )
    burst, searches = result["burst"], result["searches"]
    lines.append("")
    lines.append(
        f"Burst: written in {burst['written_s']} s, all searchable after "
        f"{burst['all_searchable_s']} s, {burst['commits']} commits, {burst['missing']} missing. "
        f"Searches meanwhile: {searches['requests']} requests, {searches['errors']} errors, "
        f"p50 {searches['p50_ms']:.0f} ms, p95 {searches['p95_ms']:.0f} ms."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON then markdown; exit 1 if any search failed."""
    parser = argparse.ArgumentParser(prog="python -m bench.drops", description=__doc__)
    parser.add_argument("--files", type=int, default=1000, help="Burst size.")
    parser.add_argument("--singles", type=int, default=20, help="Single drops and uploads each.")
    parser.add_argument("--base", type=int, default=300, help="Articles indexed before timing.")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers.")
    parser.add_argument("--keep", action="store_true", help="Keep the temp folder.")
    args = parser.parse_args(argv)

    articles = load_articles(args.base + 2 * args.singles + args.files)
    base_set = articles[: args.base]
    singles = articles[args.base : args.base + args.singles]
    uploads = articles[args.base + args.singles : args.base + 2 * args.singles]
    burst_set = articles[args.base + 2 * args.singles :]

    root = Path(tempfile.mkdtemp(prefix="briefing-drops-"))
    server = Server(root, args.workers)
    server.docs.mkdir()
    for i, art in enumerate(base_set):
        (server.docs / f"base-{i:04d}.txt").write_text(article_text(art), encoding="utf-8")
    started = time.perf_counter()
    try:
        server.start()
        warm_up(server, articles[: args.base])
        with Searchers(server.url) as searchers:
            single_lat = bench_singles(server, singles)
            upload_lat, upload_failures = bench_uploads(server, uploads)
            burst = bench_burst(server, burst_set)
    finally:
        server.stop()
    result: dict[str, Any] = {
        "files": args.files,
        "workers": args.workers,
        "base_documents": len(base_set),
        "singles": summary(single_lat),
        "uploads": {**summary(upload_lat), "failures": upload_failures},
        "burst": {
            **summary(burst.pop("latencies")),
            **burst,
        },
        "searches": {
            "requests": len(searchers.latencies) + len(searchers.errors),
            "errors": len(searchers.errors),
            **{k: v for k, v in summary(searchers.latencies).items() if k != "n"},
        },
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))
    print()
    print(markdown(result))
    if searchers.errors:
        print("\nsearch errors:", *searchers.errors[:5], sep="\n", file=sys.stderr)
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"\nkept {root}", file=sys.stderr)
    return 1 if searchers.errors else 0


if __name__ == "__main__":
    sys.exit(main())
