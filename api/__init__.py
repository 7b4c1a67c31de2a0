"""The Flask app: JSON API (`api` blueprint) and search page (`web` blueprint)."""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, current_app, request
from flask_compress import Compress
from flask_cors import CORS
from flask_smorest import abort

import search  # noqa: F401  (Whoosh warning filters first)
from api.settings import load_settings
from search.facet_registry import FacetRegistry, default_registry
from search.searching import SearchEngine

COMPRESSED_TYPES = [
    "application/json",
    "text/html",
    "text/css",
    "text/javascript",
    "application/javascript",
    "image/svg+xml",
    "text/plain",
]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; nothing is opened until the first request needs it.

    `config` overrides settings; its `FACETS` (a FacetRegistry) replaces the default facets.
    """
    # The page serves its assets from /assets with its CSP; no bare /static route.
    app = Flask(__name__, static_folder=None)
    app.config.update(load_settings(config))
    app.config.update(
        API_TITLE="Briefing Search",
        API_VERSION="1.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    from api.encoding import OrjsonProvider

    app.json = provider = OrjsonProvider(app)
    provider.sort_keys = False

    from api.observability import init_observability

    init_observability(app)  # first: its request id and timer wrap every other hook

    from api.alerts import build_alerts_blueprint
    from api.apidocs import bp as apidocs_blueprint
    from api.auth import install_auth
    from api.errors import BriefingApi, register_error_handlers
    from api.schemas import ApiSchemas
    from api.views import build_blueprint
    from api.web import bp as web_blueprint
    from api.writes import blp as writes_blueprint

    # Werkzeug refuses bodies past this with a 413 before they are read: room for the text
    # limit three times over (JSON escapes of non-ASCII text) or the largest binary type's
    # limit, plus multipart framing.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        largest = max(
            3 * int(app.config["MAX_DOCUMENT_BYTES"]),
            *(int(app.config[k]) for k in ("MAX_PDF_BYTES", "MAX_WORD_BYTES", "MAX_EMAIL_BYTES")),
        )
        app.config["MAX_CONTENT_LENGTH"] = largest + 65536
    api = BriefingApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "description": "A write API key"}
    )
    app.config.setdefault("FACETS", default_registry())
    # One set of schema classes for both blueprints: the spec names each schema once.
    schemas = ApiSchemas.build(facets(app))
    api.register_blueprint(build_blueprint(facets(app), schemas))
    api.register_blueprint(build_alerts_blueprint(facets(app), schemas))
    api.register_blueprint(writes_blueprint)
    install_auth(app)
    app.before_request(_bounded_chunked_body)
    app.register_blueprint(web_blueprint)
    app.register_blueprint(apidocs_blueprint)
    register_error_handlers(app, api)
    install_cors(app)
    app.after_request(_nosniff)
    # gzip/brotli for JSON, HTML, JS and CSS: search responses shrink five- to tenfold.
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    app.config.setdefault("COMPRESS_MIN_SIZE", 500)
    Compress(app)
    app.extensions["briefing_engine"] = None
    from search.kernels import warm

    # The read side's loops (facet counts, dense BM25) compiled, or loaded from numba's cache,
    # while a worker starts rather than in its first search (search/kernels.py).
    warm()
    return app


# Methods a browser on any origin may use when CORS_ORIGINS is `*`: reads only, so a page on
# another site can never drive an upload or a delete with a key it got hold of.
READ_METHODS = ["GET", "HEAD", "OPTIONS"]
WRITE_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE"]


def install_cors(app: Flask) -> None:
    """CORS on /api/* only for the origins in CORS_ORIGINS: off when empty, reads only for `*`."""
    origins = [o.strip() for o in str(app.config["CORS_ORIGINS"]).split(",") if o.strip()]
    if not origins:
        return
    if "*" in origins:
        options: dict[str, Any] = {"origins": "*", "methods": READ_METHODS}
    else:
        options = {
            "origins": origins,
            "methods": WRITE_METHODS,
            "allow_headers": ["Authorization", "Content-Type", "X-Request-ID"],
        }
    CORS(app, resources={r"/api/*": options}, expose_headers=["X-Request-ID"])


# Bytes read from a chunked body per step while checking it against MAX_CONTENT_LENGTH.
READ_STEP = 1 << 20


def _bounded_chunked_body() -> None:
    """A chunked body (no Content-Length) is read up to MAX_CONTENT_LENGTH: past it, 413.

    Werkzeug limits such a stream by truncating it, so an oversized chunked JSON upload was
    parsed half and refused as malformed (422). Read here into memory (as get_data would) and
    handed on with its length, it is refused like any oversized body.
    """
    env = request.environ
    if (
        request.content_length is not None
        or "chunked" not in env.get("HTTP_TRANSFER_ENCODING", "").lower()
    ):
        return
    cap = int(current_app.config["MAX_CONTENT_LENGTH"])
    stream, parts, size = env["wsgi.input"], [], 0
    while size <= cap:
        chunk = stream.read(min(READ_STEP, cap + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
    if size > cap:
        abort(413, message=f"request body is over the {cap:,}-byte limit")
    body = b"".join(parts)
    env["wsgi.input"] = io.BytesIO(body)
    env["CONTENT_LENGTH"] = str(len(body))
    env.pop("HTTP_TRANSFER_ENCODING", None)


def _nosniff(response: Any) -> Any:
    # Every response, JSON and errors included: a browser must never guess another type.
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def facets(app: Flask | None = None) -> FacetRegistry:
    """The app's facet registry."""
    registry: FacetRegistry = (app or current_app).config["FACETS"]
    return registry


def get_engine() -> SearchEngine:
    """The app's search engine, created on first use in this process."""
    engine = current_app.extensions.get("briefing_engine")
    if engine is None:
        from index.tagging import topic_tagger

        engine = SearchEngine(
            current_app.config["INDEX_DIR"],
            topic_tagger().labels,
            semantic=bool(current_app.config["SEMANTIC"]),
            facets=facets(),
            timeout=float(current_app.config["SEARCH_TIMEOUT"]) or None,
        )
        current_app.extensions["briefing_engine"] = engine
    return engine
