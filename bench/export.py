"""Export throughput and memory: `GET /api/export` of every passage of an index, over HTTP.

    .venv/bin/python -m bench.export --index-dir DIR [--size 100000] [--rounds 2] [--out FILE]

With no index in DIR, Reuters articles (../shared) are written as files to DIR/../export-docs
and indexed by `briefing index` until the index holds about `--size` passages (100k: ~5 min on
an idle machine; 1M: about an hour, see README). Then gunicorn with the service's config (one
worker, no watcher, no export cap) streams the whole index as CSV and as JSON Lines, alternately for `--rounds` rounds,
plus a word query that matches a third of the passages. The client reads the stream as it comes.
Measured per export: passages/s and MB/s at the client, and the serving worker's RSS sampled
every 0.1 s (RSS, and its anonymous part, the heap): before, at the peak, and the heap at each
tenth of the stream, to show that it stays flat.
Prints JSON, then a markdown table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.run import (
    ROOT,
    free_port,
    load_articles,
    passages_per_article,
    run_index,
    write_corpus,
)

# What is exported: everything (browse, newest first: no scoring) and a common word (ranked).
QUERIES = ({"q": ""}, {"q": "said"})
FORMATS = ("csv", "jsonl")
RSS_EVERY_S = 0.1
READ_CHUNK = 1 << 16
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def gunicorn_worker(root: int) -> int:
    """The gunicorn worker below root (a gunicorn process whose parent is one)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    below, stack = set(), [root]
    while stack:
        pid = stack.pop()
        children = [c for c, p in parents.items() if p == pid]
        below.update(children)
        stack.extend(children)
    for pid in sorted(below):
        if "gunicorn" in _cmdline(pid) and "gunicorn" in _cmdline(parents[pid]):
            return pid
    raise RuntimeError("no gunicorn worker found")


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def anon_mb(pid: int) -> float:
    """The process's anonymous resident memory (heap: what streaming must keep flat), MB; RSS
    also counts the index files Whoosh maps, which the kernel can drop at will."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1000
    except OSError:
        pass
    return 0.0


def ensure_index(index_dir: Path, size: int) -> dict[str, Any] | None:
    """Build a Reuters index of about `size` passages unless index_dir holds one already."""
    if (index_dir / "briefing-index.json").exists():
        return None
    articles = load_articles()
    per = passages_per_article(articles)
    docs = index_dir.parent / "export-docs"
    write_corpus(articles, docs, math.ceil(size / per))
    return run_index(docs, index_dir)


def serve(index_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """gunicorn as `briefing serve` runs it (its config), one worker, no watcher, no export cap,
    over the index as it is: `briefing serve` would first sync it with a folder."""
    port = free_port()
    env = {
        **os.environ,
        "BRIEFING_INDEX_DIR": str(index_dir),
        "BRIEFING_PORT": str(port),
        "BRIEFING_WORKERS": "1",
        "BRIEFING_WATCH": "false",
        "BRIEFING_EXPORT_MAX_PASSAGES": "0",
        "BRIEFING_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONF)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/readyz", timeout=2).status_code == 200:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)
    raise RuntimeError("server did not become ready")


def export_once(url: str, worker: int, params: dict[str, str]) -> dict[str, Any]:
    """Stream one export to the end; throughput and the worker's RSS along the way."""
    samples: list[tuple[int, float, float]] = []  # (bytes read so far, RSS MB, anonymous MB)
    read = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((read[0], rss_mb(worker), anon_mb(worker)))
            done.wait(RSS_EVERY_S)

    before, anon_before = rss_mb(worker), anon_mb(worker)
    sampler = threading.Thread(target=sample, daemon=True)
    started = time.perf_counter()
    sampler.start()
    with requests.get(url + "/api/export", params=params, stream=True, timeout=600) as response:
        response.raise_for_status()
        total = int(response.headers["X-Export-Count"])
        for chunk in response.iter_content(READ_CHUNK):
            read[0] += len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    size = read[0]
    deciles = []
    for tenth in range(1, 11):
        at = [a for b, _, a in samples if b >= size * tenth / 10] or [samples[-1][2]]
        deciles.append(round(at[0], 0))
    return {
        "format": params["format"],
        "q": params["q"],
        "passages": total,
        "seconds": round(seconds, 2),
        "passages_per_s": round(total / seconds, 0),
        "mb_per_s": round(size / 1e6 / seconds, 1),
        "mb": round(size / 1e6, 1),
        "rss_before_mb": round(before, 0),
        "rss_peak_mb": round(max(r for _, r, _ in samples), 0),
        "anon_before_mb": round(anon_before, 0),
        "anon_peak_mb": round(max(a for _, _, a in samples), 0),
        "anon_by_tenth_mb": deciles,
    }


def markdown(results: dict[str, Any]) -> str:
    """The report as a markdown table."""
    lines = [
        f"Index: {results['passages']:,} passages; machine: {results['machine']}; "
        f"load average at start {results['load_average']}.",
        "",
        "| export | passages | MB | s | passages/s | MB/s | worker RSS before → peak (MB) "
        "| heap (RssAnon) before → peak | heap at each tenth of the stream (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for r in results["exports"]:
        what = f"`{r['format']}` q={r['q'] or '(all)'}"
        lines.append(
            f"| {what} | {r['passages']:,} | {r['mb']} | {r['seconds']} | {r['passages_per_s']:,.0f} "
            f"| {r['mb_per_s']} | {r['rss_before_mb']:.0f} → {r['rss_peak_mb']:.0f} "
            f"| {r['anon_before_mb']:.0f} → {r['anon_peak_mb']:.0f} "
            f"| {' '.join(f'{v:.0f}' for v in r['anon_by_tenth_mb'])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print JSON and markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index-dir", type=Path, default=None)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="also write JSON here")
    parser.add_argument(
        "--formats", default=",".join(FORMATS), help="Comma-separated formats to export."
    )
    parser.add_argument(
        "--all-only",
        action="store_true",
        help="Only the whole-index export (at 1M passages each export takes minutes).",
    )
    args = parser.parse_args(argv)
    formats = [f for f in args.formats.split(",") if f]
    queries = [q for q in QUERIES if not args.all_only or not q["q"]]
    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="bench-export-")) / "index"
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    indexing = ensure_index(index_dir, args.size)
    proc, url = serve(index_dir)
    try:
        passages = requests.get(url + "/readyz", timeout=10).json()["passages"]
        target = gunicorn_worker(proc.pid)
        # One warm-up (opens the searcher, builds the facet arrays), not counted.
        requests.get(url + "/api/search", params={"q": "said"}, timeout=120)
        exports = []
        for _ in range(args.rounds):
            for query in queries:
                for fmt in formats:  # alternated, so load drifts touch both alike
                    exports.append(export_once(url, target, {**query, "format": fmt}))
    finally:
        # The whole session: briefing serve, the gunicorn master and its worker.
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    results = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "load_average": round(os.getloadavg()[0], 1),
        "passages": passages,
        "indexing": indexing,
        "exports": exports,
    }
    print(json.dumps(results, indent=2))
    print(markdown(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
