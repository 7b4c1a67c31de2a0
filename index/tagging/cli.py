"""Body of `briefing tag --jsonl`: tag JSON lines of passages with countries and topics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TextIO

from index.tagging import country_tagger, topic_tagger

Tagger = Callable[[str], list[str]]


def tag_stream(lines: Iterable[str], out: TextIO) -> int:
    """Tag each `{"id", "text"}` line, write `{"id", "countries", "topics"}`; return lines written.

    A malformed line (bad JSON, not an object, no string "text", id neither string nor number)
    gets `{"id": null, "error": "..."}` instead of stopping the stream; blank lines are skipped.
    """
    countries = country_tagger().tag
    topics = topic_tagger().tag
    count = 0
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            record: dict[str, object] = _error(lineno, f"invalid JSON: {exc.msg}")
        else:
            record = _tag_object(obj, lineno, countries, topics)
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _error(lineno: int, message: str) -> dict[str, object]:
    """The record written for a malformed line."""
    return {"id": None, "error": f"line {lineno}: {message}"}


def _tag_object(obj: object, lineno: int, countries: Tagger, topics: Tagger) -> dict[str, object]:
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
    return {"id": doc_id, "countries": countries(text), "topics": topics(text)}
