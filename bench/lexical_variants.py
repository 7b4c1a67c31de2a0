"""Lexical ranking alternatives on a BEIR collection, side by side (a tuning aid, ~1 minute).

A numpy replica of the engine's BM25 (same analyzer, Lucene idf, K1 1.2, B 0.75, title in front
of every passage, max-passage aggregation) over the sweep's simple passages, with one change per
row: pseudo-relevance feedback, other scoring models, title, phrase and exact-form bonuses,
minimum-should-match, passage/document mixes. It is how docs/relevance.md shows that no lexical
choice gets far past plain BM25 on SciFact:

    .venv/bin/python -m bench.lexical_variants --corpus ... --queries ... --qrels ...
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np

from bench.relevance_sweep import simple_passages
from search.analysis import text_analyzer
from search.evaluation import load_collection, mean_scores, rank_documents, score_query

Postings = dict[str, tuple[np.ndarray, np.ndarray]]


class Units:
    """Token lists (passages or documents) with their postings, lengths and owning document."""

    def __init__(self, owners: list[str], tokens: list[list[str]]) -> None:
        self.owners, self.tokens = owners, tokens
        self.lengths = np.array([len(t) for t in tokens], dtype=np.float64)
        lists: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
        for i, toks in enumerate(tokens):
            for term, count in Counter(toks).items():
                lists[term][0].append(i)
                lists[term][1].append(count)
        self.postings: Postings = {
            t: (np.array(ids), np.array(tf, dtype=np.float64)) for t, (ids, tf) in lists.items()
        }

    def idf(self, term: str) -> float:
        """Lucene's BM25 idf."""
        n, total = len(self.postings[term][0]), len(self.lengths)
        return math.log(1 + (total - n + 0.5) / (n + 0.5))

    def bm25(
        self,
        terms: list[str],
        k1: float = 1.2,
        b: float = 0.75,
        weights: dict[str, float] | None = None,
        minimum_should_match: float = 0.0,
    ) -> np.ndarray:
        """BM25 of every unit for the (deduplicated unless weighted) query terms."""
        scores = np.zeros(len(self.lengths))
        matched = np.zeros(len(self.lengths))
        avg = self.lengths.mean()
        for term in dict.fromkeys(terms):
            if term not in self.postings:
                continue
            ids, tf = self.postings[term]
            norm = k1 * (1 - b + b * self.lengths[ids] / avg)
            weight = (weights or {}).get(term, 1.0)
            scores[ids] += weight * self.idf(term) * tf * (k1 + 1) / (tf + norm)
            matched[ids] += 1
        if minimum_should_match:
            needed = max(1, math.floor(minimum_should_match * len(set(terms))))
            scores[matched < needed] = 0.0
        return scores

    def best_per_document(self, scores: np.ndarray, depth: int = 400) -> list[str]:
        """Documents by their best unit's score (max-passage), the top 100."""
        best: dict[str, float] = {}
        for i in np.argsort(-scores, kind="stable")[:depth]:
            if scores[i] <= 0:
                break
            best.setdefault(self.owners[i], float(scores[i]))
        return rank_documents(best)


