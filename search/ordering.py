"""Every match of a search in ranked order, as numpy arrays: what grouping and export walk.

A page of hits needs only its top few passages; grouping by document and exporting need the
order of all of them. Held as two arrays (docnums, scores), 16 bytes a passage, never as Python
objects, so a million matches cost 16 MB and an export's memory stays flat while it streams.
"""

from __future__ import annotations

import time
from array import array
from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.collectors import ScoredCollector, TimeLimit, TimeLimitCollector
from whoosh.searching import Searcher

from search.facets import FacetIndex, Selection
from search.kernels import compiled
from search.ranking import RankedMatches


class _ScoreArrays(ScoredCollector):
    """Collects every match's (docnum, score) into compact arrays instead of a heap."""

    def prepare(self, top_searcher: Any, q: Any, context: Any) -> None:
        """Fresh arrays for this search."""
        super().prepare(top_searcher, q, context)
        self.docnums = array("q")
        self.scores = array("d")

    def _collect(self, global_docnum: int, score: float) -> None:
        self.docnums.append(global_docnum)
        self.scores.append(score)

    def results(self) -> Any:
        """The collector itself: its arrays are the result."""
        return self


# A date (YYYYMMDD) and a docnum in one int64 key: the date part (shifted to be positive,
# undated last) above 32 bits of docnum.
_DATE_SHIFT = 100_000_000
_UNDATED = 2 * _DATE_SHIFT


def date_order(
    fx: FacetIndex, docnums: np.ndarray, sort: str, stop: int | None = None
) -> np.ndarray:
    """docnums (ascending) by date (newest first unless sort is "oldest"), undated last, ties
    by docnum; only the first `stop` of them when given (a page)."""
    newest = sort != "oldest"
    dates = fx.dates[docnums]
    day = np.where(dates > 0, (-dates if newest else dates) + _DATE_SHIFT, _UNDATED)
    if stop is not None and stop < day.size:
        if stop <= 0:
            return docnums[:0].astype(np.int64)
        # The first `stop` are every passage dated before the stop-th's date and, docnums
        # being ascending, the first of those on that date: a partition of the 4-byte dates,
        # not a sort of them all (a million passages often share a handful of dates).
        last = np.partition(day, stop - 1)[stop - 1]
        before = np.flatnonzero(day < last)
        on_last = np.flatnonzero(day == last)[: stop - before.size]
        chosen = np.concatenate([before, on_last])
        day, docnums = day[chosen], docnums[chosen]
    key = (day.astype(np.int64) << 32) | docnums.astype(np.int64)
    key.sort()
    return key & 0xFFFFFFFF


def date_page(fx: FacetIndex, selection: Selection, sort: str, stop: int) -> np.ndarray:
    """The first `stop` docnums of a selection in date_order, found in one pass over its mask
    by a compiled loop (a browse of a million passages listed, keyed and partitioned them
    all for ten); date_order itself where numba is missing."""
    loops = compiled()
    if loops is None or stop <= 0 or selection.size <= stop:
        return date_order(fx, selection.docnums, sort, stop)
    keys = loops["first_by_date"](
        fx.dates, selection.mask, sort != "oldest", stop, _DATE_SHIFT, _UNDATED
    )
    return keys & 0xFFFFFFFF


def by_score(docnums: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """docnums and scores ordered by score descending, docnum ascending (the engine's order)."""
    order = np.lexsort((docnums, -scores))
    return docnums[order], scores[order]


def whoosh_scores(
    searcher: Searcher, query: wq.Query, allowed: np.ndarray, deadline: float | None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Every match Whoosh scores for query within allowed, and whether the deadline cut it."""
    collector = _ScoreArrays()
    timed_out = False
    if deadline is None:
        searcher.search_with_collector(query, collector)
    else:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return np.zeros(0, np.int64), np.zeros(0), True
        # As search/searching.py: no SIGALRM inside a gunicorn worker.
        limited = TimeLimitCollector(collector, remaining, use_alarm=False)
        try:
            searcher.search_with_collector(query, limited)
        except TimeLimit:
            timed_out = True
    docnums = np.frombuffer(collector.docnums, dtype=np.int64).copy()
    scores = np.frombuffer(collector.scores, dtype=np.float64).copy()
    keep = allowed[docnums]
    return docnums[keep], scores[keep], timed_out


def full_order(
    searcher: Searcher,
    fx: FacetIndex,
    query: wq.Query | None,
    sort: str,
    allowed: np.ndarray,
    ranked: RankedMatches | None,
    deadline: float | None = None,
) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Every allowed match in the order /api/search pages them: (docnums, scores or None when
    ordered by date, whether the deadline cut the ranking short).

    query None (an empty query) or a date sort orders by date; plain word queries use the
    vectorised scores; anything else is scored by Whoosh, every match once.
    """
    if query is None or sort != "relevance":
        return date_order(fx, np.flatnonzero(allowed), sort), None, False
    if ranked is not None:
        candidates = np.flatnonzero(allowed)
        docnums, scores = by_score(candidates, ranked.scores_at(candidates).astype(np.float64))
        return docnums, scores, False
    docnums, scores, timed_out = whoosh_scores(searcher, query, allowed, deadline)
    docnums, scores = by_score(docnums, scores)
    return docnums, scores, timed_out
