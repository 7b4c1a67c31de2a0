"""Marshmallow schemas for every request and response of the read API.

Facet-dependent schemas (search arguments, facet buckets, tag lists on passages and documents)
are built from the facet registry, so a facet declared once appears in validation, responses and
the OpenAPI spec alike. `ApiSchemas(registry)` builds the set for one app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import marshmallow as ma
from marshmallow import ValidationError, fields, post_dump, pre_load, validate, validates_schema

from api.dumping import CompiledDumpSchema
from search.facet_registry import TAGS, Facet, FacetRegistry, unknown_values
from search.grouping import DEFAULT_GROUP_SIZE, GROUPS, MAX_GROUP_SIZE, UNITS
from search.histogram import INTERVALS
from search.querying import MATCH_MODES
from search.results import DOCUMENT_SORTS, SORTS

EXPORT_FORMATS = ("csv", "jsonl")
MAX_QUERY_CHARS = 1000
MAX_PER_PAGE = 100
MAX_FACET_SIZE = 500
# Passages per page of one document: a page of a big document stays a few MB of JSON at most.
MAX_DOCUMENT_PER_PAGE = 1000
DOCUMENT_INCLUDES = ("text",)
# List parameters besides the facets' own.
LIST_PARAMS = ("doc_id",)


def _split_commas(data: Any, names: set[str]) -> Any:
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


class PageArgsSchema(ma.Schema):
    """Paging for lists."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=MAX_PER_PAGE))
    sort = fields.String(load_default="doc_id", validate=validate.OneOf(DOCUMENT_SORTS))


class DocumentArgsSchema(ma.Schema):
    """Paging and inclusions for one document."""

    page = fields.Integer(load_default=None, validate=validate.Range(min=1))
    per_page = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=MAX_DOCUMENT_PER_PAGE)
    )
    include = fields.List(
        fields.String(validate=validate.OneOf(DOCUMENT_INCLUDES)),
        load_default=None,
        metadata={
            "description": "`text`: the full text even for a document over the inline size "
            "(1 MB); without it such a document answers page 1 of its passages and no text"
        },
    )

    @pre_load
    def split_lists(self, data: Any, **kwargs: Any) -> Any:
        """?include=text and ?include=a,b both work."""
        return _split_commas(data, {"include"})


class SimilarArgsSchema(ma.Schema):
    """How many similar passages to return."""

    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=50))


class BucketSchema(ma.Schema):
    """One facet value with its count under the current filters."""

    value = fields.String(required=True)
    label = fields.String(required=True)
    count = fields.Integer(required=True)
    selected = fields.Boolean(required=True)


class MatchSchema(ma.Schema):
    """How many of the query's words a passage needed."""

    mode = fields.String(
        required=True,
        validate=validate.OneOf(("all", "at_least", "any")),
        metadata={"description": "all words, at least `required` of `of`, or any one"},
    )
    required = fields.Integer(required=True)
    of = fields.Integer(required=True, metadata={"description": "words (clauses) in the query"})


class TermCountSchema(ma.Schema):
    """One word's matches on its own, under the active filters."""

    term = fields.String(required=True)
    matches = fields.Integer(required=True)


class FilterCountSchema(ma.Schema):
    """The query's matches without one active filter."""

    filter = fields.String(required=True, metadata={"description": "parameter, or `date`"})
    value = fields.String(required=True)
    matches = fields.Integer(required=True)


class RelaxedSchema(ma.Schema):
    """A nearby search that has hits: one word or one filter fewer."""

    q = fields.String(required=True)
    filters = fields.Dict(keys=fields.String(), values=fields.List(fields.String()), required=True)
    date_from = fields.String(allow_none=True)
    date_to = fields.String(allow_none=True)
    dropped = fields.String(required=True, metadata={"description": "what was dropped"})
    total = fields.Integer(required=True)


class DiagnosisSchema(ma.Schema):
    """Why a search found nothing."""

    terms = fields.List(fields.Nested(TermCountSchema))
    filters = fields.List(fields.Nested(FilterCountSchema))
    relaxed = fields.Nested(RelaxedSchema, allow_none=True)


class TermScoreSchema(ma.Schema):
    """One term's BM25 part of a hit's score."""

    term = fields.String(required=True)
    field = fields.String(required=True)
    score = fields.Float(required=True)


class SemanticScoreSchema(ma.Schema):
    """What semantic rescoring added: weight x similarity."""

    similarity = fields.Float(required=True)
    weight = fields.Float(required=True)
    score = fields.Float(required=True)