def pairs(words: list[str]) -> list[str]:
    """Adjacent word pairs, as one token each."""
    return [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def rm3_weights(
    units: Units, first: np.ndarray, query: list[str], docs: int, terms: int, lam: float
) -> dict[str, float]:
    """RM3: the query's terms mixed with the top units' most likely terms."""
    top = np.argsort(-first)[:docs]
    mass: Counter[str] = Counter()
    for i, share in zip(top, first[top] / max(first[top].sum(), 1e-9), strict=True):
        for term, count in Counter(units.tokens[i]).items():
            mass[term] += share * count / len(units.tokens[i])
    expansion = dict(mass.most_common(terms))
    original = list(dict.fromkeys(query))
    weights: Counter[str] = Counter({t: lam / len(original) for t in original})
    total = sum(expansion.values()) or 1.0
    for term, value in expansion.items():
        weights[term] += (1 - lam) * value / total
    scale = len(original) / lam  # original terms keep a weight of about 1
    return {t: v * scale for t, v in weights.items()}


def lm_dirichlet(units: Units, query: list[str], mu: float) -> np.ndarray:
    """Query likelihood with Dirichlet smoothing, over units matching a term."""
    total_tokens = units.lengths.sum()
    scores = np.zeros(len(units.lengths))
    terms = [t for t in dict.fromkeys(query) if t in units.postings]
    for term in terms:
        ids, tf = units.postings[term]
        collection_p = units.postings[term][1].sum() / total_tokens
        scores[ids] += np.log(1 + tf / (mu * collection_p))
    matched = scores > 0
    out = np.zeros_like(scores)
    length_part = len(terms) * np.log(mu / (units.lengths + mu))
    out[matched] = scores[matched] + length_part[matched] + 1000.0  # keep matches positive
    return out


def main() -> None:
    """Print nDCG@10, Recall@100 and MRR@10 for every variant."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--queries", required=True)
    parser.add_argument("--qrels", required=True)
    args = parser.parse_args()
    collection = load_collection(args.corpus, args.queries, args.qrels)
    analyzer = text_analyzer()

    def tokens(text: str) -> list[str]:
        return [t.text for t in analyzer(text)]

    owners, titles, bodies = [], [], []
    for cid, (title, text) in collection.corpus.items():
        title_tokens = tokens(title.strip().removesuffix("."))
        for passage in simple_passages(text):
            owners.append(cid)
            titles.append(title_tokens)
            bodies.append(tokens(passage))
    passages = Units(owners, [t + p for t, p in zip(titles, bodies, strict=True)])
    whole: dict[str, list[str]] = {}
    for owner, title, body in zip(owners, titles, bodies, strict=True):
        whole.setdefault(owner, list(title)).extend(body)
    documents = Units(list(whole), list(whole.values()))
    doc_row = {d: i for i, d in enumerate(documents.owners)}
    passage_doc = np.array([doc_row[o] for o in owners])
    title_only = Units(owners, titles)
    titled_twice = Units(owners, [t + t + p for t, p in zip(titles, bodies, strict=True)])
    bigrams = Units(owners, [pairs(u) for u in passages.tokens])
    queries = {qid: tokens(text) for qid, text in collection.judged_queries.items()}

    variants: list[tuple[str, Callable[[list[str]], list[str]]]] = [
        ("engine's BM25 (K1 1.2, B 0.75), max-passage", lambda q: passages.best_per_document(passages.bm25(q))),
        ("K1 0.9, B 0.4 (Anserini's)", lambda q: passages.best_per_document(passages.bm25(q, 0.9, 0.4))),
        ("K1 1.5, B 0.75", lambda q: passages.best_per_document(passages.bm25(q, 1.5))),
        ("whole documents instead of passages", lambda q: documents.best_per_document(documents.bm25(q))),
        ("passage + 0.3 x its document's BM25", lambda q: passages.best_per_document(passages.bm25(q) + 0.3 * documents.bm25(q)[passage_doc])),
        ("title twice in every passage", lambda q: passages.best_per_document(titled_twice.bm25(q))),
        ("+ 0.1 x title-only BM25", lambda q: passages.best_per_document(passages.bm25(q) + 0.1 * title_only.bm25(q))),
        ("+ 0.1 x adjacent-pair (bigram) BM25", lambda q: passages.best_per_document(passages.bm25(q) + 0.1 * bigrams.bm25(pairs(q)))),
        ("minimum should match 30%", lambda q: passages.best_per_document(passages.bm25(q, minimum_should_match=0.3))),
        ("minimum should match 50%", lambda q: passages.best_per_document(passages.bm25(q, minimum_should_match=0.5))),
        ("RM3: 3 units, 10 terms, 0.8 original", lambda q: passages.best_per_document(passages.bm25(list(w := rm3_weights(passages, passages.bm25(q), q, 3, 10, 0.8)), weights=w))),
        ("RM3: 10 units, 20 terms, 0.7 original", lambda q: passages.best_per_document(passages.bm25(list(w := rm3_weights(passages, passages.bm25(q), q, 10, 20, 0.7)), weights=w))),
        ("query likelihood, Dirichlet mu 1000", lambda q: passages.best_per_document(lm_dirichlet(passages, q, 1000.0))),
    ]  # fmt: skip
    for name, rank in variants:
        per_query = {qid: score_query(rank(q), collection.qrels[qid]) for qid, q in queries.items()}
        means = mean_scores(per_query)
        print(f"| {name} | " + " | ".join(f"{means[m]:.4f}" for m in means) + " |", flush=True)


if __name__ == "__main__":
    main()
