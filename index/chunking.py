"""Cut a document's body into paragraph-aware passages."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from index.model import Span

MIN_WORDS = 40
MAX_WORDS = 200
HEADING_MAX_WORDS = 15
ABBREVIATIONS_FILE = Path(__file__).parent / "abbreviations.txt"

# What a boundary before a unit costs: the cutter picks the cheapest set of boundaries, so
# passages end between paragraphs, ideally before a heading, and only if they must between the
# sentences of one paragraph, between list items or table rows, or after a list's intro line.
_BEFORE_HEADING = 0.0
_PARAGRAPH = 1.0
_SENTENCE = 8.0
_LIST = 12.0
_INTRO = 30.0
_NEVER = math.inf  # after a heading: a heading starts a passage, never ends one
_FORCED = -1.0  # a skip span lies between the units: a passage cannot run across it
# What a passage costs: a little for each one, more the further it is from the middle of the
# size range, and a lot when it is shorter than min_words (tolerated only when unavoidable).
_PER_PASSAGE = 1.0
_OFF_SIZE = 8.0
_TOO_SHORT = 50.0
_MAX_UNITS = 1000  # bounds the search window so pathological inputs stay linear

_NON_WORD_TOKEN = re.compile(r"(?<!\S)(?:[^\w\s]|_)+(?!\S)")
# The same without "_" (a word character to re), for the text that has none: led by a character
# class, so re skips to the next punctuation mark in C instead of trying every position.
_PUNCTUATION_TOKEN = re.compile(r"[^\w\s](?<!\S.)[^\w\s]*(?!\S)")
# Sentence punctuation ending a token (closing quotes or brackets may follow), the whitespace
# after it, the next token's opening quotes and its first letter. Led by the punctuation for
# the same reason; the token it ends is found backwards from there (_token_start).
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]»]*(\s+)([\"'“‘(\[«]*)(\w)")
_ITEM = re.compile(r"(?:[-*+•◦‣▪–]|\d{1,3}[.)])\s+\S")
_CLOSERS = "\"'”’)]»"
_OPENERS = "\"'“‘([«"
_ACRONYM = re.compile(r"(?:[a-z]\.)+[a-z]")
# What a line ending in punctuation ends with, once closing quotes and brackets are set aside.
_FINAL = frozenset(".!?…,;:")

_HEADING, _SENTENCE_UNIT, _ITEM_UNIT, _ROW, _PROSE = "heading", "sentence", "item", "row", "prose"


def count_words(text: str) -> int:
    """Number of words in text: whitespace-separated tokens holding a letter or digit."""
    non_word = _NON_WORD_TOKEN if "_" in text else _PUNCTUATION_TOKEN
    return len(text.split()) - len(non_word.findall(text))


def ends_sentence(token: str) -> bool:
    """Whether a whitespace-delimited token ends a sentence ("Mr." and "U.S." do not)."""
    core = token.rstrip(_CLOSERS)
    if not core or core[-1] not in ".!?…":
        return False
    if core[-1] != "." or core.endswith(".."):
        return True
    stem = core[:-1].lstrip(_OPENERS).lower()
    if len(stem) == 1 and stem.isalpha():  # an initial: "John F. Kennedy"
        return False
    return stem not in _abbreviations() and not _ACRONYM.fullmatch(stem)


def chunk_text(
    text: str, skip: list[Span], min_words: int = MIN_WORDS, max_words: int = MAX_WORDS
) -> list[Span]:
    """Return passage spans over text, leaving out the skip spans, never splitting a sentence."""
    units, costs = _Builder(text).build(_pieces(text, skip))
    spans: list[Span] = []
    start = 0
    for k in range(1, len(units) + 1):
        if k == len(units) or costs[k] == _FORCED:
            region = units[start:k]
            for first, last in _cut(region, costs[start:k], min_words, max_words):
                spans.append(Span(region[first].start, region[last].end))
            start = k
    return spans


@dataclass(slots=True)
class _Piece:
    """A line of text, or the part of one outside the skip spans, trimmed of whitespace."""

    start: int
    end: int
    blank_before: bool  # a blank line separates it from the previous piece
    forced_before: bool  # a skip span separates it from the previous piece
    indented: bool
    kind: str  # _ITEM_UNIT, _ROW or _PROSE


@dataclass(slots=True)
class _Unit:
    """The smallest thing a passage boundary never cuts: a sentence, heading, list item or row."""

    start: int
    end: int
    words: int
    kind: str


def _pieces(text: str, skip: list[Span]) -> list[_Piece]:
    spans = sorted((max(0, s.start), min(len(text), s.end)) for s in skip if s.end > s.start)
    pieces: list[_Piece] = []
    blank = forced = False
    k = 0
    line_start = 0
    for line in text.split("\n"):
        line_end = line_start + len(line)
        while k < len(spans) and spans[k][1] <= line_start:
            k += 1
        if k == len(spans) or spans[k][0] >= line_end:
            # No skip span on the line, as for nearly every line: the line is the piece, if any.
            stripped = line.strip()
            if stripped:
                lead = len(line) - len(line.lstrip())
                begin = line_start + lead
                pieces.append(
                    _Piece(begin, begin + len(stripped), blank, forced, lead > 0, _kind(stripped))
                )
                blank = forced = False
            else:
                blank = True  # a blank line: a paragraph break
            line_start = line_end + 1
            continue
        cursor = line_start
        touched = False
        j = k
        while j < len(spans) and spans[j][0] < line_end:
            if _emit(text, cursor, spans[j][0], line_start, blank, forced, pieces):
                blank = forced = False
            touched = forced = True
            cursor = max(cursor, spans[j][1])
            j += 1
        if _emit(text, cursor, line_end, line_start, blank, forced, pieces):
            blank = forced = False
        elif not touched and cursor == line_start:
            blank = True  # neither text nor skipped text on this line: a paragraph break
        line_start = line_end + 1
    return pieces


def _emit(
    text: str, start: int, end: int, line_start: int, blank: bool, forced: bool, out: list[_Piece]
) -> bool:
    raw = text[start:end]
    stripped = raw.strip()
    if not stripped:
        return False
    lead = len(raw) - len(raw.lstrip())
    begin = start + lead
    indented = start == line_start and lead > 0
    out.append(_Piece(begin, begin + len(stripped), blank, forced, indented, _kind(stripped)))
    return True


def _kind(stripped: str) -> str:
    if _ITEM.match(stripped):
        return _ITEM_UNIT
    if "|" in stripped:
        return _ROW
    return _PROSE


class _Builder:
    """Turns pieces into units (sentences, headings, items, rows) and boundary costs."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.units: list[_Unit] = []
        self.costs: list[float] = []
        # The open prose paragraph: its extent and the gap before it, while it may go on.
        self.para: tuple[int, int, str] | None = None

    def build(self, pieces: list[_Piece]) -> tuple[list[_Unit], list[float]]:
        text = self.text
        for i, piece in enumerate(pieces):
            gap = "forced" if piece.forced_before else "blank" if piece.blank_before else "line"
            if piece.kind == _PROSE and gap == "line":
                if self.para is not None and not ends_sentence(_last_token(text, self.para[1])):
                    self.para = (self.para[0], piece.end, self.para[2])  # the sentence goes on
                    continue
                last = self.units[-1] if self.units and self.para is None else None
                if last is not None and last.kind == _ITEM_UNIT and piece.indented:
                    last.end = piece.end  # a wrapped list item
                    last.words = count_words(text[last.start : last.end])
                    continue
            self.flush()
            following = pieces[i + 1] if i + 1 < len(pieces) else None
            if piece.kind != _PROSE:
                self.add(piece.start, piece.end, piece.kind, gap)
            elif _is_heading(text, piece, following):
                self.add(piece.start, piece.end, _HEADING, gap)
            else:
                self.para = (piece.start, piece.end, gap)
        self.flush()
        return self.units, self.costs

    def add(self, start: int, end: int, kind: str, gap: str) -> None:
        prev = self.units[-1] if self.units else None
        self.costs.append(_boundary_cost(self.text, prev, kind, gap))
        self.units.append(_Unit(start, end, count_words(self.text[start:end]), kind))

    def flush(self) -> None:
        if self.para is None:
            return
        start, end, gap = self.para
        self.para = None
        for n, (first, last) in enumerate(_sentences(self.text, start, end)):
            if n == 0:
                self.add(first, last, _SENTENCE_UNIT, gap)
            else:
                self.costs.append(_SENTENCE)
                self.units.append(
                    _Unit(first, last, count_words(self.text[first:last]), _SENTENCE_UNIT)
                )


