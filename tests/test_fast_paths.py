"""The engine's fast paths (numpy BM25, phrases, per-segment caches, array facets) answer exactly
what plain Whoosh answers: rankings, scores, totals and facet counts, on a real multi-segment
index of Reuters articles, after deletions and after a merge; and a commit decodes only its own
segment."""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from whoosh import query as wq

from index.pipeline import parse_document
from index.sync import open_writer
from search.facets import Selection
from search.kernels import top_docnums
from search.searching import SearchEngine, SearchRequest
from search.store import open_for_writing, passage_fields

ARTICLES = Path(__file__).resolve().parents[2] / "shared/corpora/reuters21578/articles.jsonl"
BATCHES = 3
PER_BATCH = 30
# Every kind the engine answers: words, AND of words, phrases (2 and 3 words, with a word),
# a pasted sentence (any word, common words optional), a graded keyword query, a prefix, a
# field, an exclusion, phrases in an OR or beside their own words, a pasted line with a quote, a
# sloppy phrase (Whoosh's path), and filters.
QUERIES: list[dict[str, Any]] = [
    {"q": "oil"},
    {"q": "oil prices"},
    {"q": '"interest rates"'},
    {"q": '"the central bank"'},
    {"q": '"money supply" growth'},
    {"q": '"said it"'},
    {"q": "the bank said it would cut its prime lending rate to help exporters this year"},
    {"q": "coffee export quota talks brazil"},
    {"q": "expor*"},
    {"q": "title:oil"},
    {"q": "bank -rate"},
    {"q": '"trade deficit" OR tariffs'},
    {"q": '"interest rates" rates'},
    {"q": '"mln dlrs" dlrs'},
    {"q": '"lift the sanctions" the trade minister said on Tuesday that talks would resume'},
    {"q": '"interest rates"~3'},
    {"q": "oil", "filters": {"country": ["US"]}},
    {"q": '"interest rates"', "filters": {"country": ["US", "JP"]}},
]
FACET_FIELDS = {"country": "countries", "topic": "topics", "source": "source"}


def _articles() -> list[dict[str, str]]:
    out = []
    with ARTICLES.open(encoding="utf-8") as handle:
        for line in handle:
            art = json.loads(line)
            if len(art.get("body") or "") >= 400 and art.get("title"):
                out.append(art)
            if len(out) == BATCHES * PER_BATCH:
                return out
    return out


def _add(index_dir: Path, parsed: list[Any]) -> None:
    writer = open_writer(open_for_writing(index_dir).index)
    for doc in parsed:
        for record in passage_fields(doc):
            writer.add_document(**record)
    # No merge: each batch stays its own segment, as watcher commits do.
    writer.commit(merge=False)


def _batches(parsed: list[Any]) -> list[list[Any]]:
    return [parsed[i * PER_BATCH : (i + 1) * PER_BATCH] for i in range(BATCHES)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[Any]]:
    if not ARTICLES.exists():
        pytest.skip(f"{ARTICLES} missing")
    root = tmp_path_factory.mktemp("fast")
    docs, index_dir = root / "docs", root / "index"
    docs.mkdir()
    parsed = []
    for art in _articles():
        path = docs / f"{art['id']}.txt"
        text = f"{art['title']}\n\n{art.get('dateline') or ''} {art['body']}\n"
        path.write_text(text, encoding="utf-8")
        parsed.append(parse_document(docs, path))
    for batch in _batches(parsed):
        _add(index_dir, batch)
    return docs, index_dir, parsed


def _whoosh_matches(state: Any, parsed: Any) -> set[int]:
    """Plain Whoosh's match set, minimum-should-match counted clause by clause."""
    query = parsed.query
    if parsed.required > 1 or parsed.optional:
        assert isinstance(query, wq.Or)
        counted = [
            c for c in query.subqueries if str(getattr(c, "text", "")) not in parsed.optional
        ]
        counts = Counter(d for c in counted for d in state.searcher.docs_for_query(c))
        return {d for d, n in counts.items() if n >= parsed.required}
    return set(state.searcher.docs_for_query(query))


