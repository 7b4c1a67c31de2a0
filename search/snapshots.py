"""Searcher lifecycle: one view of the index per version, shared by requests, closed when unused.

A snapshot is a Whoosh searcher with everything computed for exactly its view (facet arrays,
match sets, the vectorised ranker, the embedding column). A new commit, or a switch to a rebuilt
index, makes the next request open a new snapshot; requests still holding the old one finish on
it, and it closes when the last of them is done.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.index import Index
from whoosh.searching import Searcher

from search.embedding import from_bytes
from search.errors import InvalidRequest
from search.facet_registry import FacetRegistry
from search.facets import FacetCounts, FacetIndex, JoinedFacets, added_counts
from search.ranking import RankedMatches, VectorRanker, query_shape
from search.readers import SharedReaders
from search.segments import (
    SEGMENT_MATCH_CACHE_SIZE,
    SEGMENT_STORE_DIR,
    SegmentCache,
    SegmentStore,
)
from search.store import IndexView, marker_stamp, open_index

# Match sets remembered per snapshot (one boolean per passage each: 100 KB at 100k passages).
MATCH_CACHE_SIZE = 64
# Per snapshot, like Elasticsearch's shard request cache and filter cache, and gone with the
# view at the next commit: the facet counts of the last requests (an analyst pages, re-sorts
# and comes back to a search; counting five facets over a million passages costs 5-30 ms),
# and the masks of the last filters (a country filter is a pass over 1.5M pairs at 1M).
# Both are off when match caching is (match_cache_size 0), so the uncached cost is measurable.
REQUEST_CACHE_SIZE = 128
FILTER_CACHE_SIZE = 16
# The ranked top of the last queries' pages (docnums and scores, a few hundred bytes each).
RANKING_CACHE_SIZE = 256
# The last pages' passages as shown (each passage decoded from its stored fields, and its
# snippet for the query's words), as Solr's documentCache keeps stored documents: with the
# ranking remembered, a repeated page spent most of its time there (highlighting 18 % and
# stored fields 10 % of a worker's time over HTTP). A page is ten passages, a few KB each.
PAGE_CACHE_SIZE = 256
# What the per-view cache of raw facet counts is called (carried over by append-only commits).
FACET_COUNTS = "facet_counts"
# Like Elasticsearch's max_expansions: a prefix or wildcard becomes an OR of at most this many
# words (its most frequent ones). `a*` alone expands to thousands of words on 20k passages and
# an OR that wide costs seconds per search; 200 keeps a one-letter prefix under ~100 ms there.
MAX_EXPANSIONS = 200
# Like Lucene's max_clause_count: the words all of a query's patterns may expand to together.
# `a* b* c* ...` would otherwise reach 200 words per pattern times hundreds of patterns.
MAX_QUERY_EXPANSIONS = 1024
# Words of the lexicon looked at per pattern, matching or not: bounds the scan of the term
# dictionary itself: each word's frequency is a lookup per segment (~50 µs on a 7-segment index
# of 20k passages), so 5,000 words cost ~0.3 s at most, once per pattern and index version.
MAX_SCANNED_TERMS = 5_000
# Matches are gathered in steps of this many passages between looks at the clock.
DEADLINE_STEP = 2048


def _expansion(node: wq.Query, reader: Any) -> tuple[list[str], bool]:
    """A pattern's most frequent words (at most MAX_EXPANSIONS), and whether it had more."""
    fieldname = node.fieldname
    if fieldname not in reader.schema:
        return [], False
    field = reader.schema[fieldname]
    words = []
    for btext in itertools.islice(node._btexts(reader), MAX_SCANNED_TERMS):
        word = field.from_bytes(btext)
        words.append((reader.doc_frequency(fieldname, word), word))
    narrowed = len(words) > MAX_EXPANSIONS
    if narrowed:
        words = heapq.nlargest(MAX_EXPANSIONS, words)
    return sorted(w for _, w in words), narrowed


