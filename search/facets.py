"""Columnar facet data built once per searcher, so counting a result set is a numpy bincount.

Which facets exist is the registry's business (search/facet_registry.py); this module builds
their arrays, turns filters into masks and counts disjunctively.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
from whoosh.reading import IndexReader

from search.facet_registry import YEAR, FacetRegistry
from search.grouping import distinct_counts
from search.kernels import count_pairs, count_slots
from search.segments import NO_DATE, SegmentColumn, SegmentData, date_int, live_mask

Part = tuple[int, int, SegmentColumn, np.ndarray]

# Room left at the end of a joined column for the segments of later commits, as a share of its
# size: a commit that only adds segments then writes their values in place (a watcher commit at
# 1.2M passages re-joined 1.8M pairs per facet, 65 ms, before its first search could count).
JOIN_HEADROOM = 0.25
# A passage's first values sit in slot arrays, one value code per passage each, so counting
# matches is a gather and a bincount per slot (at 1M passages and 91,620 matches: 0.4-0.6 ms a
# slot, against 5-7 ms a facet for finding each match's pairs through where they start). The
# values past the slots are kept as (docnum, code) pairs that a count reads through the mask in
# one pass: the join takes the fewest slots (at most MAX_SLOTS) that leave no more such pairs
# than OVERFLOW_SHARE of the passages. Measured at 1M for 20,000 to 300,000 matches, three
# slots were the fastest for countries and regions (up to 18 and 14 values a passage; four
# slots cost 10-30 % more, one slot 60-200 % more), one or two for subject countries: a
# quarter picks one for topics and subject countries, three for countries and regions.
MAX_SLOTS = 4
OVERFLOW_SHARE = 1 / 4
# A slot holds value code + 1 (0: no value), two bytes a passage and slot: a gather of int16
# stays in cache where int64 does not (measured 0.13 vs 1.1 ms at 1M). Past 32,766 values a
# facet's slots are int32.
SLOT_DTYPES = (np.int16, np.int32)


def _slot_count(parts: list[Part]) -> int:
    """How many slots the parts' passages need (see OVERFLOW_SHARE)."""
    size = sum(part_size for _, part_size, _, _ in parts)
    per_doc = [np.bincount(c.docnums, minlength=n) for _, n, c, _ in parts]
    values_per_doc = np.bincount(np.concatenate(per_doc)) if per_doc else np.zeros(1, np.int64)
    if values_per_doc.size == 1:
        return 0  # no values yet: what later commits add is counted as pairs
    widths = np.arange(values_per_doc.size)
    for slots in range(1, MAX_SLOTS + 1):
        overflow = int((np.maximum(widths - slots, 0) * values_per_doc).sum())
        if overflow <= size * OVERFLOW_SHARE:
            return slots
    return MAX_SLOTS


def _slot_dtype(values: int) -> type:
    """The smallest slot type that holds every value code + 1."""
    for dtype in SLOT_DTYPES:
        if values < np.iinfo(dtype).max:
            return dtype
    raise ValueError(f"{values} facet values do not fit a slot")


def _fill(parts: list[Part], slots: np.ndarray, first: int) -> tuple[np.ndarray, np.ndarray]:
    """Write the parts' first values into slots (docnums shifted by `first`, the first part's
    offset) and return the rest as (docnum, code) pairs."""
    more_docs, more_codes = [], []
    width = slots.shape[0]
    for offset, _, column, code_map in parts:
        docnums = column.docnums
        if not docnums.size:
            continue
        codes = code_map[column.codes]
        at = offset - first
        # A passage's values are side by side: a pair starts a run where its docnum changes,
        # and its rank among its passage's values is its distance from the run's start.
        starts_run = np.empty(docnums.size, dtype=bool)
        starts_run[0] = True
        np.not_equal(docnums[1:], docnums[:-1], out=starts_run[1:])
        if starts_run.all() and width:
            slots[0, docnums + at] = codes + 1  # one value a passage: all in the first slot
            continue
        runs = np.flatnonzero(starts_run)
        rank = np.arange(docnums.size) - runs[np.cumsum(starts_run) - 1]
        in_slots = rank < width
        if width == 1:
            slots[0, docnums[in_slots] + at] = codes[in_slots] + 1
        elif width:
            # Every slot in one scatter (a pass per slot cost 40 % more at 1M).
            slots[rank[in_slots], docnums[in_slots] + at] = codes[in_slots] + 1
        past = ~in_slots
        more_docs.append(docnums[past].astype(np.intp) + offset)
        more_codes.append(codes[past])
    return (
        np.concatenate(more_docs) if more_docs else np.zeros(0, np.intp),
        np.concatenate(more_codes).astype(np.int32) if more_codes else np.zeros(0, np.int32),
    )


