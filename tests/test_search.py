"""The read side on a real Whoosh index in a temp dir: searcher reuse, facets, parsing, highlights."""

from __future__ import annotations

import re
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from whoosh import query as wq

from index.model import Metadata, ParsedDocument, Passage
from index.sync import open_writer, passage_fields
from search import kernels
from search.analysis import text_analyzer
from search.errors import InvalidRequest
from search.facets import Selection, buckets
from search.highlighting import TokenMatcher, snippet
from search.ordering import date_order, date_page
from search.querying import QueryReader
from search.searching import SearchEngine, SearchRequest
from search.store import build_schema, open_for_writing


def add_doc(index_dir: Path, doc_id: str, texts: list[tuple[str, list[str]]], date=None) -> None:
    passages = [Passage(i, 0, len(t), t, c, ["migration"]) for i, (t, c) in enumerate(texts)]
    doc = ParsedDocument(
        doc_id, "\n".join(t for t, _ in texts), Metadata(f"Title {doc_id}", date), passages,
        "hash", 1, 1.0, "txt",
    )  # fmt: skip
    writer = open_writer(open_for_writing(index_dir).index)
    for record in passage_fields(doc):
        writer.add_document(**record)
    writer.commit()


@pytest.fixture
def engine(tmp_path: Path) -> SearchEngine:
    add_doc(tmp_path, "a.txt", [("Migrants cross Panama toward Mexico.", ["PA", "MX"])])
    return SearchEngine(tmp_path)


def test_searcher_is_reused_until_the_index_changes(engine: SearchEngine, tmp_path: Path) -> None:
    assert engine.search(SearchRequest(q="panama")).total == 1
    opened = engine.reopens
    for _ in range(5):
        engine.search(SearchRequest(q="panama"))
    assert engine.reopens == opened, "no change on disk: the same searcher serves"
    add_doc(tmp_path, "b.txt", [("Panama canal traffic rises.", ["PA"])])
    assert engine.search(SearchRequest(q="panama")).total == 2, "never served stale"
    assert engine.reopens == opened + 1


def test_deleted_passages_leave_results_and_facets(engine: SearchEngine, tmp_path: Path) -> None:
    add_doc(tmp_path, "b.txt", [("Panama canal traffic rises.", ["PA"])])
    writer = open_writer(open_for_writing(tmp_path).index)
    writer.delete_by_term("doc_id", "a.txt")
    writer.commit()
    body = engine.search(SearchRequest(q="panama"))
    assert [h.doc_id for h in body.hits] == ["b.txt"]
    assert [asdict(b) for b in body.facets["country"]] == [
        {"value": "PA", "label": "Panama", "count": 1, "selected": False}
    ]


def test_buckets_keep_selected_values_and_flag_truncation() -> None:
    counts = {"MX": 5, "PA": 3, "EC": 0, "CR": 1}
    shown, truncated = buckets(counts, ["EC"], lambda v: v.lower(), size=2)
    assert shown == [
        {"value": "MX", "label": "mx", "count": 5, "selected": False},
        {"value": "EC", "label": "ec", "count": 0, "selected": True},
    ]
    assert truncated is True
    shown, truncated = buckets(counts, [], str, size=10)
    assert [b["value"] for b in shown] == ["MX", "PA", "CR"] and truncated is False


@pytest.mark.parametrize(
    ("text", "fallback", "interpreted"),
    [
        ("huawei 5g", False, "(text:huawei AND text:5g)"),
        ('"costa rica', True, "(text:costa AND text:rica)"),
        ("country:ecuador", False, "countries:EC"),
        ("topic:migration", False, "topics:migration"),
        ("nosuchfield:x huawei", True, None),
    ],
)
def test_query_reading(text: str, fallback: bool, interpreted: str | None) -> None:
    parsed = QueryReader(build_schema()).parse(text)
    assert parsed.fallback is fallback
    if interpreted:
        assert str(parsed.query) == interpreted
    if fallback:
        assert parsed.message


