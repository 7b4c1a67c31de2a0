"""End-to-end benchmarks: indexing, in-process and HTTP search latency, drops; writes docs/benchmarks.md.

    .venv/bin/python -m bench.run --size 100000          # `make bench` (under 10 minutes, 2 cores)
    .venv/bin/python -m bench.run --size 1000000 --sizes 10000 100000 1000000   # scale run

Reuters articles (../shared/corpora/reuters21578) are written as files, replicated with new ids
until the folder holds about `--size` passages, and indexed by a real `briefing index` process.
Every timed phase starts with an uncounted warm-up.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT.parent / "shared" / "corpora" / "reuters21578" / "articles.jsonl"
DOCS_OUT = ROOT / "docs"
BRIEFING = Path(sys.executable).parent / "briefing"

# Typical analyst requests, by kind; every one asks for all four facets (the API always does).
QUERIES: dict[str, list[dict[str, Any]]] = {
    "single word": [
        {"q": w} for w in ("oil", "coffee", "dollar", "wheat", "tariffs", "inflation", "gold")
    ],
    "two words": [
        {"q": w}
        for w in ("oil prices", "interest rates", "trade deficit", "central bank", "grain exports")
    ],
    "phrase": [{"q": f'"{w}"'} for w in ("interest rates", "money supply", "trade surplus")],
    "country filter": [
        {"q": "oil", "country": ["US"]},
        {"q": "trade", "country": ["JP"]},
        {"q": "debt", "country": ["BR"]},
        {"q": "bank rates", "country": ["GB"]},
    ],
    "browse": [
        {"q": "", "sort": "newest"},
        {"q": "", "sort": "newest", "country": ["US"]},
    ],
}
SEARCH_ROUNDS = 20  # every query this many times per size and method (after one warm-up round)
HTTP_REQUESTS = 2000
HTTP_THREADS = 8
GOALS = {
    "index_pps": 1500,
    "peak_rss_mb": 500,
    "p50_ms": 15,
    "p99_ms": 60,
    "http_rps": 150,
}


# -- machine and corpus ----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """Cores, memory and software versions of this machine."""
    import whoosh

    mem_kb = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((ln.split(":", 1)[1].strip() for ln in handle if "model name" in ln), cpu)
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "whoosh": whoosh.versionstring(),
        "platform": platform.platform(),
    }


def load_articles() -> list[dict[str, str]]:
    """Reuters articles with a real body (short wire briefs yield no passage)."""
    out = []
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            art = json.loads(line)
            if len(art.get("body") or "") >= 300 and art.get("title"):
                out.append(art)
    return out


def article_text(art: dict[str, str]) -> str:
    """Title line, blank line, dateline and body: how a briefing file looks."""
    return f"{art['title']}\n\n{art.get('dateline') or ''} {art['body']}\n"


def passages_per_article(articles: list[dict[str, str]], sample: int = 300) -> float:
    """Mean passages per article, from the real pipeline on a fixed sample."""
    from index.pipeline import parse_document

    rng = random.Random(7)
    chosen = rng.sample(articles, min(sample, len(articles)))
    with tempfile.TemporaryDirectory() as tmp:
        total = 0
        for i, art in enumerate(chosen):
            path = Path(tmp) / f"{i}.txt"
            path.write_text(article_text(art), encoding="utf-8")
            with contextlib.suppress(Exception):  # a skipped article has no passage
                total += len(parse_document(Path(tmp), path).passages)
    return max(total / len(chosen), 0.1)


def write_corpus(articles: list[dict[str, str]], folder: Path, count: int) -> int:
    """Write `count` articles, cycling through the corpus with new ids; return files written."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        art = articles[n % len(articles)]
        copy = n // len(articles)
        sub = folder / f"copy{copy:03d}" / f"{(n % len(articles)) // 1000:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{art['id']}-c{copy}.txt").write_text(article_text(art), encoding="utf-8")
    return count


# -- indexing ---------------------------------------------------------------------------------


