"""Relevance evaluation on a BEIR-layout collection: the engine's ranking against plain BM25.

The engine side indexes the collection through the same pipeline as briefing documents (each
corpus entry becomes a "title\\n\\ntext" file; the indexing callable is supplied by the caller so
this module never imports index/) and runs every judged query through `SearchEngine.search`.
Passages are turned into a document ranking by the rule in `documents_from_passages`.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from search.analysis import snowball_stems
from search.searching import SearchEngine, SearchRequest

# Depth of the document ranking that is scored (Recall@100 needs 100 documents).
RUN_DEPTH = 100
# Passages per engine request; the API's maximum page size, so eval pays what a client pays.
PAGE_SIZE = 100
# Stop paging once this many passages were read without reaching RUN_DEPTH documents.
MAX_PASSAGES = 1000
# Plain BM25 baseline parameters (Anserini's BEIR defaults).
BASELINE_K1 = 0.9
BASELINE_B = 0.4
# Lucene's English stop words, which Anserini's BM25 runs (the published ~0.68) remove too.
LUCENE_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
METRICS = ("ndcg@10", "recall@100", "mrr@10")
_TOKEN_RE = re.compile(r"\w+", re.UNICODE)


@dataclass
class Collection:
    """A BEIR collection: corpus id → (title, text), query id → text, query id → judgements."""

    corpus: dict[str, tuple[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def judged_queries(self) -> dict[str, str]:
        """Queries with at least one relevant document, in file order."""
        return {
            qid: text
            for qid, text in self.queries.items()
            if any(g > 0 for g in self.qrels.get(qid, {}).values())
        }


def load_collection(
    corpus_path: str | Path, queries_path: str | Path, qrels_path: str | Path
) -> Collection:
    """Read corpus.jsonl, queries.jsonl and a qrels TSV (with or without a header line)."""
    corpus: dict[str, tuple[str, str]] = {}
    with open(corpus_path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                corpus[str(row["_id"])] = (row.get("title") or "", row.get("text") or "")
    queries: dict[str, str] = {}
    with open(queries_path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = row["text"]
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        for line in handle:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or not parts[2].lstrip("-").isdigit():
                continue  # header or blank line
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return Collection(corpus, queries, qrels)


# -- metrics (same definitions as pytrec_eval / BEIR: linear gain, log2 discount) --------------


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with gain = judgement grade and discount 1/log2(rank + 1)."""
    dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 100) -> float:
    """Share of the relevant documents found in the top k."""
    relevant = {doc for doc, g in judged.items() if g > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int = 10) -> float:
    """Reciprocal rank of the first relevant document in the top k, else 0."""
    for rank, doc in enumerate(ranking[:k]):
        if judged.get(doc, 0) > 0:
            return 1.0 / (rank + 1)
    return 0.0


def score_query(ranking: Sequence[str], judged: Mapping[str, int]) -> dict[str, float]:
    """All reported metrics for one query's document ranking."""
    return {
        "ndcg@10": ndcg_at_k(ranking, judged, 10),
        "recall@100": recall_at_k(ranking, judged, 100),
        "mrr@10": mrr_at_k(ranking, judged, 10),
    }


