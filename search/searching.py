"""The read side's entry point: ranked, filtered, faceted, highlighted passage search.

`SearchEngine` orchestrates; each stage lives in its own module: snapshots (searcher lifecycle
and per-view caches), facets (masks and counts), ranking (vectorised BM25), rescoring (semantic),
highlighting, suggesting, and store (the record's encoding).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh import scoring
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.index import Index
from whoosh.searching import Searcher

from search.allocator import tune_allocator
from search.diagnosis import diagnose
from search.embedding import shared_encoder
from search.errors import DocumentNotFound, PassageNotFound
from search.explaining import explain_hit
from search.facet_registry import YEAR, FacetRegistry, default_registry
from search.facets import (
    FacetCounts,
    Selection,
    count_facets,
    facet_buckets,
    facet_counts,
    filter_masks,
)
from search.grouping import count_documents, document_codes, group_page
from search.highlighting import Highlight, TokenMatcher, query_terms, snippet
from search.histogram import date_histogram, without_date_filter
from search.ordering import date_page, full_order
from search.querying import ParsedQuery, QueryReader
from search.ranking import RankedMatches
from search.rescoring import RESCORE_WINDOW, Rescorer, SemanticPart
from search.results import (
    SORTS,
    Bucket,
    DocumentDetail,
    DocumentPage,
    DocumentSummary,
    ExportHead,
    Hit,
    IndexStats,
    MatchInfo,
    QueryInfo,
    ScoredPassage,
    SearchRequest,
    SearchResult,
    Vocabulary,
)
from search.snapshots import (
    FILTER_CACHE_SIZE,
    MATCH_CACHE_SIZE,
    MAX_EXPANSIONS,
    PAGE_CACHE_SIZE,
    RANKING_CACHE_SIZE,
    REQUEST_CACHE_SIZE,
    Snapshot,
    SnapshotManager,
    bound_expansions,
)
from search.store import PassageRecord, decode_passage
from search.suggesting import SUGGEST_BELOW, suggest

__all__ = ["RESCORE_WINDOW", "SORTS", "SearchEngine", "SearchRequest"]

# A graded reading ("at least 3 of 4 words") that finds fewer passages than this is relaxed to
# "any word", and says so: an analyst is never left at zero when the words exist. 1 (relax only
# an empty result) kept SciFact within 0.002 nDCG@10 of reading such queries as "any" while a
# keyword query that finds a few passages keeps them (docs/relevance.md, bench/match_sweep.py).
RELAX_BELOW = 1
# A document whose text is over this many bytes (UTF-8) is paged, without its text, unless the
# client asks for the text: a 19 MB upload answered 43.6 MB of JSON (issue 17). 1 MB is a long
# report (~150k words) and a few hundred passages.
DOCUMENT_INLINE_BYTES = 1_000_000
# Passages per page of a paged document.
DOCUMENT_PAGE_SIZE = 100

# BM25F parameters; tuned on SciFact training claims (docs/relevance.md).
BM25_B = 0.75
BM25_K1 = 1.2


@dataclass
class Matching:
    """A request's matches: the query as read and bounded, filter masks, the query's own
    matches (with scores for plain words), the final set under the filters and its size."""

    parsed: ParsedQuery
    query: wq.Query
    notes: list[str]
    masks: dict[str, np.ndarray]
    matched: np.ndarray
    ranked: Any
    final: np.ndarray
    total: int
    timed_out: bool
    relaxed_from: MatchInfo | None
    # The final set with its docnums, found once for the page and every facet.
    selection: Selection


class LuceneBM25(scoring.BM25F):
    """BM25F with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)): rare words weigh more."""

    def idf(self, searcher: Searcher, fieldname: str, text: str) -> float:
        """Inverse document frequency of text in fieldname."""
        n = searcher.doc_frequency(fieldname, text)
        return math.log(1 + (searcher.doc_count_all() - n + 0.5) / (n + 0.5))


def _filters_key(request: SearchRequest) -> str:
    """What identifies the request's filters within a view (facet values in one order)."""
    facets = sorted((name, sorted(values)) for name, values in request.filters.items() if values)
    return repr((facets, request.date_from, request.date_to, request.doc_id))


