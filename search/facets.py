"""Columnar facet data built once per searcher, so counting a result set is a numpy bincount.

Which facets exist is the registry's business (search/facet_registry.py); this module builds
their arrays, turns filters into masks and counts disjunctively.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from whoosh.reading import IndexReader

from search.facet_registry import YEAR, FacetRegistry
from search.grouping import distinct_counts
from search.segments import NO_DATE, SegmentColumn, SegmentData, date_int, live_mask

Part = tuple[int, int, SegmentColumn, np.ndarray]

# Room left at the end of a joined column for the segments of later commits, as a share of its
# size: a commit that only adds segments then writes their pairs in place (a watcher commit at
# 1.2M passages re-joined 1.8M pairs per facet, 65 ms, before its first search could count).
JOIN_HEADROOM = 0.25


def _join_parts(parts: list[Part]) -> tuple[np.ndarray, np.ndarray]:
    """The parts' (docnum, code) pairs, docnums shifted by each part's offset."""
    # intp: numpy converts any other index type on every gather.
    docs = [c.docnums.astype(np.intp) + offset for offset, _, c, _ in parts]
    codes = [m[c.codes].astype(np.int32) for _, _, c, m in parts]
    return (
        np.concatenate(docs) if docs else np.zeros(0, np.intp),
        np.concatenate(codes) if codes else np.zeros(0, np.int32),
    )


@dataclass
class _Join:
    """One facet's joined pairs: (segment id, offset) per part, pairs up to each part's end,
    and buffers whose first ends[-1] entries hold them."""

    key: list[tuple[str, int]]
    ends: list[int]
    docs: np.ndarray
    codes: np.ndarray
    # Where each docnum's pairs start, and one past the last docnum: starts[d]:starts[d + 1].
    starts: np.ndarray


class JoinedFacets:
    """Joined facet columns shared by successive views of one index (kept by SegmentCache).

    Whoosh segments never change and a commit appends its segments after the others, so a
    view whose segments extend the last joined view's writes only the new segments' pairs,
    past the end older views read; any other change (a merge) joins anew in new buffers.
    """

    def __init__(self) -> None:
        self._joins: dict[str, _Join] = {}
        self._lock = threading.Lock()

    def joined(self, name: str, key: list[tuple[str, int]], parts: list[Part]) -> JoinedColumn:
        """The view's pairs of facet `name`; key gives each part's (segment id, offset)."""
        size = parts[-1][0] + parts[-1][1] if parts else 0
        with self._lock:
            join = self._joins.get(name)
            known = len(join.key) if join is not None else 0
            if join is not None and join.key[: len(key)] == key:
                # This view, or an older one still searched: a prefix of what is joined.
                end = join.ends[len(key) - 1] if key else 0
                return JoinedColumn(join.docs[:end], join.codes[:end], join.starts[: size + 1])
            if join is not None and key[:known] == join.key:
                docs, codes = _join_parts(parts[known:])
                start = join.ends[-1] if join.ends else 0
                end = start + docs.size
                if end > join.docs.size:
                    join.docs = _grown(join.docs, start, end)
                    join.codes = _grown(join.codes, start, end)
                first = parts[known][0]
                if size + 1 > join.starts.size:
                    join.starts = _grown(join.starts, first + 1, size + 1)
                join.docs[start:end] = docs
                join.codes[start:end] = codes
                # Older views read starts up to their own size, whose sentinel stays right:
                # the first new docnum's pairs start where theirs ended.
                join.starts[first : size + 1] = _part_starts(parts[known:], start)
                join.ends += _part_ends(parts[known:], start)
                join.key = list(key)
                return JoinedColumn(join.docs[:end], join.codes[:end], join.starts[: size + 1])
            docs, codes = _join_parts(parts)
            starts = _part_starts(parts, 0)
            join = _Join(
                list(key),
                _part_ends(parts, 0),
                _grown(docs, docs.size, docs.size),
                _grown(codes, codes.size, codes.size),
                _grown(starts, starts.size, starts.size),
            )
            self._joins[name] = join
            return JoinedColumn(
                join.docs[: docs.size], join.codes[: docs.size], join.starts[: size + 1]
            )


@dataclass(frozen=True)
class JoinedColumn:
    """A view's (docnum, value code) pairs, docnums ascending, and where each docnum's pairs
    start."""

    docs: np.ndarray
    codes: np.ndarray
    starts: np.ndarray


def _part_starts(parts: list[Part], start: int) -> np.ndarray:
    """Per docnum of the parts, where its pairs start (the first part's at start), and one
    more: where the pairs after the last docnum would start."""
    out = []
    for _, size, column, _ in parts:
        # Pairs per docnum, summed before each: a bincount, five times cheaper at 1M than a
        # binary search per docnum (the first search of a fresh worker pays it).
        per_doc = np.bincount(column.docnums, minlength=size)
        out.append(np.cumsum(per_doc) - per_doc + start)
        start += column.docnums.size
    out.append(np.array([start]))
    # 4 bytes a passage and facet (2**31 pairs is far past what one index holds).
    return np.concatenate(out).astype(np.int32)


def _part_ends(parts: list[Part], start: int) -> list[int]:
    """Where each part's pairs end in the joined buffers, the first starting at start."""
    ends = []
    for _, _, column, _ in parts:
        start += column.docnums.size
        ends.append(start)
    return ends


def _grown(array: np.ndarray, used: int, needed: int) -> np.ndarray:
    """A new buffer holding array's first `used` entries, with room for needed and headroom."""
    grown = np.empty(int(needed * (1 + JOIN_HEADROOM)) + 16, dtype=array.dtype)
    grown[:used] = array[:used]
    return grown


@dataclass
class FacetColumn:
    """One facet field over a view's segments: each segment's (docnum, value code) pairs, read
    in place at the segment's offset, with the segment's codes mapped to the view's values."""

    values: list[str]
    # (docnum offset, segment size, the segment's column, its codes → indexes into values)
    parts: list[Part]
    # With both, joined pairs are shared with the other views of the index (JoinedFacets).
    name: str = ""
    joins: JoinedFacets | None = field(default=None, repr=False, compare=False)
    key: list[tuple[str, int]] = field(default_factory=list, repr=False, compare=False)
    _joined: JoinedColumn | None = field(default=None, repr=False, compare=False)
    _totals: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_segments(
        cls,
        name: str,
        segments: list[SegmentData],
        offsets: list[int],
        values: dict[str, int],
        joins: JoinedFacets | None = None,
    ) -> FacetColumn:
        """Join segment columns without copying them (codes were mapped once per segment)."""
        parts = [
            (offset, data.size, data.columns[name], data.code_maps[name])
            for data, offset in zip(segments, offsets, strict=True)
        ]
        key = [(data.segid, offset) for data, offset in zip(segments, offsets, strict=True)]
        return cls(list(values), parts, name, joins, key)

    def joined(self) -> JoinedColumn:
        """Every (docnum, value code) pair of the view, docnums ascending: the segments'
        columns joined at their offsets, built on first use and kept while the view lives.

        A count is then a few numpy calls whatever the number of segments (a per-segment
        loop cost 80 µs a segment and facet: 40 ms a search at 90 segments). Views of one
        index share the join (JoinedFacets): a commit joins only its own segments."""
        found = self._joined
        if found is None:
            if self.joins is not None:
                found = self.joins.joined(self.name, self.key, self.parts)
            else:
                docs, codes = _join_parts(self.parts)
                found = JoinedColumn(docs, codes, _part_starts(self.parts, 0))
            self._joined = found
        return found

    def counts(
        self, mask: np.ndarray | Selection, documents: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-value count of passages in mask (a boolean array over docnums, or a Selection
        other facets share), or of distinct documents when `documents` gives each docnum's
        document code."""
        selection = mask if isinstance(mask, Selection) else Selection(mask)
        joined = self.joined()
        docnums, codes = joined.docs, joined.codes
        if documents is not None:
            hit = _hits(joined, selection.mask, selection.docnums)
            return distinct_counts(docnums[hit], codes[hit], len(self.values), documents)
        if selection.mostly:
            # Most passages match (browsing): count the few that do not, from the totals.
            hit = _hits(joined, selection.unmatched_mask, selection.unmatched)
            missed = np.bincount(codes[hit], minlength=len(self.values))
            return (self.totals() - missed).astype(np.int64)
        hit = _hits(joined, selection.mask, selection.docnums)
        return np.bincount(codes[hit], minlength=len(self.values)).astype(np.int64)

    def totals(self) -> np.ndarray:
        """Pairs per value over every docnum of the view, deleted ones included."""
        if self._totals is None:
            self._totals = np.bincount(self.joined().codes, minlength=len(self.values))
        return self._totals

    def mask_for(self, wanted: Iterable[str], size: int) -> np.ndarray:
        """Boolean docnum mask of documents having any of the wanted values."""
        chosen = set(wanted)
        mask = np.zeros(size, dtype=bool)
        for offset, _, column, _ in self.parts:
            docnums, starts = column.value_runs
            for value in chosen:
                code = column.value_index.get(value)
                if code is not None:
                    mask[docnums[starts[code] : starts[code + 1]] + offset] = True
        return mask


# Matched docnums' pairs are gathered through `starts` when the docnums are fewer than this
# share of the pairs; else one pass over the pairs reads them through the mask. Measured at 1M
# passages (1.5M country pairs, random masks): a pass and its count cost 4-6 ms whatever the
# matches; gathering and counting 20,000 docnums' pairs ~1.4 ms, 200,000 docnums' as much as a
# pass, 400,000 twice as much.
SPARSE_MATCH_SHARE = 1 / 8


class Selection:
    """A docnum mask with what counting it needs, each computed once for every facet (and the
    years) counted under the same mask: its docnums, or those it leaves out when it holds most.
    """

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask
        self.size = int(np.count_nonzero(mask))
        # Most docnums selected: count the others and subtract them from the totals.
        self.mostly = self.size > mask.size - self.size
        self._docnums: np.ndarray | None = None
        self._unmatched_mask: np.ndarray | None = None
        self._unmatched: np.ndarray | None = None

    @property
    def docnums(self) -> np.ndarray:
        """The selected docnums, ascending."""
        if self._docnums is None:
            self._docnums = np.flatnonzero(self.mask)
        return self._docnums

    @property
    def unmatched_mask(self) -> np.ndarray:
        """The docnums not selected, as a mask."""
        if self._unmatched_mask is None:
            self._unmatched_mask = ~self.mask
        return self._unmatched_mask

    @property
    def unmatched(self) -> np.ndarray:
        """The docnums not selected, ascending."""
        if self._unmatched is None:
            self._unmatched = np.flatnonzero(self.unmatched_mask)
        return self._unmatched


def _hits(joined: JoinedColumn, mask: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """Positions of the pairs whose docnum is in mask (its docnums: matched), ascending."""
    if matched.size >= joined.docs.size * SPARSE_MATCH_SHARE:
        return np.flatnonzero(mask[joined.docs])
    first = joined.starts[matched]
    lengths = joined.starts[matched + 1] - first
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each docnum's pairs are one run: run k covers first[k] .. first[k] + lengths[k].
    run_starts = np.cumsum(lengths) - lengths
    return np.repeat(first - run_starts, lengths) + np.arange(total)


class FacetIndex:
    """A view's facet columns, live mask and each passage's date as an int YYYYMMDD.

    Built from per-segment data (search/segments.py): only the small per-passage arrays (live,
    dates, years: 9 bytes a passage) are joined per view; facet columns stay per segment.
    """

    def __init__(
        self,
        readers: list[tuple[IndexReader, int]],
        segments: list[SegmentData],
        facets: FacetRegistry,
        values: dict[str, dict[str, int]],
        joins: JoinedFacets | None = None,
    ) -> None:
        offsets = [offset for _, offset in readers]
        self.size = sum(data.size for data in segments)
        self.live = _joined(
            [live_mask(r, d.size) for (r, _), d in zip(readers, segments, strict=True)], bool
        )
        self.columns = {
            facet.name: FacetColumn.from_segments(
                facet.name, segments, offsets, values.get(facet.name, {}), joins
            )
            for facet in facets
            if facet.kind != YEAR and facet.field
        }
        self.dates = _joined([d.dates for d in segments], np.int32)
        # Per segment, kept with it: a commit joins them instead of dividing every date again.
        self.years = _joined([d.years for d in segments], np.int32)
        self._year_totals: np.ndarray | None = None

    def mask(self, docnums: Iterable[int] | np.ndarray) -> np.ndarray:
        """Boolean mask with True at the given docnums."""
        mask = np.zeros(self.size, dtype=bool)
        ids = np.asarray(docnums if isinstance(docnums, np.ndarray) else list(docnums), np.int64)
        if ids.size:
            mask[ids] = True
        return mask

    def date_mask(self, date_from: str | None, date_to: str | None) -> np.ndarray:
        """Passages dated within [date_from, date_to]; undated passages never match."""
        mask = self.dates > NO_DATE
        if date_from:
            mask &= self.dates >= date_int(date_from)
        if date_to:
            mask &= self.dates <= date_int(date_to)
        return mask

    def year_counts(
        self, mask: np.ndarray | Selection, documents: np.ndarray | None = None
    ) -> dict[str, int]:
        """Count of passages (or distinct documents) per year within mask (undated passages are
        not counted)."""
        selection = mask if isinstance(mask, Selection) else Selection(mask)
        mask = selection.mask
        if documents is not None:
            docnums = np.flatnonzero(mask & (self.years > 0))
            if not docnums.size:
                return {}
            per_year = distinct_counts(
                docnums, self.years[docnums], int(self.years.max()) + 1, documents
            )
            return {str(y): int(c) for y, c in enumerate(per_year) if c}
        # Years are small integers: a bincount, not the sort np.unique would do; when most
        # passages match (browsing), of the few that do not, from the totals.
        if selection.mostly:
            if self._year_totals is None:
                self._year_totals = np.bincount(self.years)
            totals = self._year_totals
            per_year = totals - np.bincount(self.years[selection.unmatched], minlength=totals.size)
        else:
            per_year = np.bincount(self.years[selection.docnums])
        per_year[:1] = 0  # undated
        (years,) = np.nonzero(per_year)
        return {str(y): int(per_year[y]) for y in years}


def _joined(parts: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def buckets(
    counts: dict[str, int],
    selected: Iterable[str],
    label: Callable[[str], str],
    size: int,
    order_by_value: bool = False,
) -> tuple[list[dict[str, object]], bool]:
    """Facet buckets `{value, label, count, selected}`, biggest first, and a truncated flag.

    Selected values always appear (count 0 included) so a user can untick what they ticked.
    """
    chosen = set(selected)
    items = [(v, c) for v, c in counts.items() if c > 0 or v in chosen]
    for value in chosen - set(counts):
        items.append((value, 0))
    if order_by_value:
        items.sort(key=lambda vc: vc[0], reverse=True)
    else:
        items.sort(key=lambda vc: (-vc[1], vc[0]))
    shown = [vc for vc in items if vc[0] in chosen]
    for vc in items:
        if len(shown) >= max(size, len(chosen)):
            break
        if vc[0] not in chosen:
            shown.append(vc)
    truncated = len(shown) < len(items)
    order = {v: i for i, (v, _) in enumerate(items)}
    shown.sort(key=lambda vc: order[vc[0]])
    return (
        [
            {"value": v, "label": label(v), "count": int(c), "selected": v in chosen}
            for v, c in shown
        ],
        truncated,
    )


def filter_masks(
    facets: FacetRegistry,
    fx: FacetIndex,
    filters: dict[str, list[str]],
    date_from: str | None,
    date_to: str | None,
    doc_docnums: list[int] | None,
) -> dict[str, np.ndarray]:
    """One boolean mask per active filter, keyed by the facet it narrows ("doc_id" for ids)."""
    masks: dict[str, np.ndarray] = {}
    for facet in facets.filters():
        wanted = filters.get(facet.param or "")
        if wanted and facet.name in fx.columns:
            masks[facet.name] = fx.columns[facet.name].mask_for(wanted, fx.size)
    if date_from or date_to:
        for facet in facets:
            if facet.kind == YEAR:
                masks[facet.name] = fx.date_mask(date_from, date_to)
                break
        else:
            masks["date"] = fx.date_mask(date_from, date_to)
    if doc_docnums is not None:
        masks["doc_id"] = fx.mask(doc_docnums)
    return masks


# Each facet's counts: value → count (years), or an array over the facet's value codes.
FacetCounts = dict[str, "dict[str, int] | np.ndarray"]


def facet_counts(
    facets: FacetRegistry,
    fx: FacetIndex,
    matched: np.ndarray,
    masks: dict[str, np.ndarray],
    documents: np.ndarray | None = None,
    start: int = 0,
) -> FacetCounts:
    """Disjunctive counts per facet: each facet's apply every filter but its own.

    Counts are passages, or distinct documents when `documents` (docnum → document code) is
    given; only of docnums from `start` on (the segments a commit added) when start > 0.
    """
    out: FacetCounts = {}
    # A facet's mask applies every filter but its own: facets without a filter of their own
    # share one (every filter applied), and its docnums are found once for all of them.
    shared: dict[str | None, Selection] = {}
    for facet in facets:
        own = facet.name if facet.name in masks else None
        mask = shared.get(own)
        if mask is None:
            combined = matched.copy()
            for other, fmask in masks.items():
                if other != own:
                    combined &= fmask
            combined[:start] = False
            mask = shared[own] = Selection(combined)
        if facet.kind == YEAR:
            out[facet.name] = fx.year_counts(mask, documents)
        else:
            out[facet.name] = fx.columns[facet.name].counts(mask, documents)
    return out


def added_counts(before: FacetCounts, more: FacetCounts) -> FacetCounts:
    """Counts of two disjoint sets of docnums summed (value codes only ever grow)."""
    out: FacetCounts = {}
    for name, counts in more.items():
        old = before[name]
        if isinstance(counts, dict):
            assert isinstance(old, dict)
            out[name] = {v: old.get(v, 0) + counts.get(v, 0) for v in old.keys() | counts.keys()}
        else:
            assert isinstance(old, np.ndarray)
            total = np.zeros(max(old.size, counts.size), dtype=np.int64)
            total[: old.size] += old
            total[: counts.size] += counts
            out[name] = total
    return out


def facet_buckets(
    facets: FacetRegistry,
    fx: FacetIndex,
    counted: FacetCounts,
    selected: dict[str, list[str]],
    size: int,
) -> tuple[dict[str, list[dict[str, object]]], dict[str, bool]]:
    """Buckets `{value, label, count, selected}` per facet from its counts, and whether each
    facet's were cut to `size`."""
    out: dict[str, list[dict[str, object]]] = {}
    truncated: dict[str, bool] = {}
    for facet in facets:
        raw = counted[facet.name]
        if isinstance(raw, dict):
            counts = raw
            chosen: list[str] = []
        else:
            values = fx.columns[facet.name].values
            counts = {v: int(c) for v, c in zip(values, raw, strict=False)}
            chosen = selected.get(facet.param or "", []) if facet.param else []
        out[facet.name], truncated[facet.name] = buckets(
            counts, chosen, facet.label, size, order_by_value=facet.kind == YEAR
        )
    return out, truncated


def count_facets(
    facets: FacetRegistry,
    fx: FacetIndex,
    matched: np.ndarray,
    masks: dict[str, np.ndarray],
    selected: dict[str, list[str]],
    size: int,
    documents: np.ndarray | None = None,
) -> tuple[dict[str, list[dict[str, object]]], dict[str, bool]]:
    """Disjunctive buckets per facet: each facet's counts apply every filter but its own.

    Counts are passages, or distinct documents when `documents` (docnum → document code) is given.
    """
    counted = facet_counts(facets, fx, matched, masks, documents)
    return facet_buckets(facets, fx, counted, selected, size)