def test_snippet_escapes_everything_but_marks() -> None:
    text = "Huawei <b>said</b> & <script>x()</script> Huawei"
    spans = [(0, 6), (len(text) - 6, len(text))]
    assert snippet(text, spans).snippet == (
        "<mark>Huawei</mark> &lt;b&gt;said&lt;/b&gt; &amp; &lt;script&gt;x()&lt;/script&gt; "
        "<mark>Huawei</mark>"
    )


def test_snippet_windows_long_text_around_matches() -> None:
    text = ("filler " * 100) + "target word here " + ("tail " * 100)
    start = text.index("target")
    result = snippet(text, [(start, start + 6)], width=120)
    assert "<mark>target</mark>" in result.snippet
    assert result.snippet.startswith("…") and result.snippet.endswith("…")
    assert len(result.snippet) < 200


def test_vectorised_ranking_equals_whoosh(tmp_path: Path) -> None:
    """The numpy BM25 fast path ranks, scores and counts words exactly as Whoosh does."""
    import numpy as np

    from index.sync import IndexSyncer
    from tests.serving import copy_seeds

    IndexSyncer(copy_seeds(tmp_path / "docs"), tmp_path / "index", workers=0).sync_all()
    engine = SearchEngine(tmp_path / "index")
    queries = ["huawei", "migration security", "costa rica china", "rubio deportation deal"]
    queries.append("what did rubio say about deportation agreements with el salvador")
    with engine.reading() as state:
        for text in queries:
            parsed = engine.query_reader.parse(text)
            mask, ranked, _ = state.match(parsed.query, parsed.required, parsed.optional)
            assert ranked is not None, text
            body = engine.search(SearchRequest(q=text, per_page=50))
            # Whoosh has no minimum-should-match: count each word's matches the slow way.
            counted = [
                c
                for c in getattr(parsed.query, "subqueries", [parsed.query])
                if str(getattr(c, "text", "")) not in parsed.optional
            ]
            counts = sum(state.mask_of(c).astype(int) for c in counted)
            needed = parsed.required if parsed.required > 1 or parsed.optional else len(counted)
            if not isinstance(parsed.query, wq.Or):
                needed = len(counted)
            expected = set(np.flatnonzero(counts >= needed).tolist())
            assert set(np.flatnonzero(mask).tolist()) == expected, text
            whoosh = state.searcher.search(parsed.query, limit=50, filter=expected)
            assert body.total == len(expected)
            assert [(h.passage_id, h.score) for h in body.hits] == [
                (hit["passage_id"], round(float(hit.score), 4)) for hit in whoosh
            ], text


def test_queries_beyond_plain_words_use_whoosh(engine: SearchEngine) -> None:
    for text in ("migra*", "panama -canal", "title:panama", '"cross panama"~3'):
        parsed = engine.query_reader.parse(text)
        with engine.reading() as state:
            assert state.match(parsed.query)[1] is None, text
    parsed = engine.query_reader.parse('"cross panama"')
    with engine.reading() as state:
        assert state.match(parsed.query)[1] is not None, "phrases are ranked with numpy"
    assert engine.search(SearchRequest(q='"cross panama"')).total == 1
    assert engine.search(SearchRequest(q='"panama cross"')).total == 0


def test_snippets_read_as_text_not_markup() -> None:
    from search.highlighting import readable

    assert readable("Regional Security\nSecurity cooperation") == (
        "Regional Security — Security cooperation"
    )
    assert readable("| Country | Year |\n|---|:---:|\n| Panama | 2024 |") == (
        "Country · Year — Panama · 2024"
    )
    text = "| Country | Year |\n|---|---|\n| Panama | 2024 |"
    start = text.index("Panama")
    assert snippet(text, [(start, start + 6)]).snippet == (
        "Country · Year — <mark>Panama</mark> · 2024"
    )


