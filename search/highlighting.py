"""Snippets with matched terms in <mark>, everything else HTML-escaped, plus match offsets."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html import escape

from whoosh import query as wq
from whoosh.analysis import Analyzer

SNIPPET_CHARS = 320


@dataclass
class Highlight:
    """A snippet of passage text ready for HTML and where the matches are in the passage."""

    snippet: str
    matches: list[tuple[int, int]]


class TokenMatcher:
    """Finds query terms in stored text the way the analyzer indexed it, without its filter chain.

    Running Whoosh's analyzer over every hit's passage cost ~7 ms a search; the same tokenizer
    regex plus a memoized stem function gives identical tokens at a fraction of that.
    """

    def __init__(self, analyzer: Analyzer) -> None:
        items = getattr(analyzer, "items", [analyzer])
        self._pattern: re.Pattern[str] = items[0].expression
        self._stemfn: Callable[[str], str] = next(
            (item.stemfn for item in items if hasattr(item, "stemfn")), lambda word: word
        )
        self._stems: dict[str, str] = {}

    def _stem(self, word: str) -> str:
        stem = self._stems.get(word)
        if stem is None:
            if len(self._stems) > 200_000:
                self._stems.clear()
            stem = self._stems[word] = self._stemfn(word)
        return stem

    def tokens(self, text: str) -> list[tuple[str, str, tuple[int, int]]]:
        """Every token of text as (lowercased word, stem, span): `spans_in` matches them again
        and again without tokenizing (saved searches run over the same new passages)."""
        out = []
        for match in self._pattern.finditer(text):
            word = match.group(0).lower()
            out.append((word, self._stem(word), match.span()))
        return out

    def spans_many(
        self, texts: list[str], terms: Iterable[str], prefixes: Iterable[str] = ()
    ) -> list[list[tuple[int, int]]]:
        """`spans` of each text: a page of hits at once.

        Words (not prefixes) in ASCII texts tokenized by Whoosh's default pattern are found
        with one regex of the page's matching words: each distinct word of the page is stemmed
        once, and the texts are scanned in C instead of token by token in Python.
        """
        wanted = set(terms)
        starts = tuple(prefixes)
        if (
            starts
            or not wanted
            or self._pattern.pattern != _DEFAULT_TOKEN
            or not all(text.isascii() for text in texts)
        ):
            return [self.spans(text, wanted, starts) for text in texts]
        lowered = [text.lower() for text in texts]
        # A newline is no token character: joining the texts adds no token.
        words = set(_DEFAULT_WORDS.findall("\n".join(lowered)))
        stems, stem = self._stems, self._stem
        matching = [w for w in words if (stems.get(w) or stem(w)) in wanted]
        if not matching:
            return [[] for _ in texts]
        finder = _word_finder(tuple(sorted(matching, key=len, reverse=True)))
        return [[m.span() for m in finder.finditer(text)] for text in lowered]

    def spans(
        self, text: str, terms: Iterable[str], prefixes: Iterable[str] = ()
    ) -> list[tuple[int, int]]:
        """Spans of tokens whose stem is one of terms or whose word starts with a prefix."""
        wanted = set(terms)
        starts = tuple(prefixes)
        if not wanted and not starts:
            return []
        found = []
        for match in self._pattern.finditer(text):
            word = match.group(0).lower()
            if (starts and word.startswith(starts)) or (wanted and self._stem(word) in wanted):
                found.append(match.span())
        return found


# Whoosh's default token pattern (RegexTokenizer, the one our analyzer uses).
_DEFAULT_TOKEN = r"\w+(\.?\w+)*"
# The same tokens, the group made non-capturing so that findall lists whole tokens.
_DEFAULT_WORDS = re.compile(r"\w+(?:\.?\w+)*")


@functools.lru_cache(maxsize=256)
def _word_finder(words: tuple[str, ...]) -> re.Pattern[str]:
    """A regex finding exactly the tokens among words that _DEFAULT_TOKEN's tokenizer yields.

    A token of that pattern starts where the character before is no word character and no dot
    after a word character (else the token before would have gone on), and ends where the
    next is no word character and no dot before a word character (else it would go on).
    """
    alternatives = "|".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w)(?<!\w\.)(?:{alternatives})(?!\w)(?!\.\w)")


def spans_in(
    tokens: list[tuple[str, str, tuple[int, int]]], terms: Iterable[str], prefixes: Iterable[str]
) -> list[tuple[int, int]]:
    """TokenMatcher.spans over tokens already made by TokenMatcher.tokens (same result)."""
    wanted = set(terms)
    starts = tuple(prefixes)
    if not wanted and not starts:
        return []
    return [
        span
        for word, stem, span in tokens
        if (starts and word.startswith(starts)) or (wanted and stem in wanted)
    ]


# Fields whose words are marked in a passage's text (the text itself and its document's title).
MARKED_FIELDS = ("text", "title")


def query_terms(query: wq.Query) -> tuple[set[str], set[str]]:
    """The stems and prefixes a query looks for in passage text; excluded words are left out."""
    terms: set[str] = set()
    prefixes: set[str] = set()
    for node in query.leaves():
        if getattr(node, "fieldname", None) not in MARKED_FIELDS:
            continue
        if isinstance(node, (wq.Prefix, wq.Wildcard)):
            prefixes.add(str(node.text).rstrip("*?").lower())
        elif isinstance(node, wq.Phrase):
            terms.update(str(w) for w in node.words)
        elif isinstance(node, wq.Term):
            terms.add(str(node.text))
    # Leaves under a NOT are excluded words, not matches to mark.
    for node in _negated_leaves(query):
        terms.discard(str(getattr(node, "text", "")))
    return terms, prefixes


def _negated_leaves(query: wq.Query) -> Iterator[wq.Query]:
    for node in query.children() if hasattr(query, "children") else []:
        if isinstance(node, wq.Not):
            yield from node.leaves()
        else:
            yield from _negated_leaves(node)
    if isinstance(query, wq.AndNot):
        yield from query.b.leaves()


_OPEN, _CLOSE = "\ue000", "\ue001"
# Markdown table rules ("|---|:--:|") carry no words; a snippet leaves them out.
_TABLE_RULE = re.compile(r"\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?")
# Cell separators of a table row ("Panama | 2024 | 12"), with the row's outer pipes.
_CELL_SEPARATOR = re.compile(r"[ \t]*\|[ \t]*")


def readable(fragment: str) -> str:
    """A fragment of passage text as one line that reads: no table rules, cells and lines apart.

    A heading stays apart from its text ("Regional Security — Security cooperation …") and
    a table row reads as its cells ("Panama · 2024"), not as the markup the readers keep.
    """
    # Most snippets are plain prose: no regex work for them (this runs for every hit).
    if "|" not in fragment:
        if "\n" not in fragment:
            return fragment
        return " — ".join(line.strip() for line in fragment.split("\n") if line.strip())
    fragment = _TABLE_RULE.sub(" ", fragment)
    lines = [_CELL_SEPARATOR.sub(" · ", line).strip(" ·") for line in fragment.split("\n")]
    return " — ".join(line for line in lines if line)


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
    # Matches are fenced with private-use characters, the window is made readable whole (so a
    # table row or a heading reads the same with or without a match in it), then escaped.
    parts = []
    cursor = lo
    for start, end in spans:
        if start < lo or end > hi:
            continue
        parts.append(text[cursor:start])
        parts.append(f"{_OPEN}{text[start:end]}{_CLOSE}")
        cursor = end
    parts.append(text[cursor:hi])
    body = escape(readable("".join(parts))).replace(_OPEN, "<mark>").replace(_CLOSE, "</mark>")
    return Highlight(f"{'…' if lo > 0 else ''}{body}{'…' if hi < len(text) else ''}", spans)


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