def _whoosh_facets(state: Any, docnums: set[int]) -> dict[str, dict[str, int]]:
    """Facet counts read from stored fields, one passage at a time."""
    counts: dict[str, Counter[str]] = {name: Counter() for name in FACET_FIELDS}
    for docnum in docnums:
        stored = state.searcher.stored_fields(docnum)
        for name, fieldname in FACET_FIELDS.items():
            counts[name].update(v for v in str(stored.get(fieldname) or "").split(",") if v)
    return {name: dict(c) for name, c in counts.items()}


def _filtered(state: Any, spec: dict[str, Any], docnums: set[int]) -> set[int]:
    wanted = set(spec.get("filters", {}).get("country", []))
    if not wanted:
        return docnums
    return {
        d
        for d in docnums
        if wanted & set(str(state.searcher.stored_fields(d).get("countries") or "").split(","))
    }


def _pairs(column: Any) -> tuple[np.ndarray, np.ndarray]:
    """A facet column's (docnum, value code) pairs straight from its segments' columns."""
    docs = [c.docnums.astype(np.int64) + offset for offset, _, c, _ in column.parts]
    codes = [code_map[c.codes] for _, _, c, code_map in column.parts]
    return np.concatenate(docs), np.concatenate(codes)


def _check_counts(state: Any) -> None:
    """Every facet column's counts, by each of its paths (values in slots, values past them,
    most passages counted from the totals), equal a plain count of its segments' pairs."""
    fx = state.facets
    rng = np.random.default_rng(7)
    documents = np.arange(fx.size) // 3  # three passages a document
    for share in (0.0, 0.002, 0.05, 0.4, 0.8, 1.0):
        mask = fx.live & (rng.random(fx.size) < share)
        years = Counter(str(y) for y in fx.years[mask].tolist() if y)
        assert fx.year_counts(mask) == dict(years), share
        for name, column in fx.columns.items():
            docs, codes = _pairs(column)
            hit = mask[docs]
            expected = np.bincount(codes[hit], minlength=len(column.values))
            assert column.counts(mask).tolist() == expected.tolist(), (name, share)
            pairs = set(zip(documents[docs[hit]], codes[hit], strict=True))
            distinct = np.bincount([c for _, c in pairs], minlength=len(column.values))
            assert column.counts(mask, documents).tolist() == distinct.tolist(), (name, share)
    for name, column in fx.columns.items():
        docs, all_codes = _pairs(column)
        for wanted in (column.values[:1], column.values[1:4], ["ZZ-none"], column.values):
            codes = [column.values.index(v) for v in wanted if v in column.values]
            expected = np.zeros(fx.size, dtype=bool)
            expected[docs[np.isin(all_codes, codes)]] = True
            assert (column.mask_for(wanted, fx.size) == expected).all(), (name, wanted)


def _compare(engine: SearchEngine) -> None:
    fast_paths = 0
    for spec in QUERIES:
        request = SearchRequest(q=spec["q"], filters=spec.get("filters", {}), per_page=30)
        request.facet_size = 1000
        body = engine.search(request)
        with engine.reading() as state:
            parsed = engine.query_reader.parse(spec["q"])
            query, _ = engine._bounded(state, parsed)
            fast_paths += state.match(query, parsed.required, parsed.optional)[1] is not None
            matched = _whoosh_matches(state, type(parsed)(**{**parsed.__dict__, "query": query}))
            final = _filtered(state, spec, matched)
            assert body.total == len(final), spec
            whoosh = state.searcher.search(query, limit=30, filter=final)
            assert [(h.passage_id, h.score) for h in body.hits] == [
                (hit["passage_id"], round(float(hit.score), 4)) for hit in whoosh
            ], spec
            # Facets are disjunctive: a facet's own filter does not narrow its counts.
            expected = _whoosh_facets(state, final)
            expected["country"] = _whoosh_facets(state, matched)["country"]
            got = {
                name: {b.value: b.count for b in body.facets[name] if b.count}
                for name in FACET_FIELDS
            }
            assert got == expected, spec
    assert fast_paths >= 13, "words, phrases and sentences take the numpy path"


