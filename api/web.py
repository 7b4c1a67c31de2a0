"""The `web` blueprint: the search page and the document view. (Being written.)"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static")


@bp.get("/")
def index() -> str:
    """The search page."""
    return "<!doctype html><title>Briefing Search</title><p>Briefing Search"
