"""What semantic rescoring costs: indexing throughput, memory and search latency, vs BM25 alone.

    .venv/bin/python -m bench.semantic [--articles 1000] [--out docs/semantic-benchmarks.md]

Reuters articles are written as files and indexed twice through `IndexSyncer` (without and with
embeddings); then the same queries run through `SearchEngine.search` on the embedded index with
rescoring off and on. "First time" latencies include embedding the query; repeats find the query
vector cached (paging, facet clicks). Warm-ups are not counted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.run import QUERIES, load_articles, machine, percentiles, write_corpus

# Analysts' questions in sentences, beside the keyword queries bench/run.py uses.
QUESTIONS = [
    "Will the central bank raise interest rates to fight inflation?",
    "Which countries are cutting oil production to support prices?",
    "How did the coffee harvest in Brazil affect export quotas?",
    "Is Japan's trade surplus with the United States shrinking?",
    "What are grain exporters saying about Soviet wheat purchases?",
    "Why did the dollar fall against the yen and the mark?",
    "Are banks writing off loans to developing countries?",
    "Who is bidding to take over the company and at what price?",
]
ROUNDS = 10


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(ln for ln in status if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _index(docs: Path, index_dir: Path, semantic: bool) -> dict[str, Any]:
    from index.sync import IndexSyncer

    started = time.perf_counter()
    report = IndexSyncer(docs, index_dir, semantic=semantic).sync_all()
    seconds = time.perf_counter() - started
    return {
        "semantic": semantic,
        "documents": report.documents,
        "passages": report.passages,
        "seconds": round(seconds, 1),
        "passages_per_s": round(report.passages / seconds, 1),
    }


def _latencies(index_dir: Path, semantic: bool) -> dict[str, Any]:
    from search.searching import SearchEngine, SearchRequest

    engine = SearchEngine(index_dir, semantic=semantic)
    keywords = [spec["q"] for kind in ("single word", "two words") for spec in QUERIES[kind]]
    engine.search(SearchRequest(q="warm up the searcher"))
    first: list[float] = []
    for q in QUESTIONS + keywords:  # each query's first run embeds it
        started = time.perf_counter()
        engine.search(SearchRequest(q=q))
        first.append((time.perf_counter() - started) * 1000)
    repeats: list[float] = []
    order = (QUESTIONS + keywords) * ROUNDS
    random.Random(3).shuffle(order)
    for q in order:
        started = time.perf_counter()
        engine.search(SearchRequest(q=q))
        repeats.append((time.perf_counter() - started) * 1000)
    engine.close()
    return {"first": percentiles(first), "repeat": percentiles(repeats)}


def markdown(results: dict[str, Any], command: str) -> str:
    """The report as docs/semantic-benchmarks.md."""
    m = results["machine"]
    lines = [
        "# Semantic rescoring: what it costs",
        "",
        f"`{command}` on {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, "
        f"Python {m['python']}, Whoosh {m['whoosh']}.",
        "",
        "| indexing | passages | seconds | passages/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in results["indexing"]:
        name = "with embeddings (BRIEFING_SEMANTIC=true)" if row["semantic"] else "BM25 only"
        lines.append(f"| {name} | {row['passages']} | {row['seconds']} | {row['passages_per_s']} |")
    lines += [
        "",
        f"Memory: loading the model adds {results['model_rss_mb']:.0f} MB to a process "
        f"({results['rss_after_embedding_mb']:.0f} MB once it has embedded the corpus); "
        f"the benchmark process peaked at {results['peak_rss_mb']:.0f} MB in all.",
        "",
        "| search, four facets, on the embedded index | first run p50 / p95 | repeats p50 / p95 |",
        "| --- | ---: | ---: |",
    ]
    for name, key in (("rescoring off", "lexical"), ("rescoring on", "semantic")):
        row = results["search"][key]
        lines.append(
            f"| {name} | {row['first']['p50_ms']} / {row['first']['p95_ms']} ms | "
            f"{row['repeat']['p50_ms']} / {row['repeat']['p95_ms']} ms |"
        )
    lines += [
        "",
        f"{len(QUESTIONS)} questions in sentences and {results['keywords']} keyword queries; "
        "a first run embeds the query, repeats find its vector cached.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the semantic benchmark and write its report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--articles", type=int, default=1000)
    parser.add_argument("--out", default="docs/semantic-benchmarks.md")
    args = parser.parse_args(argv)
    articles = load_articles()
    results: dict[str, Any] = {"machine": machine(), "indexing": []}
    with tempfile.TemporaryDirectory(prefix="briefing-semantic-") as tmp:
        docs = Path(tmp) / "docs"
        write_corpus(articles, docs, args.articles)
        results["indexing"].append(_index(docs, Path(tmp) / "lexical", semantic=False))
        before = _rss_mb()
        from search.embedding import shared_encoder

        shared_encoder()
        results["model_rss_mb"] = round(_rss_mb() - before, 1)
        results["indexing"].append(_index(docs, Path(tmp) / "semantic", semantic=True))
        results["rss_after_embedding_mb"] = round(_rss_mb() - before, 1)
        results["search"] = {
            "lexical": _latencies(Path(tmp) / "semantic", semantic=False),
            "semantic": _latencies(Path(tmp) / "semantic", semantic=True),
        }
    results["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    results["keywords"] = sum(len(QUERIES[k]) for k in ("single word", "two words"))
    print(json.dumps(results, indent=2))
    command = "python -m bench.semantic" + (
        f" --articles {args.articles}" if args.articles != 1000 else ""
    )
    Path(args.out).write_text(markdown(results, command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
