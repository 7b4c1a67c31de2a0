"""The compiled loops of the read side (search/kernels.py) against numpy's calls they replace."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from search import kernels

SIZE = 5_000


def _slots(rng: np.random.Generator, dtype: type, rows: int, values: int) -> np.ndarray:
    """Slot rows as a join keeps them: codes + 1, zero for no value, in a longer buffer."""
    buffer = np.zeros((rows, SIZE + 37), dtype=dtype)
    filled = rng.random((rows, SIZE)) < np.linspace(0.9, 0.2, rows)[:, None]
    buffer[:, :SIZE] = np.where(filled, rng.integers(1, values + 1, (rows, SIZE)), 0)
    return buffer[:, :SIZE]


def test_numba_compiles_the_loops() -> None:
    loops = kernels.compiled()
    assert loops is not None
    assert sorted(loops) == [
        "add_bm25",
        "add_bm25_at",
        "at_least",
        "count_pairs",
        "count_postings",
        "count_slots",
        "find_sorted",
        "first_by_date",
        "mark_postings",
        "top_docnums",
        "where_at_least",
    ]
    # Compiled for their signatures already, not on a first call.
    assert {name: len(loop.signatures) for name, loop in loops.items()} == {  # type: ignore[attr-defined]
        "count_slots": 2,
        "count_pairs": 1,
        "add_bm25": 1,
        "mark_postings": 1,
        "count_postings": 1,
        "add_bm25_at": 1,
        "top_docnums": 1,
        "at_least": 1,
        "where_at_least": 1,
        "first_by_date": 1,
        "find_sorted": 1,
    }
    assert kernels.warm() is True


@pytest.mark.parametrize("dtype", [np.int16, np.int32])
@pytest.mark.parametrize("share", [0.0, 0.001, 0.3, 1.0])
def test_slot_counts_equal_numpys(dtype: type, share: float) -> None:
    rng = np.random.default_rng(14)
    values = 40_000 if dtype is np.int32 else 300
    for slots in (_slots(rng, dtype, 3, values), np.ascontiguousarray(_slots(rng, dtype, 1, 9))):
        docnums = np.flatnonzero(rng.random(SIZE) < share)
        expected = np.zeros(values + 1, dtype=np.int64)
        kernels.count_slots_numpy(slots, docnums, expected)
        got = np.zeros(values + 1, dtype=np.int64)
        kernels.count_slots(slots, docnums, got)
        assert got.tolist() == expected.tolist()
        assert got[0] == 0
        if share == 1.0:
            codes = slots[slots > 0]
            assert got[1:].sum() == codes.size
    # int32 docnums (a phrase's) are taken too.
    got = np.zeros(10, dtype=np.int64)
    kernels.count_slots(np.array([[0, 3, 3, 9]], dtype=dtype), np.array([1, 2, 3], np.int32), got)
    assert got.tolist() == [0, 0, 0, 2, 0, 0, 0, 0, 0, 1]


def test_pair_counts_equal_numpys() -> None:
    rng = np.random.default_rng(3)
    docs = np.sort(rng.integers(0, SIZE, 20_000)).astype(np.intp)
    codes = rng.integers(0, 50, docs.size).astype(np.int32)
    for share in (0.0, 0.05, 0.7, 1.0):
        mask = rng.random(SIZE) < share
        expected = np.zeros(50, dtype=np.int64)
        kernels.count_pairs_numpy(docs, codes, mask, expected)
        got = np.zeros(50, dtype=np.int64)
        kernels.count_pairs(docs, codes, mask, got)
        assert got.tolist() == expected.tolist()
        assert got.sum() == np.count_nonzero(mask[docs])
    empty = np.zeros(3, dtype=np.int64)
    kernels.count_pairs(np.zeros(0, np.intp), np.zeros(0, np.int32), mask, empty)
    assert empty.tolist() == [0, 0, 0]


def test_bm25_scores_equal_the_rankers_bit_for_bit() -> None:
    from search.ranking import bm25_norm, bm25_weight

    loops = kernels.compiled()
    assert loops is not None
    rng = np.random.default_rng(25)
    size, offset = 60_000, 17_000
    lengths = rng.integers(1, 400, size).astype(np.float32)
    idf, k1, b, avg = 2.718281828, 1.2, 0.75, float(lengths.mean())
    for share in (0.0, 0.02, 0.9):
        ids = np.flatnonzero(rng.random(size - offset) < share).astype(np.int32)
        tf = rng.integers(1, 30, ids.size).astype(np.float32)
        start = np.where(rng.random(size) < 0.5, -np.inf, rng.random(size) * 40)
        at = ids.astype(np.int64) + offset
        expected, got = start.copy(), start.copy()
        expected[at] += bm25_weight(idf, tf, bm25_norm(lengths[at], k1, b, avg), k1)
        loops["add_bm25"](got, ids, tf, offset, lengths, idf, k1, b, avg)
        assert got.tobytes() == expected.tobytes()
        untouched = np.ones(size, dtype=bool)
        untouched[at] = False
        assert got[untouched].tobytes() == start[untouched].tobytes()
        finite = np.isfinite(start[at])
        assert (got[at][finite] > start[at][finite]).all()  # every posting adds
        assert np.isneginf(got[at][~finite]).all()  # not a candidate: stays out


def test_marking_and_counting_a_segments_postings_equal_numpys() -> None:
    loops = kernels.compiled()
    assert loops is not None
    rng = np.random.default_rng(7)
    offset = 1_234
    ids = np.flatnonzero(rng.random(SIZE - offset) < 0.3).astype(np.int32)
    marks = rng.random(SIZE) < 0.1
    expected_marks = marks.copy()
    expected_marks[ids.astype(np.int64) + offset] = True
    loops["mark_postings"](marks, ids, offset)
    assert marks.tolist() == expected_marks.tolist()
    counts = rng.integers(0, 5, SIZE).astype(np.int16)
    expected_counts = counts.copy()
    expected_counts[ids.astype(np.int64) + offset] += 1
    loops["count_postings"](counts, ids, offset)
    assert counts.tolist() == expected_counts.tolist()
    assert int(counts.sum()) == int(expected_counts.sum())


@pytest.mark.parametrize("wanted", [0, 1, 3, 80, 2_000, 30_000])
def test_bm25_at_some_docnums_equals_the_rankers_bit_for_bit(wanted: int) -> None:
    """The probe's and MaxScore's per-candidate scores: a word's BM25 at the docnums of one
    segment that its postings hold (galloping through them), 0 added elsewhere; few docnums
    against many postings and as many as the postings, both found."""
    from search.ranking import bm25_norm, bm25_weight

    loops = kernels.compiled()
    assert loops is not None
    rng = np.random.default_rng(wanted)
    size, offset, seg_size = 60_000, 17_000, 40_000
    lengths = rng.integers(1, 400, size).astype(np.float32)
    idf, k1, b, avg = 1.6180339, 1.2, 0.75, float(lengths.mean())
    ids = np.flatnonzero(rng.random(seg_size) < 0.4).astype(np.int32)
    tf = rng.integers(1, 30, ids.size).astype(np.float32)
    # Docnums of the whole view, ascending: some before and after the segment, the segment's
    # first and last passage among them when many are asked for.
    inside = np.sort(rng.choice(seg_size, wanted, replace=False)) + offset
    outside = np.array([3, offset - 1, offset + seg_size, size - 1])
    docnums = np.sort(np.concatenate([outside[:2], inside, outside[2:]])).astype(np.int64)
    lo, hi = 2, 2 + wanted
    start = rng.random(docnums.size) * 10
    expected = start.copy()
    at = np.searchsorted(ids, docnums[lo:hi] - offset)
    at = np.minimum(at, ids.size - 1)
    hit = ids[at] == docnums[lo:hi] - offset
    where = np.arange(lo, hi)[hit]
    expected[where] += bm25_weight(
        idf, tf[at[hit]], bm25_norm(lengths[docnums[where]], k1, b, avg), k1
    )
    got = start.copy()
    loops["add_bm25_at"](got, docnums, lo, hi, ids, tf, offset, lengths, idf, k1, b, avg)
    assert got.tobytes() == expected.tobytes()
    if wanted >= 80:
        assert 0 < hit.sum() < wanted  # some held by the postings, some not
    assert got[:lo].tobytes() == start[:lo].tobytes()
    assert got[hi:].tobytes() == start[hi:].tobytes()


@pytest.mark.parametrize("k", [1, 10, 80, 4_000])
def test_the_top_docnums_of_a_mask_equal_numpys(k: int) -> None:
    """MaxScore's probe: the k best scores within a mask in one pass; ties at the cut may pick
    other docnums than numpy's partition, never other scores."""
    rng = np.random.default_rng(k)
    size = 50_000
    # Rounded scores: many ties, at the cut too.
    scores = np.round(rng.random(size) * 50, 1)
    mask = rng.random(size) < 0.7
    got = kernels.top_docnums(scores, mask, k)
    expected = kernels.top_docnums_numpy(scores, mask, k)
    assert got.dtype == np.int64 and got.size == expected.size == k
    assert (np.diff(got) > 0).all() and mask[got].all()
    assert sorted(scores[got].tolist()) == sorted(scores[expected].tolist())
    best = np.sort(scores[mask])[-k:]
    assert sorted(scores[got].tolist()) == best.tolist()
    # Fewer in the mask than asked for: every one of them (k = 1: the best).
    few = np.zeros(size, dtype=bool)
    few[[5, 17, 40_000]] = True
    scores[[5, 17, 40_000]] = [3.0, 9.0, 1.0]
    assert kernels.top_docnums(scores, few, k).tolist() == ([17] if k == 1 else [5, 17, 40_000])
    assert kernels.top_docnums(scores, np.zeros(size, dtype=bool), k).tolist() == []