class ExplainSchema(ma.Schema):
    """A hit's score broken down."""

    bm25 = fields.Float(allow_none=True)
    terms = fields.List(fields.Nested(TermScoreSchema))
    semantic = fields.Nested(SemanticScoreSchema, allow_none=True)


class TagEvidenceSchema(ma.Schema):
    """One span of text behind a tag."""

    start = fields.Integer(required=True, metadata={"description": "Offset in the passage text"})
    end = fields.Integer(required=True)
    text = fields.String(required=True)
    alias = fields.String(metadata={"description": "The alias or place matched (countries)"})
    term = fields.String(metadata={"description": "The taxonomy term matched (topics)"})
    weight = fields.Float(metadata={"description": "The term's weight (topics)"})
    rule = fields.String(
        required=True,
        metadata={
            "description": "alias, demonym, capital, city, division, dateline, context rule, "
            "topic term, …"
        },
    )
    detail = fields.String(allow_none=True)
    where = fields.String(metadata={"description": "headline, dateline, lead or body"})


class CountryEvidenceSchema(ma.Schema):
    """A country of the text and why."""

    code = fields.String(required=True)
    subject = fields.Boolean(required=True, metadata={"description": "One the text is about"})
    score = fields.Float(required=True)
    evidence = fields.List(fields.Nested(TagEvidenceSchema))


class TopicEvidenceSchema(ma.Schema):
    """A topic of the text and the terms that added up to it."""

    id = fields.String(required=True)
    label = fields.String(required=True)
    score = fields.Float(required=True)
    evidence = fields.List(fields.Nested(TagEvidenceSchema))


class DatelineSchema(ma.Schema):
    """The dateline's place, its country and the agency named in it."""

    place = fields.String(allow_none=True)
    code = fields.String(allow_none=True)
    agency = fields.String(allow_none=True)


class TagExplanationSchema(ma.Schema):
    """Why each country and topic tag of a text is there."""

    countries = fields.List(fields.Nested(CountryEvidenceSchema))
    subject_countries = fields.List(fields.String())
    topics = fields.List(fields.Nested(TopicEvidenceSchema))
    dateline = fields.Nested(DatelineSchema, allow_none=True)


class PassageExplainSchema(ma.Schema):
    """What `?explain=` asked for."""

    tags = fields.Nested(TagExplanationSchema)


