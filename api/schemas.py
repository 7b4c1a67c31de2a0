"""Marshmallow schemas for every request and response of the JSON API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import ValidationError, fields, pre_load, validate, validates

from search.labels import country_codes
from search.searching import SORTS

MAX_QUERY_CHARS = 1000
MAX_PER_PAGE = 100


def _split_commas(data, names):  # type: ignore[no-untyped-def]
    """Accept both ?country=EC&country=MX and ?country=EC,MX."""
    if not hasattr(data, "getlist"):
        return data
    out = {}
    for key in data:
        values = data.getlist(key)
        if key in names:
            out[key] = [v.strip() for value in values for v in value.split(",") if v.strip()]
        else:
            out[key] = values[-1]
    return out


class SearchArgsSchema(ma.Schema):
    """Query string of GET /api/search."""

    q = fields.String(
        load_default="",
        validate=validate.Length(max=MAX_QUERY_CHARS),
        metadata={"description": "Query text; see the README's query syntax. Empty browses."},
    )
    country = fields.List(
        fields.String(), load_default=list, metadata={"description": "ISO alpha-2 codes (OR)"}
    )
    topic = fields.List(fields.String(), load_default=list, metadata={"description": "Topic ids"})
    source = fields.List(fields.String(), load_default=list, metadata={"description": "Sources"})
    doc_id = fields.List(fields.String(), load_default=list, metadata={"description": "Doc ids"})
    date_from = fields.Date(load_default=None, metadata={"description": "Inclusive, YYYY-MM-DD"})
    date_to = fields.Date(load_default=None, metadata={"description": "Inclusive, YYYY-MM-DD"})
    sort = fields.String(load_default="relevance", validate=validate.OneOf(SORTS))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    facet_size = fields.Integer(load_default=20, validate=validate.Range(min=1, max=500))

    @pre_load
    def split_lists(self, data, **kwargs):  # type: ignore[no-untyped-def]
        """Repeated and comma-separated list parameters both work."""
        return _split_commas(data, {"country", "topic", "source", "doc_id"})

    @validates("country")
    def known_countries(self, value: list[str], **kwargs) -> None:  # type: ignore[no-untyped-def]
        """Every country must be an ISO 3166-1 alpha-2 code."""
        unknown = [v for v in value if v.upper() not in country_codes()]
        if unknown:
            raise ValidationError(f"unknown country code(s): {', '.join(unknown)}")


class PageArgsSchema(ma.Schema):
    """Paging for lists."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    sort = fields.String(load_default="doc_id", validate=validate.OneOf(("doc_id", "newest")))


class SimilarArgsSchema(ma.Schema):
    """How many similar passages to return."""

    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))


class BucketSchema(ma.Schema):
    """One facet value with its count under the current filters."""

    value = fields.String(required=True)
    label = fields.String(required=True)
    count = fields.Integer(required=True)
    selected = fields.Boolean(required=True)


class FacetsSchema(ma.Schema):
    """Facet buckets per facet."""

    country = fields.List(fields.Nested(BucketSchema))
    topic = fields.List(fields.Nested(BucketSchema))
    source = fields.List(fields.Nested(BucketSchema))
    year = fields.List(fields.Nested(BucketSchema))


class FacetsTruncatedSchema(ma.Schema):
    """Whether each facet had more values than were returned."""

    country = fields.Boolean()
    topic = fields.Boolean()
    source = fields.Boolean()
    year = fields.Boolean()


class PassageSchema(ma.Schema):
    """A passage with its document's metadata."""

    passage_id = fields.String(required=True)
    doc_id = fields.String(required=True)
    ordinal = fields.Integer()
    title = fields.String(allow_none=True)
    date = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD or null"})
    source = fields.String(allow_none=True)
    byline = fields.String(allow_none=True)
    text = fields.String()
    countries = fields.List(fields.String())
    topics = fields.List(fields.String())
    start = fields.Integer(metadata={"description": "Offset of the passage in the document text"})
    end = fields.Integer()
    score = fields.Float(allow_none=True)


class HitSchema(PassageSchema):
    """A search hit: a passage plus its highlighted snippet and match offsets."""

    highlight = fields.String(metadata={"description": "Escaped HTML with <mark> around matches"})
    matches = fields.List(
        fields.List(fields.Integer()),
        metadata={"description": "[start, end] of each match within the passage text"},
    )


class QueryInfoSchema(ma.Schema):
    """How the query text was read."""

    interpreted = fields.String()
    fallback = fields.Boolean(metadata={"description": "True when the syntax was malformed"})
    message = fields.String(allow_none=True)
    rescored = fields.Boolean(
        metadata={
            "description": "True when semantic rescoring (BRIEFING_SEMANTIC) ordered these hits: "
            "relevance sort, within the top 100, on an index holding passage embeddings"
        }
    )


class SearchResponseSchema(ma.Schema):
    """Response of GET /api/search."""

    query = fields.String()
    query_info = fields.Nested(QueryInfoSchema)
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()
    sort = fields.String()
    took_ms = fields.Float()
    hits = fields.List(fields.Nested(HitSchema))
    facets = fields.Nested(FacetsSchema)
    facets_truncated = fields.Nested(FacetsTruncatedSchema)
    suggestion = fields.String(allow_none=True)


class DocumentSummarySchema(ma.Schema):
    """A document's metadata and tags."""

    doc_id = fields.String(required=True)
    title = fields.String(allow_none=True)
    date = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    byline = fields.String(allow_none=True)
    passages = fields.Integer()
    countries = fields.List(fields.String())
    topics = fields.List(fields.String())
    content_hash = fields.String(allow_none=True)
    size = fields.Integer(allow_none=True)


class DocumentListSchema(ma.Schema):
    """A page of documents."""

    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    documents = fields.List(fields.Nested(DocumentSummarySchema))


class DocumentSchema(DocumentSummarySchema):
    """A document with its full text and passages."""

    text = fields.String()
    passages = fields.List(fields.Nested(PassageSchema))  # type: ignore[assignment]


class SimilarSchema(ma.Schema):
    """Passages similar to a passage."""

    passage_id = fields.String()
    similar = fields.List(fields.Nested(PassageSchema))


class VocabularySchema(ma.Schema):
    """GET /api/facets: every facet value in the index with labels and counts."""

    documents = fields.Integer()
    passages = fields.Integer()
    country = fields.List(fields.Nested(BucketSchema))
    topic = fields.List(fields.Nested(BucketSchema))
    source = fields.List(fields.Nested(BucketSchema))
    year = fields.List(fields.Nested(BucketSchema))


class HealthSchema(ma.Schema):
    """Liveness."""

    status = fields.String()


class ReadySchema(ma.Schema):
    """Readiness: the index opens and how much it holds."""

    status = fields.String()
    documents = fields.Integer()
    passages = fields.Integer()