def bound_expansions(
    query: wq.Query,
    reader: Any,
    cached: Callable[[str, Callable[[], Any]], Any] | None = None,
    keep_clauses: bool = False,
) -> tuple[wq.Query, list[str]]:
    """The query with each prefix/wildcard replaced by its most frequent words, and the patterns
    that matched more words than MAX_EXPANSIONS (the caller tells the client to narrow them).
    `cached(key, compute)` remembers each pattern's words (Snapshot.cached: per index view).

    With keep_clauses the expansion stays one clause of the query: normalising would merge its
    words into an enclosing OR, and a minimum-should-match would count each word as a clause.
    """
    narrowed: list[str] = []
    total = [0]  # words expanded so far, across the query's patterns

    def expand(node: wq.Query) -> wq.Query:
        if isinstance(node, (wq.Prefix, wq.Wildcard)):
            fieldname = node.fieldname

            def compute(node: wq.Query = node) -> tuple[list[str], bool]:
                return _expansion(node, reader)

            key = f"expansion:{type(node).__name__}:{fieldname}:{node.text}"
            found, cut = cached(key, compute) if cached is not None else compute()
            if cut:
                narrowed.append(str(node))
            words = list(found)
            total[0] += len(words)
            if total[0] > MAX_QUERY_EXPANSIONS:
                raise InvalidRequest(
                    "q",
                    f"the wildcards expand to over {MAX_QUERY_EXPANSIONS} words together: use "
                    "fewer of them, or longer prefixes (e.g. 'migra*' rather than 'm*')",
                )
            if not words:
                return wq.NullQuery
            terms = [wq.Term(fieldname, w) for w in words]
            # A plain OR of words: on the text field the vectorised BM25 ranker (ranking.py)
            # matches and scores it with numpy, 20-50x faster than Whoosh's constant-score union
            # of 200 postings lists (4.5 s for `a*` on 20k Reuters passages), and passages with
            # more and rarer matching words rank first.
            return wq.Or(terms, boost=node.boost)
        return node.apply(expand)

    expanded = expand(query)
    return (expanded if keep_clauses else _spliced(expanded).normalize()), narrowed


def _spliced(node: wq.Query) -> wq.Query:
    """The query with unboosted ORs (ANDs) inside ORs (ANDs) spliced into their parent.

    The same query normalize() makes, made without its copy of every spliced word: Whoosh
    deep-copies each one to carry the boost, 70 ms for `s* OR t* OR c* OR p*`'s 800 words.
    """
    if not isinstance(node, (wq.And, wq.Or)):
        return node
    kind = type(node)
    children: list[wq.Query] = []
    for child in node.subqueries:
        child = _spliced(child)
        if type(child) is kind and child.boost == 1:
            children.extend(child.subqueries)
        else:
            children.append(child)
    if len(children) == len(node.subqueries) and all(
        a is b for a, b in zip(children, node.subqueries, strict=True)
    ):
        return node
    clone = copy.copy(node)
    clone.subqueries = children
    return clone