def test_fast_paths_equal_whoosh_across_segments_deletions_and_merges(
    corpus: tuple[Path, Path, list[Any]],
) -> None:
    _, index_dir, parsed = corpus
    engine = SearchEngine(index_dir)
    with engine.reading() as state:
        assert len(state.segments) == BATCHES
        assert not state.searcher.reader().has_deletions()
    _compare(engine)

    writer = open_writer(open_for_writing(index_dir).index)
    for doc in parsed[::7]:
        writer.delete_by_term("doc_id", doc.doc_id)
    writer.commit(merge=False)
    with engine.reading() as state:
        assert state.searcher.reader().has_deletions()
        assert len(state.segments) == BATCHES
        before = {name: column.joined() for name, column in state.facets.columns.items()}
        kept = {
            name: (j.slots.copy(), j.more_docs.copy(), j.more_codes.copy())
            for name, j in before.items()
        }
        _check_counts(state)
    _compare(engine)

    # A commit that adds a segment: facet columns grow in place, older views keep theirs.
    docs = index_dir.parent / "docs"
    (docs / "appended.txt").write_text(
        "Oil exports\n\nPANAMA CITY - Oil exports through Panama and Colombia rose, while "
        "Venezuela's oil output fell, officials said on Tuesday.\n",
        encoding="utf-8",
    )
    _add(index_dir, [parse_document(docs, docs / "appended.txt")])
    with engine.reading() as state:
        assert len(state.segments) == BATCHES + 1
        grown = {name: column.joined() for name, column in state.facets.columns.items()}
        _check_counts(state)
    assert np.shares_memory(grown["country"].slots, before["country"].slots), "grown in place"
    assert grown["country"].slots.shape[1] > before["country"].slots.shape[1]
    for name, (slots, more_docs, more_codes) in kept.items():
        assert before[name].slots.tolist() == slots.tolist()
        assert before[name].more_docs.tolist() == more_docs.tolist()
        assert before[name].more_codes.tolist() == more_codes.tolist()
    _compare(engine)

    writer = open_writer(open_for_writing(index_dir).index)
    writer.commit(optimize=True)
    with engine.reading() as state:
        assert len(state.segments) == 1
        assert not state.searcher.reader().has_deletions()
        merged = state.facets.columns["country"].joined()
        _check_counts(state)
    # A merge changed the segments: joined anew, in buffers no older view reads.
    assert not np.shares_memory(merged.slots, grown["country"].slots)
    _compare(engine)


def test_a_commit_decodes_only_its_own_segment(
    corpus: tuple[Path, Path, list[Any]], tmp_path: Path
) -> None:
    docs, _, parsed = corpus
    index_dir = tmp_path / "index"
    for batch in _batches(parsed):
        _add(index_dir, batch)
    engine = SearchEngine(index_dir)
    first = engine.search(SearchRequest(q="oil prices")).total
    cache = engine.snapshots.segments
    assert cache.built == BATCHES
    with engine.reading() as state:
        opened = [r._terms for r, _ in state.searcher.reader().leaf_readers()]
    (docs / "new.txt").write_text("Oil prices\n\nOil prices rose in Panama.\n", encoding="utf-8")
    _add(index_dir, [parse_document(docs, docs / "new.txt")])
    assert engine.search(SearchRequest(q="oil prices")).total == first + 1
    assert engine.snapshots.segments is cache and cache.built == BATCHES + 1, "one new segment"
    with engine.reading() as state:
        terms = [r._terms for r, _ in state.searcher.reader().leaf_readers()]
    assert terms[:BATCHES] == opened and len(terms) == BATCHES + 1, "old segments stay open"

    # A merge replaces the segments: the merged one is decoded, the old ones forgotten.
    writer = open_writer(open_for_writing(index_dir).index)
    writer.commit(optimize=True)
    assert engine.search(SearchRequest(q="oil prices")).total == first + 1
    with engine.reading() as state:
        assert len(state.segments) == 1
        assert [d.segid for d in state.segments] == list(cache._segments)
    assert cache.built == BATCHES + 2
    # Only the merged segment's files stay open: the views that used the others are gone.
    with engine.reading() as state:
        (reader,) = [r for r, _ in state.searcher.reader().leaf_readers()]
        parts = {id(p) for p in (reader._terms, reader._perdoc, reader._storage)}
    assert set(engine.snapshots.readers._held) == parts
    assert all(t._postfile.is_closed for t in opened)