def test_a_prefix_is_one_clause_of_a_counted_reading(tmp_path: Path) -> None:
    """ "migra* huawei panama canal" needs 3 of 4 clauses: two migra- words count once."""
    add_doc(tmp_path, "a.txt", [("Migrants and migration through Panama.", ["PA"])])
    add_doc(tmp_path, "b.txt", [("Migrants, Huawei and Panama.", ["PA"])])
    engine = SearchEngine(tmp_path)
    body = engine.search(SearchRequest(q="migra* huawei panama canal"))
    assert body.query_info.match is not None
    assert (body.query_info.match.mode, body.query_info.match.required) == ("at_least", 3)
    assert [h.doc_id for h in body.hits] == ["b.txt"]


def test_the_diagnosis_counts_a_prefix_as_typed(tmp_path: Path) -> None:
    add_doc(tmp_path, "a.txt", [("Migrants and migration through Panama.", ["PA"])])
    engine = SearchEngine(tmp_path)
    body = engine.search(SearchRequest(q="migra* zanzibar"))
    assert body.total == 0 and body.query_info.diagnosis is not None
    assert [(t.term, t.matches) for t in body.query_info.diagnosis.terms] == [
        ("migra*", 1),
        ("zanzibar", 0),
    ]


def test_remembered_facet_counts_and_filter_masks_equal_fresh_ones(tmp_path: Path) -> None:
    add_doc(tmp_path, "a.txt", [("Migrants cross Panama toward Mexico.", ["PA", "MX"])])
    add_doc(tmp_path, "b.txt", [("Panama canal traffic rises.", ["PA"])])
    add_doc(tmp_path, "c.txt", [("Mexico and Colombia talk trade.", ["MX", "CO"])])
    cached, fresh = SearchEngine(tmp_path), SearchEngine(tmp_path, match_cache_size=0)
    requests = [
        SearchRequest(q="panama"),
        SearchRequest(q="panama", filters={"country": ["MX"]}),
        SearchRequest(q="panama", filters={"country": ["PA", "MX"]}),
        SearchRequest(q="panama", filters={"country": ["MX", "PA"]}, page=2, per_page=1),
        SearchRequest(q="", facet_unit="document"),
        SearchRequest(q="", facet_size=1),
        SearchRequest(q="mexico", filters={"country": ["CO"]}, date_from="2000-01-01"),
    ]

    def answers(engine: SearchEngine) -> list[tuple[int, Any, Any, Any]]:
        return [
            (
                r.total,
                {k: [asdict(b) for b in v] for k, v in r.facets.items()},
                r.facets_truncated,
                [(h.passage_id, h.score) for h in r.hits],
            )
            for r in map(engine.search, requests)
        ]

    first = answers(cached)
    assert answers(cached) == first == answers(fresh), "remembered answers equal fresh ones"
    with cached.reading() as snap:
        assert set(snap._remembered) == {"facets", "facet_counts", "filters", "rankings", "pages"}
        assert len(snap._remembered["facets"]) == 6, "the two orders of PA, MX are one entry"
        assert len(snap._remembered["facet_counts"]) == 5, "facet_size and pages share counts"
        masks = list(snap._remembered["filters"].values())
        assert all(not m.flags.writeable for d in masks for m in d.values())
    # A commit that only adds a segment: the old view's counts carry over, and only the new
    # segment's passages are counted on top of them.
    add_doc(tmp_path, "d.txt", [("Panama and Mexico sign a migration pact.", ["PA", "MX"])])
    after = answers(cached)
    assert cached.snapshots.carried == 1
    assert after == answers(fresh) and after != first
    assert after[1][0] == first[1][0] + 1
    # A commit with deletions in old segments: nothing carries over, counts are counted anew.
    writer = open_writer(open_for_writing(tmp_path).index)
    writer.delete_by_term("doc_id", "b.txt")
    writer.commit(merge=False)
    again = answers(cached)
    assert cached.snapshots.carried == 1
    assert again == answers(fresh) and again != after
    add_doc(tmp_path, "e.txt", [("Colombia and Panama talk.", ["CO", "PA"])])
    assert answers(cached) == answers(fresh)
    assert cached.snapshots.carried == 2