@dataclass
class _Join:
    """One facet's joined values: (segment id, offset) per part, slot buffers whose first
    `size` columns hold the parts' passages, and overflow buffers whose first `ends[-1]` entries
    hold their further pairs (ends: up to each part's end)."""

    key: list[tuple[str, int]]
    size: int
    slots: np.ndarray
    ends: list[int]
    more_docs: np.ndarray
    more_codes: np.ndarray

    def column(self, size: int, end: int) -> JoinedColumn:
        """What a view of `size` passages (overflow up to `end`) reads."""
        return JoinedColumn(self.slots[:, :size], self.more_docs[:end], self.more_codes[:end])


class JoinedFacets:
    """Joined facet columns shared by successive views of one index (kept by SegmentCache).

    Whoosh segments never change and a commit appends its segments after the others, so a
    view whose segments extend the last joined view's writes only the new segments' values,
    past the end older views read; any other change (a merge) joins anew in new buffers.
    """

    def __init__(self) -> None:
        self._joins: dict[str, _Join] = {}
        self._lock = threading.Lock()

    def joined(
        self, name: str, key: list[tuple[str, int]], parts: list[Part], values: int
    ) -> JoinedColumn:
        """The view's values of facet `name`; key gives each part's (segment id, offset),
        values how many values the view's codes index."""
        size = parts[-1][0] + parts[-1][1] if parts else 0
        with self._lock:
            join = self._joins.get(name)
            known = len(join.key) if join is not None else 0
            if join is not None and join.key[: len(key)] == key:
                # This view, or an older one still searched: a prefix of what is joined.
                return join.column(size, join.ends[len(key) - 1] if key else 0)
            fits = join is not None and values < np.iinfo(join.slots.dtype).max
            if join is not None and fits and key[:known] == join.key:
                first = parts[known][0]
                if size > join.slots.shape[1]:
                    join.slots = _grown(join.slots, join.size, size)
                # Older views read only their own passages' slots; the new ones start empty.
                join.slots[:, first:size] = 0
                docs, codes = _fill(parts[known:], join.slots[:, first:size], first)
                start = join.ends[-1] if join.ends else 0
                end = start + docs.size
                if end > join.more_docs.size:
                    join.more_docs = _grown(join.more_docs, start, end)
                    join.more_codes = _grown(join.more_codes, start, end)
                join.more_docs[start:end] = docs
                join.more_codes[start:end] = codes
                join.ends += _part_ends(parts[known:], docs, start)
                join.key, join.size = list(key), size
                return join.column(size, end)
            slots = _grown(np.zeros((_slot_count(parts), 0), _slot_dtype(values)), 0, size)
            docs, codes = _fill(parts, slots, 0)
            join = _Join(
                list(key),
                size,
                slots,
                _part_ends(parts, docs, 0),
                _grown(docs, docs.size, docs.size),
                _grown(codes, codes.size, codes.size),
            )
            self._joins[name] = join
            return join.column(size, docs.size)