def _boundary_cost(text: str, prev: _Unit | None, kind: str, gap: str) -> float:
    if prev is None or gap == "forced":
        return _FORCED
    if prev.kind == _HEADING:
        return _NEVER
    intro = text[prev.end - 1] == ":" or (
        prev.kind == _SENTENCE_UNIT and kind in (_ITEM_UNIT, _ROW) and gap == "line"
    )
    if intro:
        return _INTRO
    if prev.kind == kind and kind in (_ITEM_UNIT, _ROW):
        return _LIST
    if kind == _HEADING:
        return _BEFORE_HEADING
    return _PARAGRAPH


def _is_heading(text: str, piece: _Piece, following: _Piece | None) -> bool:
    """A short line without final punctuation that opens what follows ("Combating Organized Crime")."""
    if following is None or following.forced_before:
        return False  # nothing under it: an ordinary last line
    line = text[piece.start : piece.end]
    # Final punctuation first: a character check, where counting words is two scans.
    if line.rstrip(_CLOSERS)[-1:] in _FINAL or count_words(line) > HEADING_MAX_WORDS:
        return False
    # Hard-wrapped text: a line that goes on in lower case is the start of a paragraph.
    first = text[following.start : following.end].lstrip(_OPENERS)[:1]
    return following.blank_before or following.kind != _PROSE or first.isupper() or first.isdigit()