def test_highlight_spans_are_the_analyzers_own_tokens() -> None:
    analyzer = text_analyzer()
    matcher = TokenMatcher(analyzer)
    texts = [
        "Exporters said EXPORTS rose; the exporter's export-led growth (exports: 12.5%) slowed.",
        "Bogotá's mayor met Panama's exporters in Medellín; ĪSTANBUL exports and İzmir's rose.",
        "U.S. officials said the talks on migration and migrants would resume in Mexico City.",
    ]
    for text in texts:
        # Whoosh reuses one Token object: read each as it comes.
        tokens = [(t.text, t.startchar, t.endchar) for t in analyzer(text, chars=True)]
        for wanted in ({"export"}, {"rose", "migrat"}, {"u.", "mexico", "bogotá"}, set()):
            expected = [(start, end) for stem, start, end in tokens if stem in wanted]
            assert matcher.spans(text, wanted) == expected, (text, wanted)
            assert matcher.spans_many([text, text.upper()], wanted)[0] == expected, (text, wanted)
        found = {text[s:e].lower() for s, e in matcher.spans(text, {"export", "bogotá", "u."})}
        assert found & {"exporters", "bogotá", "u.s"}, text
        words = [text[s:e].lower() for s, e in matcher.spans(text, (), ["expor", "istan"])]
        assert all(w.startswith(("expor", "istan")) for w in words), text
        assert len(words) == sum(w.startswith("expor") for w in re.findall(r"\w+", text.lower())), (
            text
        )


def test_a_page_of_spans_finds_the_tokens_the_analyzer_makes() -> None:
    """The one-regex page scan (ASCII texts, words) against the analyzer, on texts whose tokens
    join words with dots and underscores, repeat, and sit at the texts' edges."""
    analyzer = text_analyzer()
    matcher = TokenMatcher(analyzer)
    texts = [
        "u.s. U.S.A. us u.s.-led a.b.c b.c c..d d. .e e_f f__ _g exports",
        "Exports.exports, EXPORTS!export-led growth; re-exports 12.5 exports_x x.exports",
        "exports",
        "nothing to see",
        "",
    ]
    found = {}
    for stems in ({"u.", "u.s.a", "us"}, {"b.c", "a.b.c", "e_f", "_g", "f__"}, {"export"}):
        expected = [
            [(t.startchar, t.endchar) for t in analyzer(text, chars=True) if t.text in stems]
            for text in texts
        ]
        assert matcher.spans_many(texts, stems) == expected, stems
        found[frozenset(stems)] = sum(map(len, expected))
    assert all(found.values()), found


def test_kept_query_readings_are_copies() -> None:
    reader = QueryReader(build_schema())
    first = reader.parse("migrants cross the darien gap")
    first.message, first.fallback = "changed by a caller", True
    again = reader.parse("migrants cross the darien gap")
    assert (again.message, again.fallback) == (None, False)
    assert again == QueryReader(build_schema()).parse("migrants cross the darien gap")
    assert reader.parse("migrants cross the darien gap", "all").rule != again.rule
    with pytest.raises(InvalidRequest):
        reader.parse("*igrants")


def test_a_page_by_date_is_the_start_of_the_full_date_order() -> None:
    """date_order with `stop` (a partition) gives the first `stop` of the plain sort: dates
    newest or oldest first, undated last, ties by docnum."""
    rng = np.random.default_rng(3)
    dates = rng.choice([0, 19870301, 19870302, 20261130, 19990101], size=5000).astype(np.int32)
    fx = SimpleNamespace(dates=dates)
    docnums = np.sort(rng.choice(5000, size=3000, replace=False))
    for sort in ("newest", "oldest"):
        sign = -1 if sort == "newest" else 1
        key = np.where(dates[docnums] > 0, sign * dates[docnums].astype(np.int64), 2**62)
        expected = docnums[np.lexsort((docnums, key))]
        assert date_order(fx, docnums, sort).tolist() == expected.tolist()  # type: ignore[arg-type]
        for stop in (0, 1, 10, 2999, 3000, 5000):
            got = date_order(fx, docnums, sort, stop)  # type: ignore[arg-type]
            assert got.tolist() == expected[:stop].tolist(), (sort, stop)
            # The page found in one pass over the mask (compiled): the same docnums.
            selection = Selection(np.isin(np.arange(5000), docnums))
            page = date_page(fx, selection, sort, stop)  # type: ignore[arg-type]
            assert page.tolist() == expected[:stop].tolist(), (sort, stop)
    assert kernels.compiled() is not None


