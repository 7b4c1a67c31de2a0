"""The alerts blueprint: saved searches (CRUD), their hits, delivery log and Atom feed.

Writes (POST, PATCH, DELETE) need a write key as the document writes do (api/auth.py); reads
follow the read-key rule of the `api` blueprint. The alerts database lives beside the index
(search/alerts/db.py); the watcher (or whatever commits) percolates, the API only reads it and
manages saved searches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date
from typing import Any, NoReturn
from urllib.parse import urlencode

from flask import Response, current_app, g, request
from flask.views import MethodView
from flask_smorest import Blueprint, abort

from api import get_engine
from api.alert_schemas import (
    AlertSchemas,
    DeliveryArgsSchema,
    DeliveryListSchema,
    HitsArgsSchema,
)
from api.atom import FEED_ENTRIES, FEED_TYPE, alert_feed
from api.auth import require_write_key
from api.errors import ErrorSchema
from api.schemas import ApiSchemas
from api.views import search_request
from api.writes import WRITE_SECURITY
from search.alerts.breadth import estimate_per_day
from search.alerts.db import Alert, AlertNotFound, AlertStore, db_path
from search.alerts.payload import group_documents, loaded_hit
from search.alerts.percolation import request_for
from search.facet_registry import FacetRegistry

# Alert ids are SQLite integers: a larger number in a URL is no alert (404), never an overflow.
SQLITE_MAX_INTEGER = 2**63 - 1
ALERT_ID = f"<int(min=1, max={SQLITE_MAX_INTEGER}):alert_id>"


def store() -> AlertStore:
    """This request's connection to the alerts database (closed when the request ends)."""
    found: AlertStore | None = g.get("alert_store")
    if found is None:
        found = g.alert_store = AlertStore(db_path(current_app.config["INDEX_DIR"]))
    return found


def close_store(exc: BaseException | None = None) -> None:
    """Close the request's alerts database connection, if it opened one."""
    found: AlertStore | None = g.pop("alert_store", None)
    if found is not None:
        found.close()


def _missing(alert_id: int) -> NoReturn:
    abort(404, message=f"no alert {alert_id}")
    raise AssertionError("abort raises")  # flask-smorest's abort is not typed NoReturn


def _found(alert_id: int, action: Callable[[], Any]) -> Any:
    try:
        return action()
    except AlertNotFound:
        _missing(alert_id)


def _as_date(value: date | str | None) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def saved_search(args: dict[str, Any], facets: FacetRegistry) -> dict[str, Any]:
    """The saved search from loaded arguments, in canonical form (facet values normalised)."""
    loaded = {
        "q": args.get("q", ""),
        "sort": "relevance",
        "page": 1,
        "per_page": 1,
        "facet_size": 1,
        "explain": False,
        "autocorrect": False,
        "match": args.get("match", "auto"),
        "doc_id": list(args.get("doc_id") or []),
        # Loaded arguments are dates; a stored search (merged into a PATCH) holds ISO strings.
        **{key: _as_date(args.get(key)) for key in ("date_from", "date_to")},
        **{f.param: list(args.get(f.param) or []) for f in facets.filters() if f.param},
    }
    request_ = search_request(loaded, facets)
    return {
        "q": request_.q,
        "filters": request_.filters,
        "doc_id": request_.doc_id,
        "date_from": request_.date_from,
        "date_to": request_.date_to,
        "match": request_.match,
    }


def _estimate(search: dict[str, Any]) -> tuple[float, bool]:
    per_day = estimate_per_day(get_engine(), request_for(search))
    return per_day, per_day > float(current_app.config["ALERT_MAX_PER_DAY"])


def _index_max() -> int:
    """The highest passage number indexed (read only when the alerts database is new)."""
    with get_engine().reading() as snap:
        return snap.view.max_sequence()


def alert_json(alert: Alert, facets: FacetRegistry) -> dict[str, Any]:
    """An alert as the API shows it: its search flattened to /api/search's parameters."""
    search = alert.search
    base = request.host_url
    params: list[tuple[str, str]] = [("q", search.get("q", ""))]
    for param, values in search.get("filters", {}).items():
        params.extend((param, v) for v in values)
    for key in ("date_from", "date_to"):
        if search.get(key):
            params.append((key, search[key]))
    params.extend(("doc_id", d) for d in search.get("doc_id", []))
    if search.get("match", "auto") != "auto":
        params.append(("match", search["match"]))
    return {
        "id": alert.id,
        "name": alert.name,
        "q": search.get("q", ""),
        **{
            f.param: list(search.get("filters", {}).get(f.param, []))
            for f in facets.filters()
            if f.param
        },
        "doc_id": list(search.get("doc_id", [])),
        "date_from": search.get("date_from"),
        "date_to": search.get("date_to"),
        "match": search.get("match", "auto"),
        "webhook_url": alert.webhook_url,
        "created_at": alert.created_at,
        "updated_at": alert.updated_at,
        "estimated_per_day": alert.estimated_per_day,
        "too_broad": alert.too_broad,
        "hits": alert.hits,
        "unseen": alert.unseen,
        "last_hit_at": alert.last_hit_at,
        "links": {
            "hits": f"{base}api/alerts/{alert.id}/hits",
            "feed": f"{base}alerts/{alert.id}.atom",
            "deliveries": f"{base}api/alerts/{alert.id}/deliveries",
            "search": f"{base}?{urlencode(params)}",
        },
    }


