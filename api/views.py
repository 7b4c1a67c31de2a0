"""The `api` blueprint: JSON endpoints, every argument and response described by a schema."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from api import get_engine
from api.schemas import (
    DocumentListSchema,
    DocumentSchema,
    HealthSchema,
    PageArgsSchema,
    PassageSchema,
    ReadySchema,
    SearchArgsSchema,
    SearchResponseSchema,
    SimilarArgsSchema,
    SimilarSchema,
    VocabularySchema,
)
from search.errors import SearchError
from search.searching import SearchRequest

blp = Blueprint("api", __name__, url_prefix="", description="Briefing Search JSON API")


@blp.route("/api/search")
class Search(MethodView):
    """Passage search."""

    @blp.arguments(SearchArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, SearchResponseSchema)
    def get(self, **args: Any) -> dict[str, Any]:
        """Ranked, filtered, faceted, highlighted passage search (empty q browses by date)."""
        for key in ("date_from", "date_to"):
            if args.get(key) is not None:
                args[key] = args[key].isoformat()
        args["country"] = [c.upper() for c in args["country"]]
        if not args["q"].strip() and args["sort"] == "relevance":
            args["sort"] = "newest"
        return get_engine().search(SearchRequest(**args))


@blp.route("/api/documents")
class Documents(MethodView):
    """Indexed documents."""

    @blp.arguments(PageArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, DocumentListSchema)
    def get(self, page: int, per_page: int, sort: str) -> dict[str, Any]:
        """A page of indexed documents with metadata, tags and passage counts."""
        return get_engine().documents(page=page, per_page=per_page, sort=sort)


@blp.route("/api/documents/<path:doc_id>")
class Document(MethodView):
    """One document."""

    @blp.response(200, DocumentSchema)
    def get(self, doc_id: str) -> dict[str, Any]:
        """A document's metadata, full text and passages."""
        return get_engine().document(doc_id)


@blp.route("/api/passages/<path:passage_id>/similar")
class Similar(MethodView):
    """More like this."""

    @blp.arguments(SimilarArgsSchema, location="query", as_kwargs=True)
    @blp.response(200, SimilarSchema)
    def get(self, passage_id: str, limit: int) -> dict[str, Any]:
        """Passages most similar to this one, itself excluded."""
        return {"passage_id": passage_id, "similar": get_engine().similar(passage_id, limit)}


@blp.route("/api/passages/<path:passage_id>")
class PassageView(MethodView):
    """One passage."""

    @blp.response(200, PassageSchema)
    def get(self, passage_id: str) -> dict[str, Any]:
        """A passage with its document's metadata."""
        return get_engine().passage(passage_id)


@blp.route("/api/facets")
class Facets(MethodView):
    """Vocabularies."""

    @blp.response(200, VocabularySchema)
    def get(self) -> dict[str, Any]:
        """Every country, topic, source and year in the index, with labels and counts."""
        return get_engine().vocabularies()


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
        """The index opens; how many documents and passages it holds."""
        try:
            stats = get_engine().stats()
        except SearchError as exc:
            return {"status": f"unavailable: {exc}", "documents": 0, "passages": 0}, 503
        return {"status": "ready", "documents": stats["documents"], "passages": stats["passages"]}