def _tree_rss_kb(root_pid: int) -> int:
    """Summed RSS of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
            with open(f"/proc/{entry}/statm") as handle:
                pages = int(handle.read().split()[1])
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * os.sysconf("SC_PAGE_SIZE") // 1024
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_index(docs: Path, index_dir: Path) -> dict[str, Any]:
    """`briefing index` in a child process: passages/s end to end and peak memory."""
    out_path, err_path = index_dir.parent / "index.out", index_dir.parent / "index.err"
    started = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        proc = subprocess.Popen(
            [str(BRIEFING), "index", str(docs), "--index-dir", str(index_dir), "--json"],
            stdout=out,
            stderr=err,
        )
        peak_tree = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree
            while not done.is_set():
                peak_tree = max(peak_tree, _tree_rss_kb(proc.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # wait4, not wait: its rusage is this child's alone (ru_maxrss: the largest of the child
        # and the pool workers it reaped), not every child this benchmark ever ran.
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
    if proc.returncode != 0:
        raise RuntimeError(f"briefing index failed: {err_path.read_text()[-2000:]}")
    report = json.loads(out_path.read_text())
    return {
        "documents": report["documents"],
        "passages": report["passages"],
        "skipped": len(report["skipped"]),
        "seconds": round(seconds, 1),
        "passages_per_s": round(report["passages"] / seconds, 0),
        "peak_rss_mb": round(peak_tree / 1024, 0),
        "largest_process_rss_mb": round(usage.ru_maxrss / 1024, 0),
    }


# -- search in process ------------------------------------------------------------------------


def percentiles(values_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 by nearest rank, plus the count."""
    if not values_ms:
        return {"n": 0, "p50_ms": 0.0, "p95_ms": 0.0, "p99_ms": 0.0}
    ordered = sorted(values_ms)

    def rank(q: float) -> float:
        return ordered[max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))]

    return {
        "n": len(ordered),
        "p50_ms": round(rank(50), 2),
        "p95_ms": round(rank(95), 2),
        "p99_ms": round(rank(99), 2),
    }


def _request(spec: dict[str, Any]) -> Any:
    from search.searching import SearchRequest

    filters = {"country": list(spec["country"])} if "country" in spec else {}
    return SearchRequest(q=spec["q"], filters=filters, sort=spec.get("sort", "relevance"))


def bench_engine(index_dir: Path, rounds: int, match_cache_size: int = 0) -> dict[str, Any]:
    """SearchEngine.search (hits, exact total, four disjunctive facets) per kind of query.

    With the default match_cache_size=0 every search runs its full matching pass (cold); the
    service's default remembers match sets, which repeated queries here would always hit.
    """
    from search.searching import SearchEngine

    engine = SearchEngine(index_dir, match_cache_size=match_cache_size)
    specs = [(kind, spec) for kind, group in QUERIES.items() for spec in group]
    for _, spec in specs:  # warm-up: opens the searcher, builds facet arrays, fills caches
        engine.search(_request(spec))
    by_kind: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    order = specs * rounds
    random.Random(1).shuffle(order)
    for kind, spec in order:
        started = time.perf_counter()
        engine.search(_request(spec))
        by_kind[kind].append((time.perf_counter() - started) * 1000)
    engine.close()
    everything = [v for values in by_kind.values() for v in values]
    return {"all": percentiles(everything), **{k: percentiles(v) for k, v in by_kind.items()}}


