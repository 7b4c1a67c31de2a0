"""An alert's hits as an Atom 1.0 feed (RFC 4287), built with the standard library's XML writer."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode
from xml.etree import ElementTree as ET

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_TYPE = "application/atom+xml; charset=utf-8"
# Entries per feed: readers poll the newest; older hits stay at /api/alerts/<id>/hits.
FEED_ENTRIES = 100


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attrs)
    if text is not None:
        element.text = text
    return element


def document_link(base_url: str, passage: dict[str, Any], q: str) -> str:
    """The search page's document view of a passage, with the alert's query marked."""
    params = {"passage": passage["passage_id"]}
    if q:
        params["q"] = q
    return f"{base_url}documents/{quote(passage['doc_id'])}?{urlencode(params)}"


def alert_feed(
    base_url: str, feed_url: str, alert: dict[str, Any], matches: list[dict[str, Any]]
) -> bytes:
    """The feed: one entry per matched passage, newest first (ids stable across polls)."""
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    host = base_url.split("//", 1)[-1].split("/", 1)[0].split(":")[0] or "localhost"
    created_day = alert["created_at"][:10]
    feed_id = f"tag:{host},{created_day}:alert/{alert['id']}"
    _sub(feed, "id", feed_id)
    _sub(feed, "title", f"Briefing Search alert: {alert['name']}")
    updated = matches[0]["matched_at"] if matches else alert["updated_at"]
    _sub(feed, "updated", _rfc3339(updated))
    _sub(feed, "link", rel="self", href=feed_url, type="application/atom+xml")
    _sub(feed, "link", rel="alternate", href=alert["links"]["search"], type="text/html")
    author = _sub(feed, "author")
    _sub(author, "name", "Briefing Search")
    _sub(feed, "generator", "Briefing Search")
    for match in matches[:FEED_ENTRIES]:
        passage = match["hit"]["passage"]
        entry = _sub(feed, "entry")
        _sub(entry, "id", f"{feed_id}/match/{match['id']}")
        title = passage.get("title") or passage["doc_id"]
        _sub(entry, "title", f"{title} (¶ {passage['ordinal']})")
        stamp = _rfc3339(match["matched_at"])
        _sub(entry, "updated", stamp)
        _sub(entry, "published", stamp)
        link = document_link(base_url, passage, alert["q"])
        _sub(entry, "link", rel="alternate", href=link, type="text/html")
        facts = [passage.get("source"), passage.get("date")]
        summary = " · ".join(f for f in facts if f)
        if summary:
            _sub(entry, "summary", summary)
        # The highlight is escaped HTML with <mark>, which readers' sanitisers drop (feedparser
        # among them): <strong> survives them all. Atom carries it as type="html" text.
        highlight = match["hit"]["highlight"]
        html = highlight.replace("<mark>", "<strong>").replace("</mark>", "</strong>")
        _sub(entry, "content", html, type="html")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _rfc3339(stamp: str) -> str:
    """Our stored times (…T12:00:00.123456Z) as RFC 3339 with seconds, as Atom wants."""
    return stamp[:19] + "Z"
