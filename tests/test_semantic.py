"""Semantic rescoring with the real model: embeddings indexed by the syncer, hits re-ranked."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from index.sync import IndexSyncer
from search.embedding import DIMENSIONS, from_bytes, shared_encoder, to_bytes
from search.searching import RESCORE_WINDOW, SearchEngine, SearchRequest
from search.store import open_index
from tests.serving import Server

# A query in plain words, the two documents it matches and one it does not. Lexically the
# security story wins (it repeats "attack" and "surgery"); in meaning the cardiology study does
# ("myocardial infarction" is a heart attack).
QUERY = "risk of heart attack after surgery"
# Each story has two of the query's four words: the graded rule would require three, so these
# tests ask for any word (match=any) — they are about how rescoring orders BM25's candidates.
ANY = "any"
SECURITY = (
    "Ransomware attack hits surgery software vendor\n\n"
    "A ransomware attack on the servers of a surgery scheduling software vendor exposed surgery "
    "calendars at forty hospitals; the vendor says the attack, its second attack this year, is "
    "contained."
)
CARDIOLOGY = (
    "Myocardial infarction after operations\n\n"
    "Patients who undergo major non-cardiac surgery face an elevated risk of myocardial "
    "infarction in the thirty days that follow. Troponin screening finds many infarctions "
    "that cause no chest pain."
)
UNRELATED = (
    "Coffee harvest outlook\n\n"
    "Growers in the highlands expect a smaller coffee harvest following a dry season, and "
    "exporters warn that prices may rise before the new crop arrives at the ports."
)


def test_encoder_makes_unit_vectors_that_place_paraphrases_close() -> None:
    vectors = shared_encoder().encode(
        ["A man is eating food.", "A man is eating a piece of bread.", "The new movie is awesome."]
    )
    assert vectors.shape == (3, DIMENSIONS)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similar, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert similar > 0.6
    assert unrelated < 0.1
    assert shared_encoder().encode([]).shape == (0, DIMENSIONS)


def test_stored_vectors_round_trip_through_float16_bytes() -> None:
    vector = shared_encoder().encode(["Ecuador's election"])[0]
    blob = to_bytes(vector)
    assert len(blob) == DIMENSIONS * 2
    matrix, present = from_bytes([blob, b""])
    assert present.tolist() == [True, False]
    assert np.allclose(matrix[0], vector, atol=1e-3)
    assert not matrix[1].any()


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("semantic")
    docs = root / "docs"
    docs.mkdir()
    for name, text in (("security.txt", SECURITY), ("cardiology.txt", CARDIOLOGY)):
        (docs / name).write_text(text, encoding="utf-8")
    (docs / "coffee.txt").write_text(UNRELATED, encoding="utf-8")
    semantic_index, lexical_index = root / "semantic", root / "lexical"
    IndexSyncer(docs, semantic_index, workers=0, semantic=True).sync_all()
    IndexSyncer(docs, lexical_index, workers=0).sync_all()
    return docs, semantic_index, lexical_index


def ranked_docs(engine: SearchEngine, q: str = QUERY, **kwargs: object) -> list[str]:
    kwargs.setdefault("match", ANY)
    return [h.doc_id for h in engine.search(SearchRequest(q=q, **kwargs)).hits]


def test_semantic_indexing_stores_one_vector_per_passage(folders) -> None:
    _, semantic_index, lexical_index = folders
    for index_dir, expected in ((semantic_index, DIMENSIONS * 2), (lexical_index, 0)):
        with open_index(index_dir).searcher() as searcher:
            column = searcher.reader().column_reader("embedding")
            lengths = {len(column[n]) for n in range(searcher.doc_count_all())}
        assert lengths == {expected}


def test_rescoring_puts_the_passage_that_means_the_query_first(folders) -> None:
    _, semantic_index, _ = folders
    lexical = SearchEngine(semantic_index)  # same index, rescoring off
    assert ranked_docs(lexical) == ["security.txt", "cardiology.txt"]
    semantic = SearchEngine(semantic_index, semantic=True)
    result = semantic.search(SearchRequest(q=QUERY, match=ANY))
    assert [h.doc_id for h in result.hits] == ["cardiology.txt", "security.txt"]
    assert result.query_info.rescored is True
    assert lexical.search(SearchRequest(q=QUERY, match=ANY)).query_info.rescored is False
    # Rescoring reorders, it does not add or drop matches: totals and facets are BM25's.
    assert result.total == 2
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    # Pages are cut from the same rescored window.
    paged = [ranked_docs(semantic, page=p, per_page=1)[0] for p in (1, 2)]
    assert paged == ["cardiology.txt", "security.txt"]


def test_rescoring_ranks_within_filters_and_on_whoosh_queries(folders) -> None:
    _, semantic_index, _ = folders
    engine = SearchEngine(semantic_index, semantic=True)
    # The window is drawn from the filtered matches only.
    filtered = engine.search(SearchRequest(q=QUERY, doc_id=["security.txt"], match=ANY))
    assert [h.doc_id for h in filtered.hits] == ["security.txt"]
    assert filtered.total == 1
    assert filtered.query_info.rescored is True
    # A phrase goes through Whoosh's own matcher, not the vectorised ranker; still rescored.
    lexical = SearchEngine(semantic_index)
    phrase = '"ransomware attack" OR infarction'
    assert ranked_docs(lexical, q=phrase) == ["security.txt", "cardiology.txt"]
    result = engine.search(SearchRequest(q=phrase))
    assert result.query_info.rescored is True
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > lexical.search(SearchRequest(q=phrase)).hits[0].score


def test_rescoring_leaves_date_sorts_and_lexical_indexes_alone(folders) -> None:
    _, semantic_index, lexical_index = folders
    semantic = SearchEngine(semantic_index, semantic=True)
    by_date = semantic.search(SearchRequest(q=QUERY, sort="newest", match=ANY))
    assert all(h.score is None for h in by_date.hits)
    assert by_date.query_info.rescored is False
    # An index built without embeddings keeps BM25 order even when rescoring is on.
    unembedded = SearchEngine(lexical_index, semantic=True).search(
        SearchRequest(q=QUERY, match=ANY)
    )
    assert [h.doc_id for h in unembedded.hits] == ["security.txt", "cardiology.txt"]
    assert unembedded.query_info.rescored is False


def test_hits_past_the_window_keep_bm25_order_below_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    count = RESCORE_WINDOW + 10
    for n in range(count):
        # Each file says "harvest" a different number of times, so BM25 orders them all.
        body = " ".join(["harvest"] * (1 + n % 7) + ["growers", "report", "season"] * 15)
        (docs / f"d{n:03}.txt").write_text(f"Coffee note {n}\n\n{body}.", encoding="utf-8")
    IndexSyncer(docs, tmp_path / "index", workers=0, semantic=True).sync_all()
    engine = SearchEngine(tmp_path / "index", semantic=True)
    hits: list[dict] = []
    pages = -(-count // 25)
    for page in range(1, pages + 1):  # the last pages straddle the window's end
        hits += engine.search(SearchRequest(q="harvest", page=page, per_page=25)).hits
    assert len(hits) == count
    assert len({h.passage_id for h in hits}) == count
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    lexical = SearchEngine(tmp_path / "index")
    tail = lexical.search(SearchRequest(q="harvest", page=1, per_page=count)).hits
    # The window holds BM25's top passages, reordered; past it, BM25's own order.
    assert {h.passage_id for h in hits[:RESCORE_WINDOW]} == {
        h.passage_id for h in tail[:RESCORE_WINDOW]
    }
    assert [h.passage_id for h in hits[RESCORE_WINDOW:]] == [
        h.passage_id for h in tail[RESCORE_WINDOW:]
    ]


def test_turning_semantic_on_embeds_documents_indexed_without_it(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "security.txt").write_text(SECURITY, encoding="utf-8")
    (docs / "cardiology.txt").write_text(CARDIOLOGY, encoding="utf-8")
    first = IndexSyncer(docs, tmp_path / "index", workers=0).sync_all()
    assert (first.added, first.updated) == (2, 0)
    again = IndexSyncer(docs, tmp_path / "index", workers=0, semantic=True).sync_all()
    assert (again.added, again.updated, again.unchanged) == (0, 2, 0)
    settled = IndexSyncer(docs, tmp_path / "index", workers=0, semantic=True).sync_all()
    assert (settled.updated, settled.unchanged) == (0, 2)
    engine = SearchEngine(tmp_path / "index", semantic=True)
    assert ranked_docs(engine) == ["cardiology.txt", "security.txt"]


def test_server_with_semantic_setting_rescores_and_embeds_drops(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "security.txt").write_text(SECURITY, encoding="utf-8")
    env = {"BRIEFING_SEMANTIC": "true"}
    with Server(docs, tmp_path / "index", workers=1, watch=True, env=env) as server:
        (docs / "cardiology.txt").write_text(CARDIOLOGY, encoding="utf-8")  # a drop
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = server.get("/api/search", params={"q": QUERY, "match": ANY}).json()
            if body["total"] == 2:
                break
            time.sleep(0.2)
        assert [h["doc_id"] for h in body["hits"]] == ["cardiology.txt", "security.txt"]
        assert body["query_info"]["rescored"] is True
    with open_index(tmp_path / "index").searcher() as searcher:
        column = searcher.reader().column_reader("embedding")
        assert all(len(column[n]) == DIMENSIONS * 2 for n in range(searcher.doc_count_all()))


def test_a_missing_model_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import search.embedding as embedding

    monkeypatch.setattr(embedding, "MODEL_PACKAGE", "no_such_model_package")
    with pytest.raises(embedding.EmbeddingUnavailable, match="make install"):
        embedding.model_dir()
