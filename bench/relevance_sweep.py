"""Ranking-parameter sweep on a BEIR collection (a tuning aid, not the `briefing eval` contract).

Indexes the corpus straight into the schema with a simple sentence chunker (so it runs even when
the full pipeline is unavailable), then scores the engine for several parameter settings:

    .venv/bin/python -m bench.relevance_sweep --corpus ... --queries ... --qrels ...
"""

from __future__ import annotations

import argparse
import itertools
import re
import tempfile
import time
from pathlib import Path

from whoosh import scoring

import search.querying as querying
import search.searching as searching
import search.store as schema
from search.evaluation import (
    Collection,
    RunResult,
    documents_from_passages,
    load_collection,
    mean_scores,
    rank_documents,
    score_query,
)

# Passages fetched per query: enough for 100 documents of two or three passages each.
FAST_DEPTH = 300
_SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


def simple_passages(text: str, min_words: int = 40, max_words: int = 200) -> list[str]:
    """Greedy sentence packing into passages of at most max_words (merging a short tail)."""
    passages: list[list[str]] = [[]]
    for sentence in _SENTENCE_RE.split(text.strip()):
        count = sum(len(s.split()) for s in passages[-1])
        if passages[-1] and count + len(sentence.split()) > max_words:
            passages.append([])
        passages[-1].append(sentence)
    if len(passages) > 1 and sum(len(s.split()) for s in passages[-1]) < min_words:
        tail = passages.pop()
        passages[-1].extend(tail)
    return [" ".join(p) for p in passages if p]


def build_index(
    collection: Collection, index_dir: Path, layout: str = "fields", whole: bool = False
) -> dict[str, str]:
    """Write the collection's passages directly; return doc_id → corpus id.

    layout "combined" indexes the title inside each passage's text field (stored text unchanged).
    """
    ix = schema.open_for_writing(index_dir).index
    writer = ix.writer(limitmb=256)
    mapping = {}
    for cid, (title, text) in collection.corpus.items():
        doc_id = f"{cid}.txt"
        mapping[doc_id] = cid
        for n, passage in enumerate([text] if whole else simple_passages(text)):
            extra = {"_stored_text": passage} if layout == "combined" else {}
            indexed = f"{title}\n{passage}" if layout == "combined" else passage
            writer.add_document(
                passage_id=f"{doc_id}#{n}",
                doc_id=doc_id,
                ordinal=n,
                text=indexed,
                title=title,
                **extra,
            )
    writer.commit()
    return mapping


WEIGHTINGS = {"whoosh": scoring.BM25F, "lucene": searching.LuceneBM25}
IDF = "whoosh"


def fast_run(index_dir: Path, collection: Collection, mapping: dict[str, str]) -> RunResult:
    """The engine's ranking without paging, facets or highlights: same query, same weighting."""
    ix = schema.open_index(index_dir)
    reader = querying.QueryReader(ix.schema)
    weighting = WEIGHTINGS[IDF](B=searching.BM25_B, K1=searching.BM25_K1)
    per_query, rankings = {}, {}
    started = time.perf_counter()
    with ix.searcher(weighting=weighting) as searcher:
        for qid, text in collection.judged_queries.items():
            parsed = reader.parse(text)
            hits = searcher.search(parsed.query, limit=FAST_DEPTH)
            docs = documents_from_passages((h["doc_id"], float(h.score)) for h in hits)
            rankings[qid] = [mapping[d] for d in rank_documents(docs)]
            per_query[qid] = score_query(rankings[qid], collection.qrels[qid])
    return RunResult("fast", mean_scores(per_query), per_query, time.perf_counter() - started)


def main() -> None:
    """Sweep B, K1, coordination and max-all-required over one index."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--qrels", required=True)
    parser.add_argument("--b", type=float, nargs="+", default=[searching.BM25_B])
    parser.add_argument("--k1", type=float, nargs="+", default=[searching.BM25_K1])
    parser.add_argument("--coord", type=float, nargs="+", default=[querying.OR_COORDINATION])
    parser.add_argument("--max-and", type=int, nargs="+", default=[querying.MAX_ALL_REQUIRED])
    parser.add_argument("--limit", type=int, default=0, help="only the first N queries")
    parser.add_argument("--layout", choices=["fields", "combined"], default="combined")
    parser.add_argument("--whole", action="store_true", help="one passage per document")
    parser.add_argument("--idf", nargs="+", choices=sorted(WEIGHTINGS), default=["lucene"])
    args = parser.parse_args()
    collection = load_collection(args.corpus, args.queries, args.qrels)
    if args.limit:
        keep = dict(itertools.islice(collection.judged_queries.items(), args.limit))
        collection = Collection(collection.corpus, keep, collection.qrels)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        mapping = build_index(collection, Path(tmp), args.layout, args.whole)
        # "fields" is the earlier layout: title as a second search field beside the text.
        querying.SEARCH_FIELDS = ("text",) if args.layout == "combined" else ("title", "text")
        print(f"# {args.layout}: indexed in {time.perf_counter() - started:.1f}s")
        global IDF
        for b, k1, coord, max_and, IDF in itertools.product(
            args.b, args.k1, args.coord, args.max_and, args.idf
        ):
            searching.BM25_B, searching.BM25_K1 = b, k1
            querying.OR_COORDINATION, querying.MAX_ALL_REQUIRED = coord, max_and
            run = fast_run(Path(tmp), collection, mapping)
            means = mean_scores(run.per_query)
            print(
                f"{args.layout}{' whole' if args.whole else ''} idf={IDF} b={b} k1={k1} "
                f"coord={coord} max_and={max_and} "
                + " ".join(f"{m}={v:.4f}" for m, v in means.items())
                + f" qps={run.qps:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
