"""Columnar facet data built once per searcher, so counting a result set is a numpy bincount."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from whoosh.reading import IndexReader

# Facet name in the API → (index field, multi-valued).
FACET_FIELDS = {"country": "countries", "topic": "topics", "source": "source"}
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

    def counts(self, mask: np.ndarray) -> np.ndarray:
        """Per-value count of documents in mask (a boolean array over docnums)."""
        hit = mask[self.docnums]
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

    def __init__(self, reader: IndexReader) -> None:
        self.size = reader.doc_count_all()
        self.live = np.zeros(self.size, dtype=bool)
        self.live[np.fromiter(reader.all_doc_ids(), dtype=np.int64)] = True
        self.columns = {
            name: FacetColumn.from_reader(reader, f) for name, f in FACET_FIELDS.items()
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

    def year_counts(self, mask: np.ndarray) -> dict[str, int]:
        """Count of passages per year within mask (undated passages are not counted)."""
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