def mean_scores(per_query: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean of every metric over the queries (0.0 for an empty run)."""
    n = len(per_query)
    return {m: (sum(s[m] for s in per_query.values()) / n if n else 0.0) for m in METRICS}


def rank_documents(scores: Mapping[str, float], depth: int = RUN_DEPTH) -> list[str]:
    """Document ids by descending score; ties broken by id so runs are reproducible."""
    return [doc for doc, _ in sorted(scores.items(), key=lambda ds: (-ds[1], ds[0]))[:depth]]


# -- the engine's run ---------------------------------------------------------------------------


def documents_from_passages(hits: Iterable[tuple[str, float]]) -> dict[str, float]:
    """A document's score is its best passage's score (max-passage aggregation).

    The API ranks passages; max-passage keeps a long document from winning on many weak
    passages and is the score a user sees on the document's top hit.
    """
    best: dict[str, float] = {}
    for doc_id, score in hits:
        if score > best.get(doc_id, float("-inf")):
            best[doc_id] = score
    return best


def engine_ranking(
    engine: SearchEngine, text: str, depth: int = RUN_DEPTH
) -> tuple[list[str], dict[str, float]]:
    """Run text through SearchEngine.search page by page until depth documents are ranked."""
    hits: list[tuple[str, float]] = []
    page = 1
    while True:
        result = engine.search(SearchRequest(q=text, page=page, per_page=PAGE_SIZE))
        hits.extend((h.doc_id, float(h.score or 0.0)) for h in result.hits)
        docs = documents_from_passages(hits)
        if len(docs) >= depth or page >= result.pages or len(hits) >= MAX_PASSAGES:
            return rank_documents(docs, depth), docs
        page += 1


def write_corpus(collection: Collection, folder: Path) -> dict[str, str]:
    """Write each corpus entry as `<id>.txt` ("title\\n\\ntext"); return doc_id → corpus id.

    A title's final period is dropped: scientific titles end in one, briefing headlines do not,
    and the metadata reader takes a first line ending in a period for a lead sentence.
    """
    folder.mkdir(parents=True, exist_ok=True)
    mapping: dict[str, str] = {}
    for cid, (raw_title, text) in collection.corpus.items():
        name = re.sub(r"[^\w.-]", "_", cid) + ".txt"
        title = raw_title.strip().removesuffix(".")
        body = f"{title}\n\n{text.strip()}\n" if title else f"{text.strip()}\n"
        (folder / name).write_text(body, encoding="utf-8")
        mapping[name] = cid
    return mapping


@dataclass
class RunResult:
    """One system's scores: means, per-query figures and throughput."""

    name: str
    means: dict[str, float]
    per_query: dict[str, dict[str, float]]
    seconds: float
    rankings: dict[str, list[str]] = field(default_factory=dict)

    @property
    def qps(self) -> float:
        """Queries per second over the whole run."""
        return len(self.per_query) / self.seconds if self.seconds > 0 else 0.0


def run_engine(
    engine: SearchEngine, collection: Collection, doc_map: Mapping[str, str]
) -> RunResult:
    """Score every judged query through the engine (the API's search path)."""
    per_query: dict[str, dict[str, float]] = {}
    rankings: dict[str, list[str]] = {}
    queries = collection.judged_queries
    # Warm the searcher and facet arrays so the first query does not pay for opening them.
    engine.search(SearchRequest(q="", per_page=1))
    started = time.perf_counter()
    for qid, text in queries.items():
        ranking, _ = engine_ranking(engine, text)
        rankings[qid] = [doc_map.get(d, d) for d in ranking]
    seconds = time.perf_counter() - started
    for qid, ranking in rankings.items():
        per_query[qid] = score_query(ranking, collection.qrels[qid])
    return RunResult("engine", mean_scores(per_query), per_query, seconds, rankings)


# -- the plain BM25 baseline --------------------------------------------------------------------


def baseline_tokens(text: str) -> list[str]:
    """Lowercase word tokens, Lucene English stop words removed, Porter (Snowball) stemmed."""
    words = [w for w in _TOKEN_RE.findall(text.lower()) if w not in LUCENE_STOPWORDS]
    return snowball_stems(words)


def run_baseline(
    collection: Collection, k1: float = BASELINE_K1, b: float = BASELINE_B
) -> RunResult:
    """Plain BM25 (rank-bm25 BM25Okapi) over title + text of each corpus document."""
    import numpy as np
    from rank_bm25 import BM25Okapi

    ids = list(collection.corpus)
    tokens = [baseline_tokens(f"{t} {x}") for t, x in collection.corpus.values()]
    bm25 = BM25Okapi(tokens, k1=k1, b=b)
    per_query: dict[str, dict[str, float]] = {}
    rankings: dict[str, list[str]] = {}
    started = time.perf_counter()
    for qid, text in collection.judged_queries.items():
        scores = bm25.get_scores(baseline_tokens(text))
        top = np.argsort(-scores, kind="stable")[:RUN_DEPTH]
        rankings[qid] = rank_documents({ids[i]: float(scores[i]) for i in top if scores[i] > 0})
    seconds = time.perf_counter() - started
    for qid, ranking in rankings.items():
        per_query[qid] = score_query(ranking, collection.qrels[qid])
    return RunResult("bm25", mean_scores(per_query), per_query, seconds, rankings)


# -- the whole evaluation -----------------------------------------------------------------------


def evaluate(
    collection: Collection,
    index_folder: Callable[[Path, Path], Any],
    workdir: Path,
    baseline: bool = True,
    semantic: bool = False,
) -> dict[str, Any]:
    """Index the collection with index_folder(docs_dir, index_dir), run engine and baseline."""
    docs_dir, index_dir = workdir / "docs", workdir / "index"
    doc_map = write_corpus(collection, docs_dir)
    started = time.perf_counter()
    index_folder(docs_dir, index_dir)
    index_seconds = time.perf_counter() - started
    engine = SearchEngine(index_dir, semantic=semantic)
    try:
        run = run_engine(engine, collection, doc_map)
        stats = engine.stats()
    finally:
        engine.close()
    report: dict[str, Any] = {
        **{m: round(v, 4) for m, v in run.means.items()},
        "queries": len(run.per_query),
        "qps": round(run.qps, 1),
        "documents": stats.documents,
        "passages": stats.passages,
        "index_seconds": round(index_seconds, 1),
        "semantic": semantic,
        "aggregation": "max passage score per document",
    }
    per_query: dict[str, dict[str, Any]] = {
        qid: {m: round(v, 4) for m, v in s.items()} for qid, s in run.per_query.items()
    }
    if baseline:
        base = run_baseline(collection)
        report["baseline"] = {
            **{m: round(v, 4) for m, v in base.means.items()},
            "qps": round(base.qps, 1),
            "system": f"rank-bm25 BM25Okapi k1={BASELINE_K1} b={BASELINE_B}, "
            "Snowball English stems, Lucene stop words, title + text",
        }
        report["ratio"] = {
            m: round(run.means[m] / base.means[m], 3) if base.means[m] else None for m in METRICS
        }
        for qid, scores in base.per_query.items():
            per_query[qid]["baseline_ndcg@10"] = round(scores["ndcg@10"], 4)
    report["per_query"] = per_query
    return report
