"""The read side's entry point: ranked, filtered, faceted, highlighted passage search."""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh import scoring
from whoosh.index import Index
from whoosh.searching import Searcher

from search.embedding import from_bytes, shared_encoder
from search.errors import DocumentNotFound, InvalidRequest, PassageNotFound
from search.facets import FacetIndex, buckets
from search.highlighting import TokenMatcher, snippet
from search.labels import country_codes, country_label
from search.querying import ParsedQuery, QueryReader
from search.ranking import RankedMatches, VectorRanker, plain_terms, top_docnums
from search.schema import open_index

SORTS = ("relevance", "newest", "oldest")
FACETS = ("country", "topic", "source", "year")
# BM25F parameters; tuned on SciFact training claims (docs/relevance.md).
BM25_B = 0.75
BM25_K1 = 1.2
# A query that finds fewer hits than this gets a "did you mean" when a correction finds more.
SUGGEST_BELOW = 3
# Match sets remembered per searcher (one boolean per passage each: 100 KB at 100k passages).
MATCH_CACHE_SIZE = 64
# Semantic rescoring (docs/relevance.md), like Elasticsearch's rescore: the top RESCORE_WINDOW
# passages by BM25 are re-ranked by BM25 + RESCORE_WEIGHT x (best BM25 in the window) x the
# cosine similarity of query and passage embeddings. Passages past the window keep BM25 order,
# below the window, so scores still fall page after page.
RESCORE_WINDOW = 100
RESCORE_WEIGHT = 2.0
# Query embeddings remembered per engine (paging and facet clicks repeat the query).
QUERY_VECTOR_CACHE = 256


@dataclass
class SearchRequest:
    """Everything a client can ask of a search; validated by the API before it gets here."""

    q: str = ""
    country: list[str] = field(default_factory=list)
    topic: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    doc_id: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 10
    facet_size: int = 20


class LuceneBM25(scoring.BM25F):
    """BM25F with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)): rare words weigh more."""

    def idf(self, searcher: Searcher, fieldname: str, text: str) -> float:
        """Inverse document frequency of text in fieldname."""
        n = searcher.doc_frequency(fieldname, text)
        return math.log(1 + (searcher.doc_count_all() - n + 0.5) / (n + 0.5))