@pytest.mark.parametrize("needles", [0, 1, 50, 5_000, 40_000])
def test_finding_sorted_docnums_equals_numpys_search(needles: int) -> None:
    """An AND's intersection and its words' frequencies at the matches: where each docnum
    stands in a word's postings, -1 where the word is absent; few needles and as many as the
    haystack, before, inside and past it."""
    rng = np.random.default_rng(needles)
    haystack = np.flatnonzero(rng.random(100_000) < 0.4).astype(np.int64)
    wanted = np.sort(rng.choice(120_000, needles, replace=False)).astype(np.int64)
    got = kernels.find_sorted(haystack, wanted)
    expected = kernels.find_sorted_numpy(haystack, wanted)
    assert got.tolist() == expected.tolist()
    hit = got >= 0
    assert (haystack[got[hit]] == wanted[hit]).all()
    assert not np.isin(wanted[~hit], haystack).any()
    if needles >= 50:
        assert 0 < hit.sum() < needles
    assert kernels.find_sorted(haystack[:0], wanted).tolist() == [-1] * needles


def test_counting_the_scores_that_reach_a_floor_equals_numpys() -> None:
    rng = np.random.default_rng(11)
    values = np.where(rng.random(20_000) < 0.3, -np.inf, rng.random(20_000) * 30)
    for add, floor in ((0.0, 15.0), (2.5, 29.0), (1e9, 0.0), (0.0, 1e9), (0.1, -np.inf)):
        expected = int(np.count_nonzero(values + add >= floor))
        assert kernels.at_least(values, add, floor) == expected
        assert kernels.at_least_numpy(values, add, floor) == expected
        where = kernels.where_at_least(values, add, floor, expected)
        assert where.tolist() == np.flatnonzero(values + add >= floor).tolist()
    assert kernels.at_least(values, 0.0, 15.0) not in (0, values.size)


