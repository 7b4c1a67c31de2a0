"""Body of `briefing tag --jsonl [--explain]`: tag JSON lines with countries, subjects and topics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TextIO

from index.tagging import topic_tagger
from index.tagging.explain import explain_tags
from index.tagging.subjects import analyze

Tagger = Callable[[str], dict[str, Any]]


def _tags(text: str) -> dict[str, Any]:
    """Countries, subject countries and topics of one text, read as a whole document."""
    analysis = analyze(text)
    return {
        "countries": analysis.countries,
        "subject_countries": analysis.subject_countries,
        "topics": topic_tagger().tag(text),
    }


def _explained(text: str) -> dict[str, Any]:
    """The tags of one text with their evidence."""
    return {**_tags(text), "explain": explain_tags(text)}


def tag_stream(lines: Iterable[str], out: TextIO, explain: bool = False) -> int:
    """Tag each `{"id", "text"}` line, write `{"id", "countries", "subject_countries", "topics"}`.

    Returns the number of lines written. With explain, each record also carries "explain" (see
    `explain_tags`). A malformed line (bad JSON, not an object, no string "text", id neither
    string nor number) gets `{"id": null, "error": "..."}` instead of stopping the stream; blank
    lines are skipped.
    """
    tagger: Tagger = _explained if explain else _tags
    count = 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            record: dict[str, object] = _error(lineno, f"invalid JSON: {exc.msg}")
        else:
            record = _tag_object(obj, lineno, tagger)
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _error(lineno: int, message: str) -> dict[str, object]:
    """The record written for a malformed line."""
    return {"id": None, "error": f"line {lineno}: {message}"}


def _tag_object(obj: object, lineno: int, tagger: Tagger) -> dict[str, object]:
    """The output record for one decoded input line."""
    if not isinstance(obj, dict):
        return _error(lineno, "expected a JSON object")
    doc_id = obj.get("id")
    # bool is an int subclass, but true/false is no identifier.
    if not isinstance(doc_id, str | int) or isinstance(doc_id, bool):
        return _error(lineno, '"id" must be a string or an integer')
    text = obj.get("text")
    if not isinstance(text, str):
        return _error(lineno, '"text" must be a string')
    return {"id": doc_id, **tagger(text)}