def test_a_search_cut_short_by_its_budget_is_not_remembered(tmp_path: Path) -> None:
    """Partial counts and rankings (the time budget spent) never answer a later request."""
    add_doc(tmp_path, "a.txt", [("Migrants cross Panama toward Mexico.", ["PA", "MX"])])
    add_doc(tmp_path, "b.txt", [("Mexico and Colombia talk trade with Panama.", ["MX", "CO"])])
    engine, fresh = SearchEngine(tmp_path), SearchEngine(tmp_path, match_cache_size=0)
    request = SearchRequest(q="panama mexico colombia trade", match="all")
    engine.timeout = 1e-9
    cut = engine.search(request)
    assert cut.query_info.timed_out
    engine.timeout = None
    full, expected = engine.search(request), fresh.search(request)
    assert not full.query_info.timed_out
    assert (full.total, full.facets, [h.passage_id for h in full.hits]) == (
        expected.total,
        expected.facets,
        [h.passage_id for h in expected.hits],
    )
    assert (cut.total, full.total) == (2, 1), "the cut search counted its first word only"


def test_a_pages_passages_are_remembered_per_view_and_made_into_new_hits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A repeated page reads no stored fields again (the view remembers its passages and
    snippets), gives hits equal to an uncached engine's but new objects, marks each query's
    own words on the same passages, and a commit's new view reads them afresh."""
    from whoosh.reading import SegmentReader

    add_doc(
        tmp_path,
        "a.txt",
        [
            ("Migrants cross Panama toward Mexico.", ["PA", "MX"]),
            ("Panama closes the Darien route to migrants.", ["PA"]),
        ],
    )
    engine, cold = SearchEngine(tmp_path), SearchEngine(tmp_path, match_cache_size=0)
    reads: list[int] = []
    stored_fields = SegmentReader.stored_fields

    # Whoosh's searchers copy their reader's stored_fields when they open: patched first.
    def counted(reader: SegmentReader, docnum: int) -> Any:
        reads.append(docnum)
        return stored_fields(reader, docnum)

    monkeypatch.setattr(SegmentReader, "stored_fields", counted)
    first = engine.search(SearchRequest(q="panama"))
    assert first.total == 2 and sorted(reads) == [0, 1]
    again = engine.search(SearchRequest(q="panama"))
    assert sorted(reads) == [0, 1], "the page's passages were remembered"
    expected = cold.search(SearchRequest(q="panama")).hits
    assert [asdict(h) for h in again.hits] == [asdict(h) for h in first.hits]
    assert [asdict(h) for h in again.hits] == [asdict(h) for h in expected]
    assert again.hits[0] is not first.hits[0]
    assert again.hits[0].matches is not first.hits[0].matches
    # The same passages for other words: marked for those words.
    other = engine.search(SearchRequest(q="migrants"))
    assert {h.passage_id for h in other.hits} == {h.passage_id for h in first.hits}
    assert all("<mark>Panama</mark>" in h.highlight for h in first.hits)
    assert all("<mark>" in h.highlight and "<mark>Panama" not in h.highlight for h in other.hits)
    # A commit opens a new view: its passages are read again.
    add_doc(tmp_path, "b.txt", [("Panama canal traffic rises.", ["PA"])])
    before = len(reads)
    assert engine.search(SearchRequest(q="panama")).total == 3
    assert len(reads) > before
