"""What alerts hand on: a hit as stored in the alerts database, and hits grouped by document.

A match keeps the hit as /api/search produced it when the passage was committed (score,
highlight, match offsets, the passage and its document's metadata), so an alert still reads
right after its document changed or went.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from search.facet_registry import FacetRegistry
from search.results import Hit
from search.store import PassageRecord

# Fields of a PassageRecord a stored hit leaves out: a whole document's text and page table.
DOCUMENT_ONLY = ("doc_text", "doc_pages")
# The order of a hit's fields in /api/search (api/schemas.py ApiSchemas.hit) before the tags,
# and after them.
HEAD_FIELDS = ("passage_id", "doc_id", "ordinal", "title", "date", "source", "byline", "text")
TAIL_FIELDS = ("start", "end", "page", "page_end", "score", "highlight", "matches")


def stored_hit(hit: Hit) -> dict[str, Any]:
    """A hit as the alerts database keeps it (JSON-ready)."""
    # A shallow copy (dataclasses.asdict deep-copies: a third of a percolation's time).
    passage = {k: v for k, v in vars(hit.passage).items() if k not in DOCUMENT_ONLY}
    passage["tags"] = {k: list(v) for k, v in passage["tags"].items()}
    return {
        "passage": passage,
        "highlight": hit.highlight,
        "matches": hit.matches,
        "score": hit.score,
    }


def loaded_hit(stored: dict[str, Any]) -> Hit:
    """The Hit a stored hit was made from (the API serialises it with /api/search's schema)."""
    return Hit(
        passage=PassageRecord(**stored["passage"]),
        highlight=stored["highlight"],
        matches=stored["matches"],
        score=stored["score"],
    )


def hit_json(stored: dict[str, Any], facets: FacetRegistry) -> dict[str, Any]:
    """A stored hit in /api/search's JSON shape (for webhook bodies, built outside the API)."""
    passage = stored["passage"]
    out: dict[str, Any] = {key: passage.get(key) for key in HEAD_FIELDS}
    for facet in facets.tags():
        if facet.record_key:
            out[facet.record_key] = list(passage.get("tags", {}).get(facet.record_key, []))
    for key in TAIL_FIELDS:
        out[key] = stored[key] if key in stored else passage.get(key)
    return out


def group_documents(matches: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Matches (newest first) grouped by document: the document of the newest match first,
    each `{doc_id, title, date, matched_at, passages}` with its passages best score first."""
    documents: dict[str, dict[str, Any]] = {}
    for match in matches:
        passage = match["hit"]["passage"]
        doc = documents.get(match["doc_id"])
        if doc is None:
            doc = documents[match["doc_id"]] = {
                "doc_id": match["doc_id"],
                "title": passage.get("title"),
                "date": passage.get("date"),
                "matched_at": match["matched_at"],
                "passages": [],
            }
        doc["passages"].append(match["hit"])
    for doc in documents.values():
        doc["passages"].sort(
            key=lambda h: (-(h["score"] or 0.0), h["passage"]["ordinal"], h["passage"]["doc_id"])
        )
    return list(documents.values())