@contextmanager
def _long_query(index_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """(engine, parsed, ranked) of a pasted sentence, its frequent words deferred, inside the
    snapshot that ranked it."""
    import search.ranking

    # At this corpus's size a quarter of the passages splits words into rare and frequent.
    monkeypatch.setattr(search.ranking, "DEFER_SHARE", 0.25)
    engine = SearchEngine(index_dir)
    text = "the bank said it would cut its prime lending rate to help exporters this year"
    with engine.reading() as state:
        parsed = engine.query_reader.parse(text)
        ranked = state.match(parsed.query, parsed.required, parsed.optional)[1]
        assert ranked is not None
        yield engine, parsed, ranked


def test_long_queries_rank_the_same_with_frequent_words_scored_last(
    corpus: tuple[Path, Path, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """MaxScore: with rare words scored first, the frequent ones (deferred) complete only the
    passages that can still reach the page; rankings and scores stay Whoosh's."""
    with _long_query(corpus[1], monkeypatch) as (engine, parsed, ranked):
        assert ranked.pending and ranked.bound > 0
        assert 0 < len(ranked.pending) < len(parsed.query.subqueries)
    _compare(engine)


def test_deferred_words_score_the_same_for_few_and_many_candidates(
    corpus: tuple[Path, Path, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """scores_for completes a candidate's score by a binary search per candidate (few of them)
    or by a gather over each word's postings (many): both give each word's BM25 at that
    passage, the same as scoring the word's every posting."""

    with _long_query(corpus[1], monkeypatch) as (_, _, ranked):
        assert ranked.ranker is not None and ranked.pending
        ranker = ranked.ranker
        expected = np.zeros(ranker.size)
        for term in ranked.pending:
            ids, tf = ranker.joined(term)
            expected[ids] += ranker._bm25(term, ids, tf)
        assert expected.any()
        everyone = np.arange(ranker.size)
        one = np.flatnonzero(expected)[:1]
        assert list(ranker.scores_for(ranked.pending, everyone)) == list(expected)
        assert list(ranker.scores_for(ranked.pending, one)) == list(expected[one])


def test_deferred_words_score_segment_by_segment_as_over_the_joined_postings(
    corpus: tuple[Path, Path, list[Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """pending_scores (the compiled loop, each segment's cached postings on their own) gives
    each deferred word's BM25 at every passage, at a few scattered ones, at one and at none:
    the same floats as scores_for over the postings joined across segments."""
    index_dir = tmp_path / "index"
    for batch in _batches(corpus[2]):
        _add(index_dir, batch)
    with _long_query(index_dir, monkeypatch) as (_, _, ranked):
        assert ranked.ranker is not None and ranked.pending
        ranker = ranked.ranker
        assert len(ranker.leaves) == BATCHES
        everyone = np.arange(ranker.size)
        some = np.sort(np.random.default_rng(5).choice(ranker.size, 40, replace=False))
        edges = np.array([0, ranker.leaves[1][1] - 1, ranker.leaves[1][1], ranker.size - 1])
        for term in ranked.pending:
            for docnums in (everyone, some, edges, everyone[:1], everyone[:0]):
                got = ranker.pending_scores(term, docnums)
                assert got.tobytes() == ranker.scores_for((term,), docnums).tobytes()
            assert np.count_nonzero(ranker.pending_scores(term, everyone)) == ranker.doc_frequency(
                term
            )


def _without_compiled_loops(monkeypatch: pytest.MonkeyPatch) -> None:
    """numpy's counting and scoring, as where numba is missing or off (search/kernels.py)."""
    from search import kernels

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_resolved", True)


@pytest.mark.parametrize("loops", ["compiled", "numpy"])
@pytest.mark.parametrize("dense_share", [0.0, 0.02, 1.0])
def test_the_probed_threshold_keeps_every_page_of_the_full_ranking(
    corpus: tuple[Path, Path, list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    dense_share: float,
    loops: str,
) -> None:
    """MaxScore's first threshold, taken from the full scores of the passages leading on the
    rare words, prunes only passages that cannot reach the page: each page is the one a full
    scoring of every word ranks (score descending, docnum ascending), scores equal, whether
    the pending words are scored over the whole view (every word: share 0; the first few) or
    per candidate (share 1)."""
    import search.ranking

    monkeypatch.setattr(search.ranking, "PROBE_PER_HIT", 2)
    monkeypatch.setattr(search.ranking, "DENSE_SHARE", dense_share)
    if loops == "numpy":
        _without_compiled_loops(monkeypatch)
    with _long_query(corpus[1], monkeypatch) as (_, _, ranked):
        assert ranked.ranker is not None and ranked.pending
        ranker = ranked.ranker
        full = ranked.scores.copy()
        for term in sorted(ranked.pending, key=ranker.most, reverse=True):
            ids, tf = ranker.joined(term)
            full[ids] += ranker._bm25(term, ids, tf)
        allowed = ranked.mask
        docnums = np.flatnonzero(allowed)
        order = docnums[np.lexsort((docnums, -full[docnums]))]
        assert order.size > 4 * search.ranking.PROBE_PER_HIT
        pending = sorted(ranked.pending, key=ranker.most, reverse=True)
        partial = ranked.scores[docnums]
        lead = top_docnums(ranked.scores, allowed, search.ranking.PROBE_PER_HIT * 3)
        floor = search.ranking._probe_floor(ranker, lead, ranked.scores[lead], pending, 3)
        assert floor > float(np.partition(partial, partial.size - 3)[partial.size - 3])
        assert floor <= full[order[2]]
        for start, stop in ((0, 3), (0, 10), (2, 7)):
            top, scores = ranked.top(allowed, start, stop)
            assert list(top) == list(order[start:stop])
            assert list(scores) == list(full[order[start:stop]])
        # Under a filter (a mask narrower than the matches, as a facet or date filter makes):
        # the page of the filtered full ranking, the filter given as a mask or a Selection.
        narrowed = allowed & (np.random.default_rng(9).random(allowed.size) < 0.6)
        kept = np.flatnonzero(narrowed)
        filtered = kept[np.lexsort((kept, -full[kept]))]
        assert 4 * search.ranking.PROBE_PER_HIT < filtered.size < order.size
        for given in (narrowed, Selection(narrowed)):
            for start, stop in ((0, 3), (1, 9)):
                top, scores = ranked.top(given, start, stop)
                assert list(top) == list(filtered[start:stop])
                assert list(scores) == list(full[filtered[start:stop]])


def test_splicing_nested_ors_gives_the_query_whoosh_normalises_to() -> None:
    """bound_expansions splices each prefix's OR of words into its parent before normalize()
    (which would copy every word): the query is the one Whoosh's normalize() makes."""
    from whoosh import query as wq

    from search.snapshots import _spliced

    def words(*texts: str) -> wq.Or:
        return wq.Or([wq.Term("text", t) for t in texts])

    queries = [
        wq.Or([words("sa", "sb"), words("ta", "tb"), wq.Term("text", "oil")]),
        wq.And([words("sa", "sb"), wq.And([wq.Term("text", "x"), wq.Term("text", "y")])]),
        wq.Or([wq.Or([words("a", "b")], boost=2.0), wq.Term("text", "c")]),
        wq.And([wq.Or([words("a", "b"), wq.Term("text", "a")]), wq.Not(wq.Term("text", "z"))]),
    ]
    for query in queries:
        assert _spliced(query).normalize() == query.normalize()
    assert _spliced(queries[0]).normalize().subqueries == [
        wq.Term("text", t) for t in ("sa", "sb", "ta", "tb", "oil")
    ]


def _fresh_copy(index_dir: Path, target: Path) -> Path:
    """The index without its stored segment data."""
    import shutil

    from search.segments import SEGMENT_STORE_DIR

    shutil.copytree(index_dir, target, ignore=shutil.ignore_patterns(SEGMENT_STORE_DIR))
    return target


def _segment_arrays(engine: SearchEngine) -> list[dict[str, list[Any]]]:
    with engine.reading() as state:
        searcher = state.searcher
        leaves = [(sub.reader(), offset) for sub, offset in searcher.leaf_searchers()]
        data = engine.snapshots.segments.segments(leaves)
    return [{k: v.tolist() for k, v in d.arrays().items()} for d in data]


def test_a_new_worker_reads_segment_data_the_first_one_stored(
    corpus: tuple[Path, Path, list[Any]], tmp_path: Path
) -> None:
    """The first process decodes each segment's facet columns, dates and lengths and stores
    them below the index; the next one loads them (no decode) and answers exactly the same."""
    from search.segments import SEGMENT_STORE_DIR, SEGMENT_STORE_SUFFIX
    from search.store import open_index

    index_dir = _fresh_copy(corpus[1], tmp_path / "index")
    segments = len(open_index(index_dir)._read_toc().segments)
    first = SearchEngine(index_dir)
    expected = [first.search(SearchRequest(**spec)) for spec in QUERIES]
    assert first.snapshots.segments.built == segments
    assert len(list((index_dir / SEGMENT_STORE_DIR).glob(f"*{SEGMENT_STORE_SUFFIX}"))) == segments
    second = SearchEngine(index_dir)
    got = [second.search(SearchRequest(**spec)) for spec in QUERIES]
    assert second.snapshots.segments.built == segments
    assert second.snapshots.segments.loaded == segments  # taken from the store, none decoded
    for a, b in zip(expected, got, strict=True):
        assert (a.total, a.facets, [h.passage.passage_id for h in a.hits]) == (
            b.total,
            b.facets,
            [h.passage.passage_id for h in b.hits],
        )
        assert [h.score for h in a.hits] == [h.score for h in b.hits]
    assert _segment_arrays(first) == _segment_arrays(second)


def test_a_torn_segment_data_file_is_decoded_again(
    corpus: tuple[Path, Path, list[Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from search.segments import SEGMENT_STORE_DIR, SEGMENT_STORE_SUFFIX

    index_dir = _fresh_copy(corpus[1], tmp_path / "index")
    expected = SearchEngine(index_dir).search(SearchRequest(q="oil"))
    stored = sorted((index_dir / SEGMENT_STORE_DIR).glob(f"*{SEGMENT_STORE_SUFFIX}"))
    stored[0].write_bytes(stored[0].read_bytes()[:100])
    got = SearchEngine(index_dir).search(SearchRequest(q="oil"))
    assert (got.total, got.facets) == (expected.total, expected.facets)
    assert "unreadable, decoding the segment" in caplog.text


def test_opening_a_view_does_not_copy_the_segment_files(
    corpus: tuple[Path, Path, list[Any]],
) -> None:
    """Whoosh's BufferFile copied every mapped sub-file (terms, postings) into memory when a
    segment was opened; the engine's readers map them and read only what they read."""
    import tracemalloc

    from search.readers import SharedReaders, restore_copied_files, share_mapped_files
    from search.store import open_index

    index_dir = corpus[1]
    segment_bytes = sum(p.stat().st_size for p in index_dir.glob("*.seg"))

    def allocated_while_opening(copying: bool) -> int:
        ix = open_index(index_dir)
        readers = SharedReaders()  # installs the mapped sub-files
        if copying:
            restore_copied_files()
        tracemalloc.start()
        try:
            view = readers.searcher(ix, lambda: None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            share_mapped_files()
        readers.release(view)
        return peak

    copied, mapped = allocated_while_opening(True), allocated_while_opening(False)
    assert copied > segment_bytes / 4, (copied, segment_bytes)
    assert mapped < segment_bytes / 10, (mapped, segment_bytes)


@pytest.mark.parametrize("loops", ["compiled", "numpy"])
@pytest.mark.parametrize("share", [0.0, 0.002, 0.02, 0.2, 0.7, 1.0])
@pytest.mark.parametrize("most", [1, 3, 8])
def test_facet_counts_are_the_same_for_few_and_many_matches(
    share: float, most: int, loops: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A facet column counts each value of each matching passage, whether the value sits in a
    slot or past them, for few matches, many, and most (counted from the totals); and by
    distinct documents; through the compiled loops and through numpy."""
    if loops == "numpy":
        _without_compiled_loops(monkeypatch)

    from search.facets import MAX_SLOTS, OVERFLOW_SHARE, FacetColumn
    from search.segments import SegmentColumn

    rng = np.random.default_rng(7)
    size, values = 5_000, [f"v{i}" for i in range(12)]
    # Passages with 0 to `most` values each (countries and regions have up to 18).
    pairs = sorted(
        {(d, int(v)) for d in range(size) for v in rng.choice(12, rng.integers(0, most + 1))}
    )
    column = SegmentColumn(
        values,
        np.array([d for d, _ in pairs], dtype=np.int32),
        np.array([v for _, v in pairs], dtype=np.int32),
    )
    facet = FacetColumn(values, [(0, size, column, np.arange(12))])
    joined = facet.joined()
    # One slot when no passage has two values; else the fewest that leave at most
    # OVERFLOW_SHARE of the passages' worth of values past them, or MAX_SLOTS.
    per_doc = np.bincount(column.docnums, minlength=size)
    fewest = next(
        (
            k
            for k in range(1, MAX_SLOTS + 1)
            if np.maximum(per_doc - k, 0).sum() <= size * OVERFLOW_SHARE
        ),
        MAX_SLOTS,
    )
    assert len(joined.slots) == (1 if most == 1 else fewest)
    assert joined.more_docs.size == np.maximum(per_doc - len(joined.slots), 0).sum()
    assert joined.more_docs.size > 0 or most == 1, "some values past the slots"
    mask = rng.random(size) < share
    expected = np.zeros(12, dtype=np.int64)
    for d, v in pairs:
        expected[v] += bool(mask[d])
    assert facet.counts(mask).tolist() == expected.tolist()
    documents = np.arange(size) // 3  # three passages a document
    by_document = [
        len({documents[d] for d, v in pairs if v == value and mask[d]}) for value in range(12)
    ]
    assert facet.counts(mask, documents).tolist() == by_document


def test_joined_facets_grow_in_place_and_widen_past_two_byte_codes() -> None:
    """A commit's segment is joined after the others in the same buffers (the older view's
    values unchanged); codes past what two bytes hold join anew with four-byte slots."""
    from search.facets import JoinedFacets
    from search.segments import SegmentColumn

    def part(offset: int, docnums: list[int], codes: list[int], size: int = 4) -> Any:
        column = SegmentColumn(
            [], np.array(docnums, dtype=np.int32), np.array(codes, dtype=np.int32)
        )
        return (offset, size, column, np.arange(max(codes, default=0) + 1))

    joins = JoinedFacets()
    first = part(0, [0, 0, 1, 1, 3], [0, 1, 0, 2, 1])
    older = joins.joined("country", [("a", 0)], [first], 3)
    assert older.slots.dtype == np.int16 and older.slots.shape == (2, 4)
    second = part(4, [0, 0, 0, 2], [2, 0, 1, 2])
    grown = joins.joined("country", [("a", 0), ("b", 4)], [first, second], 3)
    assert np.shares_memory(grown.slots, older.slots)
    assert older.slots.tolist() == [[1, 1, 0, 2], [2, 3, 0, 0]]
    everyone = np.ones(8, dtype=bool)
    assert grown.counts(np.arange(8), everyone, 3).tolist() == [3, 3, 3]
    assert grown.more_docs.tolist() == [4]  # the third value of docnum 4

    wide = part(8, [1], [40_000])
    widened = joins.joined("country", [("a", 0), ("b", 4), ("c", 8)], [first, second, wide], 40_001)
    assert widened.slots.dtype == np.int32
    assert not np.shares_memory(widened.slots, grown.slots)
    counts = widened.counts(np.arange(12), np.ones(12, dtype=bool), 40_001)
    assert counts[[0, 1, 2, 40_000]].tolist() == [3, 3, 3, 1] and counts.sum() == 10


def test_stored_segment_data_is_pruned_after_its_segment_left_and_the_grace_time(
    tmp_path: Path,
) -> None:
    """A file of a segment still in the view stays; one of a segment gone stays through the
    grace time (a worker on an older view may read it), then goes."""
    import os
    import time

    from search.facet_registry import default_registry
    from search.segments import SEGMENT_STORE_GRACE_SECONDS, SEGMENT_STORE_SUFFIX, SegmentStore

    store = SegmentStore(tmp_path, default_registry())
    now = time.time()
    grace = SEGMENT_STORE_GRACE_SECONDS
    for segid, age in (("kept", 10 * grace), ("recent", 1), ("old", 2 * grace)):
        path = tmp_path / f"{segid}-{store.signature}{SEGMENT_STORE_SUFFIX}"
        path.write_bytes(b"x")
        os.utime(path, (now - age, now - age))
    store.prune({"kept"}, now=now)
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["kept", "recent"]


def test_decoded_positions_are_whooshs(corpus: tuple[Path, Path, list[Any]]) -> None:
    """Positions decoded in bulk (search/segments.py) equal Whoosh's own decoding, posting by
    posting, for frequent and rare words."""
    _, index_dir, _ = corpus
    engine = SearchEngine(index_dir)
    with engine.reading() as state:
        cache = state.segment_cache
        fmt = state.searcher.schema["text"].format
        for reader, _ in state.searcher.reader().leaf_readers():
            words = [w.decode() for w, _ in zip(reader.lexicon("text"), range(400), strict=False)]
            checked = 0
            for word in words[::7] + ["oil", "the", "rate"]:
                decoded = cache.positions(reader, word)
                raw = []
                if ("text", word) in reader:
                    # Raw postings, deleted passages included, as the cache reads them.
                    matcher = reader.postings("text", word)
                    matcher = getattr(matcher, "child", matcher)
                    while matcher.is_active():
                        raw.append(fmt.decode_positions(matcher.value()))
                        matcher.next()
                got = [
                    decoded.flat[decoded.starts[i] : decoded.starts[i + 1]].tolist()
                    for i in range(len(decoded))
                ]
                assert got == raw, word
                checked += len(raw)
            assert checked > 100


def test_stored_arrays_read_back_equal_and_writable(tmp_path: Path) -> None:
    from search.segments import read_arrays, write_arrays

    arrays = {
        "size": np.array([3]),
        "values:countries": np.array(["US", "MX", "São Tomé"], dtype=str),
        "docnums:countries": np.array([0, 2, 7], dtype=np.int32),
        "lengths": np.array([1.5, 2.0, 0.25], dtype=np.float32),
        "codes": np.array([1, 0, 2], dtype=np.uint8),
        "dates": np.array([20260101, 0, 19870302], dtype=np.int64),
        "empty": np.zeros(0, dtype=np.int32),
        "flags": np.array([[True, False], [False, True]]),
    }
    path = tmp_path / "segment.arrays"
    with path.open("wb") as handle:
        write_arrays(handle, arrays)
    back = read_arrays(path)
    assert list(back) == list(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == array.dtype and back[name].shape == array.shape, name
        assert np.array_equal(back[name], array), name
        assert back[name].flags.writeable, name
        # Three bytes of codes before the dates: each array still starts where its type may.
        assert back[name].flags.aligned, name
    # A torn file, a file grown by a byte and another file are refused, never half read.
    data = path.read_bytes()
    for broken in (data[:-1], data + b"x", b"PK" + data[2:]):
        path.write_bytes(broken)
        with pytest.raises(ValueError):
            read_arrays(path)
    with pytest.raises(ValueError):
        write_arrays(io.BytesIO(), {"objects": np.array([object()])})
