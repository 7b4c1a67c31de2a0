"""Typed requests and results of the read side; the API's marshmallow schemas serialise them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, Any, ClassVar

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
    # How many words are required: "auto" (the graded rule), "all" or "any".
    match: str = "auto"
    # Add each hit's score broken down by term and rescoring.
    explain: bool = False
    # With no hits and a spelling correction that has some, show the correction's results.
    autocorrect: bool = True
    # "passage" (one hit each) or "document": one hit per document at its best passage's
    # rank, paged in documents.
    group: str = "passage"
    # Passages under each grouped hit (search/grouping.py DEFAULT_GROUP_SIZE).
    group_size: int = 3
    # What facet (and histogram) counts count: "passage" or distinct "document".
    facet_unit: str = "passage"
    # A date histogram of the matches: "week", "month" or "year" (None: none).
    histogram: str | None = None


@dataclass
class MatchInfo:
    """How many of the query's words a hit needed: all, at least `required` of `of`, or any."""

    mode: str
    required: int
    of: int


@dataclass
class TermCount:
    """How many passages one word of a query matches on its own (under the filters)."""

    term: str
    matches: int


@dataclass
class FilterCount:
    """How many passages the query would match without one of the active filters."""

    filter: str
    value: str
    matches: int


@dataclass
class RelaxedQuery:
    """A nearby search that has hits: the query or filters minus what emptied the result."""

    q: str
    filters: dict[str, list[str]]
    date_from: str | None
    date_to: str | None
    dropped: str
    total: int


@dataclass
class Diagnosis:
    """Why a search found nothing: per word and per filter counts, and a way out."""

    terms: list[TermCount]
    filters: list[FilterCount]
    relaxed: RelaxedQuery | None


@dataclass
class QueryInfo:
    """How the query text was read."""

    interpreted: str
    fallback: bool
    message: str | None
    rescored: bool
    match: MatchInfo | None = None
    # The graded reading that found too few passages and was relaxed to "any", or None.
    relaxed_from: MatchInfo | None = None
    diagnosis: Diagnosis | None = None
    showing_results_for: str | None = None
    # True when the search hit its time budget (BRIEFING_SEARCH_TIMEOUT): hits, total and facets
    # cover only the passages matched in time.
    timed_out: bool = False


@dataclass
class TermScore:
    """One query term's BM25 part of a hit's score."""

    term: str
    field: str
    score: float


@dataclass
class SemanticScore:
    """What semantic rescoring added: weight x cosine similarity."""

    similarity: float
    weight: float
    score: float


@dataclass
class Explanation:
    """A hit's score broken down: BM25 (with its terms) and the rescoring part."""

    bm25: float | None
    terms: list[TermScore]
    semantic: SemanticScore | None


@dataclass
class ExportHead:
    """What an export will stream: the matches, how many it streams (the cap), and whether the
    search's time budget cut the matching short."""

    total: int
    count: int
    timed_out: bool


@dataclass
class HistogramBucket:
    """One bar of the timeline: its first and last day (inclusive) and its count."""

    start: str
    end: str
    count: int


@dataclass
class Bucket:
    """One facet value with its count under the current filters."""

    value: str
    label: str
    count: int
    selected: bool


class ReadsThrough:
    """A wrapper that reads like what it wraps: `hit.doc_id` is `hit.passage.doc_id`.

    The API's schemas dump a hit and a passage alike, and callers read both the same way.
    Each field of the wrapped dataclass (`_wraps`) the wrapper does not declare itself becomes
    a read-only property of the wrapper class: a plain attribute look-up, where a __getattr__
    fallback cost a failed look-up first (a search response reads ~250 of them).
    """

    _wrapped: ClassVar[str]
    _wraps: ClassVar[type]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = set(cls.__dict__.get("__annotations__", {}))
        for item in dataclasses.fields(cls._wraps):
            if item.name not in own and not hasattr(cls, item.name):
                setattr(cls, item.name, property(attrgetter(f"{cls._wrapped}.{item.name}")))

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            """For type checkers: the wrapped fields, added as properties at class creation."""


@dataclass
class Hit(ReadsThrough):
    """A search hit: a passage, its highlighted snippet, match offsets and score."""

    _wrapped: ClassVar[str] = "passage"
    _wraps: ClassVar[type] = PassageRecord
    passage: PassageRecord
    highlight: str
    matches: list[list[int]]
    score: float | None
    explain: Explanation | None = None
    # Grouped by document: the document's top passages (this one first) and how many matched.
    passages: list[Hit] | None = None
    matched_passages: int | None = None


@dataclass
class ScoredPassage(ReadsThrough):
    """A passage with a similarity score (more-like-this)."""

    _wrapped: ClassVar[str] = "passage"
    _wraps: ClassVar[type] = PassageRecord
    passage: PassageRecord
    score: float | None


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
    # Distinct documents among the matches (grouped, or counted in documents), else None.
    total_documents: int | None = None
    histogram: list[HistogramBucket] | None = None


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
    # The e-mail an attachment came with, or None.
    parent: str | None = None


@dataclass
class DocumentDetail(ReadsThrough):
    """A document with its full text (None when left out) and its passages in order (one page
    of them when paged)."""

    _wrapped: ClassVar[str] = "summary"
    _wraps: ClassVar[type] = DocumentSummary
    summary: DocumentSummary
    text: str | None
    passages: list[PassageRecord]
    # Paged documents: where each page starts in `text` (page n at page_starts[n - 1]).
    page_starts: list[int] | None = None
    passages_total: int = 0
    page: int = 1
    per_page: int | None = None
    pages: int = 1
    text_included: bool = True


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
