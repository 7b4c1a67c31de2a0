"""Snippets with matched terms in <mark>, everything else HTML-escaped, plus match offsets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from whoosh.analysis import Analyzer

SNIPPET_CHARS = 320


@dataclass
class Highlight:
    """A snippet of passage text ready for HTML and where the matches are in the passage."""

    snippet: str
    matches: list[tuple[int, int]]


def match_spans(analyzer: Analyzer, text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    """Character spans of tokens in text whose analyzed form is one of terms."""
    wanted = set(terms)
    if not wanted:
        return []
    spans = []
    for token in analyzer(text, chars=True, mode="index", removestops=False):
        if token.text in wanted:
            spans.append((token.startchar, token.endchar))
    return spans


def prefix_spans(analyzer: Analyzer, text: str, prefixes: Iterable[str]) -> list[tuple[int, int]]:
    """Spans of tokens that start with any of the (unstemmed, lowercase) prefixes."""
    wanted = tuple(prefixes)
    if not wanted:
        return []
    return [
        (t.startchar, t.endchar)
        for t in analyzer(text, chars=True, mode="query", removestops=False, no_morph=True)
        if t.text.startswith(wanted)
    ]


def snippet(text: str, spans: list[tuple[int, int]], width: int = SNIPPET_CHARS) -> Highlight:
    """The window of text richest in matches, escaped, with each match wrapped in <mark>."""
    spans = sorted(set(spans))
    if len(text) <= width:
        lo, hi = 0, len(text)
    else:
        lo = _best_window(spans, width, len(text))
        lo = _word_start(text, lo)
        hi = min(len(text), lo + width)
        hi = _word_end(text, hi)
    parts = ["…" if lo > 0 else ""]
    cursor = lo
    for start, end in spans:
        if start < lo or end > hi:
            continue
        parts.append(escape(text[cursor:start]))
        parts.append(f"<mark>{escape(text[start:end])}</mark>")
        cursor = end
    parts.append(escape(text[cursor:hi]))
    parts.append("…" if hi < len(text) else "")
    return Highlight("".join(parts), spans)


def _best_window(spans: list[tuple[int, int]], width: int, length: int) -> int:
    if not spans:
        return 0
    best_start, best_count = spans[0][0], 0
    j = 0
    for i, (start, _) in enumerate(spans):
        while j < len(spans) and spans[j][1] <= start + width:
            j += 1
        if j - i > best_count:
            best_start, best_count = start, j - i
    # Leave a little lead-in before the first match so it reads in context.
    return max(0, min(best_start - width // 6, length - width))


def _word_start(text: str, pos: int) -> int:
    if pos <= 0:
        return 0
    space = text.rfind(" ", max(0, pos - 30), pos)
    return space + 1 if space >= 0 else pos


def _word_end(text: str, pos: int) -> int:
    if pos >= len(text):
        return len(text)
    space = text.find(" ", pos, pos + 30)
    return space if space >= 0 else pos
