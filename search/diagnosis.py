"""Why a search found nothing, and the nearest search that finds something.

Run only when a search has no hits: each word's matches on its own (under the filters), the
result without each active filter, and the best relaxed search (one word or one filter
dropped, the one that finds the most).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from whoosh import query as wq

from search.facet_registry import YEAR
from search.querying import ParsedQuery
from search.results import Diagnosis, FilterCount, RelaxedQuery, SearchRequest, TermCount
from search.snapshots import Snapshot, bound_expansions

if TYPE_CHECKING:
    from search.searching import SearchEngine

DATE_FILTER = "date"


def diagnose(
    engine: SearchEngine,
    snap: Snapshot,
    parsed: ParsedQuery,
    request: SearchRequest,
    masks: dict[str, np.ndarray],
) -> Diagnosis:
    """Per word and per filter counts for an empty result, and the best relaxed search."""
    terms = _term_counts(engine, snap, parsed, masks)
    filters: list[FilterCount] = []
    candidates: list[RelaxedQuery] = []
    for key in masks:
        others = {k: m for k, m in masks.items() if k != key}
        matches = engine.count(snap, parsed, others)
        param, value = _describe_filter(engine, request, key)
        filters.append(FilterCount(param, value, matches))
        if matches:
            candidates.append(_without_filter(request, param, value, matches))
    words = list(dict.fromkeys(parsed.words))
    if parsed.plain and len(words) > 1:
        for word in words:
            rest = " ".join(w for w in words if w != word)
            total = engine.count(snap, engine.query_reader.parse(rest, request.match), masks)
            if total:
                candidates.append(
                    RelaxedQuery(
                        q=rest,
                        filters={k: list(v) for k, v in request.filters.items() if v},
                        date_from=request.date_from,
                        date_to=request.date_to,
                        dropped=f"word: {word}",
                        total=total,
                    )
                )
    # The most hits wins; on a tie, dropping a filter (listed first) keeps every word typed.
    relaxed = max(candidates, key=lambda c: c.total, default=None)
    return Diagnosis(terms=terms, filters=filters, relaxed=relaxed)


def _term_counts(
    engine: SearchEngine, snap: Snapshot, parsed: ParsedQuery, masks: dict[str, np.ndarray]
) -> list[TermCount]:
    # Counted on the query as searched (prefixes bounded to their words, each still one clause:
    # a diagnosis must not undo the query cost limits), labelled with the clauses as typed.
    bounded, _ = bound_expansions(
        parsed.query, snap.searcher.reader(), snap.cached, keep_clauses=True
    )
    typed = _typed_words(engine, parsed)
    counts = []
    for clause, searched in zip(_clauses(parsed.query), _clauses(bounded), strict=True):
        mask = snap.mask_of(searched)
        for fmask in masks.values():
            mask &= fmask
        counts.append(TermCount(_label(clause, typed), int(mask.sum())))
    return counts


def _clauses(query: wq.Query) -> list[wq.Query]:
    return list(query.subqueries) if isinstance(query, (wq.And, wq.Or)) else [query]


def _typed_words(engine: SearchEngine, parsed: ParsedQuery) -> dict[str, str]:
    """Stem → the word as the analyst typed it, so the diagnosis speaks their words."""
    analyzer = engine.query_reader.analyzer
    typed: dict[str, str] = {}
    for word in parsed.words:
        for token in analyzer(word, mode="query"):
            typed.setdefault(token.text, word)
    return typed


def _label(clause: wq.Query, typed: dict[str, str]) -> str:
    if isinstance(clause, wq.Term):
        word = typed.get(str(clause.text), str(clause.text))
        return word if clause.fieldname in ("text", "title") else f"{clause.fieldname}:{word}"
    if isinstance(clause, wq.Phrase):
        return '"' + " ".join(typed.get(str(w), str(w)) for w in clause.words) + '"'
    if isinstance(clause, wq.Prefix):
        return f"{clause.text}*"
    if isinstance(clause, wq.Wildcard):
        return str(clause.text)
    return str(clause)


def _describe_filter(engine: SearchEngine, request: SearchRequest, key: str) -> tuple[str, str]:
    """(parameter, value as sent) of the filter behind a mask key."""
    if key == "doc_id":
        return "doc_id", ",".join(request.doc_id)
    facet = next((f for f in engine.facets if f.name == key), None)
    if facet is None or facet.kind == YEAR or not facet.param:
        return DATE_FILTER, f"{request.date_from or ''}..{request.date_to or ''}"
    return facet.param, ",".join(request.filters.get(facet.param, []))


def _without_filter(request: SearchRequest, param: str, value: str, total: int) -> RelaxedQuery:
    filters = {k: list(v) for k, v in request.filters.items() if v and k != param}
    dates = (None, None) if param == DATE_FILTER else (request.date_from, request.date_to)
    return RelaxedQuery(
        q=request.q,
        filters=filters,
        date_from=dates[0],
        date_to=dates[1],
        dropped=f"{param}: {value}",
        total=total,
    )
