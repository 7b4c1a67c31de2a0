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
    assert sorted(loops) == ["add_bm25", "count_pairs", "count_slots"]
    # Compiled for their signatures already, not on a first call.
    assert [len(loop.signatures) for loop in loops.values()] == [2, 1, 1]  # type: ignore[attr-defined]
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