class PassageArgsSchema(ma.Schema):
    """Options of GET /api/passages/<passage_id>."""

    explain = fields.String(
        load_default=None,
        validate=validate.OneOf(("tags",)),
        metadata={"description": "`tags`: the evidence behind each country and topic"},
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
    match = fields.Nested(
        MatchSchema,
        allow_none=True,
        metadata={"description": "The words' minimum-should-match; null when operators decide"},
    )
    relaxed_from = fields.Nested(
        MatchSchema,
        allow_none=True,
        metadata={"description": "The graded reading relaxed to `any` for finding too few"},
    )
    diagnosis = fields.Nested(
        DiagnosisSchema, allow_none=True, metadata={"description": "Only when nothing matched"}
    )
    showing_results_for = fields.String(
        allow_none=True,
        metadata={"description": "The spelling correction whose results are shown, or null"},
    )
    timed_out = fields.Boolean(
        metadata={
            "description": "True when the search stopped at its time budget "
            "(BRIEFING_SEARCH_TIMEOUT): hits, total and facets are partial"
        }
    )


class HealthSchema(ma.Schema):
    """Liveness."""

    status = fields.String()


class ReadySchema(ma.Schema):
    """Readiness: the index opens and how much it holds."""

    status = fields.String()
    documents = fields.Integer()
    passages = fields.Integer()


class FacetDefinitionSchema(ma.Schema):
    """How a facet is declared: its name, heading, filter parameter and whether it is multi."""

    name = fields.String(required=True)
    title = fields.String(required=True)
    param = fields.String(allow_none=True, metadata={"description": "/api/search parameter"})
    multi = fields.Boolean(required=True)


def _tag_fields(facets: FacetRegistry) -> dict[str, fields.Field]:
    """A list field per tag facet, read from the record's `tags` by its record key."""
    return {
        f.record_key: fields.List(fields.String(), attribute=f"tags.{f.record_key}")
        for f in facets.tags()
        if f.record_key
    }


# Response keys that appear only when asked for (explain=true, group=document, facet_unit,
# histogram): a search that asks for none of them answers exactly as before.
OPTIONAL_KEYS = ("explain", "passages", "matched_passages", "total_documents", "histogram")


def _drop_unrequested(data: dict[str, Any]) -> dict[str, Any]:
    for key in OPTIONAL_KEYS:
        if key in data and data[key] is None:
            del data[key]
    return data


class HitBaseSchema(CompiledDumpSchema):
    """What hit and passage schemas share: `explain` (and a grouped hit's `passages`) appear
    only when asked for."""

    @post_dump
    def drop_unrequested_explain(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Leave out what the request did not ask for (explain, grouping)."""
        return _drop_unrequested(data)


class SearchResponseBaseSchema(CompiledDumpSchema):
    """`total_documents` and `histogram` appear only when the search asked for them."""

    @post_dump
    def drop_unrequested(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Leave out what the request did not ask for."""
        return _drop_unrequested(data)


class HistogramBucketSchema(ma.Schema):
    """One bar of the timeline."""

    start = fields.String(required=True, metadata={"description": "First day, YYYY-MM-DD"})
    end = fields.String(required=True, metadata={"description": "Last day (inclusive)"})
    count = fields.Integer(
        required=True, metadata={"description": "Passages (documents with facet_unit=document)"}
    )


def _per_facet(facets: FacetRegistry, make: Any) -> dict[str, fields.Field]:
    return {f.name: make(f) for f in facets}


def _known_values_validator(facet: Facet) -> Any:
    def check(values: list[str]) -> None:
        unknown = unknown_values(facet, values)
        if unknown:
            raise ValidationError(f"unknown {facet.value_noun}(s): {', '.join(unknown)}")

    return check


@dataclass(frozen=True)
class ApiSchemas:
    """The read API's schema classes for one facet registry."""

    search_args: type[ma.Schema]
    passage: type[ma.Schema]
    hit: type[ma.Schema]
    search_response: type[ma.Schema]
    document_summary: type[ma.Schema]
    document_list: type[ma.Schema]
    document: type[ma.Schema]
    similar: type[ma.Schema]
    vocabulary: type[ma.Schema]
    facets: FacetRegistry
    export_args: type[ma.Schema]

    @classmethod
    def build(cls, facets: FacetRegistry) -> ApiSchemas:
        """Every facet-dependent schema, derived from the registry."""
        search_args = _search_args_schema(facets)
        passage_fields: dict[str, Any] = {
            "passage_id": fields.String(required=True),
            "doc_id": fields.String(required=True),
            "ordinal": fields.Integer(),
            "title": fields.String(allow_none=True),
            "date": fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD or null"}),
            "source": fields.String(allow_none=True),
            "byline": fields.String(allow_none=True),
            "text": fields.String(),
            **_tag_fields(facets),
            "start": fields.Integer(
                metadata={"description": "Offset of the passage in the document text"}
            ),
            "end": fields.Integer(),
            "page": fields.Integer(
                allow_none=True,
                metadata={"description": "Page the passage starts on (paged documents), else null"},
            ),
            "page_end": fields.Integer(
                allow_none=True, metadata={"description": "Page the passage ends on, or null"}
            ),
            "score": fields.Float(allow_none=True),
        }
        passage = HitBaseSchema.from_dict(
            {
                **passage_fields,
                "explain": fields.Nested(
                    PassageExplainSchema, metadata={"description": "With explain=tags only"}
                ),
            },
            name="Passage",
        )
        hit_fields: dict[str, Any] = {
            **passage_fields,
            "highlight": fields.String(
                metadata={"description": "Escaped HTML with <mark> around matches"}
            ),
            "matches": fields.List(
                fields.List(fields.Integer()),
                metadata={"description": "[start, end] of each match within the passage text"},
            ),
            "explain": fields.Nested(
                ExplainSchema, metadata={"description": "With explain=true only"}
            ),
        }
        passage_hit = HitBaseSchema.from_dict(hit_fields, name="PassageHit")
        hit = HitBaseSchema.from_dict(
            {
                **hit_fields,
                "passages": fields.List(
                    fields.Nested(passage_hit),
                    metadata={
                        "description": "group=document only: the document's top passages, "
                        "this hit (its best) first, at most group_size"
                    },
                ),
                "matched_passages": fields.Integer(
                    metadata={"description": "group=document only: its passages that matched"}
                ),
            },
            name="Hit",
        )
        buckets = ma.Schema.from_dict(
            _per_facet(facets, lambda f: fields.List(fields.Nested(BucketSchema))),
            name="Facets",
        )
        truncated = ma.Schema.from_dict(
            _per_facet(facets, lambda f: fields.Boolean()), name="FacetsTruncated"
        )
        search_response = SearchResponseBaseSchema.from_dict(
            {
                "query": fields.String(),
                "query_info": fields.Nested(QueryInfoSchema),
                "total": fields.Integer(),
                "page": fields.Integer(),
                "per_page": fields.Integer(),
                "pages": fields.Integer(),
                "sort": fields.String(),
                "took_ms": fields.Float(),
                "hits": fields.List(fields.Nested(hit)),
                "facets": fields.Nested(buckets),
                "facets_truncated": fields.Nested(truncated),
                "suggestion": fields.String(allow_none=True),
                "total_documents": fields.Integer(
                    metadata={
                        "description": "Distinct documents matched; with group=document or "
                        "facet_unit=document only"
                    }
                ),
                "histogram": fields.List(
                    fields.Nested(HistogramBucketSchema),
                    metadata={
                        "description": "With histogram=week|month|year only: buckets oldest "
                        "first, every filter applied but the date range"
                    },
                ),
            },
            name="SearchResponse",
        )
        summary_fields: dict[str, Any] = {
            "doc_id": fields.String(required=True),
            "title": fields.String(allow_none=True),
            "date": fields.String(allow_none=True),
            "source": fields.String(allow_none=True),
            "byline": fields.String(allow_none=True),
            "passages": fields.Integer(),
            **_tag_fields(facets),
            "content_hash": fields.String(allow_none=True),
            "size": fields.Integer(allow_none=True),
            "parent": fields.String(
                allow_none=True,
                metadata={"description": "For an e-mail attachment: the e-mail's doc_id"},
            ),
        }
        document_summary = ma.Schema.from_dict(summary_fields, name="DocumentSummary")
        document_list = CompiledDumpSchema.from_dict(
            {
                "total": fields.Integer(),
                "page": fields.Integer(),
                "per_page": fields.Integer(),
                "documents": fields.List(fields.Nested(document_summary)),
            },
            name="DocumentList",
        )
        document = CompiledDumpSchema.from_dict(
            {
                **summary_fields,
                "text": fields.String(
                    allow_none=True,
                    metadata={"description": "Full text; null when left out (text_included)"},
                ),
                "passages": fields.List(fields.Nested(passage)),
                "page_starts": fields.List(
                    fields.Integer(),
                    allow_none=True,
                    metadata={"description": "Paged documents: offset in text of each page"},
                ),
                "passages_total": fields.Integer(),
                "page": fields.Integer(),
                "per_page": fields.Integer(
                    allow_none=True, metadata={"description": "null: every passage, unpaged"}
                ),
                "pages": fields.Integer(),
                "text_included": fields.Boolean(),
            },
            name="Document",
        )
        similar = CompiledDumpSchema.from_dict(
            {"passage_id": fields.String(), "similar": fields.List(fields.Nested(passage))},
            name="Similar",
        )
        vocabulary = CompiledDumpSchema.from_dict(
            {
                "documents": fields.Integer(),
                "passages": fields.Integer(),
                **_per_facet(
                    facets,
                    lambda f: fields.List(
                        fields.Nested(BucketSchema), attribute=f"facets.{f.name}"
                    ),
                ),
                "definitions": fields.List(
                    fields.Nested(FacetDefinitionSchema),
                    metadata={"description": "Every facet: name, heading, filter parameter"},
                ),
            },
            name="Vocabulary",
        )
        return cls(
            search_args,
            passage,
            hit,
            search_response,
            document_summary,
            document_list,
            document,
            similar,
            vocabulary,
            facets,
            _export_args_schema(search_args),
        )


def _export_args_schema(search_args: type[ma.Schema]) -> type[ma.Schema]:
    """GET /api/export's query string: every /api/search parameter, the format and a BOM flag
    (paging, grouping, the histogram and facet sizes do not change what is exported)."""
    attrs: dict[str, Any] = {
        "format": fields.String(
            required=True,
            validate=validate.OneOf(EXPORT_FORMATS),
            metadata={"description": "`csv` (RFC 4180, a header row) or `jsonl` (JSON Lines)"},
        ),
        "bom": fields.Boolean(
            load_default=False,
            metadata={
                "description": "CSV only: start with a UTF-8 byte order mark, so spreadsheets "
                "read the file as UTF-8"
            },
        ),
    }
    return type("ExportArgsSchema", (search_args,), attrs)


def filter_fields(
    facets: FacetRegistry,
    default: Callable[[Any], dict[str, Any]],
    describe: Callable[[Facet], str],
    nullable_dates: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What filters and matches a search, shared by /api/search, /api/export and saved searches:
    a list per facet filter (with its value validator), doc_id, date_from, date_to and match.

    `default(value)` gives a field's default arguments (a saved search's PATCH has none), and
    `describe(facet)` its filter's description.
    """
    attrs: dict[str, Any] = {}
    validators = {}
    for facet in facets.filters():
        assert facet.param is not None
        item_metadata = {"enum": facet.spec_values()} if facet.spec_values else {}
        attrs[facet.param] = fields.List(
            fields.String(metadata=item_metadata),
            metadata={"description": describe(facet)},
            **default(list),
        )
        validators[facet.param] = _known_values_validator(facet)
    day = {"description": "Inclusive, YYYY-MM-DD"}
    # A None default makes a field nullable already; a PATCH field without default must say so.
    nullable: dict[str, Any] = {"allow_none": True} if nullable_dates else {}
    attrs.update(
        doc_id=fields.List(fields.String(), metadata={"description": "Doc ids"}, **default(list)),
        date_from=fields.Date(metadata=day, **nullable, **default(None)),
        date_to=fields.Date(metadata=day, **nullable, **default(None)),
        match=fields.String(
            validate=validate.OneOf(MATCH_MODES),
            metadata={"description": "Words required: auto (graded), all or any"},
            **default("auto"),
        ),
    )
    return attrs, validators


def _search_args_schema(facets: FacetRegistry) -> type[ma.Schema]:
    """GET /api/search's query string: text, a list parameter per facet filter, paging."""
    list_params = {f.param for f in facets.filters() if f.param} | set(LIST_PARAMS)
    attrs: dict[str, Any] = {
        "q": fields.String(
            load_default="",
            validate=validate.Length(max=MAX_QUERY_CHARS),
            metadata={"description": "Query text; see the README's query syntax. Empty browses."},
        ),
    }
    filters, validators = filter_fields(
        facets, lambda value: {"load_default": value}, lambda f: f.description or f"{f.title} (OR)"
    )
    attrs.update(filters)
    attrs.update(
        sort=fields.String(load_default="relevance", validate=validate.OneOf(SORTS)),
        explain=fields.Boolean(
            load_default=False, metadata={"description": "Add each hit's score breakdown"}
        ),
        autocorrect=fields.Boolean(
            load_default=True,
            metadata={"description": "With no hits, show a spelling correction's results"},
        ),
        page=fields.Integer(load_default=1, validate=validate.Range(min=1)),
        per_page=fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_PER_PAGE)),
        facet_size=fields.Integer(
            load_default=20, validate=validate.Range(min=1, max=MAX_FACET_SIZE)
        ),
        group=fields.String(
            load_default="passage",
            validate=validate.OneOf(GROUPS),
            metadata={
                "description": "`passage` (default): one hit per passage. `document`: one hit "
                "per document, ranked by its best passage, with its top passages; page, "
                "per_page and pages count documents"
            },
        ),
        group_size=fields.Integer(
            load_default=DEFAULT_GROUP_SIZE,
            validate=validate.Range(min=1, max=MAX_GROUP_SIZE),
            metadata={"description": "Passages under each grouped hit"},
        ),
        facet_unit=fields.String(
            load_default="passage",
            validate=validate.OneOf(UNITS),
            metadata={"description": "Count facets (and the histogram) in passages or documents"},
        ),
        histogram=fields.String(
            load_default=None,
            validate=validate.OneOf(INTERVALS),
            metadata={"description": "Add a date histogram of the matches by week, month or year"},
        ),
    )

    def split_lists(self: ma.Schema, data: Any, **kwargs: Any) -> Any:
        """Repeated and comma-separated list parameters both work."""
        return _split_commas(data, list_params)

    def known_values(self: ma.Schema, data: dict[str, Any], **kwargs: Any) -> None:
        """Every facet value must be one the facet knows (e.g. ISO alpha-2 country codes)."""
        errors = {}
        for param, check in validators.items():
            try:
                check(data.get(param) or [])
            except ValidationError as exc:
                errors[param] = exc.messages
        if errors:
            raise ValidationError(errors)

    attrs["split_lists"] = pre_load(split_lists)
    attrs["known_values"] = validates_schema(known_values)
    return type("SearchArgsSchema", (ma.Schema,), attrs)


def facet_definitions(facets: FacetRegistry) -> list[dict[str, object]]:
    """The registry as the page and clients read it."""
    return [
        {"name": f.name, "title": f.title, "param": f.param, "multi": f.kind == TAGS}
        for f in facets
    ]
