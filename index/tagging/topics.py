"""Topic tagging: weighted terms from the taxonomy data file, summed per topic, thresholded."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from index.tagging.tries import trie_regex

TOPICS_FILE = Path(__file__).parent / "topics.json"

_TOKEN = re.compile(r"[^\W_]+")
# What may stand between two tokens of a term in the text: anything that is no token (space,
# punctuation, "_"), and tokens that fold to nothing (the "s" of "China’s").
_GAP = r"[\W_]+"
# Folded tokens and term occurrences are remembered per process, up to this many distinct ones.
_MEMO_SIZE = 200_000


def fold(token: str, unfolded: frozenset[str] = frozenset()) -> str:
    """Light English plural folding of a lowercased token ("" for a lone possessive "s")."""
    if token in unfolded:
        return token
    n = len(token)
    if n <= 3:
        # Too short to fold safely ("gas", "bus"); the "s" left by splitting "China’s" goes.
        return "" if token == "s" else token
    if token.endswith("ies") and n > 4:
        return token[:-3] + "y"
    if token.endswith("sses"):
        return token[:-2]
    if token.endswith(("ches", "shes", "xes", "zzes")):
        return token[:-2]
    if token.endswith("s") and not token.endswith(("ss", "us", "is")):
        return token[:-1]
    return token


class Memo(dict[str, Any]):
    """compute(key) for each key, worked out on first sight (a dict look-up, in C, after that).

    Past `_MEMO_SIZE` keys (numbers and names of a big corpus) the memory is dropped and
    refilled, so it stays a few MB.
    """

    def __init__(self, compute: Callable[[str], Any]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> Any:
        if len(self) >= _MEMO_SIZE:
            self.clear()
        value = self[key] = self._compute(key)
        return value


@dataclass(frozen=True)
class Topic:
    """One taxonomy entry."""

    id: str
    label: str
    threshold: float


class TopicTagger:
    """Scores a text against the topic taxonomy data file."""

    labels: dict[str, str]

    def __init__(self, topics_file: Path = TOPICS_FILE):
        data: dict[str, Any] = json.loads(topics_file.read_text(encoding="utf-8"))
        unfolded = frozenset(data.get("unfolded", []))
        default = float(data["threshold"])
        self._topics = [
            Topic(t["id"], t["label"], float(t.get("threshold", default))) for t in data["topics"]
        ]
        self.labels = {t.id: t.label for t in self._topics}
        self._order = {t.id: i for i, t in enumerate(self._topics)}
        # Cached per process: passages repeat the same words, and folding is pure.
        self._fold: Callable[[str], str] = Memo(partial(fold, unfolded=unfolded)).__getitem__
        # phrase (folded tokens) -> [(topic index, weight)], then indexed by first token with the
        # longest phrases first so the scan can stop at the first hit.
        phrases: dict[tuple[str, ...], list[tuple[int, float]]] = {}
        for i, topic in enumerate(data["topics"]):
            for term, weight in topic["terms"].items():
                key = self._normalize(term)
                if not key:
                    raise ValueError(f"topic {topic['id']}: empty term {term!r}")
                phrases.setdefault(key, []).append((i, float(weight)))
        index: dict[str, list[tuple[tuple[str, ...], list[tuple[int, float]]]]] = {}
        for key, contributions in phrases.items():
            index.setdefault(key[0], []).append((key, contributions))
        for entries in index.values():
            entries.sort(key=lambda e: len(e[0]), reverse=True)
        self._index = index
        self._pattern = _terms_pattern(index, unfolded)
        # A term occurrence's (topic index, weight) contributions, by its lowercased text:
        # "Oil prices" and "oil's price" are one term, the occurrence folded like the text.
        self._contributions: Callable[[str], list[tuple[int, float]]] = Memo(
            lambda surface: phrases[self._normalize(surface)]
        ).__getitem__

    def _normalize(self, text: str) -> tuple[str, ...]:
        """Lowercase, tokenize and fold text; empty tokens dropped."""
        # filter/map keep the loop in C: this runs once per passage.
        return tuple(filter(None, map(self._fold, _TOKEN.findall(text.lower()))))

    def scores(self, text: str) -> dict[str, float]:
        """Summed evidence per topic id (topics with no evidence omitted)."""
        # One regex scan finds the term occurrences, as the token scan of evidence() does,
        # without making a string of every token: only the hits are looked at in Python. The
        # space gives the first token the leading separator the pattern wants.
        hits = self._pattern.findall(" " + text.lower())
        if not hits:
            return {}
        totals = [0.0] * len(self._topics)
        for contributions in map(self._contributions, hits):
            for t, w in contributions:
                totals[t] += w
        return {self._topics[t].id: s for t, s in enumerate(totals) if s > 0}

    def tag(self, text: str) -> list[str]:
        """Return topic ids whose evidence passes the threshold, strongest first."""
        scores = self.scores(text)
        if not scores:
            return []
        order = self._order
        passed = [t.id for t in self._topics if scores.get(t.id, 0.0) >= t.threshold]
        # Strongest first; the taxonomy order breaks ties so output is deterministic.
        return sorted(passed, key=lambda tid: (-scores[tid], order[tid]))

    def evidence(self, text: str) -> list[dict[str, Any]]:
        """Each counted term occurrence: span, matched term, topic id and weight (explain)."""
        fold_ = self._fold
        tokens: list[tuple[str, int, int]] = []
        for m in _TOKEN.finditer(text):
            folded = fold_(m.group().lower())
            if folded:
                tokens.append((folded, m.start(), m.end()))
        words = tuple(t for t, _, _ in tokens)
        out: list[dict[str, Any]] = []
        i, n = 0, len(words)
        # The same longest-phrase-first scan as scores(), keeping where each hit was.
        while i < n:
            entries = self._index.get(words[i])
            step = 1
            for key, contributions in entries or ():
                k = len(key)
                if k == 1 or words[i : i + k] == key:
                    start, end = tokens[i][1], tokens[i + k - 1][2]
                    for t, w in contributions:
                        out.append(
                            {
                                "topic": self._topics[t].id,
                                "start": start,
                                "end": end,
                                "text": text[start:end],
                                "term": " ".join(key),
                                "weight": w,
                            }
                        )
                    step = k
                    break
            i += step
        return out


def _terms_pattern(
    index: dict[str, list[tuple[tuple[str, ...], Any]]], unfolded: frozenset[str]
) -> re.Pattern[str]:
    """A regex over lowercased text matching what the token scan counts, where it counts it.

    At a token, the terms starting with its fold are tried longest first, as in evidence(); a
    term token matches any token folding to it, and term tokens may be separated by anything
    that is no token or folds to nothing. Matches start and end at token boundaries; the
    pattern's one group is the term occurrence.
    """
    dropped = "".join(f"(?:{re.escape(t)}{_GAP})*" for t in ("s",) if not fold(t, unfolded))
    gap = _GAP + dropped

    def forms(folded: str) -> list[str]:
        # The only tokens folding to `folded`: itself, or it with a plural ending put back.
        candidates = {folded, folded + "s", folded + "es", folded[:-1] + "ies"}
        return sorted(c for c in candidates if fold(c, unfolded) == folded)

    def token(folded: str) -> str:
        return "(?:" + "|".join(map(re.escape, forms(folded))) + ")"

    continuations: dict[str, str] = {}
    for first, entries in index.items():
        # entries are longest first: the one-token term, if any, is tried last (the empty branch).
        rests = "|".join("".join(gap + token(t) for t in key[1:]) for key, _ in entries)
        for form in forms(first):
            continuations[form] = f"(?:{rests})(?![^\\W_])"
    # Led by the character before the term (which is no token character): re then skips
    # ahead to the next such character in C, instead of trying the trie at every letter.
    return re.compile(f"[\\W_]({trie_regex(continuations)})")
