"""Columnar facet data built once per searcher, so counting a result set is a numpy bincount.

Which facets exist is the registry's business (search/facet_registry.py); this module builds
their arrays, turns filters into masks and counts disjunctively.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from whoosh.reading import IndexReader

from search.facet_registry import YEAR, FacetRegistry
from search.grouping import distinct_counts

NO_DATE = 0


@dataclass
class FacetColumn:
    """Every (docnum, value code) pair of one field, for counting and filtering by value."""

    values: list[str]
    docnums: np.ndarray  # int32, one entry per (doc, value) pair
    codes: np.ndarray  # int32, index into values

    @classmethod
    def from_reader(cls, reader: IndexReader, fieldname: str) -> FacetColumn:
        """Read the field's terms and postings (cheap: a facet field has few distinct values)."""
        values: list[str] = []
        doc_parts: list[np.ndarray] = []
        code_parts: list[np.ndarray] = []
        if fieldname in reader.indexed_field_names():
            for value in reader.field_terms(fieldname):
                ids = np.fromiter(reader.postings(fieldname, value).all_ids(), dtype=np.int32)
                doc_parts.append(ids)
                code_parts.append(np.full(len(ids), len(values), dtype=np.int32))
                values.append(value)
        docnums = np.concatenate(doc_parts) if doc_parts else np.zeros(0, np.int32)
        codes = np.concatenate(code_parts) if code_parts else np.zeros(0, np.int32)
        return cls(values, docnums, codes)

    def counts(self, mask: np.ndarray, documents: np.ndarray | None = None) -> np.ndarray:
        """Per-value count of passages in mask (a boolean array over docnums), or of distinct
        documents when `documents` gives each docnum's document code."""
        hit = mask[self.docnums]
        if documents is not None:
            return distinct_counts(self.docnums[hit], self.codes[hit], len(self.values), documents)
        return np.bincount(self.codes[hit], minlength=len(self.values))

    def mask_for(self, wanted: Iterable[str], size: int) -> np.ndarray:
        """Boolean docnum mask of documents having any of the wanted values."""
        index = {v: i for i, v in enumerate(self.values)}
        codes = [index[v] for v in wanted if v in index]
        mask = np.zeros(size, dtype=bool)
        if codes:
            mask[self.docnums[np.isin(self.codes, codes)]] = True
        return mask


class FacetIndex:
    """Per-searcher arrays: facet columns and each passage's date as an int YYYYMMDD."""

    def __init__(self, reader: IndexReader, facets: FacetRegistry) -> None:
        self.size = reader.doc_count_all()
        self.live = np.zeros(self.size, dtype=bool)
        self.live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        self.columns = {
            facet.name: FacetColumn.from_reader(reader, facet.field)
            for facet in facets
            if facet.kind != YEAR and facet.field
        }
        self.dates = np.full(self.size, NO_DATE, dtype=np.int32)
        date_column = FacetColumn.from_reader(reader, "date")
        for code, value in enumerate(date_column.values):
            self.dates[date_column.docnums[date_column.codes == code]] = _date_int(value)
        self.years = np.where(self.dates > 0, self.dates // 10000, 0)

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
            mask &= self.dates >= _date_int(date_from)
        if date_to:
            mask &= self.dates <= _date_int(date_to)
        return mask

    def year_counts(self, mask: np.ndarray, documents: np.ndarray | None = None) -> dict[str, int]:
        """Count of passages (or distinct documents) per year within mask (undated passages are
        not counted)."""
        if documents is not None:
            docnums = np.flatnonzero(mask & (self.years > 0))
            if not docnums.size:
                return {}
            per_year = distinct_counts(
                docnums, self.years[docnums], int(self.years.max()) + 1, documents
            )
            return {str(y): int(c) for y, c in enumerate(per_year) if c}
        years = self.years[mask]
        years = years[years > 0]
        values, counts = np.unique(years, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}


def _date_int(iso: str) -> int:
    return int(iso[:10].replace("-", ""))


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
    out: dict[str, list[dict[str, object]]] = {}
    truncated: dict[str, bool] = {}
    for facet in facets:
        mask = matched.copy()
        for other, fmask in masks.items():
            if other != facet.name:
                mask &= fmask
        if facet.kind == YEAR:
            counts = fx.year_counts(mask, documents)
            chosen: list[str] = []
        else:
            column = fx.columns[facet.name]
            raw = column.counts(mask, documents)
            counts = {v: int(c) for v, c in zip(column.values, raw, strict=True)}
            chosen = selected.get(facet.param or "", []) if facet.param else []
        out[facet.name], truncated[facet.name] = buckets(
            counts, chosen, facet.label, size, order_by_value=facet.kind == YEAR
        )
    return out, truncated
