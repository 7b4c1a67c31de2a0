"""Typed requests and results of the read side; the API's marshmallow schemas serialise them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from search.store import PassageRecord

SORTS = ("relevance", "newest", "oldest")
DOCUMENT_SORTS = ("doc_id", "newest")


@dataclass
class SearchRequest:
    """Everything a client can ask of a search, already validated at the edge (API or CLI)."""

    q: str = ""
    # Facet parameter → wanted values (`{"country": ["EC"]}`), OR within a facet, AND across.
    filters: dict[str, list[str]] = field(default_factory=dict)
    doc_id: list[str] = field(default_factory=list)
    date_from: str | None = None
    date_to: str | None = None
    sort: str = "relevance"
    page: int = 1
    per_page: int = 10
    facet_size: int = 20

    def wanted(self, param: str | None) -> list[str]:
        """The values asked for under a filter parameter (none when it is not set)."""
        return list(self.filters.get(param, ())) if param else []


@dataclass
class QueryInfo:
    """How the query text was read."""

    interpreted: str
    fallback: bool
    message: str | None
    rescored: bool
    # True when the search hit its time budget (BRIEFING_SEARCH_TIMEOUT): hits, total and facets
    # cover only the passages matched in time.
    timed_out: bool = False


@dataclass
class Bucket:
    """One facet value with its count under the current filters."""

    value: str
    label: str
    count: int
    selected: bool


@dataclass
class Hit:
    """A search hit: a passage, its highlighted snippet, match offsets and score."""

    passage: PassageRecord
    highlight: str
    matches: list[list[int]]
    score: float | None

    def __getattr__(self, name: str) -> Any:
        # A hit reads like its passage (hit.doc_id, hit.tags): the API schema dumps both alike.
        if name == "passage":
            raise AttributeError(name)
        return getattr(self.passage, name)


@dataclass
class ScoredPassage:
    """A passage with a similarity score (more-like-this)."""

    passage: PassageRecord
    score: float | None

    def __getattr__(self, name: str) -> Any:
        if name == "passage":
            raise AttributeError(name)
        return getattr(self.passage, name)


@dataclass
class SearchResult:
    """One page of a search with its total, facets and suggestion."""

    query: str
    query_info: QueryInfo
    total: int
    page: int
    per_page: int
    pages: int
    sort: str
    took_ms: float
    hits: list[Hit]
    facets: dict[str, list[Bucket]]
    facets_truncated: dict[str, bool]
    suggestion: str | None


@dataclass
class DocumentSummary:
    """A document's metadata and tags (the union over its passages)."""

    doc_id: str
    title: str | None
    date: str | None
    source: str | None
    byline: str | None
    passages: int
    tags: dict[str, list[str]]
    content_hash: str | None
    size: int | None


@dataclass
class DocumentDetail:
    """A document with its full text (None when left out) and its passages in order (one page
    of them when paged)."""

    summary: DocumentSummary
    text: str | None
    passages: list[PassageRecord]
    passages_total: int = 0
    page: int = 1
    per_page: int | None = None
    pages: int = 1
    text_included: bool = True

    def __getattr__(self, name: str) -> Any:
        if name == "summary":
            raise AttributeError(name)
        return getattr(self.summary, name)


@dataclass
class DocumentPage:
    """A page of the document list."""

    total: int
    page: int
    per_page: int
    documents: list[DocumentSummary]


@dataclass
class Vocabulary:
    """Every facet value in the index with labels and passage counts."""

    documents: int
    passages: int
    facets: dict[str, list[Bucket]]


@dataclass
class IndexStats:
    """Document and passage counts of the current index view."""

    documents: int
    passages: int
    generation: int