def bench_groupedby(index_dir: Path, rounds: int) -> dict[str, Any]:
    """Whoosh's own faceting on the same queries: search(q, limit=10, groupedby=four facets)."""
    from whoosh import query as wq
    from whoosh import scoring, sorting

    from search.querying import QueryReader
    from search.searching import BM25_B, BM25_K1
    from search.store import open_index

    ix = open_index(index_dir)
    reader = QueryReader(ix.schema)
    facets = {
        "country": sorting.FieldFacet("countries", allow_overlap=True),
        "topic": sorting.FieldFacet("topics", allow_overlap=True),
        "source": sorting.FieldFacet("source"),
        # Whoosh has no year facet over an ID date: dates are grouped and summed per year after.
        "year": sorting.FieldFacet("date"),
    }
    specs = [(kind, spec) for kind, group in QUERIES.items() for spec in group]

    def run(searcher: Any, spec: dict[str, Any]) -> None:
        parsed = reader.parse(spec["q"])
        query = wq.Every() if parsed.is_empty else parsed.query
        flt = (
            wq.Or([wq.Term("countries", c) for c in spec["country"]]) if "country" in spec else None
        )
        results = searcher.search(query, limit=10, groupedby=facets, filter=flt)
        for name in facets:
            results.groups(name)
        len(results)  # the exact total the API reports

    by_kind: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    with ix.searcher(weighting=scoring.BM25F(B=BM25_B, K1=BM25_K1)) as searcher:
        for _, spec in specs:
            run(searcher, spec)
        order = specs * rounds
        random.Random(1).shuffle(order)
        for kind, spec in order:
            started = time.perf_counter()
            run(searcher, spec)
            by_kind[kind].append((time.perf_counter() - started) * 1000)
    everything = [v for values in by_kind.values() for v in values]
    return {"all": percentiles(everything), **{k: percentiles(v) for k, v in by_kind.items()}}


# -- search over HTTP -------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _paths() -> list[str]:
    out = []
    for group in QUERIES.values():
        for spec in group:
            params = [("q", spec["q"])] + [("country", c) for c in spec.get("country", [])]
            if "sort" in spec:
                params.append(("sort", spec["sort"]))
            out.append("/api/search?" + urllib.parse.urlencode(params))
    return out


