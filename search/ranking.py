"""Vectorised BM25 for plain word queries: one pass over postings gives match set and scores.

Whoosh scores hits one posting at a time in Python, and the engine needs two passes (every match
for exact totals and facets, then the top hits). For the commonest queries (words on the text
field, all required or any) this module reads each term's postings block by block into numpy
arrays and computes the same BM25 (Lucene idf, Whoosh's quantised field lengths) for every match
at once. Anything else (phrases, prefixes, fields, exclusions) goes through Whoosh unchanged.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from whoosh import query as wq
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3LeafMatcher
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length

FIELD = "text"
# Decoded postings kept per searcher view (per gunicorn worker), least recently used out first.
POSTINGS_CACHE_BYTES = 64 * 1024 * 1024
# Whoosh stores a field length as one byte; this maps the byte back to the length it stands for.
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float32)


@dataclass
class RankedMatches:
    """Every passage a query matches (boolean mask) and each one's BM25 score."""

    mask: np.ndarray
    scores: np.ndarray
    # False when a deadline stopped the scoring before every term was read (partial results).
    complete: bool = True


def plain_terms(query: wq.Query) -> tuple[str, list[str]] | None:
    """("and"|"or", terms) when query is words on the text field joined one way, else None."""
    if isinstance(query, wq.Term) and query.fieldname == FIELD and query.boost == 1:
        return "and", [str(query.text)]
    if isinstance(query, (wq.And, wq.Or)) and not isinstance(query, wq.DisjunctionMax):
        terms = []
        for child in query.subqueries:
            if not (isinstance(child, wq.Term) and child.fieldname == FIELD and child.boost == 1):
                return None
            terms.append(str(child.text))
        if isinstance(query, wq.Or) and getattr(query, "minmatch", None):
            return None
        return ("and" if isinstance(query, wq.And) else "or"), terms
    return None


def _block_arrays(matcher: W3LeafMatcher) -> tuple[np.ndarray, np.ndarray]:
    """The current postings block as (docnums, frequencies), decoded with numpy.

    Whoosh decodes a block's delta-coded ids one Python generator step at a time; a cumulative
    sum does the same in one call.
    """
    if matcher._data is None:
        matcher._read_data()
    raw_ids, raw_weights = matcher._data[0], matcher._data[1]
    if matcher._byteids:
        ids = np.asarray(raw_ids, dtype=np.int64)
    else:
        ids = np.cumsum(np.asarray(raw_ids, dtype=np.int64))
    if raw_weights is None:
        tf = np.ones(len(ids), dtype=np.float32)
    elif isinstance(raw_weights, float):
        tf = np.full(len(ids), raw_weights, dtype=np.float32)
    else:
        tf = np.asarray(raw_weights, dtype=np.float32)
    return ids, tf


class VectorRanker:
    """Per-searcher arrays (field lengths) and the vectorised BM25 over them."""

    def __init__(self, searcher: Searcher, size: int, b: float, k1: float) -> None:
        self.searcher = searcher
        self.size = size
        self.b, self.k1 = b, k1
        self.lengths = np.ones(size, dtype=np.float32)
        self.leaves = list(searcher.leaf_searchers())
        for sub, offset in self.leaves:
            column = sub.reader()._perdoc._cached_reader(f"_{FIELD}_len", LENGTHS_COLUMN)
            if column is not None:
                raw = np.fromiter(column, dtype=np.uint8, count=sub.reader().doc_count_all())
                self.lengths[offset : offset + len(raw)] = _LENGTH_OF_BYTE[raw]
        self.avg_length = searcher.avg_field_length(FIELD) or 1.0
        self._postings: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        """Global docnums and term frequencies of a term, decoded once per searcher view.

        Decoding is most of a cold search's time (each block is a compressed pickle holding
        positions too), and analysts' queries share their words.
        """
        with self._lock:
            cached = self._postings.get(term)
            if cached is not None:
                self._postings.move_to_end(term)
                return cached
        found = self._read_postings(term)
        if found is not None:
            with self._lock:
                self._postings[term] = found
                self._cached_bytes += found[0].nbytes + found[1].nbytes
                while self._cached_bytes > POSTINGS_CACHE_BYTES and len(self._postings) > 1:
                    _, (ids, tf) = self._postings.popitem(last=False)
                    self._cached_bytes -= ids.nbytes + tf.nbytes
        return found

    def _read_postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        id_parts: list[np.ndarray] = []
        tf_parts: list[np.ndarray] = []
        for sub, offset in self.leaves:
            reader = sub.reader()
            if (FIELD, term) not in reader:
                continue
            matcher = reader.postings(FIELD, term)
            # Deleted passages are dropped later by the live mask, so read the raw postings.
            matcher = getattr(matcher, "child", matcher)
            if not isinstance(matcher, W3LeafMatcher):
                return None
            while matcher.is_active():
                ids, tf = _block_arrays(matcher)
                id_parts.append(ids + offset)
                tf_parts.append(tf)
                matcher._next_block()
        if not id_parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        return np.concatenate(id_parts), np.concatenate(tf_parts)

    def _idf(self, term: str) -> float:
        n = self.searcher.doc_frequency(FIELD, term)
        total = self.searcher.doc_count_all()
        return math.log(1 + (total - n + 0.5) / (n + 0.5))

    def rank(
        self,
        mode: str,
        terms: list[str],
        live: np.ndarray,
        required: int = 1,
        optional: frozenset[str] = frozenset(),
        deadline: float | None = None,
    ) -> RankedMatches | None:
        """Match set and BM25 scores: all terms ("and"), or at least `required` of them ("or").

        Optional terms (common words) add to the score but not to the count of matched terms.
        Past the deadline (time.monotonic()) the terms read so far decide, and `complete` is
        False.
        """
        scores = np.zeros(self.size, dtype=np.float64)
        counts = np.zeros(self.size, dtype=np.int16)
        unique = list(dict.fromkeys(terms))
        for seen, term in enumerate(unique):
            if deadline is not None and seen and time.monotonic() >= deadline:
                needed = seen if mode == "and" else 1
                return RankedMatches((counts >= needed) & live, scores, complete=False)
            found = self.postings(term)
            if found is None:
                return None
            ids, tf = found
            norm = self.k1 * ((1 - self.b) + self.b * self.lengths[ids] / self.avg_length)
            scores[ids] += self._idf(term) * (tf * (self.k1 + 1)) / (tf + norm)
            if term not in optional:
                counts[ids] += 1
        needed = len(unique) if mode == "and" else max(1, required)
        mask = (counts >= needed) & live
        return RankedMatches(mask, scores)


def top_docnums(ranked: RankedMatches, allowed: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Docnums ranked start..stop among allowed matches: score descending, docnum ascending."""
    candidates = np.flatnonzero(allowed)
    if candidates.size == 0 or start >= candidates.size:
        return np.zeros(0, np.int64)
    cand_scores = ranked.scores[candidates]
    stop = min(stop, candidates.size)
    if stop < candidates.size:
        # Partition first so only the top `stop` are sorted; ties at the cut are kept whole.
        cut = np.partition(-cand_scores, stop - 1)[stop - 1]
        keep = -cand_scores <= cut
        candidates, cand_scores = candidates[keep], cand_scores[keep]
    order = np.lexsort((candidates, -cand_scores))
    return candidates[order[start:stop]]