def _selection_key(
    snap: Snapshot, query: wq.Query, parsed: ParsedQuery, request: SearchRequest
) -> str:
    """What identifies the passages a request selects within a view: its query's own matches
    under its filters."""
    matches = snap.match_key(query, parsed.required, parsed.optional)
    return repr((matches, parsed.is_empty, _filters_key(request)))


def bm25_weighting() -> LuceneBM25:
    """The engine's weighting model (one per searcher)."""
    return LuceneBM25(B=BM25_B, K1=BM25_K1)


def highlighted_hit(
    record: PassageRecord, spans: list[tuple[int, int]], score: float | None
) -> Hit:
    """A hit: the passage, its snippet around the matched spans, and its rounded score."""
    return shown_hit(record, snippet(record.text, spans), score)


def shown_hit(record: PassageRecord, highlight: Highlight, score: float | None) -> Hit:
    """A hit from a passage and its snippet already made, with its rounded score."""
    return Hit(
        passage=record,
        highlight=highlight.snippet,
        matches=[[s, e] for s, e in highlight.matches],
        score=round(score, 4) if score is not None else None,
    )


class SearchEngine:
    """Answers searches and lookups over one index directory, always from its newest commit."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        topic_labels: dict[str, str] | None = None,
        match_cache_size: int = MATCH_CACHE_SIZE,
        semantic: bool = False,
        facets: FacetRegistry | None = None,
        timeout: float | None = None,
    ) -> None:
        # Large temporary arrays from reused heap memory (search/allocator.py).
        tune_allocator()
        self.index_dir = index_dir
        # Seconds a search may run before it answers with what it has (None or 0: no budget).
        self.timeout = timeout
        registry = facets or default_registry()
        if topic_labels:
            labels = dict(topic_labels)
            registry = registry.with_labels({"topic": lambda v: labels.get(v, v)})
        self.facets = registry
        # Rescore relevance-ranked results with passage embeddings (when the index has them).
        self.rescorer = Rescorer(shared_encoder) if semantic else None
        self.snapshots = SnapshotManager(
            index_dir, registry, bm25_weighting, (BM25_B, BM25_K1), match_cache_size
        )
        self.snapshots.on_open = self._on_open
        self._reader: QueryReader | None = None
        self._matcher: TokenMatcher | None = None

    @property
    def semantic(self) -> bool:
        """Whether relevance-ranked pages are rescored with embeddings."""
        return self.rescorer is not None

    @property
    def reopens(self) -> int:
        """How many snapshots this engine has opened (a test's window on reuse)."""
        return self.snapshots.reopens

    def _on_open(self, ix: Index) -> None:
        self._reader = QueryReader(ix.schema, self.facets)
        self._matcher = TokenMatcher(self._reader.analyzer)

    def reading(self) -> Any:
        """A snapshot that stays valid for the whole block (see search/snapshots.py)."""
        return self.snapshots.reading()

    def close(self) -> None:
        """Close the searcher; the engine reopens one on the next request."""
        self.snapshots.close()

    @property
    def query_reader(self) -> QueryReader:
        """The parser for this index's schema (opens the index on first use)."""
        if self._reader is None:
            with self.reading():
                pass
        assert self._reader is not None
        return self._reader

    @property
    def token_matcher(self) -> TokenMatcher:
        """Finds query terms in hit text for highlighting."""
        if self._matcher is None:
            self._matcher = TokenMatcher(self.query_reader.analyzer)
        return self._matcher

    # -- search --------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> SearchResult:
        """Run a search: hits for the requested page, exact total, disjunctive facets, suggestion.

        With no hits, the query_info carries a diagnosis (per word, per filter, a relaxed search
        that has hits); with autocorrect on and a spelling correction that has hits, the
        correction's results are shown instead and `showing_results_for` says so. With a time
        budget (`timeout` seconds) a search past it stops matching and ranking and answers what
        it has, with `query_info.timed_out` set: never a worker killed mid-search.
        """
        started = time.perf_counter()
        deadline = time.monotonic() + self.timeout if self.timeout else None
        parsed = self.query_reader.parse(request.q, request.match)
        with self.reading() as snap:
            fx = snap.facets
            m = self._match_request(snap, parsed, request, deadline)
            parsed, query, notes, masks, relaxed_from = (
                m.parsed,
                m.query,
                m.notes,
                m.masks,
                m.relaxed_from,
            )
            matched, ranked, final, total, timed_out = (
                m.matched,
                m.ranked,
                m.final,
                m.total,
                m.timed_out,
            )
            documents = total_documents = None
            grouped = request.group == "document"
            if grouped or request.facet_unit == "document":
                documents = document_codes(snap)
            if grouped:
                assert documents is not None
                hits, total_documents, rescored, page_timed_out = self._grouped_hits(
                    snap, m, request, documents, deadline
                )
            else:
                hits, rescored, page_timed_out = self._page_hits(
                    snap, parsed, query, request, m.selection, masks, ranked, deadline
                )
                if documents is not None:
                    total_documents = count_documents(final, documents)
            timed_out = timed_out or page_timed_out
            unit = documents if request.facet_unit == "document" else None

            def counted(start: int = 0) -> FacetCounts:
                return facet_counts(
                    self.facets, fx, matched, masks, unit, start, _known(ranked), m.selection
                )

            def bucketed(counts: FacetCounts) -> Any:
                return facet_buckets(self.facets, fx, counts, request.filters, request.facet_size)

            if timed_out:
                raw, truncated = bucketed(counted())
            else:
                # The counts depend on the query's own matches, the filters and the unit.
                key = f"{_selection_key(snap, query, parsed, request)}/{request.facet_unit}"
                # Distinct documents do not add up across segments: never carried over.
                carry = unit is None

                def remembered_buckets() -> Any:
                    if carry:
                        return bucketed(snap.facet_counts(key, counted))
                    return bucketed(counted())

                raw, truncated = snap.remembered(
                    "facets", f"{key}/{request.facet_size}", remembered_buckets, REQUEST_CACHE_SIZE
                )
            histogram = None
            if request.histogram:
                dated = without_date_filter(matched, masks, self._date_keys)
                histogram = date_histogram(fx.dates, dated, request.histogram, unit)
            suggestion = diagnosis = None
            # Suggestions and diagnoses run more searches: not once the budget is spent.
            if not parsed.is_empty and total < SUGGEST_BELOW and not _past(deadline):
                suggestion = suggest(snap.searcher, self.query_reader, fx, parsed, masks, total)
            if not parsed.is_empty and total == 0 and not _past(deadline):
                diagnosis = diagnose(self, snap, parsed, request, masks)
        if total == 0 and suggestion and request.autocorrect:
            corrected = self.search(replace(request, q=suggestion, autocorrect=False))
            if corrected.total:
                corrected.query = request.q
                corrected.query_info.showing_results_for = suggestion
                corrected.suggestion = suggestion
                corrected.took_ms = round((time.perf_counter() - started) * 1000, 2)
                return corrected
        rule = parsed.rule
        message = parsed.message
        if relaxed_from is not None:
            few = (
                "no passage has" if RELAX_BELOW == 1 else f"fewer than {RELAX_BELOW} passages have"
            )
            message = (
                f"{few} at least {relaxed_from.required} of the {relaxed_from.of} words: "
                "showing passages with any of them"
            )
        if timed_out:
            notes.append(f"search stopped after its {self.timeout:g} s budget: results are partial")
        if notes:
            message = "; ".join([message, *notes] if message else notes)
        return SearchResult(
            query=request.q,
            query_info=QueryInfo(
                interpreted="" if parsed.is_empty else str(parsed.query),
                fallback=parsed.fallback,
                message=message,
                relaxed_from=relaxed_from,
                rescored=rescored,
                match=MatchInfo(rule.mode, rule.required, rule.of) if rule else None,
                diagnosis=diagnosis,
                timed_out=timed_out,
            ),
            total=total,
            page=request.page,
            per_page=request.per_page,
            pages=max(1, math.ceil((total_documents or 0) / request.per_page))
            if request.group == "document"
            else max(1, math.ceil(total / request.per_page)),
            sort=request.sort,
            took_ms=round((time.perf_counter() - started) * 1000, 2),
            hits=hits,
            facets=_typed_buckets(raw),
            facets_truncated=truncated,
            suggestion=suggestion,
            total_documents=total_documents,
            histogram=histogram,
        )

    def request_masks(self, snap: Snapshot, request: SearchRequest) -> dict[str, np.ndarray]:
        """The docnum mask of each filter the request sets (facets, dates, doc_id)."""

        def compute() -> dict[str, np.ndarray]:
            doc_docnums = None
            if request.doc_id:
                doc_docnums = [n for d in request.doc_id for n in snap.view.docnums(d)]
            masks = filter_masks(
                self.facets,
                snap.facets,
                request.filters,
                request.date_from,
                request.date_to,
                doc_docnums,
            )
            for mask in masks.values():
                mask.flags.writeable = False  # shared by later requests: never changed
            return masks

        return dict(snap.remembered("filters", _filters_key(request), compute, FILTER_CACHE_SIZE))

    def _match_request(
        self, snap: Snapshot, parsed: ParsedQuery, request: SearchRequest, deadline: float | None
    ) -> Matching:
        """The request's matches under its filters, relaxed to any word when a graded reading
        finds too few (search and export match alike through here)."""
        query, notes = self._bounded(snap, parsed)
        masks = self.request_masks(snap, request)
        matched, ranked, final, total, timed_out, selection = self._matches(
            snap, parsed, query, masks, deadline
        )
        relaxed_from = None
        rule = parsed.rule
        if rule is not None and rule.mode == "at_least" and total < RELAX_BELOW:
            # Too few passages have most of the words: show those with any of them,
            # ranked by how many and how well they match, and say so.
            relaxed_from = MatchInfo(rule.mode, rule.required, rule.of)
            parsed = self.query_reader.parse(request.q, "any")
            query, notes = self._bounded(snap, parsed)
            matched, ranked, final, total, timed_out, selection = self._matches(
                snap, parsed, query, masks, deadline
            )
        return Matching(
            parsed,
            query,
            notes,
            masks,
            matched,
            ranked,
            final,
            total,
            timed_out,
            relaxed_from,
            selection,
        )

    def _ranked_all(
        self, snap: Snapshot, m: Matching, request: SearchRequest, deadline: float | None
    ) -> tuple[np.ndarray, np.ndarray | None, bool, bool]:
        """Every match in the order pages show them (the top window rescored as a page would
        be): docnums, scores (None by date), whether rescored, whether the deadline cut it."""
        order, scores, timed_out = full_order(
            snap.searcher,
            snap.facets,
            None if m.parsed.is_empty else m.query,
            request.sort,
            m.final,
            m.ranked,
            deadline,
        )
        rescored = False
        if self.rescorer is not None and scores is not None:
            top = order[:RESCORE_WINDOW].tolist(), scores[:RESCORE_WINDOW].tolist()
            window = list(zip(*top, strict=True))
            ranking, rescored, _ = self.rescorer.rescore(snap, request.q, window)
            order[: len(ranking)] = [d for d, _ in ranking]
            scores[: len(ranking)] = [s for _, s in ranking]
        return order, scores, rescored, timed_out

    def export(
        self, request: SearchRequest, cap: int
    ) -> tuple[ExportHead, Iterator[tuple[PassageRecord, float | None]]]:
        """Every match of the request in ranked order, at most `cap`: the totals at once, and
        the passages as a generator that holds one index view until it is exhausted or closed
        (an export is consistent even while the watcher commits)."""
        deadline = time.monotonic() + self.timeout if self.timeout else None
        parsed = self.query_reader.parse(request.q, request.match)

        def rows() -> Iterator[Any]:
            with self.reading() as snap:
                m = self._match_request(snap, parsed, request, deadline)
                order, scores, _, cut = self._ranked_all(snap, m, request, deadline)
                count = min(int(order.size), cap)
                yield ExportHead(m.total, count, m.timed_out or cut)
                for at in range(count):
                    docnum = int(order[at])
                    stored = snap.searcher.stored_fields(docnum)
                    stored.pop("doc_text", None)
                    score = None if scores is None else round(float(scores[at]), 4)
                    yield decode_passage(stored, self.facets), score

        stream = rows()
        head = next(stream)
        assert isinstance(head, ExportHead)
        return head, stream

    @property
    def _date_keys(self) -> set[str]:
        """Keys of the date range's mask in filter_masks (the year facet's name, or "date")."""
        return {f.name for f in self.facets if f.kind == YEAR} | {"date"}

    def _grouped_hits(
        self,
        snap: Snapshot,
        m: Matching,
        request: SearchRequest,
        documents: np.ndarray,
        deadline: float | None,
    ) -> tuple[list[Hit], int, bool, bool]:
        """One hit per document on the requested page (its best passage, with its top passages
        under `passages`), the exact document total, whether rescoring ordered the top and
        whether the deadline cut the ranking short."""
        order, scores, rescored, timed_out = self._ranked_all(snap, m, request, deadline)
        offset = (request.page - 1) * request.per_page
        groups, total_documents = group_page(
            order, scores, documents, offset, request.per_page, request.group_size
        )
        hits = []
        for group in groups:
            passages = self._hits(
                snap, m.parsed, list(zip(group.docnums, group.scores, strict=True))
            )
            if request.explain and not m.parsed.is_empty:
                for hit, docnum, score in zip(passages, group.docnums, group.scores, strict=True):
                    hit.explain = explain_hit(snap.searcher, m.parsed, docnum, score, None)
            hits.append(replace(passages[0], passages=passages, matched_passages=group.matched))
        return hits, total_documents, rescored, timed_out

    def _bounded(self, snap: Snapshot, parsed: ParsedQuery) -> tuple[wq.Query, list[str]]:
        """The query with prefixes and wildcards bounded to their most frequent words, and
        notes on what was cut (query cost limits)."""
        if parsed.is_empty:
            return parsed.query, []
        # A counted OR keeps each pattern as one clause (its words merged would each count).
        counted = parsed.required > 1 or bool(parsed.optional)
        query, narrowed = bound_expansions(
            parsed.query, snap.searcher.reader(), snap.cached, keep_clauses=counted
        )
        if not narrowed:
            return query, []
        return query, [
            f"{', '.join(narrowed)} matched over {MAX_EXPANSIONS} words: searched "
            f"the {MAX_EXPANSIONS} most frequent; type more letters to narrow"
        ]

    def _matches(
        self,
        snap: Snapshot,
        parsed: ParsedQuery,
        query: wq.Query,
        masks: dict[str, np.ndarray],
        deadline: float | None = None,
    ) -> tuple[np.ndarray, Any, np.ndarray, int, bool, Selection]:
        """The query's own matches (and scores), the final set under the filters, its size,
        whether the deadline cut the matching short, and the final set as a Selection."""
        timed_out = False
        if parsed.is_empty:
            matched, ranked = snap.facets.live, None
        else:
            matched, ranked, timed_out = snap.match(
                query, parsed.required, parsed.optional, deadline
            )
        final = matched.copy()
        for mask in masks.values():
            final &= mask
        docnums = _known(ranked)
        if docnums is not None:
            for mask in masks.values():
                docnums = docnums[mask[docnums]]
        selection = Selection(final, docnums)
        return matched, ranked, final, selection.size, timed_out, selection

    def count(self, snap: Snapshot, parsed: ParsedQuery, masks: dict[str, np.ndarray]) -> int:
        """How many passages a parsed query matches under the given filter masks."""
        query, _ = self._bounded(snap, parsed)
        return self._matches(snap, parsed, query, masks)[3]

    def _page_hits(
        self,
        snap: Snapshot,
        parsed: ParsedQuery,
        query: wq.Query,
        request: SearchRequest,
        final: Selection,
        masks: dict[str, np.ndarray],
        ranked: Any,
        deadline: float | None = None,
    ) -> tuple[list[Hit], bool, bool]:
        """The requested page's hits, whether semantic rescoring ordered them, and whether the
        deadline cut the ranking short."""
        searcher, fx = snap.searcher, snap.facets
        offset = (request.page - 1) * request.per_page
        timed_out = False
        if offset >= final.size:
            return [], False, False
        scored: list[tuple[int, float | None]]
        limit = offset + request.per_page
        rescore = self.rescorer is not None and offset < RESCORE_WINDOW
        rescored = False
        semantic: dict[int, SemanticPart] = {}
        # A rescored page is cut from the rescored window, so the window is ranked from the top.
        start, stop = (0, max(limit, RESCORE_WINDOW)) if rescore else (offset, limit)
        if parsed.is_empty or request.sort != "relevance":
            # Undated passages sort last either way; ties by docnum keep pages stable.
            stop = offset + request.per_page
            page = date_page(fx, final, request.sort, stop)[offset:stop]
            # Ordered by date, not relevance: there is no score to report.
            scored = [(int(d), None) for d in page]
        else:
            ranking: list[tuple[int, float]]
            if ranked is not None:
                # Remembered per view, as Solr's queryResultCache: paging back, re-sorting and
                # unticking a facet repeat a ranking, and a long query's is its dearest part.
                key = f"{_selection_key(snap, query, parsed, request)}/{start}:{stop}"
                top, top_scores = (
                    ranked.top(final, start, stop)
                    if not ranked.complete
                    else snap.remembered(
                        "rankings", key, lambda: ranked.top(final, start, stop), RANKING_CACHE_SIZE
                    )
                )
                ranking = [(int(d), float(s)) for d, s in zip(top, top_scores, strict=True)]
            else:
                # Filters, or a minimum-should-match, narrow the query's own matches: only
                # then does Whoosh need the final set as a filter.
                narrowed = bool(masks) or parsed.required > 1 or bool(parsed.optional)
                filter_set = set(final.docnums.tolist()) if narrowed else None
                found, timed_out = _ranked_within(searcher, query, stop, filter_set, deadline)
                ranking = found[start:stop]
            if rescore and self.rescorer is not None:
                ranking, rescored, semantic = self.rescorer.rescore(snap, request.q, ranking)
            scored = list(ranking[offset - start : limit - start])
        hits = self._hits(snap, parsed, scored)
        if request.explain and not parsed.is_empty:
            for hit, (docnum, score) in zip(hits, scored, strict=True):
                hit.explain = explain_hit(searcher, parsed, docnum, score, semantic.get(docnum))
        return hits, rescored, timed_out

    def _hits(
        self, snap: Snapshot, parsed: ParsedQuery, scored: list[tuple[int, float | None]]
    ) -> list[Hit]:
        """Hits for (docnum, score) pairs: stored passages, highlighted as one page (the
        passages and snippets remembered for the view, the hits made anew each time)."""
        docnums = [int(d) for d, _ in scored]
        terms, prefixes = (set(), set()) if parsed.is_empty else query_terms(parsed.query)
        key = f"{docnums}/{sorted(terms)}/{sorted(prefixes)}"
        shown = snap.remembered(
            "pages",
            key,
            lambda: self._shown(snap.searcher, docnums, terms, prefixes),
            PAGE_CACHE_SIZE,
        )
        return [
            shown_hit(record, highlight, score)
            for (record, highlight), (_, score) in zip(shown, scored, strict=True)
        ]

    def _shown(
        self, searcher: Searcher, docnums: list[int], terms: set[str], prefixes: set[str]
    ) -> list[tuple[PassageRecord, Highlight]]:
        """Passages decoded from their stored fields, each with its snippet for the words."""
        records = [decode_passage(searcher.stored_fields(d), self.facets) for d in docnums]
        if terms or prefixes:
            spans = self.token_matcher.spans_many([r.text for r in records], terms, prefixes)
        else:
            spans = [[] for _ in records]
        return [
            (record, snippet(record.text, found))
            for record, found in zip(records, spans, strict=True)
        ]

    # -- documents and passages ------------------------------------------------------------------

    def passage(self, passage_id: str) -> PassageRecord:
        """One passage with its document's metadata."""
        with self.reading() as snap:
            docnum = snap.view.passage_docnum(passage_id)
            if docnum is None:
                raise PassageNotFound(f"no passage '{passage_id}'")
            return decode_passage(snap.searcher.stored_fields(docnum), self.facets)

    def similar(self, passage_id: str, limit: int = 5) -> list[ScoredPassage]:
        """Passages most like the given one (more-like-this on its text), itself excluded."""
        with self.reading() as snap:
            searcher = snap.searcher
            docnum = snap.view.passage_docnum(passage_id)
            if docnum is None:
                raise PassageNotFound(f"no passage '{passage_id}'")
            text = searcher.stored_fields(docnum).get("text", "")
            keywords = [word for word, _ in searcher.key_terms_from_text("text", text, numterms=15)]
            if not keywords:
                return []
            query = wq.Or([wq.Term("text", w) for w in keywords])
            results = searcher.search(query, limit=limit + 1, mask={docnum})
            out = [
                ScoredPassage(decode_passage(hit.fields(), self.facets), round(float(hit.score), 4))
                for hit in results
            ]
            return out[:limit]

    def document(
        self,
        doc_id: str,
        page: int | None = None,
        per_page: int | None = None,
        include_text: bool | None = None,
        inline_text_bytes: int = DOCUMENT_INLINE_BYTES,
    ) -> DocumentDetail:
        """A document's metadata, full text and passages in order.

        As before by default: the whole text and every passage. Paged when `page` or
        `per_page` is given, and for a document over `inline_text_bytes` unless its text is
        asked for (`include_text=True`): then page 1 of DOCUMENT_PAGE_SIZE passages, no text.
        """
        with self.reading() as snap:
            docnums = snap.view.docnums(doc_id)
            if not docnums:
                raise DocumentNotFound(f"no document '{doc_id}'")
            records = sorted(
                (
                    decode_passage(snap.searcher.stored_fields(n), self.facets, with_doc_text=True)
                    for n in docnums
                ),
                key=lambda r: r.ordinal,
            )
        text = records[0].doc_text or ""
        page_starts = records[0].doc_pages
        for record in records:
            record.doc_text = record.doc_pages = None
        summary = self._summary(records)
        big = len(text.encode("utf-8")) > inline_text_bytes
        if include_text is None:
            include_text = not big
        if page is not None or per_page is not None or (big and not include_text):
            page = page or 1
            per_page = per_page or DOCUMENT_PAGE_SIZE
        total = len(records)
        if per_page is not None and page is not None:
            shown = records[(page - 1) * per_page : page * per_page]
            page_count = max(1, math.ceil(total / per_page))
        else:
            shown, page, page_count = records, 1, 1
        return DocumentDetail(
            summary=summary,
            text=text if include_text else None,
            passages=shown,
            passages_total=total,
            page=page,
            per_page=per_page,
            pages=page_count,
            page_starts=page_starts,
            text_included=include_text,
        )

    def documents(self, page: int = 1, per_page: int = 20, sort: str = "doc_id") -> DocumentPage:
        """A page of indexed documents with their metadata, tags and passage counts."""
        with self.reading() as snap:
            all_docs: list[DocumentSummary] = snap.cached(
                "documents", lambda: self._all_documents(snap)
            )
        if sort == "newest":
            # Newest first, undated last; sorted() is stable so doc_id order breaks ties.
            all_docs = sorted(all_docs, key=lambda d: d.date or "", reverse=True)
        start = (page - 1) * per_page
        return DocumentPage(len(all_docs), page, per_page, all_docs[start : start + per_page])

    def vocabularies(self) -> Vocabulary:
        """Every facet value in the index with labels and passage counts."""
        with self.reading() as snap:
            fx = snap.facets
            raw, _ = count_facets(self.facets, fx, fx.live.copy(), {}, {}, 10_000)
            documents = snap.document_count
        return Vocabulary(documents, int(fx.live.sum()), _typed_buckets(raw))

    def stats(self) -> IndexStats:
        """Document and passage counts of the current index view."""
        with self.reading() as snap:
            return IndexStats(
                # Not len(documents()): /readyz and /metrics must not load every stored field.
                documents=snap.document_count,
                passages=snap.view.passage_count(),
                generation=snap.searcher.reader().generation(),
            )

    def content_hash(self, doc_id: str) -> tuple[str | None, int]:
        """The indexed SHA-256 of a document (None when not indexed) and its passage count."""
        with self.reading() as snap:
            return snap.view.content_hash(doc_id), len(snap.view.docnums(doc_id))

    def _all_documents(self, snap: Snapshot) -> list[DocumentSummary]:
        grouped: dict[str, list[PassageRecord]] = {}
        for docnum in snap.searcher.reader().all_doc_ids():
            stored = snap.searcher.stored_fields(docnum)
            stored.pop("doc_text", None)
            record = decode_passage(stored, self.facets)
            grouped.setdefault(record.doc_id, []).append(record)
        return [
            self._summary(sorted(group, key=lambda r: r.ordinal))
            for _, group in sorted(grouped.items())
        ]

    def _summary(self, records: list[PassageRecord]) -> DocumentSummary:
        """A document's metadata and tags (union over its passages, first appearance first)."""
        first = records[0]
        tags: dict[str, dict[str, None]] = {key: {} for key in first.tags}
        for record in records:
            for key, values in record.tags.items():
                tags.setdefault(key, {}).update(dict.fromkeys(values))
        return DocumentSummary(
            doc_id=first.doc_id,
            title=first.title,
            date=first.date,
            source=first.source,
            byline=first.byline,
            passages=len(records),
            tags={key: list(values) for key, values in tags.items()},
            content_hash=first.content_hash,
            size=first.size,
            parent=first.parent,
        )


def _known(ranked: Any) -> np.ndarray | None:
    """The matches' docnums when the ranking found them without a pass over the view."""
    return ranked.docnums if isinstance(ranked, RankedMatches) else None


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _ranked_within(
    searcher: Searcher,
    query: wq.Query,
    limit: int,
    filter_set: set[int] | None,
    deadline: float | None,
) -> tuple[list[tuple[int, float]], bool]:
    """Whoosh's top `limit` (docnum, score) pairs, and True when the deadline stopped it early."""
    collector = searcher.collector(limit=limit, filter=filter_set)
    timed_out = False
    if deadline is None:
        searcher.search_with_collector(query, collector)
        results = collector.results()
    else:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return [], True
        # No SIGALRM (use_alarm=False): gunicorn owns the worker's signals; the collector looks
        # at its timer flag between matches instead.
        limited = TimeLimitCollector(collector, remaining, use_alarm=False)
        try:
            searcher.search_with_collector(query, limited)
        except TimeLimit:
            timed_out = True
        results = limited.results()
    return [(hit.docnum, float(hit.score)) for hit in results], timed_out


def _typed_buckets(raw: dict[str, list[dict[str, Any]]]) -> dict[str, list[Bucket]]:
    return {name: [Bucket(**b) for b in values] for name, values in raw.items()}