def _get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def bench_http(docs: Path, index_dir: Path, requests_total: int, threads: int) -> dict[str, Any]:
    """A real `briefing serve --workers 2 --no-watch` and a bounded threaded load generator."""
    port = free_port()
    log = open(index_dir.parent / f"serve-{port}.log", "w")  # noqa: SIM115
    env = {**os.environ, "BRIEFING_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            str(BRIEFING),
            "serve",
            "--workers",
            "2",
            "--no-watch",
            "--port",
            str(port),
            "--docs",
            str(docs),
            "--index-dir",
            str(index_dir),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if _get(port, "/healthz") == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start (see {log.name})")
            time.sleep(0.25)
        paths = _paths()
        for path in paths * 4:  # warm-up: both workers open their searchers
            _get(port, path)
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        counter = iter(range(requests_total))

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            for _ in counter:
                path = rng.choice(paths)
                started = time.perf_counter()
                try:
                    status = _get(port, path)
                    failure = None if status == 200 else f"HTTP {status}"
                except OSError as exc:
                    failure = repr(exc)
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    if failure:
                        errors.append(failure)
                    else:
                        latencies.append(elapsed)

        started = time.perf_counter()
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        seconds = time.perf_counter() - started
        return {
            "requests": requests_total,
            "threads": threads,
            "seconds": round(seconds, 1),
            "requests_per_s": round(requests_total / seconds, 1),
            "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5],
            **percentiles(latencies),
        }
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()
        log.close()


# -- drops ------------------------------------------------------------------------------------


def bench_drops(args: list[str]) -> dict[str, Any]:
    """bench/drops.py (drop-to-searchable latency), run as its own process; its JSON summary."""
    if not (ROOT / "bench" / "drops.py").exists():
        return {"skipped": "bench/drops.py not present"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.drops", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    decoder = json.JSONDecoder()
    text = proc.stdout
    start = text.find("{")
    try:
        summary, end = decoder.raw_decode(text[start:])
    except ValueError:
        return {"error": f"exit {proc.returncode}", "stderr": proc.stderr[-1000:]}
    return {"summary": summary, "markdown": text[start + end :].strip(), "exit": proc.returncode}


# -- report -----------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    """Latency percentiles against index size, engine vs Whoosh groupedby (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["index"]["passages"] for r in results["sizes"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for method, style in (("engine", "-"), ("groupedby", "--")):
        for pct, marker in (("p50_ms", "o"), ("p95_ms", "s"), ("p99_ms", "^")):
            values = [r[method]["all"][pct] for r in results["sizes"]]
            label = f"{'SearchEngine' if method == 'engine' else 'Whoosh groupedby'} {pct[:3]}"
            ax.plot(sizes, values, style, marker=marker, label=label)
    ax.axhline(GOALS["p50_ms"], color="grey", lw=0.8, ls=":")
    ax.axhline(GOALS["p99_ms"], color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("index size (passages)")
    ax.set_ylabel("latency per search, ms (four facets)")
    ax.set_title("In-process search latency vs index size")
    ax.legend(fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _mark(ok: bool) -> str:
    return "met" if ok else "missed"


def markdown(results: dict[str, Any], command: str) -> str:
    """docs/benchmarks.md from the run's results."""
    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` on {results['date']}; do not edit by hand.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB RAM, Python {m['python']}, "
        f"Whoosh {m['whoosh']}, {m['platform']}.",
        "",
        "Corpus: Reuters-21578 articles written as `title\\n\\ndateline body` files, replicated "
        "with new ids to reach each size; indexed end to end by `briefing index` (read, metadata, "
        "chunking, tagging, writing). Every timed phase starts with an uncounted warm-up.",
        "",
        "## Indexing",
        "",
        "| passages | documents | seconds | passages/s | peak RSS, process tree | largest process | goal |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["sizes"]:
        ix = r["index"]
        goal = (
            f"≥ {GOALS['index_pps']} p/s {_mark(ix['passages_per_s'] >= GOALS['index_pps'])}; "
            f"< {GOALS['peak_rss_mb']} MB {_mark(ix['peak_rss_mb'] < GOALS['peak_rss_mb'])}"
        )
        lines.append(
            f"| {ix['passages']:,} | {ix['documents']:,} | {ix['seconds']} | "
            f"{ix['passages_per_s']:,.0f} | {ix['peak_rss_mb']:.0f} MB | "
            f"{ix['largest_process_rss_mb']:.0f} MB | {goal} |"
        )
    lines += [
        "",
        "## Search in process (all four facets, exact total, 10 hits with highlights)",
        "",
        f"`SearchEngine.search` vs Whoosh's own `searcher.search(q, limit=10, groupedby=...)` "
        f"(`FieldFacet(..., allow_overlap=True)` for countries and topics) on the same queries, "
        f"each query {SEARCH_ROUNDS} times in shuffled order.",
        "",
        "| passages | method | p50 ms | p95 ms | p99 ms | searches | goal (p50 ≤ 15, p99 ≤ 60) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["sizes"]:
        n = r["index"]["passages"]
        for method, name in (
            ("engine", "SearchEngine, no match cache (decoded postings reused)"),
            ("engine_cached", "SearchEngine, repeated queries (match cache on, the default)"),
            ("groupedby", "Whoosh groupedby"),
        ):
            if method not in r:
                continue
            a = r[method]["all"]
            goal = ""
            if method.startswith("engine"):
                ok = a["p50_ms"] <= GOALS["p50_ms"] and a["p99_ms"] <= GOALS["p99_ms"]
                goal = _mark(ok)
            lines.append(
                f"| {n:,} | {name} | {a['p50_ms']} | {a['p95_ms']} | {a['p99_ms']} | "
                f"{a['n']} | {goal} |"
            )
    lines += ["", "By kind of query (SearchEngine / groupedby, p50 and p99 ms):", ""]
    kinds = list(QUERIES)
    lines.append("| passages | " + " | ".join(kinds) + " |")
    lines.append("| ---: | " + " | ".join("---" for _ in kinds) + " |")
    for r in results["sizes"]:
        cells = []
        for kind in kinds:
            e, g = r["engine"][kind], r["groupedby"][kind]
            cells.append(f"{e['p50_ms']}/{e['p99_ms']} · {g['p50_ms']}/{g['p99_ms']}")
        lines.append(f"| {r['index']['passages']:,} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "![latency vs index size](bench-latency.png)",
        "",
        "## Search over HTTP",
        "",
        f"`briefing serve --workers 2 --no-watch` on a free port; {HTTP_THREADS} client threads "
        f"(http.client, one connection per request) send a bounded number of `/api/search` "
        f"requests drawn from the queries above. The client runs on the same 2 cores.",
        "",
        "| passages | requests | requests/s | p50 ms | p95 ms | p99 ms | errors | goal (≥ 150 req/s, 0 errors) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["sizes"]:
        h = r.get("http")
        if not h:
            continue
        ok = h["requests_per_s"] >= GOALS["http_rps"] and h["errors"] == 0
        lines.append(
            f"| {r['index']['passages']:,} | {h['requests']} | {h['requests_per_s']} | "
            f"{h['p50_ms']} | {h['p95_ms']} | {h['p99_ms']} | {h['errors']} | {_mark(ok)} |"
        )
    lines += ["", "## Drop to searchable (bench/drops.py)", ""]
    drops = results.get("drops") or {}
    if "markdown" in drops:
        lines.append(drops["markdown"])
    else:
        lines.append(f"Not measured: {drops}")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark and write docs/benchmarks.md, docs/bench-latency.png and JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--size", type=int, default=100_000, help="Largest index, in passages.")
    parser.add_argument(
        "--sizes", type=int, nargs="*", help="Index sizes (default 10k and --size)."
    )
    parser.add_argument("--rounds", type=int, default=SEARCH_ROUNDS)
    parser.add_argument("--http-requests", type=int, default=HTTP_REQUESTS)
    parser.add_argument("--no-http", action="store_true")
    parser.add_argument("--no-drops", action="store_true")
    parser.add_argument("--drops-args", default="", help="Arguments passed to bench.drops.")
    parser.add_argument("--out", type=Path, default=DOCS_OUT)
    parser.add_argument("--workdir", type=Path, help="Keep corpora and indexes here.")
    args = parser.parse_args(argv)
    sizes = sorted(set(args.sizes or [min(10_000, args.size), args.size]))

    results: dict[str, Any] = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "sizes": [],
    }
    print(json.dumps(results["machine"]), flush=True)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="briefing-bench-"))
    try:
        articles = load_articles()
        per_article = passages_per_article(articles)
        print(f"{len(articles)} articles, {per_article:.2f} passages each", flush=True)
        for size in sizes:
            docs, index_dir = work / f"docs-{size}", work / f"index-{size}"
            shutil.rmtree(index_dir, ignore_errors=True)
            if not docs.exists():
                write_corpus(articles, docs, math.ceil(size / per_article))
            row: dict[str, Any] = {"size": size, "index": run_index(docs, index_dir)}
            print(f"index {size}: {row['index']}", flush=True)
            row["engine"] = bench_engine(index_dir, args.rounds)
            print(f"engine {size}: {row['engine']['all']}", flush=True)
            row["engine_cached"] = bench_engine(index_dir, args.rounds, match_cache_size=64)
            print(f"engine (match cache) {size}: {row['engine_cached']['all']}", flush=True)
            row["groupedby"] = bench_groupedby(index_dir, max(2, args.rounds // 4))
            print(f"groupedby {size}: {row['groupedby']['all']}", flush=True)
            if not args.no_http:
                row["http"] = bench_http(docs, index_dir, args.http_requests, HTTP_THREADS)
                print(f"http {size}: {row['http']}", flush=True)
            results["sizes"].append(row)
        if not args.no_drops:
            results["drops"] = bench_drops(args.drops_args.split())
            print(f"drops: {results['drops'].get('summary', results['drops'])}", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "bench-latency.png")
    command = f".venv/bin/python -m bench.run --size {args.size}"
    (args.out / "benchmarks.md").write_text(markdown(results, command), encoding="utf-8")
    (args.out / "benchmarks.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(markdown(results, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