@dataclass(frozen=True)
class JoinedColumn:
    """A view's facet values: each passage's first values in slots (value code + 1 per
    passage, 0 for none; one row a slot), and its further ones as (docnum, code) pairs."""

    slots: np.ndarray
    more_docs: np.ndarray
    more_codes: np.ndarray

    def counts(self, docnums: np.ndarray, mask: np.ndarray, values: int) -> np.ndarray:
        """Per value code, how many of the given passages (docnums, or as a mask) have it."""
        counts = np.zeros(values + 1, dtype=np.int64)
        count_slots(self.slots, docnums, counts)
        out = counts[1:]
        count_pairs(self.more_docs, self.more_codes, mask, out)
        return out

    def pairs(self, docnums: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every (docnum, value code) pair of the given passages (docnums, or as a mask)."""
        docs, codes = [], []
        for slot in self.slots:
            found = slot.take(docnums)
            here = found > 0
            docs.append(docnums[here])
            codes.append(found[here].astype(np.int64) - 1)
        hit = mask[self.more_docs]
        docs.append(self.more_docs[hit])
        codes.append(self.more_codes[hit].astype(np.int64))
        return np.concatenate(docs), np.concatenate(codes)

    def totals(self, values: int) -> np.ndarray:
        """Per value code, how many passages of the view have it (deleted ones included)."""
        return _tally(iter(self.slots), self.more_codes, values)


def _tally(slotted: Iterator[np.ndarray], more: np.ndarray, values: int) -> np.ndarray:
    """Per value code, how often it occurs: in slot values (code + 1, 0 for none) and in codes
    past the slots."""
    counts = np.zeros(values + 1, dtype=np.int64)
    for found in slotted:
        counts += np.bincount(found, minlength=values + 1)[: values + 1]
    out = counts[1:]
    out += np.bincount(more, minlength=values)[:values]
    return out


def _part_ends(parts: list[Part], docs: np.ndarray, start: int) -> list[int]:
    """Where each part's overflow pairs end in the joined buffers (docs: theirs, ascending),
    the first part's starting at start."""
    ends = np.searchsorted(docs, [offset + size for offset, size, _, _ in parts])
    return [start + int(end) for end in ends]


def _grown(array: np.ndarray, used: int, needed: int) -> np.ndarray:
    """A new buffer holding array's first `used` entries (along its last axis), with room for
    needed and headroom."""
    grown = np.zeros((*array.shape[:-1], int(needed * (1 + JOIN_HEADROOM)) + 16), dtype=array.dtype)
    grown[..., :used] = array[..., :used]
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
        """The view's values of this facet, joined from its segments on first use and kept
        while the view lives.

        A count is then a few numpy calls whatever the number of segments (a per-segment
        loop cost 80 µs a segment and facet: 40 ms a search at 90 segments). Views of one
        index share the join (JoinedFacets): a commit joins only its own segments."""
        found = self._joined
        if found is None:
            joins = self.joins if self.joins is not None else JoinedFacets()
            found = self._joined = joins.joined(self.name, self.key, self.parts, len(self.values))
        return found

    def counts(
        self, mask: np.ndarray | Selection, documents: np.ndarray | None = None
    ) -> np.ndarray:
        """Per-value count of passages in mask (a boolean array over docnums, or a Selection
        other facets share), or of distinct documents when `documents` gives each docnum's
        document code."""
        selection = mask if isinstance(mask, Selection) else Selection(mask)
        joined, values = self.joined(), len(self.values)
        if documents is not None:
            docnums, codes = joined.pairs(selection.docnums, selection.mask)
            return distinct_counts(docnums, codes, values, documents)
        if selection.mostly:
            # Most passages match (browsing): count the few that do not, from the totals.
            missed = joined.counts(selection.unmatched, selection.unmatched_mask, values)
            return self.totals() - missed
        return joined.counts(selection.docnums, selection.mask, values)

    def totals(self) -> np.ndarray:
        """Passages per value over every docnum of the view, deleted ones included."""
        if self._totals is None:
            self._totals = self.joined().totals(len(self.values))
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


class Selection:
    """A docnum mask with what counting it needs, each computed once for every facet (and the
    years) counted under the same mask: its docnums, or those it leaves out when it holds most.
    """

    def __init__(self, mask: np.ndarray, docnums: np.ndarray | None = None) -> None:
        """`docnums`, when the caller knows them, are the mask's (ascending)."""
        self.mask = mask
        self.size = int(np.count_nonzero(mask)) if docnums is None else docnums.size
        # Most docnums selected: count the others and subtract them from the totals.
        self.mostly = self.size > mask.size - self.size
        self._docnums = docnums
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
        self._year_size: int | None = None

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
        if not self.years.size:
            return {}
        # Years are small integers, counted like a facet's codes in one slot (0: undated, not
        # counted); when most passages match (browsing), of the few that do not, from the
        # totals.
        column = self.years[None, :]
        if self._year_size is None:
            self._year_size = int(self.years.max()) + 1
        per_year = np.zeros(self._year_size, dtype=np.int64)
        if selection.mostly:
            if self._year_totals is None:
                self._year_totals = np.bincount(self.years, minlength=self._year_size)
                self._year_totals[0] = 0
            count_slots(column, selection.unmatched, per_year)
            per_year = self._year_totals - per_year
        else:
            count_slots(column, selection.docnums, per_year)
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
    matched_docnums: np.ndarray | None = None,
    final: Selection | None = None,
) -> FacetCounts:
    """Disjunctive counts per facet: each facet's apply every filter but its own.

    Counts are passages, or distinct documents when `documents` (docnum → document code) is
    given; only of docnums from `start` on (the segments a commit added) when start > 0.
    `matched_docnums`, when the ranking knows them, are matched's docnums (ascending): each
    facet's are then those passing its filters, not a pass over its mask. `final`, when the
    caller has it, is matched under every filter: the facets without a filter of their own
    count it (with start 0) instead of making it again.
    """
    out: FacetCounts = {}
    # A facet's mask applies every filter but its own: facets without a filter of their own
    # share one (every filter applied), and its docnums are found once for all of them.
    shared: dict[str | None, Selection] = {}
    for facet in facets:
        own = facet.name if facet.name in masks else None
        mask = shared.get(own)
        if mask is None and own is None and final is not None and not start:
            mask = shared[own] = final
        if mask is None:
            combined = matched.copy()
            docnums = matched_docnums
            if docnums is not None and start:
                docnums = docnums[np.searchsorted(docnums, start) :]
            for other, fmask in masks.items():
                if other != own:
                    combined &= fmask
                    if docnums is not None:
                        docnums = docnums[fmask[docnums]]
            combined[:start] = False
            mask = shared[own] = Selection(combined, docnums)
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
