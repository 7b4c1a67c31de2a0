"""Results by document: one hit per document ranked by its best passage, counts in documents.

Five passages of one article read as repetition, so a grouped search shows each document once, at
the rank of its best passage, with its top passages beside it (Elasticsearch's field collapsing
with inner hits). Everything is numpy over the match mask and a passage → document array built
once per index view: exact document totals and per-document facet counts without a loop over
matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Passages shown under each grouped hit unless the client asks for another number.
DEFAULT_GROUP_SIZE = 3
# At most this many per document: a document's passages beyond it are one click away (doc view).
MAX_GROUP_SIZE = 20
# "passage": one hit per passage, as always; "document": one per document.
GROUPS = ("passage", "document")
UNITS = ("passage", "document")


def document_codes(snap: Any) -> np.ndarray:
    """Each docnum's document code (int32; -1 where none) for this index view, built once."""
    codes, _ = snap.cached(
        "passage_documents", lambda: snap.view.passage_documents(snap.facets.size)
    )
    return codes


def count_documents(mask: np.ndarray, codes: np.ndarray) -> int:
    """How many distinct documents the passages in mask belong to."""
    found = codes[mask]
    found = found[found >= 0]
    if not found.size:
        return 0
    return int(np.count_nonzero(np.bincount(found)))


def distinct_counts(
    docnums: np.ndarray, values: np.ndarray, n_values: int, codes: np.ndarray
) -> np.ndarray:
    """Per value, how many distinct documents have a passage with it, from (docnum, value)
    pairs already restricted to the matches: pairs made unique per document, then counted."""
    docs = codes[docnums].astype(np.int64)
    keep = docs >= 0
    if not keep.any():
        return np.zeros(n_values, dtype=np.int64)
    width = int(docs.max()) + 1
    pairs = np.unique(values[keep].astype(np.int64) * width + docs[keep])
    return np.bincount(pairs // width, minlength=n_values)


@dataclass
class Group:
    """One document of a grouped page: its top passages (docnums, best first) with their
    scores, and how many of its passages matched."""

    docnums: list[int]
    scores: list[float | None]
    matched: int


def group_page(
    order: np.ndarray,
    scores: np.ndarray | None,
    codes: np.ndarray,
    offset: int,
    count: int,
    group_size: int,
) -> tuple[list[Group], int]:
    """Documents offset..offset+count of the ranked passages `order` (each document at the
    rank of its first passage there) with their top `group_size` passages, and the exact
    number of documents in all."""
    docs = codes[order]
    unique, first = np.unique(docs, return_index=True)
    valid = unique >= 0
    unique, first = unique[valid], first[valid]
    total_documents = int(unique.size)
    ranked_docs = unique[np.argsort(first, kind="stable")]
    page_docs = ranked_docs[offset : offset + count]
    if not page_docs.size:
        return [], total_documents
    # Only the page's documents' passages are looked at, in ranked order.
    positions = np.flatnonzero(np.isin(docs, page_docs))
    owners = docs[positions]
    groups = []
    for doc in page_docs:
        mine = positions[owners == doc]
        top = mine[:group_size]
        groups.append(
            Group(
                docnums=[int(d) for d in order[top]],
                scores=[None] * len(top) if scores is None else [float(s) for s in scores[top]],
                matched=int(mine.size),
            )
        )
    return groups, total_documents
