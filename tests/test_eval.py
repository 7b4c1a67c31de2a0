"""`briefing eval` and its metrics on a tiny BEIR-layout collection with hand-computed figures."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from api.cli import main
from search.evaluation import (
    documents_from_passages,
    load_collection,
    mean_scores,
    mrr_at_k,
    ndcg_at_k,
    rank_documents,
    recall_at_k,
    score_query,
)

FILLER = (
    "The committee met on Tuesday to review the quarterly figures and agreed that the "
    "regional office should publish a short summary for readers before the end of the month, "
    "with tables, a brief commentary and a list of sources consulted during the review. "
)
DOCS = {
    "d1": ("Cocoa harvest outlook", "Cocoa growers expect a larger harvest this season. " + FILLER),
    "d2": ("Copper mine strike", "Copper output fell after miners walked out. " + FILLER),
    "d3": ("Coffee export quotas", "Coffee exporters debated new export quotas. " + FILLER),
    "d4": ("Tin market report", "Tin prices were steady on the exchange. " + FILLER),
}
QUERIES = {"q1": "cocoa", "q2": "copper", "q3": "coffee", "q4": "unjudged query"}
QRELS = [("q1", "d1", 1), ("q2", "d2", 1), ("q3", "d3", 1)]


@pytest.fixture()
def beir(tmp_path: Path) -> dict[str, Path]:
    """A four-document collection in BEIR layout; every judged query names one document."""
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in DOCS.items())
    )
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        "".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in QUERIES.items())
    )
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in QRELS)
    )
    return {"corpus": corpus, "queries": queries, "qrels": qrels}


def test_perfect_ranking_scores_one() -> None:
    judged = {"a": 1}
    assert ndcg_at_k(["a", "b", "c"], judged) == 1.0
    assert mrr_at_k(["a", "b", "c"], judged) == 1.0
    assert recall_at_k(["a", "b", "c"], judged) == 1.0


def test_swapped_ranking_by_hand() -> None:
    # Relevant document at rank 2: DCG = 1/log2(3), IDCG = 1.
    judged = {"a": 1}
    assert ndcg_at_k(["b", "a"], judged) == pytest.approx(1 / math.log2(3))
    assert ndcg_at_k(["b", "a"], judged) == pytest.approx(0.6309, abs=1e-4)
    assert mrr_at_k(["b", "a"], judged) == 0.5


def test_two_relevant_documents_by_hand() -> None:
    # Relevant at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; IDCG = 1 + 1/log2(3).
    judged = {"a": 1, "c": 1}
    expected = 1.5 / (1 + 1 / math.log2(3))
    assert ndcg_at_k(["a", "b", "c"], judged) == pytest.approx(expected)
    assert ndcg_at_k(["a", "b", "c"], judged) == pytest.approx(0.9197, abs=1e-4)
    assert recall_at_k(["a", "b"], judged) == 0.5
    assert recall_at_k(["b"], judged) == 0.0


def test_cutoffs_and_grades() -> None:
    judged = {"x": 2, "y": 1}
    # Beyond the cutoff counts for nothing.
    assert ndcg_at_k([f"n{i}" for i in range(10)] + ["x"], judged, 10) == 0.0
    assert mrr_at_k([f"n{i}" for i in range(10)] + ["x"], judged, 10) == 0.0
    # Graded gain: y then x gives (1 + 2/log2 3) / (2 + 1/log2 3).
    expected = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    assert ndcg_at_k(["y", "x"], judged) == pytest.approx(expected)
    # Zero-graded judgements are not relevant.
    assert recall_at_k(["x"], {"x": 1, "z": 0}) == 1.0


def test_mean_and_max_passage_aggregation() -> None:
    per_query = {"q1": score_query(["a"], {"a": 1}), "q2": score_query(["b", "a"], {"a": 1})}
    means = mean_scores(per_query)
    assert means["mrr@10"] == pytest.approx(0.75)
    assert means["ndcg@10"] == pytest.approx((1 + 1 / math.log2(3)) / 2)
    docs = documents_from_passages([("a", 1.0), ("b", 3.0), ("a", 5.0), ("b", 0.5)])
    assert docs == {"a": 5.0, "b": 3.0}
    # Ties are broken by id, so a run is reproducible.
    assert rank_documents({"b": 1.0, "a": 1.0, "c": 2.0}) == ["c", "a", "b"]


def test_load_collection_skips_header_and_unjudged(beir: dict[str, Path]) -> None:
    collection = load_collection(beir["corpus"], beir["queries"], beir["qrels"])
    assert len(collection.corpus) == 4
    assert collection.qrels["q1"] == {"d1": 1}
    assert list(collection.judged_queries) == ["q1", "q2", "q3"]


def test_eval_command_json(beir: dict[str, Path]) -> None:
    args = ["eval", "--corpus", str(beir["corpus"]), "--queries", str(beir["queries"])]
    result = CliRunner().invoke(main, [*args, "--qrels", str(beir["qrels"]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"ndcg@10", "recall@100", "mrr@10", "queries", "qps"} <= set(data)
    assert data["queries"] == 3
    # Each judged query names a word found in exactly one document: a perfect ranking.
    assert data["ndcg@10"] == 1.0
    assert data["recall@100"] == 1.0
    assert data["mrr@10"] == 1.0
    assert data["baseline"]["ndcg@10"] == 1.0
    assert data["ratio"]["ndcg@10"] == 1.0
    assert "per_query" not in data


def test_eval_command_per_query_text(beir: dict[str, Path]) -> None:
    args = ["eval", "--corpus", str(beir["corpus"]), "--queries", str(beir["queries"])]
    result = CliRunner().invoke(main, [*args, "--qrels", str(beir["qrels"]), "--per-query"])
    assert result.exit_code == 0, result.output
    assert "ndcg@10" in result.output
    assert "ranking = BM25; document score" in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("q")]
    assert [line.split("\t")[0] for line in lines] == ["q1", "q2", "q3"]


@pytest.mark.parametrize("flag", ["--semantic", "--lexical"])
def test_eval_command_ranks_with_or_without_semantic_rescoring(
    beir: dict[str, Path], flag: str
) -> None:
    args = ["eval", "--corpus", str(beir["corpus"]), "--queries", str(beir["queries"])]
    args += ["--qrels", str(beir["qrels"]), "--json", "--no-baseline", flag]
    result = CliRunner().invoke(main, args, env={"BRIEFING_SEMANTIC": None})
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["semantic"] is (flag == "--semantic")
    # Rescoring reorders matches; here each query matches one document, so it stays perfect.
    assert (data["ndcg@10"], data["recall@100"], data["mrr@10"]) == (1.0, 1.0, 1.0)
