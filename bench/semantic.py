"""What semantic rescoring costs: indexing throughput, memory and search latency, vs BM25 alone.

    .venv/bin/python -m bench.semantic [--articles 1000] [--out docs/semantic-benchmarks.md]

Reuters articles are written as files and indexed twice through `IndexSyncer` (without and with
embeddings); then the same queries run through `SearchEngine.search` on the embedded index with
rescoring off and on. "First time" latencies include embedding the query; repeats find the query
vector cached (paging, facet clicks). Warm-ups are not counted. Last, the encoder alone on one
thread, int8 and float32, on the corpus's first passages: passages per CPU second (what a process
of a parallel build gets from its core) and how close int8's vectors are to float32's.
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
# Passages per second issue 14 asks of semantic indexing: the report says what it would cost.
TARGET_RATE = 150
# Passages the encoder-alone figures embed: enough for a stable rate, a minute or two of CPU.
ENCODER_PASSAGES = 400
# What the report compares with: the encoder before ONNX Runtime's fused operators, int8 weights
# and batches of one (batches of 16, float32), measured by this benchmark on this machine.
BEFORE = (
    "Before 2026-11-30's encoder changes (float32 graph of plain ONNX operators, batches of 16): "
    "35.8 passages/s indexing with embeddings; about 11 passages per CPU second on one thread."
)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        line = next(ln for ln in status if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the parse process), user + system."""
    own, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _index(docs: Path, index_dir: Path, semantic: bool) -> dict[str, Any]:
    from index.sync import IndexSyncer

    started, cpu = time.perf_counter(), _cpu_seconds()
    report = IndexSyncer(docs, index_dir, semantic=semantic).sync_all()
    seconds, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    return {
        "semantic": semantic,
        "documents": report.documents,
        "passages": report.passages,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "passages_per_s": round(report.passages / seconds, 1),
    }


def _passage_texts(docs: Path, count: int) -> list[str]:
    """The first passages of the corpus, title first, as the indexer embeds them."""
    from index.errors import DocumentSkipped
    from index.pipeline import parse_document

    texts: list[str] = []
    for path in sorted(docs.rglob("*.txt")):
        try:
            doc = parse_document(docs, path)
        except DocumentSkipped:  # as the indexer skips it
            continue
        texts += [f"{doc.metadata.title}. {p.text}" for p in doc.passages]
        if len(texts) >= count:
            break
    return texts[:count]


def _arithmetic(texts: list[str]) -> dict[str, Any]:
    """Word pieces and floating-point operations per passage, from the model's own shapes.

    A multiply-add counts two. Per layer and word piece: the query, key, value and output
    projections (4 d^2) and the feed-forward pair (2 d f); per layer and pair of word pieces the
    attention scores and their weighted sum (2 d). Embedding look-ups, softmax, layer norms and
    pooling are left out: they are a few per cent.
    """
    import json as json_module

    from tokenizers import Tokenizer

    from search.embedding import MAX_TOKENS, model_dir

    folder = model_dir()
    config = json_module.loads((folder / "config.json").read_text(encoding="utf-8"))
    d, f, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)
    counts = [len(e.ids) for e in tokenizer.encode_batch(texts)]
    flops = [2 * layers * (n * (4 * d * d + 2 * d * f) + n * n * 2 * d) for n in counts]
    return {
        "word_pieces_mean": round(sum(counts) / len(counts), 1),
        "truncated_share": round(sum(n == MAX_TOKENS for n in counts) / len(counts), 3),
        "gflop_per_passage": round(sum(flops) / len(flops) / 1e9, 2),
    }


def _encoder_alone(texts: list[str]) -> dict[str, Any]:
    """Passages per CPU second on one thread, int8 and float32, and int8's cosine to float32."""
    import numpy as np

    from search.embedding import PRECISIONS, Encoder

    rows, vectors = {}, {}
    for precision in PRECISIONS:
        encoder = Encoder(threads=1, precision=precision)
        encoder.encode(texts[:10])  # warm-up
        started, cpu = time.perf_counter(), time.process_time()
        vectors[precision] = encoder.encode(texts)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        rows[precision] = {
            "seconds": round(seconds, 1),
            "cpu_seconds": round(cpu, 1),
            "passages_per_cpu_s": round(len(texts) / cpu, 1),
        }
    cosines = (vectors["int8"] * vectors["float32"]).sum(axis=1)
    return {
        "passages": len(texts),
        "rows": rows,
        "cosine_min": round(float(cosines.min()), 4),
        "cosine_mean": round(float(np.mean(cosines)), 4),
        **_arithmetic(texts),
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
        "| indexing | passages | seconds | CPU seconds | passages/s |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in results["indexing"]:
        name = "with embeddings (BRIEFING_SEMANTIC=true)" if row["semantic"] else "BM25 only"
        lines.append(
            f"| {name} | {row['passages']} | {row['seconds']} | {row['cpu_seconds']} | "
            f"{row['passages_per_s']} |"
        )
    alone = results["encoder"]
    lines += [
        "",
        f"Encoder alone, one thread, the corpus's first {alone['passages']} passages "
        "(`BRIEFING_EMBEDDING_PRECISION`; float32 is the default):",
        "",
        "| precision | seconds | CPU seconds | passages per CPU second |",
        "| --- | ---: | ---: | ---: |",
    ]
    for precision, row in alone["rows"].items():
        lines.append(
            f"| {precision} | {row['seconds']} | {row['cpu_seconds']} | "
            f"{row['passages_per_cpu_s']} |"
        )
    gflop = alone["gflop_per_passage"]
    float32 = alone["rows"]["float32"]["passages_per_cpu_s"]
    lines += [
        "",
        f"The work: {alone['word_pieces_mean']} word pieces per passage on average "
        f"({alone['truncated_share']:.1%} cut at the model's limit), {gflop} GFLOP per passage "
        "through the model's matrix products (a multiply-add counts two). float32 runs them at "
        f"{float32 * gflop:.0f} GFLOP per CPU second; {TARGET_RATE} passages/s (issue 14's goal) "
        f"would need {TARGET_RATE * gflop:.0f} GFLOP/s.",
    ]
    lines += [
        "",
        f"int8 vectors' cosine to float32's: min {alone['cosine_min']}, mean "
        f"{alone['cosine_mean']}. {BEFORE}",
        "",
        "The encoder (search/embedding.py) runs ONNX Runtime's fused Attention and BiasGelu "
        "operators, float32 weights (or int8 per output channel, inputs quantised per run), and "
        "one passage per run (no padding; its activations stay in cache).",
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
        # Before the encoder-alone runs: their two extra encoders are not the service's memory.
        results["peak_rss_mb"] = round(_peak_rss_mb(), 1)
        results["encoder"] = _encoder_alone(_passage_texts(docs, ENCODER_PASSAGES))
    results["keywords"] = sum(len(QUERIES[k]) for k in ("single word", "two words"))
    print(json.dumps(results, indent=2))
    command = "python -m bench.semantic" + (
        f" --articles {args.articles}" if args.articles != 1000 else ""
    )
    Path(args.out).write_text(markdown(results, command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
