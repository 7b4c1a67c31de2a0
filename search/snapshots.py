"""Searcher lifecycle: one view of the index per version, shared by requests, closed when unused.

A snapshot is a Whoosh searcher with everything computed for exactly its view (facet arrays,
match sets, the vectorised ranker, the embedding column). A new commit, or a switch to a rebuilt
index, makes the next request open a new snapshot; requests still holding the old one finish on
it, and it closes when the last of them is done.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.index import Index
from whoosh.searching import Searcher

from search.embedding import from_bytes
from search.facet_registry import FacetRegistry
from search.facets import FacetIndex
from search.ranking import RankedMatches, VectorRanker, plain_terms
from search.store import IndexView, marker_stamp, open_index

# Match sets remembered per snapshot (one boolean per passage each: 100 KB at 100k passages).
MATCH_CACHE_SIZE = 64


class Snapshot:
    """A searcher together with the facet arrays and caches built for exactly its view."""

    def __init__(
        self,
        searcher: Searcher,
        facets: FacetRegistry,
        bm25: tuple[float, float],
        stamp: float = 0,
        match_cache_size: int = MATCH_CACHE_SIZE,
    ) -> None:
        self.searcher = searcher
        self.view = IndexView(searcher)
        self.stamp = stamp
        self.match_cache_size = match_cache_size
        self.facets = FacetIndex(searcher.reader(), facets)
        self.users = 0
        self._bm25 = bm25
        self._document_count: int | None = None
        self._cache: dict[str, Any] = {}
        self._matches: OrderedDict[str, tuple[np.ndarray, RankedMatches | None]] = OrderedDict()
        self._ranker: VectorRanker | None = None
        # The view's embedding column reader, opened on first use (False: the index has none).
        self._embedding_column: Any = None
        self._lock = threading.Lock()

    def match(
        self, query: wq.Query, required: int = 1, optional: frozenset[str] = frozenset()
    ) -> tuple[np.ndarray, RankedMatches | None]:
        """Every passage the query matches (mask) and, for plain word queries, all their scores.

        With `required` > 1 the query is an OR of which a passage must match that many clauses
        (minimum-should-match), word clauses in `optional` (common words) not counted.
        Remembered for this view: an analyst ticking facets or paging
        repeats the query with other filters, and the full matching pass runs once per query and
        index version.
        """
        key = f"{query!r}>{required}-{sorted(optional)}"
        with self._lock:
            found = self._matches.get(key)
            if found is not None:
                self._matches.move_to_end(key)
                return found
        ranked = None
        shape = plain_terms(query)
        if shape is not None:
            ranked = self.ranker.rank(shape[0], shape[1], self.facets.live, required, optional)
        if ranked is not None:
            found = (ranked.mask, ranked)
        elif (required > 1 or optional) and isinstance(query, wq.Or):
            # Whoosh has no minimum-should-match (Or's minmatch is "not yet implemented"):
            # count each clause's matches and keep passages with enough of them.
            counts = np.zeros(self.facets.size, dtype=np.int16)
            for clause in query.subqueries:
                if not (isinstance(clause, wq.Term) and str(clause.text) in optional):
                    counts += self.mask_of(clause)
            found = ((counts >= required) & self.facets.live, None)
        else:
            found = (self.mask_of(query), None)
        with self._lock:
            self._matches[key] = found
            if len(self._matches) > self.match_cache_size:
                self._matches.popitem(last=False)
        return found

    def mask_of(self, query: wq.Query) -> np.ndarray:
        """Boolean mask of the passages a Whoosh query matches (one matching pass)."""
        return self.facets.mask(np.fromiter(self.searcher.docs_for_query(query), np.int64))

    @property
    def ranker(self) -> VectorRanker:
        """Vectorised BM25 over this view, built on first use."""
        if self._ranker is None:
            b, k1 = self._bm25
            self._ranker = VectorRanker(self.searcher, self.facets.size, b, k1)
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

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """A value computed once for this view (e.g. every document's summary)."""
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = compute()
        with self._lock:
            self._cache[key] = value
        return value


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
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._ix: Index | None = None
        self.reopens = 0
        # Called with the schema of each newly opened index (the query parser follows it).
        self.on_open: Callable[[Index], None] | None = None

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
                # A fresh searcher, not refresh(): refresh is known to serve stale documents.
                searcher = self._ix.searcher(weighting=self._weighting())
                fresh = Snapshot(searcher, self.facets, self._bm25, stamp, self.match_cache_size)
                if snap is not None and snap.users == 0:
                    snap.searcher.close()
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
                    snap.searcher.close()

    def close(self) -> None:
        """Close the searcher; the next request opens a new one."""
        with self._lock:
            if self._snapshot is not None:
                self._snapshot.searcher.close()
                self._snapshot = None
