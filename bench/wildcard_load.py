"""Normal-query latency while wildcard attacks run (issue 17), over real gunicorn (2 workers).

`python -m bench.wildcard_load [--passages 20000] [--seconds 30] [--out docs/wildcard-benchmarks.md]`

Reuters articles (../shared/corpora/reuters21578) are written as files until about `--passages`
passages, indexed by `briefing serve`'s start-up sync, then: one client sends normal queries for
`--seconds` alone (baseline), and again while two attacker threads loop over wildcard and prefix
queries. Reported: the normal queries' p50/p95/p99 both times, and what the attacks got.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.run import load_articles, passages_per_article, percentiles, write_corpus
from tests.serving import Server

NORMAL = ("oil", "trade deficit", "bank rates", "coffee prices", "wheat exports", "opec output")
# The attacks, plus prefixes that are still allowed (bounded to 200 words each).
ATTACKS = ("?*?*?*", "*a*", "*", "a*", "s* OR t* OR c* OR p*", "title:*")
ATTACKERS = 2


def _normal_latencies(url: str, seconds: float) -> tuple[list[float], int]:
    """Milliseconds of each normal query sent back to back for `seconds`, and the errors."""
    out, errors, n = [], 0, 0
    deadline = time.monotonic() + seconds
    with requests.Session() as session:
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = session.get(url + "/api/search", params={"q": NORMAL[n % len(NORMAL)]})
            out.append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200
            n += 1
    return out, errors


def _attack(url: str, stop: threading.Event, record: list[tuple[str, int, float]]) -> None:
    with requests.Session() as session:
        while not stop.is_set():
            for q in ATTACKS:
                started = time.perf_counter()
                response = session.get(url + "/api/search", params={"q": q}, timeout=120)
                record.append((q, response.status_code, (time.perf_counter() - started) * 1000))


def run(passages: int, seconds: float) -> dict[str, Any]:
    """Index, serve, measure; the figures as a dict."""
    articles = load_articles()
    per_article = passages_per_article(articles)
    with tempfile.TemporaryDirectory(prefix="wildcard-bench-") as tmp:
        docs = Path(tmp) / "docs"
        write_corpus(articles, docs, int(passages / per_article))
        started = time.monotonic()
        server = Server(docs, Path(tmp) / "index", workers=2).start(timeout=1800)
        index_seconds = time.monotonic() - started
        try:
            stats = requests.get(server.url + "/readyz", timeout=10).json()
            _normal_latencies(server.url, 3)  # warm-up: searchers, facet arrays
            baseline, baseline_errors = _normal_latencies(server.url, seconds)
            stop, record = threading.Event(), []
            attackers = [
                threading.Thread(target=_attack, args=(server.url, stop, record))
                for _ in range(ATTACKERS)
            ]
            for thread in attackers:
                thread.start()
            attacked, attacked_errors = _normal_latencies(server.url, seconds)
            stop.set()
            for thread in attackers:
                thread.join(timeout=180)
        finally:
            server.stop()
    by_query: dict[str, dict[str, Any]] = {}
    for q, status, ms in record:
        entry = by_query.setdefault(q, {"statuses": {}, "ms": []})
        entry["statuses"][str(status)] = entry["statuses"].get(str(status), 0) + 1
        entry["ms"].append(ms)
    return {
        "passages": stats["passages"],
        "documents": stats["documents"],
        "startup_seconds": round(index_seconds, 1),
        "baseline": {**percentiles(baseline), "n": len(baseline), "errors": baseline_errors},
        "under_attack": {**percentiles(attacked), "n": len(attacked), "errors": attacked_errors},
        "attacks": {
            q: {
                "statuses": e["statuses"],
                "median_ms": round(statistics.median(e["ms"]), 1),
                "max_ms": round(max(e["ms"]), 1),
            }
            for q, e in by_query.items()
        },
    }


def markdown(result: dict[str, Any], command: str) -> str:
    """The figures as docs/wildcard-benchmarks.md."""
    b, a = result["baseline"], result["under_attack"]
    lines = [
        "# Normal queries while wildcard attacks run",
        "",
        f"`{command}`: {result['passages']:,} Reuters passages ({result['documents']:,} "
        f"documents), `briefing serve --workers 2`, one client sending normal queries back to "
        f"back, {ATTACKERS} attacker threads looping over {', '.join(f'`{q}`' for q in ATTACKS)}.",
        "",
        "| normal queries | n | errors | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        f"| alone | {b['n']} | {b['errors']} | {b['p50_ms']} | {b['p95_ms']} | {b['p99_ms']} |",
        f"| during the attacks | {a['n']} | {a['errors']} | {a['p50_ms']} | {a['p95_ms']} | {a['p99_ms']} |",
        "",
        "| attack | statuses | median ms | max ms |",
        "| --- | --- | ---: | ---: |",
    ]
    for q, e in result["attacks"].items():
        statuses = ", ".join(f"{k}×{v}" for k, v in sorted(e["statuses"].items()))
        lines.append(f"| `{q}` | {statuses} | {e['median_ms']} | {e['max_ms']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(prog="python -m bench.wildcard_load")
    parser.add_argument("--passages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", default="docs/wildcard-benchmarks.md")
    args = parser.parse_args(argv)
    result = run(args.passages, args.seconds)
    print(json.dumps(result, indent=2))
    command = f"python -m bench.wildcard_load --passages {args.passages} --seconds {args.seconds:g}"
    Path(args.out).write_text(markdown(result, command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
