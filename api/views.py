"""The `api` blueprint: JSON endpoints, every argument and response described by a schema."""

from __future__ import annotations

import sys
from dataclasses import asdict
from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from api import get_engine
from api.errors import ErrorSchema
from api.export import EXPORT_RESPONSE, export_response
from api.schemas import (
    ApiSchemas,
    DocumentArgsSchema,
    HealthSchema,
    PageArgsSchema,
    PassageArgsSchema,
    ReadySchema,
    SimilarArgsSchema,
    facet_definitions,
)
from index.status import read_watcher_status, watcher_problem
from search.errors import SearchError
from search.facet_registry import FacetRegistry
from search.results import SearchRequest


def search_request(args: dict[str, Any], facets: FacetRegistry) -> SearchRequest:
    """A validated SearchRequest from loaded arguments: facet values in canonical form."""
    filters: dict[str, list[str]] = {}
    for facet in facets.filters():
        assert facet.param is not None
        values = [facet.normalize(v) for v in args.pop(facet.param, [])]
        filters[facet.param] = [v for v in values if v is not None]
    for key in ("date_from", "date_to"):
        if args.get(key) is not None:
            args[key] = args[key].isoformat()
    if not args["q"].strip() and args["sort"] == "relevance":
        args["sort"] = "newest"
    return SearchRequest(filters=filters, **args)


def expects_watcher() -> bool:
    """Whether this server's index has a watcher that readiness and metrics should vouch for."""
    config = current_app.config
    return bool(config["WATCH"]) and bool(config["READY_NEEDS_WATCHER"])


def watcher_problem_now() -> str | None:
    """Why the index's watcher is not healthy, or None (also None when none is expected)."""
    if not expects_watcher():
        return None
    return watcher_problem(read_watcher_status(current_app.config["INDEX_DIR"]))


def build_blueprint(facets: FacetRegistry, given: ApiSchemas | None = None) -> Blueprint:
    """The JSON API's blueprint with schemas derived from this app's facets (or these)."""
    blp = Blueprint("api", __name__, url_prefix="", description="Briefing Search JSON API")
    schemas = given or ApiSchemas.build(facets)

    @blp.route("/api/search")
    class Search(MethodView):
        """Passage search."""

        # An instance, not the class: webargs would build a schema per request (0.4 ms).
        @blp.arguments(schemas.search_args(), location="query", as_kwargs=True)
        @blp.response(200, schemas.search_response)
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(self, **args: Any) -> Any:
            """Ranked, filtered, faceted, highlighted passage search (empty q browses by date)."""
            return get_engine().search(search_request(args, facets))

    @blp.route("/api/export")
    class Export(MethodView):
        """Export."""

        @blp.arguments(schemas.export_args, location="query", as_kwargs=True)
        @blp.doc(responses={"200": EXPORT_RESPONSE})
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(self, format: str, bom: bool, **args: Any) -> Any:
            """Every matching passage (any /api/search parameters) as CSV or JSON Lines, in
            ranked order, streamed; at most BRIEFING_EXPORT_MAX_PASSAGES."""
            cap = int(current_app.config["EXPORT_MAX_PASSAGES"]) or sys.maxsize
            request = search_request(args, facets)
            return export_response(get_engine(), request, format, bom, cap)

    @blp.route("/api/documents")
    class Documents(MethodView):
        """Indexed documents."""

        @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
        @blp.response(200, schemas.document_list)
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(self, page: int, per_page: int, sort: str) -> Any:
            """A page of indexed documents with metadata, tags and passage counts."""
            return get_engine().documents(page=page, per_page=per_page, sort=sort)

    @blp.route("/api/documents/<path:doc_id>")
    class Document(MethodView):
        """One document."""

        @blp.arguments(DocumentArgsSchema, location="query", as_kwargs=True)
        @blp.response(200, schemas.document)
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(
            self,
            doc_id: str,
            page: int | None = None,
            per_page: int | None = None,
            include: list[str] | None = None,
        ) -> Any:
            """A document's metadata, full text and passages (paged on request, or when big)."""
            include_text = None if include is None else "text" in include
            return get_engine().document(doc_id, page, per_page, include_text)

    @blp.route("/api/passages/<path:passage_id>/similar")
    class Similar(MethodView):
        """More like this."""

        @blp.arguments(SimilarArgsSchema, location="query", as_kwargs=True)
        @blp.response(200, schemas.similar)
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(self, passage_id: str, limit: int) -> Any:
            """Passages most similar to this one, itself excluded."""
            return {"passage_id": passage_id, "similar": get_engine().similar(passage_id, limit)}

    @blp.route("/api/passages/<path:passage_id>")
    class PassageView(MethodView):
        """One passage."""

        @blp.arguments(PassageArgsSchema, location="query", as_kwargs=True)
        @blp.response(200, schemas.passage)
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(self, passage_id: str, explain: str | None) -> Any:
            """A passage with its document's metadata (`explain=tags`: why each tag is there)."""
            passage = get_engine().passage(passage_id)
            if explain != "tags":
                return passage
            from index.tagging.explain import explain_tags  # the taggers load only when asked

            return {**asdict(passage), "explain": {"tags": explain_tags(passage.text)}}

    @blp.route("/api/facets")
    class Facets(MethodView):
        """Vocabularies."""

        @blp.response(200, schemas.vocabulary)
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def get(self) -> Any:
            """Every facet value in the index with labels and counts, and the facets' definitions."""
            vocabulary = get_engine().vocabularies()
            return {
                "documents": vocabulary.documents,
                "passages": vocabulary.passages,
                "facets": vocabulary.facets,
                "definitions": facet_definitions(facets),
            }

    @blp.route("/healthz")
    class Health(MethodView):
        """Liveness."""

        @blp.response(200, HealthSchema)
        def get(self) -> dict[str, Any]:
            """The process is up."""
            return {"status": "ok"}

    @blp.route("/readyz")
    class Ready(MethodView):
        """Readiness."""

        @blp.response(200, ReadySchema)
        @blp.alt_response(503, schema=ReadySchema, description="Index not available")
        def get(self) -> Any:
            """The index opens and (when it has one) its watcher lives and last synced fine."""
            try:
                stats = get_engine().stats()
            except SearchError as exc:
                return {"status": f"unavailable: {exc}", "documents": 0, "passages": 0}, 503
            counts = {"documents": stats.documents, "passages": stats.passages}
            problem = watcher_problem_now()
            if problem is not None:
                return {"status": f"unavailable: {problem}", **counts}, 503
            return {"status": "ready", **counts}

    return blp
