"""The timeline: a date histogram of a search's matches, by week, month or year.

Counted like the year facet: every filter applies except the date range itself (disjunctive), so
the bars keep showing what lies outside a range picked on the chart. Undated passages are not
counted. Bucket keys are computed with numpy over each passage's YYYYMMDD date.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from search.grouping import distinct_counts
from search.results import HistogramBucket

INTERVALS = ("week", "month", "year")
# Empty buckets between the first and last dated match are filled in (a timeline shows gaps) up
# to this many buckets: 20 years of weeks. Past it (a stray 1900 date in a 2025 corpus would ask
# for 6,500 weeks of zeros) only non-empty buckets are returned.
MAX_FILLED_BUCKETS = 1040
# 1970-01-01 was a Thursday: days since then plus this, floor-divided by 7, count Monday weeks.
_MONDAY_SHIFT = 3


def _keys(dates: np.ndarray, interval: str) -> np.ndarray:
    """Each YYYYMMDD date's bucket number: the year, months since 1970, or Monday weeks since."""
    years = dates // 10000
    if interval == "year":
        return years.astype(np.int64)
    months = (years - 1970) * 12 + (dates // 100 % 100 - 1)
    if interval == "month":
        return months.astype(np.int64)
    days = months.astype("datetime64[M]").astype("datetime64[D]") + (dates % 100 - 1)
    return (days.astype(np.int64) + _MONDAY_SHIFT) // 7


def _bounds(key: int, interval: str) -> tuple[str, str]:
    """A bucket's first and last day (both inclusive), ISO."""
    if interval == "year":
        return f"{key:04d}-01-01", f"{key:04d}-12-31"
    if interval == "month":
        first = np.datetime64(key, "M")
        last = (first + 1).astype("datetime64[D]") - 1
        return str(first.astype("datetime64[D]")), str(last)
    monday = np.datetime64(key * 7 - _MONDAY_SHIFT, "D")
    return str(monday), str(monday + 6)


def date_histogram(
    dates: np.ndarray,
    mask: np.ndarray,
    interval: str,
    documents: np.ndarray | None = None,
) -> list[HistogramBucket]:
    """Buckets {start, end, count} of the dated passages in mask, oldest first; with documents
    (each docnum's document code) counts are distinct documents instead of passages."""
    docnums = np.flatnonzero(mask & (dates > 0))
    if not docnums.size:
        return []
    keys = _keys(dates[docnums].astype(np.int64), interval)
    low, high = int(keys.min()), int(keys.max())
    offsets = keys - low
    if documents is None:
        counts = np.bincount(offsets, minlength=high - low + 1)
    else:
        counts = distinct_counts(docnums, offsets, high - low + 1, documents)
    filled: Iterable[int] = range(high - low + 1)
    if high - low + 1 > MAX_FILLED_BUCKETS:
        filled = np.flatnonzero(counts).tolist()
    buckets = []
    for offset in filled:
        start, end = _bounds(low + offset, interval)
        buckets.append(HistogramBucket(start=start, end=end, count=int(counts[offset])))
    return buckets


def without_date_filter(
    matched: np.ndarray, masks: dict[str, np.ndarray], date_keys: Iterable[str]
) -> np.ndarray:
    """The matches under every active filter except the date range (keyed by date_keys)."""
    skip = set(date_keys)
    mask = matched.copy()
    for name, fmask in masks.items():
        if name not in skip:
            mask &= fmask
    return mask
