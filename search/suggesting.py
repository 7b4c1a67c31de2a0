""" "Did you mean": correct unknown words against the index's stems, read back as written."""

from __future__ import annotations

from typing import Any

import numpy as np
from whoosh import query as wq
from whoosh.searching import Searcher

from search.facets import FacetIndex
from search.querying import ParsedQuery, QueryReader, common_words

# A query that finds fewer hits than this gets a "did you mean" when a correction finds more.
SUGGEST_BELOW = 3


def suggest(
    searcher: Searcher,
    reader: QueryReader,
    fx: FacetIndex,
    parsed: ParsedQuery,
    filters: dict[str, np.ndarray],
    total: int,
) -> str | None:
    """A corrected query that finds more than the original under the same filters, or None."""
    if not parsed.words:
        return None
    analyzer = reader.analyzer
    corrector = searcher.corrector("text")
    corrected, changed = [], False
    common = common_words()
    for word in parsed.words:
        if word in common:
            # "did" is no misspelling of "due": common words are left as typed.
            corrected.append(word)
            continue
        stems = [t.text for t in analyzer(word, mode="query")]
        stem = stems[0] if stems else word
        options = []
        if searcher.doc_frequency("text", stem) == 0:
            options = corrector.suggest(stem, limit=1, maxdist=2, prefix=1)
        surface = _surface_form(searcher, analyzer, options[0]) if options else None
        if surface and surface != word:
            corrected.append(surface)
            changed = True
        else:
            corrected.append(word)
    if not changed:
        return None
    text = " ".join(corrected)
    candidate = reader.parse(text)
    mask = fx.mask(np.fromiter(searcher.docs_for_query(candidate.query), np.int64))
    for fmask in filters.values():
        mask &= fmask
    return text if int(mask.sum()) > total else None


def _surface_form(searcher: Searcher, analyzer: Any, stem: str) -> str | None:
    """The word as written in a passage that contains the stem ("migrat" → "migration")."""
    results = searcher.search(wq.Term("text", stem), limit=1)
    if not results:
        return None
    text = results[0].get("text", "")
    for token in analyzer(text, chars=True, mode="index", removestops=False):
        if token.text == stem:
            return str(text[token.startchar : token.endchar]).lower()
    return None