def _last_token(text: str, end: int) -> str:
    start = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end)) + 1
    return text[start:end]


def _sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans of text[start:end], cut only where a token ends a sentence."""
    spans: list[tuple[int, int]] = []
    begin = start
    # Where the next token may start: a match takes the first letter of the token after it,
    # so that token is never looked at as a sentence end ("no. I! Then" cuts at most once).
    free = start
    for match in _SENTENCE_END.finditer(text, start, end):
        token_start = _token_start(text, match.start(), free)
        if token_start is None:
            continue
        free = match.end()
        following = match.group(3)
        token_end = match.start(1)
        if (following.isupper() or following.isdigit()) and ends_sentence(
            text[token_start:token_end]
        ):
            spans.append((begin, token_end))
            begin = match.start(2)
    spans.append((begin, end))
    return spans


def _token_start(text: str, at: int, free: int) -> int | None:
    """Where the whitespace-delimited token holding text[at] starts; None if before `free`."""
    start = at
    while start > free and not text[start - 1].isspace():
        start -= 1
    if start == free and start > 0 and not text[start - 1].isspace():
        return None
    return start


def _cut(
    units: list[_Unit], costs: list[float], min_words: int, max_words: int
) -> list[tuple[int, int]]:
    """Cheapest split of units into passages, as (first, last) unit indices."""
    n = len(units)
    if sum(u.words for u in units) < min_words:
        return [(0, n - 1)]
    ideal = (min_words + max_words) / 2
    best = [math.inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for j in range(1, n + 1):
        closing = 0.0 if j == n else costs[j]
        if closing == _NEVER:
            continue
        words = 0
        glued = True  # every boundary inside units[i:j] is forbidden
        for i in range(j - 1, max(-1, j - 1 - _MAX_UNITS), -1):
            words += units[i].words
            if i < j - 1:
                glued = glued and costs[i + 1] == _NEVER
            # Over max_words only when nothing inside may be cut: one long sentence (and its heading).
            if words > max_words and not glued:
                break
            if (i > 0 and costs[i] == _NEVER) or best[i] == math.inf:
                continue
            if words < min_words:
                size = _TOO_SHORT + (min_words - words)
            else:
                size = _PER_PASSAGE + _OFF_SIZE * ((words - ideal) / ideal) ** 2
            total = best[i] + size + closing
            if total < best[j]:
                best[j], back[j] = total, i
    if best[n] == math.inf:  # only when a chain of headings outruns the search window
        return [(0, n - 1)]
    cuts: list[tuple[int, int]] = []
    j = n
    while j > 0:
        i = back[j]
        cuts.append((i, j - 1))
        j = i
    return cuts[::-1]


@cache
def _abbreviations() -> frozenset[str]:
    lines = ABBREVIATIONS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))
