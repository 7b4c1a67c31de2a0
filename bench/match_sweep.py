"""How the minimum-should-match rule moves relevance: one SciFact index, many rules.

    .venv/bin/python -m bench.match_sweep [--workdir DIR] [--queries N]

Indexes SciFact's training corpus once through the normal pipeline (kept in --workdir between
runs), then scores the judged claims through `SearchEngine.search` under each candidate rule
(search/querying.py's constants set in this process only) and prints nDCG@10 and Recall@100.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import search.querying as querying
import search.searching as searching
from index.sync import IndexSyncer
from search.evaluation import (
    engine_ranking,
    load_collection,
    mean_scores,
    score_query,
    write_corpus,
)
from search.searching import SearchEngine

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "scifact-train"
# (words all required up to, mostly required up to, share then, share beyond, at most this
# many required, sentences match any word, relax to any below this many hits); None: any word.
Rule = tuple[int, int, float, float, int | None, bool, int]
RULES: list[Rule | None] = [
    (3, 8, 0.75, 0.5, None, True, 1),
    (3, 8, 0.75, 0.5, None, True, 0),
    (3, 8, 0.75, 0.5, None, False, 0),
    None,
    (3, 3, 0.0, 0.0, None, False, 0),
    (3, 8, 0.75, 0.5, 2, False, 0),
]


def apply(rule: Rule | None) -> None:
    """Set the graded rule's constants (None: every query reads as "any word")."""
    if rule is None:
        rule = (1, 1, 0.0, 0.0, None, False, 0)
    (
        querying.MAX_ALL_REQUIRED,
        querying.MAX_MOSTLY_REQUIRED,
        querying.AT_LEAST_SHARE,
        querying.LONG_QUERY_SHARE,
        querying.MAX_REQUIRED,
        querying.SENTENCES_MATCH_ANY,
        searching.RELAX_BELOW,
    ) = rule


def main(argv: list[str] | None = None) -> int:
    """Score every rule on the same index and print one JSON line per rule."""
    parser = argparse.ArgumentParser(prog="python -m bench.match_sweep", description=__doc__)
    parser.add_argument("--workdir", type=Path, default=Path("var/match-sweep"))
    parser.add_argument("--queries", type=int, default=0, help="first N judged claims (0: all)")
    parser.add_argument("--skip", type=int, default=0, help="rules to skip (resume a sweep)")
    args = parser.parse_args(argv)
    collection = load_collection(
        SCIFACT / "corpus.jsonl", SCIFACT / "queries.jsonl", SCIFACT / "qrels" / "train.tsv"
    )
    docs, index_dir = args.workdir / "docs", args.workdir / "index"
    doc_map = write_corpus(collection, docs)
    IndexSyncer(docs, index_dir).sync_all()
    queries = list(collection.judged_queries.items())
    if args.queries:
        queries = queries[: args.queries]
    for rule in RULES[args.skip :]:
        apply(rule)
        engine = SearchEngine(index_dir)
        per_query = {}
        for qid, text in queries:
            ranking, _ = engine_ranking(engine, text)
            ranked = [doc_map.get(d, d) for d in ranking]
            per_query[qid] = score_query(ranked, collection.qrels[qid])
        means = mean_scores(per_query)
        engine.close()
        shown = {k: round(v, 4) for k, v in means.items()}
        print(json.dumps({"rule": rule, "queries": len(per_query), **shown}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