class Snapshot:
    """A searcher together with the facet arrays and caches built for exactly its view."""

    def __init__(
        self,
        searcher: Searcher,
        facets: FacetRegistry,
        bm25: tuple[float, float],
        stamp: int = 0,
        match_cache_size: int = MATCH_CACHE_SIZE,
        segments: SegmentCache | None = None,
        joins: JoinedFacets | None = None,
    ) -> None:
        self.searcher = searcher
        self.view = IndexView(searcher)
        self.stamp = stamp
        self.match_cache_size = match_cache_size
        # Segments unchanged since the last view come decoded from the shared cache.
        self.segment_cache = segments or SegmentCache(facets, match_cache_size)
        readers = [(sub.reader(), offset) for sub, offset in searcher.leaf_searchers()]
        self.segments = self.segment_cache.segments(readers)
        self.facets = FacetIndex(readers, self.segments, facets, self.segment_cache.values, joins)
        self.users = 0
        self._bm25 = bm25
        self._document_count: int | None = None
        self._cache: dict[str, Any] = {}
        self._remembered: dict[str, OrderedDict[str, Any]] = {}
        # Facet counts of the view before, when this one only adds segments to it (see carry).
        self._carried: dict[str, Any] = {}
        self._carried_size = 0
        self._matches: OrderedDict[str, tuple[np.ndarray, RankedMatches | None]] = OrderedDict()
        self._ranker: VectorRanker | None = None
        # The view's embedding column reader, opened on first use (False: the index has none).
        self._embedding_column: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def match_key(query: wq.Query, required: int, optional: frozenset[str]) -> str:
        """What identifies a query's match set within a view."""
        return f"{query!r}>{required}-{sorted(optional)}"

    def match(
        self,
        query: wq.Query,
        required: int = 1,
        optional: frozenset[str] = frozenset(),
        deadline: float | None = None,
    ) -> tuple[np.ndarray, RankedMatches | None, bool]:
        """Every passage the query matches (mask), for plain word queries all their scores, and
        whether the deadline (time.monotonic()) cut the matching short (then the mask is partial).

        With `required` > 1 the query is an OR of which a passage must match that many clauses
        (minimum-should-match), word clauses in `optional` (common words) not counted.
        Remembered for this view: an analyst ticking facets or paging
        repeats the query with other filters, and the full matching pass runs once per query and
        index version.
        """
        key = self.match_key(query, required, optional)
        with self._lock:
            found = self._matches.get(key)
            if found is not None:
                self._matches.move_to_end(key)
                return (*found, False)
        ranked = None
        shape = query_shape(query)
        if shape is not None:
            ranked = self.ranker.rank(
                shape.mode,
                shape.terms,
                self.facets.live,
                required,
                optional,
                deadline,
                shape.phrases,
            )
        if ranked is not None:
            found = (ranked.mask, ranked)
            if not ranked.complete:
                return (*found, True)
        elif (required > 1 or optional) and isinstance(query, wq.Or):
            # Whoosh has no minimum-should-match (Or's minmatch is "not yet implemented"):
            # count each clause's matches and keep passages with enough of them.
            counts = np.zeros(self.facets.size, dtype=np.int16)
            for clause in query.subqueries:
                if isinstance(clause, wq.Term) and str(clause.text) in optional:
                    continue
                clause_mask, complete = self.whoosh_mask(clause, deadline)
                counts += clause_mask
                if not complete:
                    return ((counts >= required) & self.facets.live, None, True)
            found = ((counts >= required) & self.facets.live, None)
        else:
            mask, complete = self.whoosh_mask(query, deadline)
            found = (mask & self.facets.live, None)
            if not complete:
                # A partial match set is answered once, never remembered for the next request.
                return (*found, True)
        with self._lock:
            self._matches[key] = found
            if len(self._matches) > self.match_cache_size:
                self._matches.popitem(last=False)
        return (*found, False)

    def whoosh_mask(self, query: wq.Query, deadline: float | None) -> tuple[np.ndarray, bool]:
        """Passages Whoosh matches for a query, segment by segment, each segment's answer kept
        while it lives (deleted passages may remain: callers apply the live mask); and False
        when the deadline cut the matching short (then nothing partial is kept)."""
        mask = np.zeros(self.facets.size, dtype=bool)
        key = repr(query)
        leaves = zip(self.searcher.leaf_searchers(), self.segments, strict=True)
        for (sub, offset), data in leaves:
            ids = self.segment_cache.match(data.segid, key)
            if ids is None:
                if deadline is not None and time.monotonic() >= deadline:
                    return mask, False
                ids, complete = _docnums_until(query.docs(sub), deadline)
                if not complete:
                    mask[offset : offset + data.size][ids] = True
                    return mask, False
                self.segment_cache.keep_match(data.segid, key, ids.astype(np.int32))
            mask[offset : offset + data.size][ids] = True
        return mask, True

    def mask_of(self, query: wq.Query) -> np.ndarray:
        """Boolean mask of the passages a Whoosh query matches (one matching pass)."""
        return self.facets.mask(np.fromiter(self.searcher.docs_for_query(query), np.int64))

    @property
    def ranker(self) -> VectorRanker:
        """Vectorised BM25 over this view, built on first use."""
        if self._ranker is None:
            b, k1 = self._bm25
            self._ranker = VectorRanker(self.searcher, self.segments, self.segment_cache, b, k1)
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
            self._document_count = self.view.document_count()
        return self._document_count

    def carry(self, previous: Snapshot) -> bool:
        """Take over the previous view's remembered facet counts if this view is it plus new
        segments (a watcher commit of new files): the same segments first, none with new
        deletions. Then a count of the old docnums is the old count, and a search repeated
        after the commit counts only the new segments' passages. Whether it carried."""
        if self.match_cache_size <= 0:
            return False
        old = [d.segid for d in previous.segments]
        size = previous.facets.size
        if [d.segid for d in self.segments[: len(old)]] != old or size > self.facets.size:
            return False
        if not np.array_equal(self.facets.live[:size], previous.facets.live):
            return False
        with previous._lock:
            counts = dict(previous._remembered.get(FACET_COUNTS, {}))
        self._carried, self._carried_size = counts, size
        return True

    def facet_counts(self, key: str, count: Callable[[int], FacetCounts]) -> FacetCounts:
        """The request's raw facet counts: remembered for this view, or the previous view's
        (carried) plus `count(start)` of the docnums from `start` on, or count(0)."""
        carried = self._carried.get(key)
        if carried is None:
            return self.remembered(FACET_COUNTS, key, lambda: count(0), REQUEST_CACHE_SIZE)
        start = self._carried_size
        return self.remembered(
            FACET_COUNTS, key, lambda: added_counts(carried, count(start)), REQUEST_CACHE_SIZE
        )

    def remembered(self, kind: str, key: str, compute: Callable[[], Any], size: int) -> Any:
        """compute(), kept for this view among the `size` latest of its kind (never when match
        caching is off)."""
        if self.match_cache_size <= 0:
            return compute()
        with self._lock:
            kept = self._remembered.setdefault(kind, OrderedDict())
            if key in kept:
                kept.move_to_end(key)
                return kept[key]
        value = compute()
        with self._lock:
            kept[key] = value
            while len(kept) > size:
                kept.popitem(last=False)
        return value

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """A value computed once for this view (e.g. every document's summary)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
        return value


def _docnums_until(docnums: Iterator[int], deadline: float | None) -> tuple[np.ndarray, bool]:
    """The docnums an iterator yields until it ends (True) or the deadline passes (False)."""
    if deadline is None:
        return np.fromiter(docnums, np.int64), True
    parts = []
    while True:
        chunk = np.fromiter(itertools.islice(docnums, DEADLINE_STEP), np.int64)
        parts.append(chunk)
        if len(chunk) < DEADLINE_STEP:
            return np.concatenate(parts), True
        if time.monotonic() >= deadline:
            return np.concatenate(parts), False


class SnapshotManager:
    """Owns one index directory's current snapshot; opens a new one only when the index changed."""

    def __init__(
        self,
        index_dir: str | os.PathLike[str],
        facets: FacetRegistry,
        weighting: Callable[[], Any],
        bm25: tuple[float, float],
        match_cache_size: int = MATCH_CACHE_SIZE,
    ) -> None:
        self.index_dir = index_dir
        self.facets = facets
        self._weighting = weighting
        self._bm25 = bm25
        self.match_cache_size = match_cache_size
        # Decoded segments outlive views: a commit decodes only the segments it wrote.
        self.segments = self._segment_cache()
        # Open segment files shared by successive views: a commit opens only its segments.
        self.readers = SharedReaders()
        # Facet columns joined once and grown by each commit that only adds segments.
        self.joins = JoinedFacets()
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._ix: Index | None = None
        self.reopens = 0
        # Views that took over their predecessor's facet counts (Snapshot.carry).
        self.carried = 0
        # Called with the schema of each newly opened index (the query parser follows it).
        self.on_open: Callable[[Index], None] | None = None

    def _segment_cache(self) -> SegmentCache:
        store = SegmentStore(Path(self.index_dir) / SEGMENT_STORE_DIR, self.facets)
        return SegmentCache(
            self.facets, self.match_cache_size and SEGMENT_MATCH_CACHE_SIZE, store=store
        )

    def _current(self) -> Snapshot:
        with self._lock:
            snap = self._snapshot
            # A stat of the marker file per request: a switch to a rebuilt index shows there.
            stamp = marker_stamp(self.index_dir)
            switched = snap is not None and snap.stamp != stamp
            if snap is None or switched or not snap.searcher.up_to_date():
                if self._ix is None or snap is None or switched:
                    self._ix = open_index(self.index_dir)
                    if self.on_open is not None:
                        self.on_open(self._ix)
                # Not refresh() (known to serve stale documents): unchanged segments keep their
                # open files, segments with new deletions read them (search/readers.py).
                searcher = self.readers.searcher(self._ix, self._weighting)
                if switched:
                    # Another index (a rebuild): none of its segments are known.
                    self.segments = self._segment_cache()
                    self.joins = JoinedFacets()
                fresh = Snapshot(
                    searcher,
                    self.facets,
                    self._bm25,
                    stamp,
                    self.match_cache_size,
                    self.segments,
                    self.joins,
                )
                if snap is not None and not switched:
                    self.carried += fresh.carry(snap)
                if snap is not None and snap.users == 0:
                    self.readers.release(snap.searcher)
                self._snapshot = snap = fresh
                self.reopens += 1
            snap.users += 1
            return snap

    @contextmanager
    def reading(self) -> Iterator[Snapshot]:
        """A snapshot that stays valid for the whole block, even if the index changes."""
        snap = self._current()
        try:
            yield snap
        finally:
            with self._lock:
                snap.users -= 1
                if snap is not self._snapshot and snap.users == 0:
                    self.readers.release(snap.searcher)

    def close(self) -> None:
        """Close the searcher; the next request opens a new one."""
        with self._lock:
            if self._snapshot is not None:
                self.readers.release(self._snapshot.searcher)
                self._snapshot = None
