"""`explain`: a hit's score broken down by query term and field, plus the rescoring part."""

from __future__ import annotations

from whoosh import query as wq
from whoosh.searching import Searcher

from search.highlighting import MARKED_FIELDS
from search.querying import ParsedQuery, positive_leaves
from search.rescoring import SemanticPart
from search.results import Explanation, SemanticScore, TermScore


def explain_hit(
    searcher: Searcher,
    parsed: ParsedQuery,
    docnum: int,
    score: float | None,
    semantic: SemanticPart | None,
) -> Explanation:
    """The BM25 score, each matched term's part of it, and what rescoring added."""
    terms: list[TermScore] = []
    for fieldname, text in _scored_terms(parsed.query):
        part = _term_score(searcher, fieldname, text, docnum)
        if part is not None:
            terms.append(TermScore(term=text, field=fieldname, score=round(part, 4)))
    bm25 = semantic.bm25 if semantic is not None else score
    return Explanation(
        bm25=round(bm25, 4) if bm25 is not None else None,
        terms=terms,
        semantic=(
            SemanticScore(semantic.similarity, semantic.weight, semantic.score)
            if semantic is not None
            else None
        ),
    )


def _scored_terms(query: wq.Query) -> list[tuple[str, str]]:
    """(field, stem) of every scoring word of the query: terms and phrase words, not exclusions."""
    found: dict[tuple[str, str], None] = {}
    for node in positive_leaves(query):
        if getattr(node, "fieldname", None) not in MARKED_FIELDS:
            continue
        if isinstance(node, wq.Term):
            found[(node.fieldname, str(node.text))] = None
        elif isinstance(node, wq.Phrase):
            for word in node.words:
                found[(node.fieldname, str(word))] = None
    return list(found)


def _term_score(searcher: Searcher, fieldname: str, text: str, docnum: int) -> float | None:
    """The BM25 score one term gives one passage (None when the passage lacks the term)."""
    # A search for the term restricted to this passage: Whoosh's own scorer, same statistics.
    results = searcher.search(wq.Term(fieldname, text), filter={docnum}, limit=1)
    return float(results[0].score) if len(results) else None
