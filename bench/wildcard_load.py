"""Normal-query latency while wildcard attacks run (issue 17), through the production layout.

`python -m bench.wildcard_load [--passages 20000] [--seconds 30] [--out docs/wildcard-benchmarks.md]`

Reuters articles (../shared/corpora/reuters21578) are written as files until about `--passages`
passages, indexed by `briefing serve`'s start-up sync (gunicorn, 2 workers), with Debian's nginx in
front (deploy/nginx/, its per-client rate of reads included). Each client has its own loopback
address, as real clients have their own addresses: `ANALYSTS` clients send normal queries at a
person's pace (one every `ANALYST_INTERVAL` s each, under the proxy's rate), for `--seconds`:

1. alone;
2. while `ATTACKERS` clients loop over wildcard and prefix queries back to back through the proxy;
3. while the same attackers go straight to gunicorn, past the proxy (what the rate limit buys).

Each attacker is a process of its own; the analysts are threads of this one.

Reported: the normal queries' p50/p95/p99 in each phase, and what the attacks got.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import requests

from bench.run import load_articles, passages_per_article, percentiles, write_corpus
from tests.serving import Proxy, Server

NORMAL = ("oil", "trade deficit", "bank rates", "coffee prices", "wheat exports", "opec output")
# The attacks, plus prefixes that are still allowed (bounded to 200 words each).
ATTACKS = ("?*?*?*", "*a*", "*", "a*", "s* OR t* OR c* OR p*", "title:*")
ATTACKERS = 2
# Analysts searching at once, each from its own address, and how often each sends a search:
# 8 a second each is under the proxy's 10 a second per client, and more than a person types.
ANALYSTS = 4
ANALYST_INTERVAL = 0.125


def _get(host: str, port: int, source: str, query: str) -> tuple[int, float]:
    """One search from a loopback source address: status and milliseconds."""
    conn = http.client.HTTPConnection(host, port, timeout=120, source_address=(source, 0))
    started = time.perf_counter()
    try:
        conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query}))
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def _analyst(port: int, source: str, seconds: float, out: list[tuple[int, float]]) -> None:
    """Normal queries at a steady pace for `seconds`: (status, ms) of each into `out`."""
    deadline = time.monotonic() + seconds
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        out.append(_get("127.0.0.1", port, source, NORMAL[n % len(NORMAL)]))
        n += 1
        next_at += ANALYST_INTERVAL
        time.sleep(max(0.0, next_at - time.monotonic()))


def _normal_latencies(port: int, seconds: float) -> tuple[list[float], int]:
    """Milliseconds of every analyst's queries over `seconds`, and the non-200 answers."""
    results: list[tuple[int, float]] = []
    threads = [
        threading.Thread(target=_analyst, args=(port, f"127.0.1.{i + 1}", seconds, results))
        for i in range(ANALYSTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [ms for _, ms in results], sum(status != 200 for status, _ in results)


def _attack(port: int, source: str, stop: Any, out: Any) -> None:
    """Loop over the attacks until `stop` is set; put every (query, status, ms) on `out`."""
    record = []
    while not stop.is_set():
        for q in ATTACKS:
            status, ms = _get("127.0.0.1", port, source, q)
            record.append((q, status, ms))
    out.put(record)


def _under_attack(
    normal_port: int, attack_port: int, seconds: float
) -> tuple[list[float], int, list[tuple[str, int, float]]]:
    """Normal latencies while attackers (own addresses) hit `attack_port`.

    Each attacker is a process of its own, as a real attacker is another program: as threads of
    this process they would hold the interpreter lock the analysts' client threads wait on, and
    the analysts' latency would count the attackers' Python time.
    """
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    attackers = [
        ctx.Process(target=_attack, args=(attack_port, f"127.0.2.{i + 1}", stop, out))
        for i in range(ATTACKERS)
    ]
    for process in attackers:
        process.start()
    time.sleep(1.0)  # the attackers are past the proxy's burst allowance
    latencies, errors = _normal_latencies(normal_port, seconds)
    stop.set()
    record = [entry for _ in attackers for entry in out.get(timeout=180)]
    for process in attackers:
        process.join(timeout=60)
    return latencies, errors, record


def _attack_summary(record: list[tuple[str, int, float]]) -> dict[str, Any]:
    by_query: dict[str, dict[str, Any]] = {}
    for q, status, ms in record:
        entry = by_query.setdefault(q, {"statuses": {}, "ms": []})
        entry["statuses"][str(status)] = entry["statuses"].get(str(status), 0) + 1
        entry["ms"].append(ms)
    return {
        q: {
            "statuses": e["statuses"],
            "median_ms": round(statistics.median(e["ms"]), 1),
            "max_ms": round(max(e["ms"]), 1),
        }
        for q, e in by_query.items()
    }


def run(passages: int, seconds: float) -> dict[str, Any]:
    """Index, serve behind nginx, measure; the figures as a dict."""
    articles = load_articles()
    per_article = passages_per_article(articles)
    with tempfile.TemporaryDirectory(prefix="wildcard-bench-") as tmp:
        docs = Path(tmp) / "docs"
        write_corpus(articles, docs, int(passages / per_article))
        started = time.monotonic()
        server = Server(docs, Path(tmp) / "index", workers=2).start(timeout=1800)
        index_seconds = time.monotonic() - started
        proxy = Proxy(Path(tmp) / "nginx", server.port).start()
        try:
            stats = requests.get(server.url + "/readyz", timeout=10).json()
            _normal_latencies(proxy.port, 3)  # warm-up: searchers, facet arrays
            alone, alone_errors = _normal_latencies(proxy.port, seconds)
            proxied, proxied_errors, proxied_record = _under_attack(proxy.port, proxy.port, seconds)
            direct, direct_errors, direct_record = _under_attack(proxy.port, server.port, seconds)
        finally:
            proxy.stop()
            server.stop()

    def row(latencies: list[float], errors: int) -> dict[str, Any]:
        return {**percentiles(latencies), "n": len(latencies), "errors": errors}

    return {
        "passages": stats["passages"],
        "documents": stats["documents"],
        "startup_seconds": round(index_seconds, 1),
        "baseline": row(alone, alone_errors),
        "under_attack": row(proxied, proxied_errors),
        "under_attack_past_proxy": row(direct, direct_errors),
        "attacks": _attack_summary(proxied_record),
        "attacks_past_proxy": _attack_summary(direct_record),
    }


def markdown(result: dict[str, Any], command: str) -> str:
    """The figures as docs/wildcard-benchmarks.md."""
    phases = (
        ("alone", result["baseline"]),
        ("while the attackers go through the proxy", result["under_attack"]),
        ("while the attackers go straight to gunicorn", result["under_attack_past_proxy"]),
    )
    lines = [
        "# Normal queries while wildcard attacks run",
        "",
        f"`{command}`: {result['passages']:,} Reuters passages ({result['documents']:,} "
        f"documents), `briefing serve --workers 2` behind nginx (deploy/nginx/). {ANALYSTS} "
        f"analysts, each from its own loopback address, send normal queries every "
        f"{ANALYST_INTERVAL * 1000:g} ms through the proxy; {ATTACKERS} attackers, each from its "
        f"own address, loop over {', '.join(f'`{q}`' for q in ATTACKS)} back to back. Client and "
        "servers share the 2 cores.",
        "",
        "| normal queries | n | errors | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in phases:
        lines.append(
            f"| {label} | {r['n']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |"
        )
    for title, key in (
        ("Attacks through the proxy", "attacks"),
        ("Attacks straight to gunicorn", "attacks_past_proxy"),
    ):
        lines += ["", f"{title}:", "", "| attack | statuses | median ms | max ms |"]
        lines.append("| --- | --- | ---: | ---: |")
        for q, e in result[key].items():
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