def build_alerts_blueprint(facets: FacetRegistry, api_schemas: ApiSchemas) -> Blueprint:
    """The alerts blueprint with schemas derived from this app's facets."""
    blp = Blueprint(
        "alerts", __name__, url_prefix="", description="Saved searches and their alerts"
    )
    schemas = AlertSchemas.build(facets, api_schemas)
    blp.teardown_app_request(close_store)

    @blp.before_request
    def _writes_need_a_key() -> None:
        # Before the body is parsed: a request without a key is a 401, whatever it carries.
        if request.method in ("POST", "PATCH", "DELETE"):
            require_write_key()

    def not_found(func: Callable[..., Any]) -> Callable[..., Any]:
        return blp.alt_response(404, schema=ErrorSchema, description="No such alert")(func)

    def writes(func: Callable[..., Any]) -> Callable[..., Any]:
        """Document the write key: the security scheme and the 401/403 answers."""
        func = blp.alt_response(401, schema=ErrorSchema, description="No API key")(func)
        func = blp.alt_response(
            403, schema=ErrorSchema, description="Key not accepted, or writes disabled"
        )(func)
        return blp.doc(security=WRITE_SECURITY)(func)

    @blp.route("/api/alerts")
    class Alerts(MethodView):
        """Saved searches."""

        @blp.response(200, schemas.alert_list)
        def get(self) -> Any:
            """Every saved search with its hit and unseen counts."""
            return {"alerts": [alert_json(a, facets) for a in store().all()]}

        @writes
        @blp.arguments(schemas.create, location="json")
        @blp.response(201, schemas.created, description="Saved; alerts from the next commit on")
        @blp.alt_response(503, schema=ErrorSchema, description="No index yet")
        def post(self, body: dict[str, Any]) -> Any:
            """Save a search (any /api/search filter under its name) and alert on new matches."""
            search = saved_search(body, facets)
            per_day, too_broad = _estimate(search)
            alert = store().create(
                body["name"], search, body.get("webhook_url"), per_day, too_broad, _index_max
            )
            return {**alert_json(alert, facets), "webhook_secret": alert.secret}

    @blp.route(f"/api/alerts/{ALERT_ID}")
    class AlertView(MethodView):
        """One saved search."""

        @blp.response(200, schemas.alert)
        @not_found
        def get(self, alert_id: int) -> Any:
            """A saved search with its hit and unseen counts."""
            return alert_json(_found(alert_id, lambda: store().get(alert_id)), facets)

        @writes
        @blp.arguments(schemas.update, location="json")
        @blp.response(200, schemas.alert)
        @not_found
        def patch(self, body: dict[str, Any], alert_id: int) -> Any:
            """Rename it, change its search or webhook, or mark its hits seen (`seen: true`)."""
            current = _found(alert_id, lambda: store().get(alert_id))
            changes: dict[str, Any] = {
                k: body[k] for k in ("name", "webhook_url", "seen") if k in body
            }
            search_keys = set(body) - {"name", "webhook_url", "seen"}
            if search_keys:
                merged = {**alert_json(current, facets), **body}
                changes["search"] = saved_search(merged, facets)
                per_day, too_broad = _estimate(changes["search"])
                changes.update(estimated_per_day=per_day, too_broad=too_broad)
            return alert_json(_found(alert_id, lambda: store().update(alert_id, changes)), facets)

        @writes
        @blp.response(204)
        @not_found
        def delete(self, alert_id: int) -> Any:
            """Delete the saved search with its hits and delivery log."""
            _found(alert_id, lambda: store().delete(alert_id))
            return None

    @blp.route(f"/api/alerts/{ALERT_ID}/hits")
    class Hits(MethodView):
        """What a saved search matched."""

        @blp.arguments(HitsArgsSchema, location="query", as_kwargs=True)
        @blp.response(200, schemas.hits)
        @not_found
        def get(self, alert_id: int, since: Any, limit: int) -> Any:
            """Matched passages grouped by document, newest first (`since`: recorded after)."""
            stamp = None
            if since is not None:
                stamp = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            matches = _found(alert_id, lambda: store().matches(alert_id, stamp, limit))
            documents = group_documents(matches)
            for doc in documents:
                doc["passages"] = [loaded_hit(h) for h in doc["passages"]]
            return {"alert_id": alert_id, "passages": len(matches), "documents": documents}

    @blp.route(f"/api/alerts/{ALERT_ID}/deliveries")
    class Deliveries(MethodView):
        """Webhook delivery log."""

        @blp.arguments(DeliveryArgsSchema, location="query", as_kwargs=True)
        @blp.response(200, DeliveryListSchema)
        @not_found
        def get(self, alert_id: int, limit: int) -> Any:
            """Every webhook delivery of the alert, newest first, with each attempt."""
            return {"deliveries": _found(alert_id, lambda: store().deliveries(alert_id, limit))}

    @blp.route(f"/alerts/{ALERT_ID}.atom")
    class Feed(MethodView):
        """Atom feed."""

        @blp.response(200, content_type="application/atom+xml", description="Atom 1.0 feed")
        @not_found
        def get(self, alert_id: int) -> Any:
            """The alert's newest hits as an Atom 1.0 feed, one entry per matched passage."""
            alert = _found(alert_id, lambda: store().get(alert_id))
            matches = store().matches(alert_id, None, FEED_ENTRIES)
            body = alert_feed(request.host_url, request.url, alert_json(alert, facets), matches)
            return Response(body, content_type=FEED_TYPE)

    return blp
