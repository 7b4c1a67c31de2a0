"""Compiled loops for the read side's two passes over hundreds of thousands of matches: counting
facet values and adding a frequent word's BM25 to every passage's score; numpy's calls are the
plain fallback.

Counting a facet over its slot arrays (search/facets.py) in numpy is, per slot, a gather of the
matches' codes, a cast of them to intp and a bincount (a pass to find the largest code, one to
count), then a gather of the mask over the overflow pairs. Adding a word's BM25 over the view
(search/ranking.py, while most passages are candidates) joined its postings across segments,
gathered the passages' lengths, made four temporaries and scattered the sum. One compiled loop
does each in a pass without temporaries: at a million passages a pasted sentence's facets took
14 ms in numpy and 5 ms compiled (docs/read-performance.md, "Eleventh session").

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


Loops = dict[str, Callable[..., None]]
# Each loop with the signatures a search passes it: slots of either width, contiguous or a
# view's slice of a longer buffer (layout "A" takes both).
_LOOPS: dict[str, tuple[Callable[..., None], list[str]]] = {
    "count_slots": (
        _count_slots_loop,
        ["void(int16[:, :], intp[:], int64[:])", "void(int32[:, :], intp[:], int64[:])"],
    ),
    "count_pairs": (_count_pairs_loop, ["void(intp[:], int32[:], boolean[:], int64[:])"]),
    "add_bm25": (
        _add_bm25_loop,
        ["void(float64[:], int32[:], float32[:], int64, float32[:], f8, f8, f8, f8)"],
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
