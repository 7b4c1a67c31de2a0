"""The `web` blueprint: the search page and the document view, both clients of the JSON API."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, render_template, request, url_for

STATIC_DIR = Path(__file__).resolve().parent / "static"

bp = Blueprint(
    "web",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/assets",
)

# The page runs only its own files: no inline script or style, no plugins, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


@lru_cache(maxsize=64)
def _fingerprint(filename: str) -> str:
    """A short content hash of a static file, so browsers refetch it only when it changes."""
    try:
        return hashlib.sha256((STATIC_DIR / filename).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def asset_url(filename: str) -> str:
    """URL of a static asset with its content fingerprint as a cache-busting query."""
    return url_for("web.static", filename=filename, v=_fingerprint(filename))


@bp.app_context_processor
def _template_helpers() -> dict[str, object]:
    return {"asset_url": asset_url}


# A fingerprinted asset URL names one version of the file for good.
IMMUTABLE = "public, max-age=31536000, immutable"


@bp.after_request
def security_headers(response: Response) -> Response:
    """Send the page's CSP, forbid MIME sniffing, and cache fingerprinted assets for good."""
    if request.endpoint == "web.static":
        filename = (request.view_args or {}).get("filename", "")
        if request.args.get("v") and request.args.get("v") == _fingerprint(filename):
            response.headers["Cache-Control"] = IMMUTABLE
        else:
            # Unversioned (a module's own imports): revalidate, the ETag makes that cheap.
            response.headers["Cache-Control"] = "no-cache"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.get("/")
def index() -> str:
    """The search page: its whole state lives in the query string."""
    from api import facets
    from api.schemas import facet_definitions

    return render_template("search.html", facet_definitions=facet_definitions(facets()))


@bp.get("/alerts")
def alerts() -> str:
    """The Alerts view: saved searches with their unseen hits (a client of /api/alerts)."""
    return render_template("alerts.html")


@bp.get("/documents/<path:doc_id>")
def document(doc_id: str) -> str:
    """The document view: full text with `?passage=<passage_id>` highlighted."""
    return render_template("document.html", doc_id=doc_id)
