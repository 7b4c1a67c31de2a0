"""Compiled loops for the read side's passes over hundreds of thousands of matches: counting
facet values, adding a frequent word's BM25 to every passage's score or to some passages' (a
segment's postings at a time, never joined across the view), marking a word's matches,
MaxScore's probe and survivors, and a page of passages by date; numpy's calls are the plain
fallback.

Counting a facet over its slot arrays (search/facets.py) in numpy is, per slot, a gather of the
matches' codes, a cast of them to intp and a bincount (a pass to find the largest code, one to
count), then a gather of the mask over the overflow pairs. Adding a word's BM25 over the view
(search/ranking.py, while most passages are candidates) joined its postings across segments,
gathered the passages' lengths, made four temporaries and scattered the sum. One compiled loop
does each in a pass without temporaries: at a million passages a pasted sentence's facets took
14 ms in numpy and 5 ms compiled (docs/read-performance.md, "Eleventh session"). The thirteenth
session's loops (the same document, "Thirteenth session") take a pasted sentence's frequent
words segment by segment where numpy joined each across the view first (megabytes a word), pick
MaxScore's probe and count its survivors in a pass over the scores instead of listing most of a
million candidates, and find a page by date with a heap instead of keying every passage.

The loops are numba's (`njit`), compiled once per process for the array types a search passes,
and kept in numba's cache (beside this file, or under NUMBA_CACHE_DIR), so a later process loads
them instead of compiling (about 0.5 s with numba's import, paid in create_app while a worker
starts). Where numba is missing, its JIT is switched off (NUMBA_DISABLE_JIT=1, which would run
the loops as Python) or it cannot compile them, numpy computes the same (search/ranking.py scores
from its joined postings): tests/test_kernels.py holds the loops to numpy's counts and to the
ranker's BM25 bit for bit, and tests/test_fast_paths.py runs the facets and the ranking both
ways.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


# -- numpy: the fallback, and what the loops must equal ----------------------------------------


def count_slots_numpy(slots: np.ndarray, docnums: np.ndarray, counts: np.ndarray) -> None:
    """Add to counts[c] how many of docnums hold code c (c ≥ 1) in any row of slots."""
    size = counts.size
    for slot in slots:
        found = np.bincount(slot.take(docnums), minlength=size)
        found[0] = 0  # no value
        counts += found[:size]


def count_pairs_numpy(
    docs: np.ndarray, codes: np.ndarray, mask: np.ndarray, counts: np.ndarray
) -> None:
    """Add to counts[c] how many (doc, c) pairs have their doc in mask."""
    if docs.size:
        counts += np.bincount(codes[mask[docs]], minlength=counts.size)[: counts.size]


def top_docnums_numpy(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """k docnums in mask (ascending) whose scores no docnum of mask left out exceeds."""
    docnums = np.flatnonzero(mask)
    if docnums.size <= k:
        return docnums
    return np.sort(docnums[np.argpartition(-scores[docnums], k - 1)[:k]])


def at_least_numpy(values: np.ndarray, add: float, floor: float) -> int:
    """How many values, plus add, reach floor."""
    return int(np.count_nonzero(values + add >= floor))


# -- the loops numba compiles ------------------------------------------------------------------


def _count_slots_loop(slots: Any, docnums: Any, counts: Any) -> None:  # pragma: no cover
    # Slot by slot, so each pass reads one array in docnum order; a code of 0 (no value, most
    # of the second and third slots) is skipped, not counted into a bucket that is dropped:
    # increments of one counter in a row wait on each other.
    for j in range(slots.shape[0]):
        row = slots[j]
        for i in range(docnums.size):
            code = row[docnums[i]]
            if code:
                counts[code] += 1


def _count_pairs_loop(docs: Any, codes: Any, mask: Any, counts: Any) -> None:  # pragma: no cover
    for p in range(docs.size):
        if mask[docs[p]]:
            counts[codes[p]] += 1


def _add_bm25_loop(
    scores: Any, ids: Any, tf: Any, offset: Any, lengths: Any, idf: Any, k1: Any, b: Any, avg: Any
) -> None:  # pragma: no cover
    # A word's BM25 (idf, k1, b, average length) added at one segment's postings (int32 ids
    # shifted by offset, float32 frequencies; the view's float32 lengths): search/ranking.py's
    # bm25_norm and bm25_weight term for term, no operation merged or reordered (numba does not
    # contract a multiply and an add into one rounding unless fastmath asks it to), so the
    # floats are the same.
    k1_plus = k1 + 1
    keep = 1 - b
    for p in range(ids.size):
        at = ids[p] + offset
        t = np.float64(tf[p])
        norm = k1 * (keep + b * np.float64(lengths[at]) / avg)
        scores[at] += idf * ((t * k1_plus) / (t + norm))


def _gallop_py(haystack: Any, j: Any, target: Any) -> Any:  # pragma: no cover
    # The first index from j on whose value is not below target (haystack ascending, and
    # haystack[j - 1] below it): galloping then halving from where the last search ended, so
    # ascending targets cost a few steps each when they are few next to the haystack (80
    # candidates against 30,000 postings) and a walk when they are as many. The loops that
    # search sorted lists call it; _compile makes it a compiled function before them.
    m = haystack.size
    if j >= m or haystack[j] >= target:
        return j
    step = 1
    while j + step < m and haystack[j + step] < target:
        j += step
        step *= 2
    # haystack[j] < target <= haystack[j + step] (or past the end): halve between.
    low, high = j + 1, min(j + step, m)
    while low < high:
        mid = (low + high) // 2
        if haystack[mid] < target:
            low = mid + 1
        else:
            high = mid
    return low


# What the loops call: the plain function until _compile replaces it with its compiled self.
_gallop: Callable[..., Any] = _gallop_py


def _mark_postings_loop(marks: Any, ids: Any, offset: Any) -> None:  # pragma: no cover
    # One segment's postings marked in the view's flags (a pasted sentence's frequent word:
    # any one word matches), without joining them across segments first.
    for p in range(ids.size):
        marks[ids[p] + offset] = True


def _count_postings_loop(counts: Any, ids: Any, offset: Any) -> None:  # pragma: no cover
    for p in range(ids.size):
        counts[ids[p] + offset] += 1


def _add_bm25_at_loop(
    out: Any,
    docnums: Any,
    lo: Any,
    hi: Any,
    ids: Any,
    tf: Any,
    offset: Any,
    lengths: Any,
    idf: Any,
    k1: Any,
    b: Any,
    avg: Any,
) -> None:  # pragma: no cover
    # A word's BM25 added to out[i] for the docnums[lo:hi] (ascending, all in this segment)
    # that one segment's postings hold, the arithmetic of _add_bm25_loop; each docnum sought
    # in the postings from where the last was found.
    k1_plus = k1 + 1
    keep = 1 - b
    j = 0
    m = ids.size
    for i in range(lo, hi):
        target = docnums[i] - offset
        j = _gallop(ids, j, target)
        if j >= m:
            break
        if ids[j] == target:
            at = docnums[i]
            t = np.float64(tf[j])
            norm = k1 * (keep + b * np.float64(lengths[at]) / avg)
            out[i] += idf * ((t * k1_plus) / (t + norm))


def _top_docnums_loop(scores: Any, mask: Any, k: Any) -> Any:  # pragma: no cover
    # One pass keeping the k best seen in a min-heap (its root the worst of them), filled
    # with -inf to start so that every passage only ever replaces the root: most lose to it
    # at one comparison, where numpy would list the mask's docnums, gather their scores and
    # partition them (three passes over most of a million). Scores are finite.
    heap_scores = np.full(k, -np.inf)
    heap_docs = np.full(k, -1, np.int64)
    for d in range(scores.size):
        x = scores[d]
        # The score first: nearly every passage loses to the root at this one (well
        # predicted) comparison, and the mask is read only for the few that win.
        if x <= heap_scores[0] or not mask[d]:
            continue
        i = 0
        while True:
            child = 2 * i + 1
            if child >= k:
                break
            if child + 1 < k and heap_scores[child + 1] < heap_scores[child]:
                child += 1
            if heap_scores[child] >= x:
                break
            heap_scores[i] = heap_scores[child]
            heap_docs[i] = heap_docs[child]
            i = child
        heap_scores[i] = x
        heap_docs[i] = d
    return np.sort(heap_docs[heap_docs >= 0])


def _find_sorted_loop(haystack: Any, needles: Any) -> Any:  # pragma: no cover
    # Where each needle stands in haystack (both ascending, distinct), -1 where it is absent:
    # each sought from where the last was found (numpy's searchsorted halves the whole list
    # for each).
    out = np.full(needles.size, -1, np.int64)
    j = 0
    m = haystack.size
    for i in range(needles.size):
        j = _gallop(haystack, j, needles[i])
        if j >= m:
            break
        if haystack[j] == needles[i]:
            out[i] = j
    return out


def _at_least_loop(values: Any, add: Any, floor: Any) -> Any:  # pragma: no cover
    # The same sum and comparison as numpy's `values + add >= floor`, without its array.
    n = 0
    for i in range(values.size):
        n += values[i] + add >= floor
    return n


def _where_at_least_loop(values: Any, add: Any, floor: Any, count: Any) -> Any:  # pragma: no cover
    # numpy's flatnonzero(values + add >= floor), `count` long (at_least's answer).
    out = np.empty(count, np.int64)
    n = 0
    for i in range(values.size):
        if values[i] + add >= floor:
            out[n] = i
            n += 1
    return out


def _first_by_date_loop(
    dates: Any, mask: Any, newest: Any, stop: Any, shift: Any, undated: Any
) -> Any:  # pragma: no cover
    # search/ordering.py's date_order for a page: each passage of mask keyed as there (the
    # day shifted positive, undated last, above 32 bits of docnum), the `stop` smallest keys
    # kept in a max-heap (filled with a key above every real one) in one pass, returned
    # ascending. Keys are distinct (the docnum is in them), so the page is date_order's, not
    # just one as good.
    above = np.iinfo(np.int64).max
    heap = np.full(stop, above, np.int64)
    for d in range(dates.size):
        if not mask[d]:
            continue
        date = np.int64(dates[d])
        day = undated
        if date > 0:
            day = (-date if newest else date) + shift
        key = (day << 32) | d
        if key >= heap[0]:
            continue
        i = 0
        while True:
            child = 2 * i + 1
            if child >= stop:
                break
            if child + 1 < stop and heap[child + 1] > heap[child]:
                child += 1
            if heap[child] <= key:
                break
            heap[i] = heap[child]
            i = child
        heap[i] = key
    return np.sort(heap[heap < above])


Loops = dict[str, Callable[..., Any]]
# Each loop with the signatures a search passes it: slots of either width, contiguous or a
# view's slice of a longer buffer (layout "A" takes both).
_LOOPS: dict[str, tuple[Callable[..., Any], list[str]]] = {
    "count_slots": (
        _count_slots_loop,
        ["void(int16[:, :], intp[:], int64[:])", "void(int32[:, :], intp[:], int64[:])"],
    ),
    "count_pairs": (_count_pairs_loop, ["void(intp[:], int32[:], boolean[:], int64[:])"]),
    "add_bm25": (
        _add_bm25_loop,
        ["void(float64[:], int32[:], float32[:], int64, float32[:], f8, f8, f8, f8)"],
    ),
    "top_docnums": (_top_docnums_loop, ["int64[:](float64[:], boolean[:], int64)"]),
    "first_by_date": (
        _first_by_date_loop,
        ["int64[:](int32[:], boolean[:], boolean, int64, int64, int64)"],
    ),
    "find_sorted": (_find_sorted_loop, ["int64[:](int64[:], int64[:])"]),
    "at_least": (_at_least_loop, ["int64(float64[:], f8, f8)"]),
    "where_at_least": (_where_at_least_loop, ["int64[:](float64[:], f8, f8, int64)"]),
    "mark_postings": (_mark_postings_loop, ["void(boolean[:], int32[:], int64)"]),
    "count_postings": (_count_postings_loop, ["void(int16[:], int32[:], int64)"]),
    "add_bm25_at": (
        _add_bm25_at_loop,
        [
            "void(float64[:], int64[:], int64, int64, int32[:], float32[:], int64, float32[:],"
            " f8, f8, f8, f8)"
        ],
    ),
}
_lock = threading.Lock()
_compiled: Loops | None = None
_resolved = False


def _compile() -> Loops | None:
    """The loops through numba, or None where numba cannot compile them."""
    try:
        import numba
    except ImportError:
        return None
    if getattr(numba.config, "DISABLE_JIT", False):
        return None

    def jit(cache: bool) -> Loops:
        # The helper the loops call, compiled first and put where their code finds it: numba
        # compiles a loop from its own code and the compiled functions it names.
        globals()["_gallop"] = numba.njit(cache=cache, nogil=True, boundscheck=False)(_gallop_py)
        return {
            name: numba.njit(sigs, cache=cache, nogil=True, boundscheck=False)(loop)
            for name, (loop, sigs) in _LOOPS.items()
        }

    try:
        try:
            return jit(cache=True)
        except RuntimeError as exc:
            # No writable cache place (a read-only install and no HOME): compile in memory.
            log.info("numba cannot cache the search loops (%s); compiling them per process", exc)
            return jit(cache=False)
    except numba.core.errors.NumbaError as exc:
        # numpy gives the same counts and scores: a loop numba cannot compile here (an LLVM or
        # numba release that refuses it) must not keep the API from starting.
        log.warning("numba could not compile the search loops (%s); numpy counts instead", exc)
        return None


def compiled() -> Loops | None:
    """The compiled loops by name (made once per process), or None for the numpy fallback."""
    global _compiled, _resolved
    if not _resolved:
        with _lock:
            if not _resolved:
                _compiled, _resolved = _compile(), True
    return _compiled


def warm() -> bool:
    """Compile (or load from numba's cache) the loops, so a worker pays it when it starts, not
    in its first search; False on the numpy fallback."""
    return compiled() is not None


# -- what the read side calls ------------------------------------------------------------------


def count_slots(slots: np.ndarray, docnums: np.ndarray, counts: np.ndarray) -> None:
    """Add to counts[c] how many of docnums hold code c (c ≥ 1) in any row of slots; counts
    is int64 and longer than every code."""
    loops = compiled()
    if loops is None:
        count_slots_numpy(slots, docnums, counts)
    else:
        loops["count_slots"](slots, docnums.astype(np.intp, copy=False), counts)


def count_pairs(docs: np.ndarray, codes: np.ndarray, mask: np.ndarray, counts: np.ndarray) -> None:
    """Add to counts[c] how many (doc, c) pairs have their doc in mask (a boolean array)."""
    loops = compiled()
    if loops is None:
        count_pairs_numpy(docs, codes, mask, counts)
    else:
        loops["count_pairs"](docs, codes, mask, counts)


def top_docnums(scores: np.ndarray, mask: np.ndarray, k: int) -> np.ndarray:
    """k docnums of mask (fewer when mask holds fewer), ascending, whose scores no docnum of
    mask left out exceeds (ties at the cut: any of them)."""
    loops = compiled()
    if loops is None or k < 1:
        return top_docnums_numpy(scores, mask, max(k, 0))
    return loops["top_docnums"](scores, mask, k)


def at_least(values: np.ndarray, add: float, floor: float) -> int:
    """How many of values (float64), plus add, reach floor."""
    loops = compiled()
    if loops is None:
        return at_least_numpy(values, add, floor)
    return int(loops["at_least"](values, add, floor))


def where_at_least(values: np.ndarray, add: float, floor: float, count: int) -> np.ndarray:
    """The indexes (ascending) of values (float64) that, plus add, reach floor; `count` is
    how many there are (at_least)."""
    loops = compiled()
    if loops is None:
        return np.flatnonzero(values + add >= floor)
    return loops["where_at_least"](values, add, floor, count)


def find_sorted_numpy(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Where each needle stands in haystack (both ascending, distinct), -1 where absent."""
    if not haystack.size:
        return np.full(needles.size, -1, np.int64)
    at = np.minimum(np.searchsorted(haystack, needles), haystack.size - 1)
    return np.where(haystack[at] == needles, at, -1)


def find_sorted(haystack: np.ndarray, needles: np.ndarray) -> np.ndarray:
    """Where each needle stands in haystack (both int64, ascending, distinct), -1 where absent."""
    loops = compiled()
    if loops is None:
        return find_sorted_numpy(haystack, needles)
    return loops["find_sorted"](haystack, needles)