def test_a_loop_numba_cannot_compile_leaves_numpy_counting(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unsupported(counts: object) -> None:  # pragma: no cover - numba refuses to type it
        counts.append(object())  # type: ignore[attr-defined]

    monkeypatch.setattr(kernels, "_LOOPS", {"count_slots": (unsupported, ["void(int64[:])"])})
    monkeypatch.setattr(kernels, "_resolved", False)
    monkeypatch.setattr(kernels, "_compiled", None)
    with caplog.at_level("WARNING", logger="search.kernels"):
        assert kernels.warm() is False
    assert "numba could not compile the search loops" in caplog.text
    counts = np.zeros(4, dtype=np.int64)
    kernels.count_slots(np.array([[1, 0, 3]], np.int16), np.array([0, 1, 2]), counts)
    assert counts.tolist() == [0, 1, 0, 1]


def test_numpy_fallback_when_the_jit_is_off() -> None:
    script = (
        "import json, numpy as np; from search import kernels; "
        "c = np.zeros(4, np.int64); "
        "kernels.count_slots(np.array([[1, 0, 3], [2, 2, 0]], np.int16), np.array([0, 1, 2]), c); "
        "p = np.zeros(4, np.int64); "
        "kernels.count_pairs(np.array([0, 2]), np.array([1, 3], np.int32), "
        "np.array([True, False, True]), p); "
        "print(json.dumps([kernels.compiled() is None, kernels.warm(), c.tolist(), p.tolist()]))"
    )
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [True, False, [0, 1, 2, 1], [0, 1, 0, 1]]