class _SearcherState:
    """A searcher together with the facet arrays built for exactly its view of the index."""

    def __init__(self, searcher: Searcher, match_cache_size: int = MATCH_CACHE_SIZE) -> None:
        self.searcher = searcher
        self.match_cache_size = match_cache_size
        self.facets = FacetIndex(searcher.reader())
        self.users = 0
        self._documents: list[dict[str, Any]] | None = None
        self._document_count: int | None = None
        self._matches: OrderedDict[str, tuple[np.ndarray, RankedMatches | None]] = OrderedDict()
        self._ranker: VectorRanker | None = None
        # The view's embedding column reader, opened on the first rescored search (False: none).
        self._embedding_column: Any = None
        self._lock = threading.Lock()

    def match(self, query: wq.Query) -> tuple[np.ndarray, RankedMatches | None]:
        """Every passage the query matches (mask) and, for plain word queries, all their scores.

        Remembered for this view: an analyst ticking facets or paging repeats the query with
        other filters, and the full matching pass runs once per query and index version.
        """
        key = repr(query)
        with self._lock:
            found = self._matches.get(key)
            if found is not None:
                self._matches.move_to_end(key)
                return found
        ranked = None
        shape = plain_terms(query)
        if shape is not None:
            ranked = self.ranker.rank(shape[0], shape[1], self.facets.live)
        if ranked is not None:
            found = (ranked.mask, ranked)
        else:
            ids = np.fromiter(self.searcher.docs_for_query(query), np.int64)
            found = (self.facets.mask(ids), None)
        with self._lock:
            self._matches[key] = found
            if len(self._matches) > self.match_cache_size:
                self._matches.popitem(last=False)
        return found

    @property
    def ranker(self) -> VectorRanker:
        """Vectorised BM25 over this view, built on first use."""
        if self._ranker is None:
            self._ranker = VectorRanker(self.searcher, self.facets.size, BM25_B, BM25_K1)
        return self._ranker

    def embeddings(self, docnums: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Stored embeddings of these passages, and which of them have one."""
        if self._embedding_column is None:
            reader = self.searcher.reader()
            has = reader.has_column("embedding")
            self._embedding_column = reader.column_reader("embedding") if has else False
        column = self._embedding_column
        if column is False:
            return from_bytes([b""] * len(docnums))
        return from_bytes([column[d] for d in docnums])

    @property
    def document_count(self) -> int:
        """How many documents this view holds (their first passages), counted once."""
        if self._document_count is None:
            self._document_count = sum(1 for _ in self.searcher.document_numbers(ordinal=0))
        return self._document_count

    def documents(self) -> list[dict[str, Any]]:
        """Summaries of every document in this view, computed once per searcher."""
        if self._documents is None:
            self._documents = _all_documents(self.searcher)
        return self._documents


class SearchEngine:
    """Owns one index's searcher; reopens it only when the index has changed on disk."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        topic_labels: dict[str, str] | None = None,
        match_cache_size: int = MATCH_CACHE_SIZE,
        semantic: bool = False,
    ) -> None:
        self.index_dir = index_dir
        # Rescore relevance-ranked results with passage embeddings (when the index has them).
        self.semantic = semantic
        self._query_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self.topic_labels = topic_labels or {}
        self.match_cache_size = match_cache_size
        self._lock = threading.Lock()
        self._state: _SearcherState | None = None
        self._ix: Index | None = None
        self._reader: QueryReader | None = None
        self._matcher: TokenMatcher | None = None
        self.reopens = 0

    # -- searcher lifecycle -------------------------------------------------------------------

    def _current(self) -> _SearcherState:
        with self._lock:
            state = self._state
            if state is None or not state.searcher.up_to_date():
                if self._ix is None or state is None:
                    self._ix = open_index(self.index_dir)
                    self._reader = QueryReader(self._ix.schema)
                assert self._ix is not None
                # A fresh searcher, not refresh(): refresh is known to serve stale documents.
                searcher = self._ix.searcher(weighting=LuceneBM25(B=BM25_B, K1=BM25_K1))
                new_state = _SearcherState(searcher, self.match_cache_size)
                if state is not None and state.users == 0:
                    state.searcher.close()
                self._state = state = new_state
                self.reopens += 1
            state.users += 1
            return state

    @contextmanager
    def reading(self) -> Iterator[_SearcherState]:
        """A searcher state that stays valid for the whole block, even if the index changes."""
        state = self._current()
        try:
            yield state
        finally:
            with self._lock:
                state.users -= 1
                if state is not self._state and state.users == 0:
                    state.searcher.close()

    def close(self) -> None:
        """Close the searcher; the engine reopens one on the next request."""
        with self._lock:
            if self._state is not None:
                self._state.searcher.close()
                self._state = None

    @property
    def token_matcher(self) -> TokenMatcher:
        """Finds query terms in hit text for highlighting (built with the query reader)."""
        if self._matcher is None:
            self._matcher = TokenMatcher(self.query_reader.analyzer)
        return self._matcher

    @property
    def query_reader(self) -> QueryReader:
        """The parser for this index's schema (opens the index on first use)."""
        if self._reader is None:
            with self.reading():
                pass
        assert self._reader is not None
        return self._reader

    # -- search --------------------------------------------------------------------------------

    def search(self, request: SearchRequest) -> dict[str, Any]:
        """Run a search: hits for the requested page, exact total, disjunctive facets, suggestion."""
        started = time.perf_counter()
        for code in request.country:
            if code not in country_codes():
                raise InvalidRequest("country", f"unknown country code '{code}'")
        if request.sort not in SORTS:
            raise InvalidRequest("sort", f"sort must be one of {', '.join(SORTS)}")
        parsed = self.query_reader.parse(request.q)
        with self.reading() as state:
            searcher, fx = state.searcher, state.facets
            matched, ranked = (fx.live, None) if parsed.is_empty else state.match(parsed.query)
            filters = self._filter_masks(request, fx, searcher)
            final = matched.copy()
            for mask in filters.values():
                final &= mask
            total = int(final.sum())
            hits, rescored = self._page_hits(state, parsed, request, final, total, filters, ranked)
            facets, truncated = self._facets(request, fx, matched, filters)
            suggestion = None
            if not parsed.is_empty and total < SUGGEST_BELOW:
                suggestion = self._suggest(searcher, fx, parsed, filters, total)
        return {
            "query": request.q,
            "query_info": {
                "interpreted": "" if parsed.is_empty else str(parsed.query),
                "fallback": parsed.fallback,
                "message": parsed.message,
                "rescored": rescored,
            },
            "total": total,
            "page": request.page,
            "per_page": request.per_page,
            "pages": max(1, math.ceil(total / request.per_page)),
            "sort": request.sort,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "hits": hits,
            "facets": facets,
            "facets_truncated": truncated,
            "suggestion": suggestion,
        }

    def _filter_masks(
        self, request: SearchRequest, fx: FacetIndex, searcher: Searcher
    ) -> dict[str, np.ndarray]:
        masks: dict[str, np.ndarray] = {}
        for name in ("country", "topic", "source"):
            wanted = getattr(request, name)
            if wanted:
                masks[name] = fx.columns[name].mask_for(wanted, fx.size)
        if request.date_from or request.date_to:
            masks["year"] = fx.date_mask(request.date_from, request.date_to)
        if request.doc_id:
            ids = [n for d in request.doc_id for n in searcher.document_numbers(doc_id=d)]
            masks["doc_id"] = fx.mask(ids)
        return masks

    def _facets(
        self,
        request: SearchRequest,
        fx: FacetIndex,
        matched: np.ndarray,
        filters: dict[str, np.ndarray],
    ) -> tuple[dict[str, list[dict[str, object]]], dict[str, bool]]:
        facets: dict[str, list[dict[str, object]]] = {}
        truncated: dict[str, bool] = {}
        labels: dict[str, Callable[[str], str]] = {
            "country": country_label,
            "topic": lambda v: self.topic_labels.get(v, v),
            "source": str,
            "year": str,
        }
        for name in FACETS:
            # Disjunctive: a facet's counts apply every filter but its own.
            mask = matched.copy()
            for other, fmask in filters.items():
                if other != name:
                    mask &= fmask
            if name == "year":
                counts = fx.year_counts(mask)
                selected: list[str] = []
            else:
                column = fx.columns[name]
                raw = column.counts(mask)
                counts = {v: int(c) for v, c in zip(column.values, raw, strict=True)}
                selected = list(getattr(request, name))
            facets[name], truncated[name] = buckets(
                counts, selected, labels[name], request.facet_size, order_by_value=name == "year"
            )
        return facets, truncated

    def _page_hits(
        self,
        state: _SearcherState,
        parsed: ParsedQuery,
        request: SearchRequest,
        final: np.ndarray,
        total: int,
        filters: dict[str, np.ndarray],
        ranked: RankedMatches | None,
    ) -> tuple[list[dict[str, Any]], bool]:
        """The requested page's hits, and whether semantic rescoring ordered them."""
        searcher, fx = state.searcher, state.facets
        offset = (request.page - 1) * request.per_page
        if offset >= total:
            return [], False
        scored: list[tuple[int, float | None]]
        limit = offset + request.per_page
        rescore = self.semantic and offset < RESCORE_WINDOW
        rescored = False
        # A rescored page is cut from the rescored window, so the window is ranked from the top.
        start, stop = (0, max(limit, RESCORE_WINDOW)) if rescore else (offset, limit)
        if parsed.is_empty or request.sort != "relevance":
            docnums = np.flatnonzero(final)
            newest = request.sort != "oldest"
            dates = fx.dates[docnums].astype(np.int64)
            # Undated passages sort last either way; ties by docnum keep pages stable.
            key = np.where(dates > 0, -dates if newest else dates, np.iinfo(np.int64).max)
            order = np.lexsort((docnums, key))
            page = docnums[order[offset : offset + request.per_page]]
            # Ordered by date, not relevance: there is no score to report.
            scored = [(int(d), None) for d in page]
        else:
            ranking: list[tuple[int, float]]
            if ranked is not None:
                top = top_docnums(ranked, final, start, stop)
                ranking = [(int(d), float(ranked.scores[d])) for d in top]
            else:
                # Only filters need a filter set: the query's own matches need no second check.
                filter_set = set(np.flatnonzero(final).tolist()) if filters else None
                results = searcher.search(parsed.query, limit=stop, filter=filter_set)
                ranking = [(hit.docnum, float(hit.score)) for hit in results[start:stop]]
            if rescore:
                ranking, rescored = self._rescored(state, request.q, ranking)
            scored = list(ranking[offset - start : limit - start])
        hits = [self._hit(searcher, parsed, docnum, score) for docnum, score in scored]
        return hits, rescored

    def _rescored(
        self, state: _SearcherState, text: str, ranking: list[tuple[int, float]]
    ) -> tuple[list[tuple[int, float]], bool]:
        """The ranking with its first RESCORE_WINDOW passages re-ranked by BM25 + similarity.

        Also whether it was: an index built without embeddings ranks by BM25 alone.
        """
        window = ranking[:RESCORE_WINDOW]
        docnums = np.array([d for d, _ in window], dtype=np.int64)
        vectors, present = state.embeddings(docnums.tolist())
        if not window or not present.any():
            return ranking, False
        bm25 = np.array([s for _, s in window], dtype=np.float64)
        similarity = np.clip(vectors @ self._query_vector(text), 0.0, None)
        similarity[~present] = 0.0
        # Scaled by the window's best BM25 so the weight means the same for every query, and
        # never below the passage's own BM25, so the window stays above the passages after it.
        fused = bm25 + RESCORE_WEIGHT * bm25.max() * similarity
        order = np.lexsort((docnums, -fused))
        rescored = [(int(docnums[i]), float(fused[i])) for i in order]
        return rescored + ranking[RESCORE_WINDOW:], True

    def _query_vector(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        vector = shared_encoder().encode([text])[0]
        with self._lock:
            self._query_vectors[text] = vector
            if len(self._query_vectors) > QUERY_VECTOR_CACHE:
                self._query_vectors.popitem(last=False)
        return vector

    def _hit(
        self, searcher: Searcher, parsed: ParsedQuery, docnum: int, score: float | None
    ) -> dict[str, Any]:
        stored = searcher.stored_fields(docnum)
        record = passage_record(stored)
        text = stored.get("text", "")
        spans = self._match_spans(parsed, text)
        highlight = snippet(text, spans)
        record["highlight"] = highlight.snippet
        record["matches"] = [[s, e] for s, e in highlight.matches]
        record["score"] = round(score, 4) if score is not None else None
        return record

    def _match_spans(self, parsed: ParsedQuery, text: str) -> list[tuple[int, int]]:
        if parsed.is_empty:
            return []
        terms: set[str] = set()
        prefixes: set[str] = set()
        for node in parsed.query.leaves():
            if getattr(node, "fieldname", None) not in ("text", "title"):
                continue
            if isinstance(node, (wq.Prefix, wq.Wildcard)):
                prefixes.add(str(node.text).rstrip("*?").lower())
            elif isinstance(node, wq.Phrase):
                terms.update(str(w) for w in node.words)
            elif isinstance(node, wq.Term):
                terms.add(str(node.text))
        # Leaves under a NOT are excluded words, not matches to mark.
        for node in _negated_leaves(parsed.query):
            terms.discard(str(getattr(node, "text", "")))
        return self.token_matcher.spans(text, terms, prefixes)

    def _suggest(
        self,
        searcher: Searcher,
        fx: FacetIndex,
        parsed: ParsedQuery,
        filters: dict[str, np.ndarray],
        total: int,
    ) -> str | None:
        """A corrected query that finds more than the original, or None."""
        if not parsed.words:
            return None
        analyzer = self.query_reader.analyzer
        corrector = searcher.corrector("text")
        corrected, changed = [], False
        for word in parsed.words:
            stems = [t.text for t in analyzer(word, mode="query")]
            stem = stems[0] if stems else word
            options = []
            if searcher.doc_frequency("text", stem) == 0:
                options = corrector.suggest(stem, limit=1, maxdist=2, prefix=1)
            surface = _surface_form(searcher, analyzer, options[0]) if options else None
            if surface and surface != word:
                corrected.append(surface)
                changed = True
            else:
                corrected.append(word)
        if not changed:
            return None
        text = " ".join(corrected)
        candidate = self.query_reader.parse(text)
        mask = fx.mask(np.fromiter(searcher.docs_for_query(candidate.query), np.int64))
        for fmask in filters.values():
            mask &= fmask
        return text if int(mask.sum()) > total else None

    # -- documents and passages ------------------------------------------------------------------

    def passage(self, passage_id: str) -> dict[str, Any]:
        """One passage with its document's metadata."""
        with self.reading() as state:
            docnum = state.searcher.document_number(passage_id=passage_id)
            if docnum is None:
                raise PassageNotFound(f"no passage '{passage_id}'")
            return passage_record(state.searcher.stored_fields(docnum))

    def similar(self, passage_id: str, limit: int = 5) -> list[dict[str, Any]]:
        """Passages most like the given one (more-like-this on its text), itself excluded."""
        with self.reading() as state:
            searcher = state.searcher
            docnum = searcher.document_number(passage_id=passage_id)
            if docnum is None:
                raise PassageNotFound(f"no passage '{passage_id}'")
            text = searcher.stored_fields(docnum).get("text", "")
            keywords = [word for word, _ in searcher.key_terms_from_text("text", text, numterms=15)]
            if not keywords:
                return []
            query = wq.Or([wq.Term("text", w) for w in keywords])
            results = searcher.search(query, limit=limit + 1, mask={docnum})
            out = []
            for hit in results:
                record = passage_record(hit.fields())
                record["score"] = round(float(hit.score), 4)
                out.append(record)
            return out[:limit]

    def document(self, doc_id: str) -> dict[str, Any]:
        """A document's metadata, full text and all its passages in order."""
        with self.reading() as state:
            searcher = state.searcher
            docnums = list(searcher.document_numbers(doc_id=doc_id))
            if not docnums:
                raise DocumentNotFound(f"no document '{doc_id}'")
            stored = sorted(
                (searcher.stored_fields(n) for n in docnums), key=lambda s: s["ordinal"]
            )
            summary = document_summary(stored)
            summary["text"] = stored[0].get("doc_text", "")
            summary["passages"] = [passage_record(s) for s in stored]
            return summary

    def documents(self, page: int = 1, per_page: int = 20, sort: str = "doc_id") -> dict[str, Any]:
        """A page of indexed documents with their metadata, tags and passage counts."""
        with self.reading() as state:
            all_docs = state.documents()
        if sort == "newest":
            # Newest first, undated last; sorted() is stable so doc_id order breaks ties.
            all_docs = sorted(all_docs, key=lambda d: d["date"] or "", reverse=True)
        start = (page - 1) * per_page
        return {
            "total": len(all_docs),
            "page": page,
            "per_page": per_page,
            "documents": all_docs[start : start + per_page],
        }

    def vocabularies(self) -> dict[str, Any]:
        """Every country, topic, source and year in the index with labels and passage counts."""
        request = SearchRequest(facet_size=10_000)
        with self.reading() as state:
            fx = state.facets
            facets, _ = self._facets(request, fx, fx.live.copy(), {})
            documents = state.document_count
        return {"documents": documents, "passages": int(fx.live.sum()), **facets}

    def stats(self) -> dict[str, Any]:
        """Document and passage counts of the current index view."""
        with self.reading() as state:
            searcher = state.searcher
            return {
                # Not len(documents()): /readyz and /metrics must not load every stored field.
                "documents": state.document_count,
                "passages": searcher.doc_count(),
                "generation": searcher.reader().generation(),
            }


def _surface_form(searcher: Searcher, analyzer: Any, stem: str) -> str | None:
    """The word as written in a passage that contains the stem ("migrat" → "migration")."""
    results = searcher.search(wq.Term("text", stem), limit=1)
    if not results:
        return None
    text = results[0].get("text", "")
    for token in analyzer(text, chars=True, mode="index", removestops=False):
        if token.text == stem:
            return str(text[token.startchar : token.endchar]).lower()
    return None


def _all_documents(searcher: Searcher) -> list[dict[str, Any]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for docnum in searcher.reader().all_doc_ids():
        stored = searcher.stored_fields(docnum)
        stored.pop("doc_text", None)
        stored.pop("text", None)
        grouped.setdefault(stored["doc_id"], []).append(stored)
    return [
        document_summary(sorted(group, key=lambda s: s["ordinal"]))
        for _, group in sorted(grouped.items())
    ]


def _negated_leaves(query: wq.Query) -> Iterator[wq.Query]:
    for node in query.children() if hasattr(query, "children") else []:
        if isinstance(node, wq.Not):
            yield from node.leaves()
        else:
            yield from _negated_leaves(node)
    if isinstance(query, wq.AndNot):
        yield from query.b.leaves()


def _split(value: str | None) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def passage_record(stored: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a passage from its stored fields."""
    return {
        "passage_id": stored["passage_id"],
        "doc_id": stored["doc_id"],
        "ordinal": stored["ordinal"],
        "title": stored.get("title"),
        "date": stored.get("date"),
        "source": stored.get("source"),
        "byline": stored.get("byline"),
        "text": stored.get("text", ""),
        "countries": _split(stored.get("countries")),
        "topics": _split(stored.get("topics")),
        "start": stored.get("start"),
        "end": stored.get("end"),
    }


def document_summary(passages: list[dict[str, Any]]) -> dict[str, Any]:
    """A document's metadata and tags (union over its passages) from its passages' stored fields."""
    first = passages[0]
    countries: dict[str, None] = {}
    topics: dict[str, None] = {}
    for stored in passages:
        countries.update(dict.fromkeys(_split(stored.get("countries"))))
        topics.update(dict.fromkeys(_split(stored.get("topics"))))
    return {
        "doc_id": first["doc_id"],
        "title": first.get("title"),
        "date": first.get("date"),
        "source": first.get("source"),
        "byline": first.get("byline"),
        "passages": len(passages),
        "countries": list(countries),
        "topics": list(topics),
        "content_hash": first.get("content_hash"),
        "size": first.get("size"),
    }
