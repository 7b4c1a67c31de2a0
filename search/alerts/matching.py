"""A saved search run over a few passages only (a commit's), through the engine's own stages.

Parsing, expansion bounds, filter masks, matching, BM25 scores and highlights are the ones
`SearchEngine.search` uses, so a passage's score, filters and highlight in an alert are what
/api/search shows for it. What differs: the match set is cut to the given passages, and there is
no relaxed reading, spelling correction, rescoring or diagnosis (an alert reports what the
search finds as typed, never a guess).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from whoosh import query as wq

from search.facets import filter_masks
from search.querying import ParsedQuery, positive_leaves
from search.results import Hit, SearchRequest
from search.searching import SearchEngine, _ranked_within
from search.snapshots import Snapshot

# The mask key of the passages being percolated (no facet is named so).
WITHIN = "_within"
# Fields whose words the pre-check knows (the passage text, with its title, is indexed there).
TEXT_FIELD = "text"


def indexed_terms(engine: SearchEngine, snap: Snapshot, docnums: Iterable[int]) -> set[str]:
    """Every word (as indexed: stemmed, stop words out) of these passages' text field."""
    analyzer = engine.query_reader.analyzer
    words: set[str] = set()
    for docnum in docnums:
        stored = snap.searcher.stored_fields(docnum)
        title = stored.get("title")
        text = stored.get("text", "")
        # As the writer indexes it (search/store.py passage_fields): the title, then the text.
        words.update(t.text for t in analyzer(f"{title}\n{text}" if title else text))
    return words


def could_match(parsed: ParsedQuery, words: set[str]) -> bool:
    """False only when no passage holding just `words` can match the query.

    A match needs one of the query's positive leaves to match (AND, OR, AND NOT and AND MAYBE
    all do); when every positive leaf is a word, phrase or prefix on the text field and none of
    them is among the words, nothing can. Anything else (field queries, pure exclusions, an
    empty query) may match, and is run.
    """
    if parsed.is_empty:
        return True
    leaves = positive_leaves(parsed.query)
    if not leaves:
        return True
    for leaf in leaves:
        if getattr(leaf, "fieldname", None) != TEXT_FIELD:
            return True
        if isinstance(leaf, (wq.Prefix, wq.Wildcard)):
            prefix = str(leaf.text).split("*")[0].split("?")[0].lower()
            if any(word.startswith(prefix) for word in words):
                return True
        elif isinstance(leaf, wq.Phrase):
            if all(str(w) in words for w in leaf.words):
                return True
        elif isinstance(leaf, wq.Term):
            if str(leaf.text) in words:
                return True
        else:
            return True
    return False


def hits_within(
    engine: SearchEngine,
    snap: Snapshot,
    request: SearchRequest,
    within: np.ndarray,
    parsed: ParsedQuery | None = None,
) -> list[Hit]:
    """Every hit of request among the passages of `within` (a docnum mask of snap), ranked as
    /api/search ranks them (relevance, or date for an empty query)."""
    parsed = parsed or engine.query_reader.parse(request.q, request.match)
    query, _ = engine._bounded(snap, parsed)
    doc_docnums = None
    if request.doc_id:
        doc_docnums = [n for d in request.doc_id for n in snap.view.docnums(d)]
    masks = filter_masks(
        engine.facets,
        snap.facets,
        request.filters,
        request.date_from,
        request.date_to,
        doc_docnums,
    )
    masks[WITHIN] = within
    _, ranked, final, total, _ = engine._matches(snap, parsed, query, masks)
    if total == 0:
        return []
    docnums = np.flatnonzero(final)
    scored: list[tuple[int, float | None]]
    if parsed.is_empty:
        dates = snap.facets.dates[docnums].astype(np.int64)
        key = np.where(dates > 0, -dates, np.iinfo(np.int64).max)
        scored = [(int(d), None) for d in docnums[np.lexsort((docnums, key))]]
    elif ranked is not None:
        scores = ranked.scores[docnums]
        order = np.lexsort((docnums, -scores))
        scored = [(int(docnums[i]), float(scores[i])) for i in order]
    else:
        found, _ = _ranked_within(snap.searcher, query, total, set(docnums.tolist()), None)
        scored = [(d, s) for d, s in found]
    return [engine._hit(snap.searcher, parsed, docnum, score) for docnum, score in scored]
